"""Heartbeats through ingest into a real SQLite store: what is stored, and what is shown,
is what the merge rule (core/spans.py) makes of them, whether a heartbeat takes ingest's
fast path (it continues the agent's span) or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from officepulse.core.spans import Merged, Span, merge, to_ms
from officepulse.gateway.agents import Agents
from officepulse.gateway.ingest import Ingest
from officepulse.protocol.messages import Activity, Heartbeat, Hello
from officepulse.store.sqlite import SQLiteStore

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PULSE_S = 25.0
TZ = "Europe/Paris"
CODE = Activity(app="Code", title="main.py")
CHROME = Activity(app="Google-chrome", title="YouTube")
# (seconds after START, activity): extensions, a replay within the span, a switch, a
# late idle change cut back into the span, a gap past pulsetime, a stale one.
BEATS = [
    (0, CODE),
    (10, CODE),
    (20, Activity(app="Code", title="main.py")),  # equal to CODE: extends
    (15, CODE),  # within the span: changes nothing
    (30, CHROME),
    (40, CHROME),
    (35, CODE),  # a switch dated inside the span: cut back
    (50, CODE),
    (200, CODE),  # past pulsetime: a new span
    (210, CODE),
    (100, CODE),  # before the open span: stale, refused
    (220, CHROME),
]


def hello(agent_id: str) -> Hello:
    return Hello(
        v=1,
        agent_id=agent_id,
        name="Alice",
        host="laptop",
        platform="linux",
        agent_version="1.0",
        tz=TZ,
    )


def expected(first: Span | None) -> tuple[dict[int, Span], list[bool], list[bool]]:
    """The spans the rule leaves (by start), whether each heartbeat is shown, and whether
    it is refused: the rule applied heartbeat by heartbeat, spans in the hello's zone."""
    spans: dict[int, Span] = {}
    shown, refused = [], []
    current = first
    for seconds, activity in BEATS:
        result = merge(current, to_ms(START + timedelta(seconds=seconds)), activity, 25_000)
        refused.append(not isinstance(result, Merged))
        if not isinstance(result, Merged):
            shown.append(False)
            continue
        zoned = [
            s if s.tz is not None else Span(s.start_ms, s.end_ms, s.activity, TZ)
            for s in (result.closed, result.current)
            if s is not None
        ]
        for span in zoned:
            spans[span.start_ms] = span
        started = current is None or current.start_ms != result.current.start_ms
        shown.append(result.changed and (started or result.switched))
        current = zoned[-1]
    return spans, shown, refused


async def run(tmp_path: Path, first: Span | None) -> None:
    store = SQLiteStore(tmp_path / "ingest.sqlite3")
    await store.open()
    try:
        if first is not None:
            store.save_span("alice", first)
            await store.flush()
        ingest = Ingest(
            store,
            Agents(store, None),
            pulsetime=PULSE_S,
            clock=lambda: (START + timedelta(hours=1)).timestamp(),
        )
        state = await ingest.connect(hello("alice"))
        assert state.current == first
        shown, refused = [], []
        for seconds, activity in BEATS:
            refusal, moved = ingest.beat(
                state, Heartbeat(ts=START + timedelta(seconds=seconds), activity=activity)
            )
            refused.append(refusal is not None)
            shown.append(moved)
            # The open span is in a zone once a heartbeat is taken: what is stored of it
            # at the next flush, and what a switch closes.
            if refusal is None:
                assert state.current is not None
                assert state.current.tz == TZ
        await store.flush()
        stored = await store.spans(0, to_ms(START + timedelta(days=1)), "alice")
        spans, want_shown, want_refused = expected(first)
        assert [span for _, span in stored] == sorted(spans.values(), key=lambda s: s.start_ms)
        assert shown == want_shown
        assert refused == want_refused
        assert ingest.heartbeats == len(BEATS)
    finally:
        await store.close()


async def test_heartbeats_store_and_show_what_the_merge_rule_makes_of_them(
    tmp_path: Path,
) -> None:
    await run(tmp_path, None)


async def test_a_span_stored_without_a_zone_is_continued_in_the_hellos_zone(
    tmp_path: Path,
) -> None:
    """A span from before zones were recorded: the heartbeats that continue it store it
    in the hello's zone, as the rule's path does (the fast path takes zoned spans only)."""
    await run(tmp_path, Span(to_ms(START) - 5_000, to_ms(START) - 1_000, CODE))
