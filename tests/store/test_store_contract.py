"""The Store contract. Every implementation runs this same suite: SQLite, and PostgreSQL
on a real server that the tests start (tests/support/postgres.py; one per session, a fresh
database per test)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from officepulse.core.categories import (
    DEFAULT_RULES,
    UNCATEGORIZED,
    CategoryError,
    Rule,
    compile_rules,
)
from officepulse.core.spans import Span, to_ms
from officepulse.core.zones import ZoneRun
from officepulse.panel.day_usage import usage_by_day
from officepulse.protocol.messages import Activity, Media
from officepulse.store.base import (
    AgentInfo,
    Blocked,
    Credential,
    EnrollmentToken,
    Store,
    UsageRow,
)
from officepulse.store.categorising import CategoryJobs, recategorize_all
from officepulse.store.failures import StoreRefused
from officepulse.store.postgres import PostgresStore
from officepulse.store.sqlite import SQLiteStore
from tests.support import paths
from tests.support.stores import make_store
from tests.support.stores import store as store
from tests.support.usage import usage_from_spans

# The PostgreSQL server: tests/support/postgres.py (imported by pytest only, see its docstring).
pytest_plugins = ["tests.support.postgres"]

CODE = Activity(app="Code", title="main.py", process="code", pid=42)
TUBE = Activity(app="Google-chrome", title="YouTube", url="https://youtube.com/")
AWAY = Activity(app="Code", title="main.py", idle=True)
H = 3_600_000


async def recategorize(store: CategoryJobs, rules: Sequence[Rule]) -> int:
    """Change the rules and run their job to its end: how many spans changed category."""
    return (await recategorize_all(store, rules, 0)).changed


def agent(id_: str = "a1", *, online: bool = True, seen: int = 0) -> AgentInfo:
    return AgentInfo(id_, f"name-{id_}", "host", "Linux", "0.1", "UTC", online, seen)


async def test_spans_are_upserted_by_agent_and_start(store: Store) -> None:
    store.save_agent(agent())
    for end in range(1000, 10_001, 1000):
        store.save_span("a1", Span(0, end, CODE))
    assert await store.last_span("a1") == Span(0, 10_000, CODE)
    store.save_span("a1", Span(10_000, 12_000, TUBE))
    assert await store.last_span("a1") == Span(10_000, 12_000, TUBE)
    assert await store.last_span("nobody") is None


async def test_agents_come_with_their_current_span(store: Store) -> None:
    store.save_agent(agent("b", online=False, seen=5))
    store.save_agent(agent("a"))
    store.save_span("a", Span(0, 5, CODE))
    store.save_span("a", Span(5, 9, TUBE))
    statuses = await store.agents()
    assert [s.info.id for s in statuses] == ["a", "b"]
    assert statuses[0].current == Span(5, 9, TUBE)
    assert statuses[1].current is None
    one = await store.agent("b")
    assert one is not None
    assert one.info == agent("b", online=False, seen=5)
    assert await store.agent("zzz") is None
    # Names alone (what API rows show), queued agents included: no span is read for them.
    assert await store.agent_names() == {"a": "name-a", "b": "name-b"}


async def test_usage_clips_spans_to_the_period_and_keeps_idle_apart(store: Store) -> None:
    store.save_agent(agent("a"))
    store.save_agent(agent("b"))
    store.save_span("a", Span(0, 2 * H, CODE))
    store.save_span("a", Span(2 * H, 3 * H, AWAY))
    store.save_span("a", Span(3 * H, 6 * H, TUBE))
    store.save_span("b", Span(H, 4 * H, TUBE))
    rows = await store.usage(H, 5 * H, ["agent", "app"])
    got = {(r.agent_id, r.app): (r.active_ms, r.idle_ms) for r in rows}
    assert got == {
        ("a", "Code"): (H, H),
        ("a", "Google-chrome"): (2 * H, 0),
        ("b", "Google-chrome"): (3 * H, 0),
    }
    by_app = {r.app: r.active_ms for r in await store.usage(0, 10 * H, ["app"])}
    assert by_app == {"Code": 2 * H, "Google-chrome": 6 * H}
    (total,) = await store.usage(0, 10 * H, [])
    assert (total.agent_id, total.app, total.active_ms, total.idle_ms) == (None, None, 8 * H, H)
    assert await store.usage(10 * H, 11 * H, ["agent"]) == []
    with pytest.raises(ValueError, match="cannot group by 'title'"):
        await store.usage(0, 1, ["title"])  # type: ignore[list-item]


async def test_mark_all_offline(store: Store) -> None:
    store.save_agent(agent("a"))
    await store.mark_all_offline()
    status = await store.agent("a")
    assert status is not None
    assert not status.info.online


async def test_everything_saved_survives_a_close(tmp_path: Path) -> None:
    path = tmp_path / "durable.sqlite3"
    first = SQLiteStore(path, flush_interval=3600)  # nothing flushes on its own
    await first.open()
    first.save_agent(agent())
    first.save_span("a1", Span(0, 7, CODE))
    await first.close()
    second = SQLiteStore(path)
    await second.open()
    assert await second.last_span("a1") == Span(0, 7, CODE)
    await second.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    conn.close()
    store = SQLiteStore(path)
    with pytest.raises(RuntimeError, match="schema version 99"):
        await store.open()


async def test_every_part_of_an_activity_is_kept(store: Store) -> None:
    rich = Activity(
        app="xterm",
        title="vim notes.txt",
        process="xterm",
        pid=7,
        program="vim",
        project="officepulse",
        file="notes.txt",
        media=Media(player="spotify", title="Bohemian Rhapsody", artist="Queen"),
    )
    private = Activity(app="private", private=True)
    store.save_agent(agent())
    store.save_span("a1", Span(0, 5, rich))
    assert await store.last_span("a1") == Span(0, 5, rich)
    store.save_span("a1", Span(5, 9, private))
    assert await store.last_span("a1") == Span(5, 9, private)
    paused = Activity(app="paused", paused=True)
    store.save_span("a1", Span(9, 12, paused))
    assert await store.last_span("a1") == Span(9, 12, paused)


async def test_a_first_version_database_is_migrated_with_its_data(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "v1.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE agents (id TEXT PRIMARY KEY, name TEXT NOT NULL, host TEXT NOT NULL,"
            " platform TEXT NOT NULL, version TEXT NOT NULL, tz TEXT NOT NULL,"
            " online INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);"
            "CREATE TABLE spans (agent_id TEXT NOT NULL, start_ms INTEGER NOT NULL,"
            " end_ms INTEGER NOT NULL, app TEXT NOT NULL, title TEXT NOT NULL, url TEXT,"
            " process TEXT, pid INTEGER, idle INTEGER NOT NULL,"
            " PRIMARY KEY (agent_id, start_ms)) WITHOUT ROWID;"
            "INSERT INTO agents VALUES ('a1', 'A', 'h', 'p', 'v', 'UTC', 0, 0);"
            "INSERT INTO spans VALUES ('a1', 0, 10, 'Code', 'main.py', NULL, NULL, NULL, 0);"
            "PRAGMA user_version=1;"
        )
    conn.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        # Spans from before zones were kept are taken to be in the agent's current zone.
        assert await store.last_span("a1") == Span(
            0, 10, Activity(app="Code", title="main.py"), "UTC"
        )
        assert await store.zones(None, 0, 100) == {"a1": [ZoneRun(0, 10, "UTC")]}
    finally:
        await store.close()


async def test_committed_spans_are_durable_and_remember_the_sequence(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    first = SQLiteStore(path, flush_interval=3600)
    await first.open()
    first.save_agent(agent())
    assert await first.acked_seq("a1") == 0
    await first.commit_spans("a1", [Span(0, 10, CODE), Span(10, 20, TUBE)], 2)
    await first.commit_spans("a1", [Span(10, 30, TUBE)], 3)  # extends the span at 10
    await first.commit_spans("a1", [], 1)  # an old, replayed sequence never goes back
    assert await first.acked_seq("a1") == 3
    # Durable at once: read it back with a separate connection before any close.
    import sqlite3

    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT start_ms, end_ms FROM spans ORDER BY start_ms").fetchall()
        (seq,) = raw.execute("SELECT acked_seq FROM agents").fetchone()
    raw.close()
    assert rows == [(0, 10), (10, 30)]
    assert seq == 3
    await first.close()


async def test_more_concurrent_commits_than_slots_all_land(tmp_path: Path) -> None:
    import asyncio

    store = SQLiteStore(tmp_path / "b.sqlite3", max_pending_commits=2)
    await store.open()
    store.save_agent(agent())
    done = await asyncio.gather(
        *(store.commit_spans("a1", [Span(i * 10, i * 10 + 10, CODE)], i + 1) for i in range(20))
    )
    assert len(done) == 20
    assert await store.acked_seq("a1") == 20
    await store.close()


async def test_a_write_of_many_agents_reads_a_few_times_and_grows_runs_in_place(
    tmp_path: Path,
) -> None:
    # What a flush of live heartbeats looks like: every agent's open span grew. The write
    # reads what the spans were and the zone runs near them once for all the agents (not
    # once per agent), writes each span and each rollup key once, and grows each zone run
    # in place (an UPDATE, not a DELETE and an INSERT).
    store = SQLiteStore(tmp_path / "w.sqlite3", flush_interval=3600)
    await store.open()
    agents = [f"a{i:03}" for i in range(200)]
    for a in agents:
        store.save_agent(agent(a))
        store.save_span(a, Span(0, 10_000, CODE, "UTC"))
    await store.flush()
    for end in range(11_000, 30_000, 1_000):  # many heartbeats between two writes
        for a in agents:
            store.save_span(a, Span(0, end, CODE, "UTC"))
    assert store._writer is not None
    ran: list[str] = []
    store._writer.set_trace_callback(ran.append)
    await store.flush()
    store._writer.set_trace_callback(None)
    reads = [sql for sql in ran if sql.lstrip().startswith(("SELECT", "WITH"))]
    assert len(reads) <= 3, reads
    # (The statements a trigger runs are reported with the text of the one that fired it.)
    assert len({sql for sql in ran if sql.startswith("INSERT INTO spans")}) == len(agents)
    # Each agent's span grew within one minute, hour, day and week: four rollup rows each.
    assert len([sql for sql in ran if sql.startswith("INSERT INTO rollups")]) == 4 * len(agents)
    zone_writes = [sql for sql in ran if "zone_runs" in sql and not sql.startswith("WITH")]
    assert len(zone_writes) == len(agents)
    assert all(sql.startswith("UPDATE zone_runs") for sql in zone_writes)
    rows = await store.usage(0, 60_000, ["agent"])
    assert {r.agent_id: r.active_ms for r in rows} == {a: 29_000 for a in agents}
    assert await store.zones(["a007"], 0, 60_000) == {"a007": [ZoneRun(0, 29_000, "UTC")]}
    await store.close()


def stored_end(path: Path) -> int:
    """The end of the one span in the SQLite file, read past the store (a store's read
    would write what is queued first)."""
    with contextlib.closing(sqlite3.connect(path)) as raw:
        (end,) = raw.execute("SELECT end_ms FROM spans").fetchone()
    return int(end)


async def with_a_span(path: Path, flush_interval: float) -> SQLiteStore:
    """An open SQLite store with agent a1 and its span [0, 10 s) queued."""
    store = SQLiteStore(path, flush_interval=flush_interval)
    await store.open()
    store.save_agent(agent())
    store.save_span("a1", Span(0, 10_000, CODE, "UTC"))
    return store


async def test_reads_of_what_is_never_queued_leave_heartbeats_queued(tmp_path: Path) -> None:
    # Servers poll agent events twice a second and read people, owners and rules on every
    # request: none of that is in the queue, so none of it may cut the coalescing short.
    path = tmp_path / "q.sqlite3"
    store = await with_a_span(path, flush_interval=3600)
    await store.flush()
    store.save_span("a1", Span(0, 20_000, CODE, "UTC"))

    await store.agent_events(0)
    await store.people()
    await store.agent_owners()
    await store.categories()
    assert stored_end(path) == 10_000
    # A read of spans writes what is queued first: it sees the heartbeat.
    assert [r.active_ms for r in await store.usage(0, 60_000, [])] == [20_000]
    assert stored_end(path) == 20_000
    await store.close()


async def test_after_a_read_wrote_the_queue_the_writer_still_writes_what_comes_next(
    tmp_path: Path,
) -> None:
    # A read that writes what is queued puts the writer's next write off to a whole
    # interval after it (so an open span is not written twice in a second); what is
    # queued after the read must still land without any read asking for it.
    path = tmp_path / "w.sqlite3"
    store = await with_a_span(path, flush_interval=0.5)
    assert [r.active_ms for r in await store.usage(0, 60_000, [])] == [10_000]
    store.save_span("a1", Span(0, 20_000, CODE, "UTC"))

    deadline = asyncio.get_running_loop().time() + 30
    while stored_end(path) != 20_000:
        assert asyncio.get_running_loop().time() < deadline, "the writer never wrote it"
        await asyncio.sleep(0.05)
    await store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_hellos_reads_write_only_its_own_agents_queued_rows_first(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A reconnect storm: 2,000 hellos each read their agent (last span, acked seq, block,
    # credential) while the others' rows are queued. Each read writes what is queued first
    # only when its own agent has something queued: it sees all of its agent's writes,
    # and the hellos do not take turns with the writer (docs/performance.md, reconnect).
    store = make_store(kind, request, tmp_path, flush_interval=3600)
    await store.open()
    store.save_agent(agent("a1"))
    await store.commit_spans("a1", [Span(0, 7_000, CODE, "UTC")], 3)
    # The commit is settled while the writer still counts a1 as being written (a read then
    # writes the queue first, as it must): wait until the writer is done with it.
    await store.flush()
    store.save_agent(agent("other"))
    store.save_span("other", Span(0, 5_000, CODE, "UTC"))

    def raw(sql: str, agent_id: str) -> tuple[Any, ...]:
        """One row, read past the store (a store's read would write what is queued)."""
        if kind == "postgres":
            with psycopg.connect(request.getfixturevalue("postgres_url")) as pg:
                row = pg.execute(sql.replace("?", "%s"), (agent_id,)).fetchone()
        else:
            with contextlib.closing(sqlite3.connect(tmp_path / "s.sqlite3")) as lite:
                row = lite.execute(sql, (agent_id,)).fetchone()
        assert row is not None
        return tuple(row)

    def stored_of_other() -> int:
        return int(raw("SELECT COUNT(*) FROM spans WHERE agent_id = ?", "other")[0])

    assert await store.last_span("a1") == Span(0, 7_000, CODE, "UTC")
    assert await store.acked_seq("a1") == 3
    assert await store.blocked("a1") is None
    assert await store.credential("a1") is None
    status = await store.agent("a1")
    assert status is not None
    assert status.info.id == "a1"
    assert stored_of_other() == 0, "a read of a1 wrote another agent's queued span"
    # Its own queued heartbeat span is written before its read: the hello extends it.
    store.save_span("a1", Span(7_000, 9_000, TUBE, "UTC"))
    assert await store.last_span("a1") == Span(7_000, 9_000, TUBE, "UTC")
    assert stored_of_other() == 1
    # A block is its own transaction, never queued: read at once, whatever is queued.
    await store.block_agent("a1", "left the team", 1_000)
    blocked = await store.blocked("a1")
    assert blocked is not None
    assert blocked.reason == "left the team"
    store.save_agent(replace(agent("a1"), online=False))
    assert await store.blocked("a1") == blocked  # a queued row of it leaves the block alone
    await store.close()
    online, acked = raw("SELECT online, acked_seq FROM agents WHERE id = ?", "a1")
    assert (bool(online), acked) == (False, 3)


# -- rollups ---------------------------------------------------------------------------

M = 60_000
D = 24 * H
_examples = itertools.count()
# A write: (slot, length, app, idle, agent, how). Slots are the few starts an example
# uses, so that writes hit the same (agent, start) again: extensions, cut-backs, another
# app, an idle flip. "save" is coalesced by the store, "flush" makes it land at once (so
# the next write of that key reads it back), "commit" is commit_spans.
YEAR = 365 * D
writes = st.tuples(
    st.integers(0, 5),
    st.integers(0, 3 * H)
    | st.integers(0, 90).map(lambda m: m * M)
    | st.integers(0, 2 * D)
    # Up to ten years: whole hours are runs (store/base.py), the edges buckets.
    | st.integers(0, 10 * YEAR),
    st.sampled_from(["Code", "Tube"]),
    st.booleans(),
    st.sampled_from(["x", "y"]),
    st.sampled_from(["save", "flush", "commit"]),
)
instants = (
    st.integers(0, 6 * H)
    | st.integers(0, 360).map(lambda m: m * M)
    | st.integers(0, 3 * D)
    | st.integers(0, 72).map(lambda h: h * H)
)


# One store serves every example of a property test (a fixture per test, not per example).
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings(PROPERTY, max_examples=30)
@given(
    starts=st.lists(instants, min_size=6, max_size=6),
    ops=st.lists(writes, min_size=1, max_size=12),
    ranges=st.lists(st.tuples(instants, instants), min_size=1, max_size=4),
)
async def test_usage_from_rollups_equals_the_raw_spans_clipped(
    store: Store,
    starts: list[int],
    ops: list[tuple[int, int, str, bool, str, str]],
    ranges: list[tuple[int, int]],
) -> None:
    # One store serves every example; each example has its own agents and apps.
    p = f"e{next(_examples)}-"
    model: dict[tuple[str, int], tuple[int, str, bool]] = {}
    for seq, (slot, length, app, idle, who, how) in enumerate(ops, start=1):
        start = starts[slot]
        span = Span(start, start + length, Activity(app=p + app, title="t", idle=idle))
        model[(p + who, start)] = (start + length, p + app, idle)
        if how == "commit":
            await store.commit_spans(p + who, [span], seq)
        else:
            store.save_span(p + who, span)
            if how == "flush":
                await store.flush()
    for a, b in [
        *ranges,
        (0, 10 * H),
        (0, 6 * D),
        (D - 1, 2 * D + H + M + 1),
        (5 * YEAR + 7, 5 * YEAR + D + H + M + 9),
        (-D, 11 * YEAR),
    ]:
        lo, hi = min(a, b), max(a, b)
        expected: dict[tuple[str, str], list[int]] = {}
        for (who, start), (end, app, idle) in model.items():
            ms = min(end, hi) - max(start, lo)
            if ms > 0:
                expected.setdefault((who, app), [0, 0])[1 if idle else 0] += ms
        rows = await store.usage(lo, hi, ["agent", "app"])
        got = {
            (r.agent_id, r.app): [r.active_ms, r.idle_ms]
            for r in rows
            if r.agent_id is not None and r.agent_id.startswith(p)
        }
        assert got == expected, (lo, hi)
        by_agent: dict[str, list[int]] = {}
        for (who, _), (act, idl) in expected.items():
            slot_ms = by_agent.setdefault(who, [0, 0])
            slot_ms[0] += act
            slot_ms[1] += idl
        rows = await store.usage(lo, hi, ["agent"])
        assert {
            r.agent_id: [r.active_ms, r.idle_ms]
            for r in rows
            if r.agent_id is not None and r.agent_id.startswith(p)
        } == by_agent
        # Not grouped by agent: from the team rollups (each example has its own apps).
        by_app: dict[str, list[int]] = {}
        for (_, app), (act, idl) in expected.items():
            slot_ms = by_app.setdefault(app, [0, 0])
            slot_ms[0] += act
            slot_ms[1] += idl
        # One agent's time alone (what a person's own day asks for), not grouped by agent.
        x_apps: dict[str | None, list[int]] = {}
        for (who, app), (act, idl) in expected.items():
            if who == p + "x":
                slot_ms = x_apps.setdefault(app, [0, 0])
                slot_ms[0] += act
                slot_ms[1] += idl
        rows = await store.usage(lo, hi, ["app"], agent_ids=[p + "x", p + "nobody"])
        assert {r.app: [r.active_ms, r.idle_ms] for r in rows} == x_apps
        rows = await store.usage(lo, hi, ["app"])
        assert all(r.agent_id is None for r in rows)
        assert {
            r.app: [r.active_ms, r.idle_ms]
            for r in rows
            if r.app is not None and r.app.startswith(p)
        } == by_app
    # The whole team (every example so far) equals every span stored, clipped.
    lo, hi = D - 1, 2 * D + H + M + 1
    everything = await store.spans(-10 * D, 11 * YEAR)
    want = [0, 0]
    for _, span in everything:
        ms = min(span.end_ms, hi) - max(span.start_ms, lo)
        if ms > 0:
            want[1 if span.activity.idle else 0] += ms
    rows = await store.usage(lo, hi, [])
    assert [[r.active_ms, r.idle_ms] for r in rows] == ([want] if want != [0, 0] else [])


def rollup_rows(store: Store) -> dict[str, int]:
    """How many rows each rollup table holds."""
    tables = ("rollups", "team_rollups", "rollup_runs")
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
    if isinstance(store, PostgresStore):
        with psycopg.connect(store.url) as pg:
            row = pg.execute(sql).fetchone()
    else:
        assert isinstance(store, SQLiteStore)
        with sqlite3.connect(store.path) as raw:
            row = raw.execute(sql).fetchone()
        raw.close()
    assert row is not None
    return dict(zip(tables, map(int, row), strict=True))


async def test_a_ten_year_span_is_a_few_rollup_rows_and_every_total_stays_exact(
    store: Store,
) -> None:
    # The store takes what it is given (the server refuses spans this long at the door:
    # core/plausible.py); what matters here is that length costs nothing.
    store.save_agent(agent("long"))
    start = to_ms(datetime(2014, 3, 5, 10, 17, 3, 5000, tzinfo=UTC))
    end = to_ms(datetime(2024, 3, 5, 15, 44, 9, 11000, tzinfo=UTC))
    await store.commit_spans("long", [Span(start, end, CODE)], 1)
    # Two partial hours of minute rows, their hours, days and weeks, one run.
    few = {"rollups": 43 + 45 + 2 + 2 + 2, "team_rollups": 43 + 45 + 2 + 2 + 2, "rollup_runs": 1}
    assert rollup_rows(store) == few
    mid = to_ms(datetime(2019, 7, 1, tzinfo=UTC))
    ranges = [
        (start - D, end + D),
        (start + 1, end - 1),
        (mid, mid + D),  # a UTC day
        (mid - 5 * H - 30 * M, mid + 18 * H + 30 * M),  # a day in Kolkata: minutes, hours
        (mid + 7 * M + 5, mid + 8 * M + 6),  # raw edges and one minute
        (start - H, start + 3 * H + 7),
        (end - 2 * D - 17, end + M),
    ]

    async def exact(length_end: int, category: str | None = None) -> None:
        for lo, hi in ranges:
            want = min(length_end, hi) - max(start, lo)
            by_agent = await store.usage(lo, hi, ["agent", "app"])
            assert [(r.agent_id, r.app, r.active_ms) for r in by_agent] == [
                ("long", "Code", want)
            ], (lo, hi)
            team = await store.usage(lo, hi, ["app", "category"])  # the team rollups
            assert [(r.app, r.active_ms) for r in team] == [("Code", want)], (lo, hi)
            if category is not None:
                assert [r.category for r in team] == [category]
            only = await store.usage(lo, hi, [], agent_ids=["long"])
            assert [r.active_ms for r in only] == [want], (lo, hi)

    await exact(end, "Work > Programming")
    # Extended by 90 minutes, as ingest extends an agent's last span: still as few rows.
    await store.commit_spans("long", [Span(start, end + 90 * M, CODE)], 2)
    rows = rollup_rows(store)
    assert rows["rollup_runs"] == 1
    assert rows["rollups"] <= 2 * 60 + 6
    await exact(end + 90 * M)
    # Re-categorised: its whole hours move with the rest.
    await recategorize(store, [Rule(category="Fun", pattern="^Code$", fields=("app",))])
    await exact(end + 90 * M, "Fun")
    assert rollup_rows(store)["rollup_runs"] == 1
    # Erased: nothing of it is left anywhere.
    assert await store.remove_agent("long", erase=True, now_ms=end)
    assert await store.usage(start - D, end + D, ["app"]) == []
    assert rollup_rows(store) == {"rollups": 0, "team_rollups": 0, "rollup_runs": 0}


def poison(store: Store) -> None:
    """A constraint the database itself holds: no span of the app "poison" may be
    stored. Writes that break it can never succeed."""
    if isinstance(store, PostgresStore):
        with psycopg.connect(store.url) as pg:
            pg.execute(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.app = 'poison' THEN RAISE EXCEPTION 'poisoned span' "
                "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$"
            )
            pg.execute(
                "CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON spans "
                "FOR EACH ROW EXECUTE FUNCTION poison()"
            )
    else:
        assert isinstance(store, SQLiteStore)
        with sqlite3.connect(store.path) as raw:
            raw.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON spans WHEN new.app = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned span'); END"
            )
        raw.close()


async def test_a_write_that_can_never_succeed_is_refused_and_holds_up_nobody(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    poison(store)
    for who in ("x", "y", "z"):
        store.save_agent(agent(who))
    await store.flush()
    bad = Activity(app="poison")
    with caplog.at_level(logging.INFO, logger="officepulse.store"):
        # Queued together (one transaction, most likely): x's batch can never be stored.
        results = await asyncio.gather(
            store.commit_spans("x", [Span(0, H, CODE), Span(H, 2 * H, bad)], 2),
            store.commit_spans("y", [Span(0, H, CODE)], 1),
            store.commit_spans("z", [Span(0, H, TUBE)], 5),
            return_exceptions=True,
        )
        # A span saved outside any commit that cannot be stored is dropped alone too.
        store.save_span("y", Span(5 * H, 6 * H, bad))
        store.save_span("z", Span(5 * H, 6 * H, TUBE))
        await store.flush()
    refused, *landed = results
    assert isinstance(refused, StoreRefused)
    assert "agent x's spans up to sequence number 2 could not be stored" in str(refused)
    assert landed == [None, None]
    # x's batch is dropped whole, and its number taken: its journal moves on.
    assert await store.acked_seq("x") == 2
    assert [r.agent_id for r in await store.usage(0, 10 * H, ["agent"])] == ["y", "z"]
    assert await store.usage(0, 10 * H, ["app"], agent_ids=["z"]) == [
        UsageRow(None, "Google-chrome", 2 * H, 0)
    ]
    # The writer goes on: x's next batch lands.
    await store.commit_spans("x", [Span(2 * H, 3 * H, CODE)], 3)
    assert await store.acked_seq("x") == 3
    assert await store.spans(0, 10 * H, "x") == [("x", Span(2 * H, 3 * H, CODE))]
    # Each refusal is said once; the store was never "failing".
    lines = [r.getMessage() for r in caplog.records]
    assert len([m for m in lines if " refused agent x's spans up to sequence number 2" in m]) == 1
    assert len([m for m in lines if " refused agent y's span at " in m]) == 1
    assert not [m for m in lines if " failing: " in m]


# -- zone runs -----------------------------------------------------------------------


async def test_zone_runs_follow_a_traveller_and_a_late_span_splits_them(store: Store) -> None:
    store.save_agent(agent("t"))
    store.save_agent(agent("u"))
    await store.commit_spans(
        "t", [Span(0, H, CODE, "Europe/Berlin"), Span(H, 2 * H, TUBE, "Europe/Berlin")], 2
    )
    await store.commit_spans("t", [Span(5 * H, 6 * H, CODE, "Asia/Tokyo")], 3)
    store.save_span("u", Span(0, 3 * H, CODE, "UTC"))
    assert await store.zones(None, 0, 10 * H) == {
        "t": [ZoneRun(0, 2 * H, "Europe/Berlin"), ZoneRun(5 * H, 6 * H, "Asia/Tokyo")],
        "u": [ZoneRun(0, 3 * H, "UTC")],
    }
    # Back-filled late: an hour in Tokyo inside the Berlin stay splits it; the gap
    # before Tokyo is joined to the stay it ends.
    await store.commit_spans("t", [Span(H // 2, H, AWAY, "Asia/Tokyo")], 4)
    await store.commit_spans("t", [Span(3 * H, 4 * H, AWAY, "Asia/Tokyo")], 5)
    assert await store.zones(["t"], 0, 10 * H) == {
        "t": [
            ZoneRun(0, H // 2, "Europe/Berlin"),
            ZoneRun(H // 2, H, "Asia/Tokyo"),
            ZoneRun(H, 2 * H, "Europe/Berlin"),
            ZoneRun(3 * H, 6 * H, "Asia/Tokyo"),
        ]
    }
    # Only runs that overlap the range, whole; spans read back with their zone.
    assert await store.zones(["t", "u"], 4 * H, 5 * H) == {
        "t": [ZoneRun(3 * H, 6 * H, "Asia/Tokyo")]
    }
    assert await store.zones([], 0, 10 * H) == {}
    assert await store.last_span("t") == Span(5 * H, 6 * H, CODE, "Asia/Tokyo")
    assert await store.usage(0, 10 * H, ["agent"], agent_ids=[]) == []


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    stays=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(1, 5),
            st.sampled_from(["Europe/Berlin", "Asia/Tokyo", "UTC"]),
            st.sampled_from(["save", "flush", "commit"]),
        ),
        min_size=1,
        max_size=10,
    ),
    order=st.randoms(use_true_random=False),
)
async def test_zone_runs_give_every_span_its_zone_in_any_write_order(
    store: Store, stays: list[tuple[int, int, str, str]], order: Any
) -> None:
    who = f"z{next(_examples)}"
    spans: list[Span] = []
    t = 0
    for gap, hours, tz, _ in stays:
        t += gap * M
        spans.append(Span(t, t + hours * H, CODE, tz))
        t += hours * H
    written = list(zip(spans, [s[3] for s in stays], strict=True))
    order.shuffle(written)
    for seq, (span, how) in enumerate(written, start=1):
        if how == "commit":
            await store.commit_spans(who, [span], seq)
        else:
            store.save_span(who, span)
            if how == "flush":
                await store.flush()
    runs = (await store.zones([who], -D, 10 * D))[who]
    for a, b in itertools.pairwise(runs):
        assert a.end_ms <= b.start_ms
        assert a.tz != b.tz
    for span in spans:
        for instant in (span.start_ms, span.end_ms - 1):
            assert [r.tz for r in runs if r.start_ms <= instant < r.end_ms] == [span.tz]


BERLIN_AGENT = "('a1', 'A', 'h', 'p', 'v', 'Europe/Berlin', false, 0, 0)"
WEEK = 7 * D
# The rollup and team rows as schema 10 kept them, a row per idle flag (schema 11 keeps
# active and idle time in one row, by key id).
ROLLUPS_BY_IDLE = (
    "SELECT r.size_ms, r.bucket_ms, k.agent_id, k.app, 0 AS idle, r.active_ms FROM rollups r "
    "JOIN rollup_keys k ON k.id = r.key_id WHERE r.active_ms <> 0 UNION ALL "
    "SELECT r.size_ms, r.bucket_ms, k.agent_id, k.app, 1 AS idle, r.idle_ms FROM rollups r "
    "JOIN rollup_keys k ON k.id = r.key_id WHERE r.idle_ms <> 0 ORDER BY 1, 2, 3, 5"
)
TEAM_BY_IDLE = (
    "SELECT size_ms, bucket_ms, app, 0, active_ms FROM team_rollups WHERE active_ms <> 0 "
    "UNION ALL SELECT size_ms, bucket_ms, app, 1, idle_ms FROM team_rollups WHERE idle_ms <> 0"
)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_schema_3_database_gets_its_rollups_backfilled(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    spans = [
        ("a1", 30_000, 2 * H + 90_000, "Code", False),  # crosses minutes and hours
        ("a1", 2 * H + 90_000, 2 * H + 95_000, "Code", True),  # inside one minute
        ("b", -M - 1, 7, "Tube", False),  # before the epoch: floor, not truncation
        ("b", 5 * H, 5 * H, "Tube", False),  # empty
    ]
    impl: Store
    url = ""
    path = tmp_path / "v3.sqlite3"
    if kind == "postgres":
        from officepulse.store.postgres import MIGRATIONS as PG_MIGRATIONS

        url: str = request.getfixturevalue("postgres_url")
        with psycopg.connect(url) as pg:
            pg.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at "
                       "TIMESTAMPTZ NOT NULL DEFAULT now())")  # fmt: skip
            for step in (1, 2, 3):
                pg.execute(PG_MIGRATIONS[step])
                pg.execute("INSERT INTO schema_version (version) VALUES (%s)", (step,))
            for row in spans:
                pg.execute(
                    "INSERT INTO spans (agent_id, start_ms, end_ms, app, title, idle) "
                    "VALUES (%s, %s, %s, %s, 't', %s)",
                    row,
                )
            pg.execute(f"INSERT INTO agents VALUES {BERLIN_AGENT}")
        impl = PostgresStore(url)
    else:
        from officepulse.store.sqlite import MIGRATIONS as SQ_MIGRATIONS
        from officepulse.store.sqlite import SCHEMA

        conn = sqlite3.connect(path, isolation_level=None)
        conn.executescript(SCHEMA)
        for step in (2, 3):
            conn.execute(SQ_MIGRATIONS[step])
        conn.executemany(
            "INSERT INTO spans (agent_id, start_ms, end_ms, app, title, idle) "
            "VALUES (?, ?, ?, ?, 't', ?)",
            spans,
        )
        conn.execute(f"INSERT INTO agents VALUES {BERLIN_AGENT}")
        conn.execute("PRAGMA user_version=3")
        conn.close()
        impl = SQLiteStore(path)
    await impl.open()
    try:
        sql = ROLLUPS_BY_IDLE
        if kind == "postgres":
            with psycopg.connect(url) as pg:
                stored = [tuple(r) for r in pg.execute(sql)]
        else:
            with sqlite3.connect(path) as raw:
                stored = raw.execute(sql).fetchall()
            raw.close()
        rollups = {
            (size, bucket, agent, app, bool(idle)): ms
            for size, bucket, agent, app, idle, ms in stored
        }
        assert rollups[(M, 0, "a1", "Code", False)] == 30_000
        assert rollups[(M, 2 * H + M, "a1", "Code", False)] == 30_000
        assert rollups[(M, 2 * H + M, "a1", "Code", True)] == 5_000
        assert rollups[(H, 0, "a1", "Code", False)] == H - 30_000
        assert rollups[(H, H, "a1", "Code", False)] == H
        assert rollups[(H, 2 * H, "a1", "Code", False)] == 90_000
        assert rollups[(M, -2 * M, "b", "Tube", False)] == 1
        assert rollups[(M, -M, "b", "Tube", False)] == M
        assert rollups[(H, -H, "b", "Tube", False)] == M + 1
        assert rollups[(H, 0, "b", "Tube", False)] == 7
        assert sum(ms for (size, *_), ms in rollups.items() if size == M) == sum(
            ms for (size, *_), ms in rollups.items() if size == H
        )
        # Schema 5: day buckets from the hours, team rows summed over agents, the longest span.
        assert rollups[(D, 0, "a1", "Code", False)] == 2 * H + 60_000
        assert rollups[(D, 0, "a1", "Code", True)] == 5_000
        assert rollups[(D, -D, "b", "Tube", False)] == M + 1
        assert rollups[(D, 0, "b", "Tube", False)] == 7
        # Schema 6: spans from before zones were kept are in the agent's current zone.
        assert await impl.zones(None, -D, D) == {
            "a1": [ZoneRun(30_000, 2 * H + 95_000, "Europe/Berlin")]
        }
        last = await impl.last_span("a1")
        assert last is not None
        assert last.tz == "Europe/Berlin"
        team_sql = TEAM_BY_IDLE
        max_sql = "SELECT max_span_ms FROM span_stats"
        if kind == "postgres":
            with psycopg.connect(url) as pg:
                team_rows = [tuple(r) for r in pg.execute(team_sql)]
                (longest,) = [tuple(r) for r in pg.execute(max_sql)]
        else:
            with sqlite3.connect(path) as raw:
                team_rows = raw.execute(team_sql).fetchall()
                (longest,) = raw.execute(max_sql).fetchall()
            raw.close()
        team = {(size, bucket, app, bool(idle)): ms for size, bucket, app, idle, ms in team_rows}
        for size in (M, H, D, WEEK):
            want: dict[tuple[int, int, str, bool], int] = {}
            for (sz, bucket, _, app, idle), ms in rollups.items():
                if sz == size:
                    want[(sz, bucket, app, idle)] = want.get((sz, bucket, app, idle), 0) + ms
            assert {k: v for k, v in team.items() if k[0] == size} == want
        assert longest == (2 * H + 60_000,)
        # ...and usage, answered from them, is what the spans say.
        got = {(r.agent_id, r.app): (r.active_ms, r.idle_ms) for r in await impl.usage(
            -H, 10 * H, ["agent", "app"])}  # fmt: skip
        assert got == {("a1", "Code"): (2 * H + 60_000, 5_000), ("b", "Tube"): (M + 8, 0)}
        # New writes keep them in step: the span at 30 s becomes a shorter, idle one.
        await impl.commit_spans("a1", [Span(30_000, 90_000, AWAY)], 1)
        got = {(r.agent_id, r.app): (r.active_ms, r.idle_ms) for r in await impl.usage(
            0, 3 * H, ["agent", "app"])}  # fmt: skip
        assert got == {("a1", "Code"): (0, 65_000), ("b", "Tube"): (7, 0)}
        got = {r.app: (r.active_ms, r.idle_ms) for r in await impl.usage(0, 3 * H, ["app"])}
        assert got == {"Code": (0, 65_000), "Tube": (7, 0)}
        # Schema 7: the spans categorised by the default rules, the rollups with them.
        assert by_category(await impl.usage(-H, 10 * H, ["category"])) == {
            "Work > Programming": (0, 65_000),
            UNCATEGORIZED: (M + 8, 0),
        }
        assert await impl.categories() == list(DEFAULT_RULES)
    finally:
        await impl.close()


@pytest.mark.parametrize("old", [5, 6])  # 6: zones, the version before categories
async def test_an_older_database_with_pending_writes_is_categorised_exactly(
    tmp_path: Path, old: int
) -> None:
    from officepulse.store.sqlite import BACKFILLS, MIGRATIONS, SCHEMA

    path = tmp_path / f"v{old}.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA)
    for step in range(2, old + 1):
        conn.execute(MIGRATIONS[step])
        for statement in BACKFILLS.get(step, ()):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version={old}")
    # Written by another connection (as aw_compat did): rollup_pending holds them.
    conn.executemany(
        "INSERT INTO spans (agent_id, start_ms, end_ms, app, title, url, idle) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            ("a", 0, 2 * H + 5, "firefox", "cats - YouTube", None, 0),
            ("a", 2 * H + 5, 3 * H, "Code", "x", None, 1),
            ("b", -M, M, "Slack", "general", "https://app.slack.com/", 0),
        ],
    )
    assert conn.execute("SELECT count(*) FROM rollup_pending").fetchone() == (3,)
    conn.close()
    impl = SQLiteStore(path)
    await impl.open()
    try:
        firefox, code, slack = (
            ("a", "firefox", "Entertainment > Video"),
            ("a", "Code", "Work > Programming"),
            ("b", "Slack", "Comms > Chat"),
        )
        whole = {firefox: (2 * H + 5, 0), code: (0, H - 5), slack: (2 * M, 0)}
        # Edges 1 ms inside: Slack's span loses 1 ms at the start, Code's at the end.
        inside = {firefox: (2 * H + 5, 0), code: (0, H - 6), slack: (2 * M - 1, 0)}
        for (lo, hi), want in (((-D, D), whole), ((-M + 1, 3 * H - 1), inside)):
            rows = await impl.usage(lo, hi, ["agent", "app", "category"])
            got = {(r.agent_id, r.app, r.category): (r.active_ms, r.idle_ms) for r in rows}
            assert got == want, (lo, hi)
        with sqlite3.connect(path) as raw:
            assert raw.execute("SELECT count(*) FROM rollup_pending").fetchone() == (0,)
            assert raw.execute("SELECT count(*) FROM spans WHERE category IS NULL").fetchone() == (
                0,
            )
        raw.close()
    finally:
        await impl.close()


async def test_a_long_span_from_another_writer_is_counted_at_unaligned_edges(
    tmp_path: Path,
) -> None:
    # The raw edge query reads starts in [lo - longest span, hi): a span written past the
    # store (activitywatch/sqlite.py writes the SQLite file itself) must raise that bound too.
    path = tmp_path / "s.sqlite3"
    impl = SQLiteStore(path)
    await impl.open()
    try:
        await impl.commit_spans("a", [Span(0, 1_000, CODE)], 1)
        with sqlite3.connect(path, isolation_level=None) as raw:
            raw.execute(
                "INSERT INTO spans (agent_id, start_ms, end_ms, app, title, idle) "
                "VALUES ('b', 5000, ?, 'Tube', 't', 0)",
                (5_000 + 3 * D,),
            )
        raw.close()
        lo, hi = 2 * D + 123, 2 * D + 456  # inside one minute, far from the span's start
        for group_by in ([], ["app"], ["agent", "app"]):
            (row,) = await impl.usage(lo, hi, group_by)  # type: ignore[arg-type]
            assert row.active_ms == hi - lo
        # ...also once the store has folded it into the rollups.
        await impl.commit_spans("a", [Span(0, 2_000, CODE)], 2)
        (row,) = await impl.usage(lo, hi + 3 * M, ["app"])
        assert row.active_ms == hi + 3 * M - lo
        assert [s.start_ms for _, s in await impl.spans(lo, hi)] == [5_000]
    finally:
        await impl.close()


# -- categories ------------------------------------------------------------------------

FUN = [
    Rule(category="Work > Learning", pattern="lecture", fields=("title",)),
    Rule(category="Fun > Video", pattern="youtube", fields=("url",)),
    Rule(category="Work", pattern="^Code$", fields=("app",)),
]


def by_category(rows: list[UsageRow]) -> dict[str | None, tuple[int, int]]:
    return {r.category: (r.active_ms, r.idle_ms) for r in rows}


async def test_spans_are_categorised_by_the_default_rules(store: Store) -> None:
    assert await store.categories() == list(DEFAULT_RULES)
    store.save_agent(agent("a"))
    store.save_span("a", Span(0, 2 * H, CODE))
    store.save_span("a", Span(2 * H, 3 * H, AWAY))
    store.save_span("a", Span(3 * H, 4 * H, TUBE))
    store.save_span("a", Span(4 * H, 5 * H, Activity(app="nautilus", title="Home")))
    assert by_category(await store.usage(0, 10 * H, ["category"])) == {
        "Work > Programming": (2 * H, H),
        "Entertainment > Video": (H, 0),
        UNCATEGORIZED: (H, 0),
    }
    rows = await store.usage(H + 1, 5 * H - 1, ["agent", "app", "category"])
    assert {(r.agent_id, r.app, r.category): (r.active_ms, r.idle_ms) for r in rows} == {
        ("a", "Code", "Work > Programming"): (H - 1, H),
        ("a", "Google-chrome", "Entertainment > Video"): (H, 0),
        ("a", "nautilus", UNCATEGORIZED): (H - 1, 0),
    }
    assert all(r.category is None for r in await store.usage(0, H, ["agent", "app"]))


async def test_some_agents_and_their_days_are_grouped_by_category(store: Store) -> None:
    store.save_agent(agent("a"))
    store.save_agent(agent("b"))
    await store.commit_spans("a", [Span(0, 2 * H, CODE), Span(D, D + H, TUBE)], 1)
    await store.commit_spans("b", [Span(0, H, TUBE)], 1)
    rows = await store.usage(0, 2 * D, ["category"], ["a"])
    assert by_category(rows) == {"Work > Programming": (2 * H, 0), "Entertainment > Video": (H, 0)}
    days = await usage_by_day(
        store,
        date(1970, 1, 1),
        date(1970, 1, 3),
        day="viewer",
        zone=ZoneInfo("UTC"),
        group_by=["category"],
        agent_ids=["a"],
    )
    assert [(r.day, r.agent_id, r.category, r.active_ms) for r in days] == [
        (date(1970, 1, 1), None, "Work > Programming", 2 * H),
        (date(1970, 1, 2), None, "Entertainment > Video", H),
    ]


async def test_pruned_periods_keep_the_categories_they_had(store: Store) -> None:
    store.save_agent(agent("a"))
    await store.commit_spans("a", [Span(0, 2 * H, CODE), Span(10 * D, 10 * D + H, CODE)], 1)
    assert await store.prune(D) == 1
    # Re-categorising rewrites the spans still kept; the pruned hours have none to rewrite.
    assert await recategorize(store, FUN) == 1
    assert by_category(await store.usage(0, 2 * H, ["category"])) == {
        "Work > Programming": (2 * H, 0)
    }
    assert by_category(await store.usage(0, 11 * D, ["category"])) == {
        "Work > Programming": (2 * H, 0),
        "Work": (H, 0),
    }


async def test_setting_rules_re_categorises_history_exactly(store: Store) -> None:
    store.save_agent(agent("a"))
    spans = [
        Span(0, 90_000, CODE),
        Span(90_000, 2 * H, TUBE),
        Span(2 * H, 2 * H + 7, Activity(app="Google-chrome", title="MIT lecture", url="x")),
        Span(3 * H, 4 * H, AWAY),
        Span(4 * H, 5 * H, Activity(app="private", private=True)),
    ]
    await store.commit_spans("a", spans, 1)
    await store.commit_spans("b", [Span(30, 3 * D, TUBE)], 1)
    assert await recategorize(store, FUN) == 5  # everything but the private span
    assert await store.categories() == FUN
    want = {
        "Work": (90_000, H),
        "Fun > Video": (2 * H - 90_000 + 3 * D - 30, 0),
        "Work > Learning": (7, 0),
        "Private": (H, 0),
    }
    assert by_category(await store.usage(0, 4 * D, ["category"])) == want
    rows = await store.usage(0, 4 * D, ["agent", "category"])
    assert {(r.agent_id, r.category) for r in rows} == {
        ("a", "Work"),
        ("a", "Fun > Video"),
        ("a", "Work > Learning"),
        ("a", "Private"),
        ("b", "Fun > Video"),
    }
    # The same rules again: nothing changes. A bad rule: refused, nothing changes.
    assert await recategorize(store, FUN) == 0
    with pytest.raises(CategoryError, match=r"rule 1 \('Oops'\): bad regular expression"):
        await recategorize(store, [FUN[0], Rule(category="Oops", pattern="[")])
    assert await store.categories() == FUN
    assert by_category(await store.usage(0, 4 * D, ["category"])) == want
    # Later writes use the rules in force; back to the defaults re-categorises again.
    await store.commit_spans("a", [Span(2 * H, 2 * H + 9, CODE)], 2)  # rewrites a span
    assert by_category(await store.usage(2 * H, 3 * H, ["category"])) == {
        "Work": (9, 0),
        "Fun > Video": (H, 0),  # b's
    }
    assert await recategorize(store, DEFAULT_RULES) == 5
    assert by_category(await store.usage(0, 5 * H, ["category"])) == {
        "Work > Programming": (90_000 + 9, H),
        "Entertainment > Video": (2 * H - 90_000 + 5 * H - 30, 0),
        "Private": (H, 0),
    }


async def test_ingest_goes_on_while_rules_change(store: Store) -> None:
    import asyncio

    store.save_agent(agent("a"))
    await store.commit_spans("a", [Span(i * M, i * M + M, CODE) for i in range(40)], 1)
    commits = [
        store.commit_spans("a", [Span(i * M, i * M + M // 2, TUBE)], 1 + i) for i in range(20, 60)
    ]
    changed, *_ = await asyncio.gather(recategorize(store, FUN), *commits)
    assert changed <= 60  # the spans that exist when each chunk reads them
    # Whatever the interleaving: every span is in its category by the rules now in force.
    rules = compile_rules(FUN)
    want: dict[str, list[int]] = {}
    for _, span in await store.spans(0, D):
        a = span.activity
        want.setdefault(rules.categorize(a.app, a.title, a.url), [0, 0])[0] += span.duration_ms
    for group_by in (["category"], ["agent", "category"], ["app", "category"]):
        got: dict[str, list[int]] = {}
        for r in await store.usage(0, D, group_by):  # type: ignore[arg-type]
            assert r.category is not None
            got.setdefault(r.category, [0, 0])[0] += r.active_ms
        assert got == want


RULE_SETS = [
    [],
    FUN,
    [
        Rule(category="K > x", pattern="Tube|lecture"),
        Rule(category="K", pattern="e", fields=("app",)),
    ],
    list(DEFAULT_RULES),
]
# A write as in the test above, with a title (rules look at it); or ("rules", i): set
# RULE_SETS[i].
category_ops = st.tuples(
    st.integers(0, 5),
    st.integers(0, 3 * H) | st.integers(0, 90).map(lambda m: m * M) | st.integers(0, 2 * D),
    st.sampled_from(["Code", "Tube"]),
    st.sampled_from(["t", "a lecture"]),
    st.booleans(),
    st.sampled_from(["x", "y"]),
    st.sampled_from(["save", "flush", "commit"]),
) | st.tuples(st.just("rules"), st.integers(0, len(RULE_SETS) - 1))


@settings(PROPERTY, max_examples=25)
@given(
    starts=st.lists(instants, min_size=6, max_size=6),
    ops=st.lists(category_ops, min_size=1, max_size=12),
    ranges=st.lists(st.tuples(instants, instants), min_size=1, max_size=3),
)
async def test_usage_by_category_equals_the_raw_spans_after_writes_and_rule_changes(
    store: Store,
    starts: list[int],
    ops: list[tuple[object, ...]],
    ranges: list[tuple[int, int]],
) -> None:
    p = f"c{next(_examples)}-"
    model: dict[tuple[str, int], tuple[int, str, str, bool]] = {}
    rules = compile_rules(await store.categories())  # what earlier examples left
    for seq, op in enumerate(ops, start=1):
        if op[0] == "rules":
            chosen = RULE_SETS[int(str(op[1]))]
            await recategorize(store, chosen)
            rules = compile_rules(chosen)
            continue
        slot, length, app, title, idle, who, how = op
        assert isinstance(slot, int)
        assert isinstance(length, int)
        assert isinstance(idle, bool)
        start = starts[slot]
        activity = Activity(app=p + str(app), title=str(title), idle=idle)
        model[(p + str(who), start)] = (start + length, p + str(app), str(title), idle)
        span = Span(start, start + length, activity)
        if how == "commit":
            await store.commit_spans(p + str(who), [span], seq)
        else:
            store.save_span(p + str(who), span)
            if how == "flush":
                await store.flush()
    for a, b in [*ranges, (0, 6 * D), (D - 1, 2 * D + H + M + 1)]:
        lo, hi = min(a, b), max(a, b)
        expected: dict[tuple[str, str, str], list[int]] = {}
        for (who, start), (end, app, title, idle) in model.items():
            ms = min(end, hi) - max(start, lo)
            if ms > 0:
                key = (who, app, rules.categorize(app, title, None))
                expected.setdefault(key, [0, 0])[1 if idle else 0] += ms
        for group_by in (["agent", "app", "category"], ["agent", "category"], ["app", "category"]):
            want: dict[tuple[str | None, ...], list[int]] = {}
            for (who, app, cat), (act, idl) in expected.items():
                key = (
                    who if "agent" in group_by else None,
                    app if "app" in group_by else None,
                    cat,
                )
                slot_ms = want.setdefault(key, [0, 0])
                slot_ms[0] += act
                slot_ms[1] += idl
            rows = await store.usage(lo, hi, group_by)  # type: ignore[arg-type]
            got = {
                (r.agent_id, r.app, r.category): [r.active_ms, r.idle_ms]
                for r in rows
                if (r.agent_id or "").startswith(p) or (r.app or "").startswith(p)
            }
            assert got == want, (lo, hi, group_by)


async def test_spans_from_another_writer_are_categorised_before_and_after_folding(
    tmp_path: Path,
) -> None:
    # activitywatch/sqlite.py writes the SQLite spans table itself, without a category: usage
    # decides it by the rules in force until the store folds the span (and writes it).
    path = tmp_path / "s.sqlite3"
    impl = SQLiteStore(path, recategorize_chunk=2)
    await impl.open()
    try:
        await impl.commit_spans("a", [Span(0, 1_000, CODE)], 1)
        with sqlite3.connect(path, isolation_level=None) as raw:
            raw.executemany(
                "INSERT INTO spans (agent_id, start_ms, end_ms, app, title, url, idle) "
                "VALUES ('b', ?, ?, 'firefox', ?, ?, 0)",
                [
                    (0, 5 * M + 7, "cats - YouTube", None),
                    (5 * M + 7, 9 * M, "MIT lecture", "https://youtube.com/x"),
                    (9 * M, 10 * M, "gone", None),
                ],
            )
            raw.execute("DELETE FROM spans WHERE agent_id = 'b' AND start_ms = ?", (9 * M,))
        raw.close()
        # From rollups and the pending rows (a whole hour), and from raw spans (the edges).
        assert by_category(await impl.usage(0, H, ["category"])) == {
            "Work > Programming": (1_000, 0),
            "Entertainment > Video": (9 * M, 0),
        }
        assert by_category(await impl.usage(3, 9 * M - 5, ["category"])) == {
            "Work > Programming": (997, 0),
            "Entertainment > Video": (9 * M - 8, 0),
        }
        # New rules: the pending spans are folded by them (they had no category to change
        # from); of the rest, Code's span changes.
        assert await recategorize(impl, FUN) == 1
        assert by_category(await impl.usage(0, H, ["category"])) == {
            "Work": (1_000, 0),
            UNCATEGORIZED: (5 * M + 7, 0),
            "Work > Learning": (4 * M - 7, 0),
        }
        with sqlite3.connect(path) as raw:
            stored = raw.execute(
                "SELECT start_ms, category FROM spans WHERE agent_id = 'b' ORDER BY 1"
            ).fetchall()
            (pending,) = raw.execute("SELECT count(*) FROM rollup_pending").fetchone()
        raw.close()
        assert stored == [(0, UNCATEGORIZED), (5 * M + 7, "Work > Learning")]
        assert pending == 0
    finally:
        await impl.close()


# -- enrollment, credentials, blocking and removing -------------------------------------


def token(id_: str, *, expires: int | None = None, uses: int | None = 1) -> EnrollmentToken:
    return EnrollmentToken(id_, f"for {id_}", 1000, expires, uses, None)


async def test_an_enrollment_token_is_exchanged_once_and_kept_as_a_hash(store: Store) -> None:
    await store.add_token(token("t1"), "hash-of-t1")
    assert await store.enroll("hash-of-t1", "a1", "cred-hash", 2000) is None
    assert await store.enroll("hash-of-t1", "a2", "other", 2001) == "enroll-token-used-up"
    assert await store.enroll("no-such-hash", "a2", "other", 2001) == "enroll-token-unknown"
    (listed,) = await store.tokens()
    assert listed == EnrollmentToken("t1", "for t1", 1000, None, 0, None)
    cred = await store.credential("a1")
    assert cred == Credential("a1", "cred-hash", 2000, "t1", None)
    assert await store.credential("a2") is None


async def test_expired_revoked_and_unlimited_tokens(store: Store) -> None:
    await store.add_token(token("old", expires=5000), "h-old")
    await store.add_token(token("many", uses=None), "h-many")
    assert await store.enroll("h-old", "a1", "c1", 4999) is None
    assert await store.enroll("h-old", "a2", "c2", 5000) == "enroll-token-expired"
    for n in range(3):
        assert await store.enroll("h-many", f"m{n}", "c", 6000) is None
    assert await store.revoke_token("many", 7000)
    assert not await store.revoke_token("nope", 7000)
    assert await store.enroll("h-many", "m9", "c", 7001) == "enroll-token-revoked"
    revoked = {t.id: t.revoked_ms for t in await store.tokens()}
    assert revoked == {"old": None, "many": 7000}


async def test_a_credential_is_revoked_and_a_new_enrollment_replaces_it(store: Store) -> None:
    await store.add_token(token("t", uses=2), "h")
    assert await store.enroll("h", "a1", "first", 10) is None
    assert await store.revoke_credential("a1", 20)
    assert not await store.revoke_credential("a1", 21)  # already revoked
    assert not await store.revoke_credential("nobody", 21)
    revoked = await store.credential("a1")
    assert revoked is not None
    assert revoked.revoked_ms == 20
    assert await store.enroll("h", "a1", "second", 30) is None
    assert await store.credential("a1") == Credential("a1", "second", 30, "t", None)
    assert [(e.agent_id, e.kind, e.at_ms) for e in await store.agent_events(0)] == [
        ("a1", "revoke", 20)
    ]


async def test_blocking_keeps_history_and_is_recorded_in_order(store: Store) -> None:
    store.save_agent(agent("a"))
    store.save_span("a", Span(0, 5, CODE))
    assert not await store.block_agent("nobody", "why", 1)
    assert await store.block_agent("a", "left the team", 100)
    status = await store.agent("a")
    assert status is not None
    assert status.blocked == Blocked("left the team", 100)
    assert status.current == Span(0, 5, CODE)  # history kept
    # The agent's own writes (a reconnection attempt's last-seen) leave the block alone.
    store.save_agent(agent("a", online=False, seen=150))
    (listed,) = await store.agents()
    assert listed.blocked == Blocked("left the team", 100)
    assert await store.unblock_agent("a", 200)
    status = await store.agent("a")
    assert status is not None
    assert status.blocked is None
    events = await store.agent_events(0)
    assert [(e.kind, e.at_ms) for e in events] == [("block", 100), ("unblock", 200)]
    assert await store.agent_events(events[0].seq) == events[1:]
    assert await store.agent_events(events[1].seq) == []


async def test_remove_keeps_or_erases_history_and_rollups_stay_exact(store: Store) -> None:
    spans = {
        "keep": [Span(-M + 7, 3 * H + 11, CODE), Span(D - 5, D + 2 * M, TUBE)],
        "gone": [Span(-H, 5, CODE), Span(5, D + H + 13, TUBE), Span(D + H + 13, 2 * D, AWAY)],
        "kept-history": [Span(30 * M + 1, 2 * H, TUBE)],
    }
    for who, rows in spans.items():
        store.save_agent(agent(who))
        await store.commit_spans(who, rows, len(rows))
    await store.add_token(token("t"), "h")
    assert await store.enroll("h", "gone", "c", 1) is None
    assert await store.remove_agent("gone", True, 500)
    assert await store.remove_agent("kept-history", False, 501)
    assert not await store.remove_agent("gone", True, 502)
    assert [s.info.id for s in await store.agents()] == ["keep"]
    assert await store.credential("gone") is None
    assert [(e.agent_id, e.kind) for e in await store.agent_events(0)] == [
        ("gone", "erase"),
        ("kept-history", "remove"),
    ]
    stored = await store.spans(-10 * D, 10 * D)
    assert {who for who, _ in stored} == {"keep", "kept-history"}
    # Every range, from the rollups, equals a recomputation from the spans that remain.
    for lo, hi in [(-D, 3 * D), (0, D), (-M + 3, 2 * H + 7), (D - H, D + 61 * M + 5)]:
        expected = usage_from_spans(stored, lo, hi)
        rows = await store.usage(lo, hi, ["agent", "app"])
        assert {(r.agent_id, r.app): [r.active_ms, r.idle_ms] for r in rows} == expected
        by_app: dict[str, list[int]] = {}
        for (_, app), (act, idl) in expected.items():
            slot = by_app.setdefault(app, [0, 0])
            slot[0] += act
            slot[1] += idl
        rows = await store.usage(lo, hi, ["app"])
        assert {r.app: [r.active_ms, r.idle_ms] for r in rows} == by_app


async def test_a_database_at_version_6_migrates_to_enrollment(tmp_path: Path) -> None:
    # From zones' 6 through categories' 7, enrollment's 8, accounts' 9 and runs' 10 to
    # rollup keys' 11.
    import sqlite3

    from officepulse.store.sqlite import BACKFILLS, MIGRATIONS, SCHEMA, SCHEMA_VERSION

    path = tmp_path / "v6.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA)
    for step in range(2, 7):
        conn.execute(MIGRATIONS[step])
        for statement in BACKFILLS.get(step, ()):
            conn.execute(statement)
    conn.execute("INSERT INTO agents VALUES ('a1', 'A', 'h', 'p', 'v', 'UTC', 0, 0, 0)")
    conn.execute("PRAGMA user_version=6")
    conn.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        status = await store.agent("a1")
        assert status is not None
        assert status.blocked is None
        assert await store.block_agent("a1", "lost laptop", 5)
        await store.add_token(token("t"), "h")
        assert await store.enroll("h", "a1", "c", 6) is None
        assert [e.kind for e in await store.agent_events(0)] == ["block"]
        assert await store.count_people() == 0  # accounts' tables, empty: open mode
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (16,)
    raw.close()


async def test_erase_takes_out_the_time_of_spans_retention_pruned(store: Store) -> None:
    # Rollups outlive pruned spans: erasing an agent must take that time out too.
    store.save_agent(agent("old"))
    store.save_agent(agent("stay"))
    await store.commit_spans(
        "old", [Span(0, 2 * H, CODE, "Asia/Tokyo"), Span(D, D + H, TUBE, "Asia/Tokyo")], 2
    )
    await store.commit_spans("stay", [Span(0, H, CODE, "Europe/Berlin")], 1)
    assert await store.prune(D) == 2
    rows = await store.usage(-D, 3 * D, ["agent", "app"])
    assert {(r.agent_id, r.app): r.active_ms for r in rows} == {
        ("old", "Code"): 2 * H,
        ("old", "Google-chrome"): H,
        ("stay", "Code"): H,
    }
    assert await store.remove_agent("old", True, 5)
    rows = await store.usage(-D, 3 * D, ["agent", "app"])
    assert {(r.agent_id, r.app): r.active_ms for r in rows} == {("stay", "Code"): H}
    rows = await store.usage(-D, 3 * D, ["app"])
    assert {r.app: r.active_ms for r in rows} == {"Code": H}
    assert set(await store.zones(None, -D, 3 * D)) == {"stay"}


# -- per-day totals over the store (panel/day_usage.py) ----------------------------------


class CountingStore:
    """The store under test, counting the usage() queries asked of it."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.usage_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def usage(self, *args: Any, **kwargs: Any) -> Any:
        self.usage_calls += 1
        return await self.inner.usage(*args, **kwargs)


async def test_people_in_three_zones_cost_a_few_queries_a_day(store: Store) -> None:
    zones = ["Europe/Berlin", "Asia/Tokyo", "America/New_York"]
    late = to_ms(datetime(2026, 11, 23, 22, tzinfo=UTC))  # two hours to midnight UTC
    for i in range(300):
        tz = zones[i % 3]
        store.save_agent(AgentInfo(f"p{i:03}", f"P{i}", "h", "Linux", "0.1", tz, False, 0))
        store.save_span(f"p{i:03}", Span(late, late + 2 * H, CODE, tz))
    # A traveller: an hour in Tokyo, then two days later an hour in Berlin.
    store.save_agent(AgentInfo("t", "T", "h", "Linux", "0.1", "Europe/Berlin", False, 0))
    store.save_span("t", Span(late, late + H, CODE, "Asia/Tokyo"))
    store.save_span("t", Span(late + 2 * D, late + 2 * D + H, TUBE, "Europe/Berlin"))
    counting = CountingStore(store)
    first, last = date(2026, 11, 22), date(2026, 11, 30)
    rows = await usage_by_day(
        counting,  # type: ignore[arg-type]
        first,
        last,
        day="person",
        zone=ZoneInfo("UTC"),
        group_by=["agent"],
    )
    # A query per zone per day, and a few for the traveller's days of their own.
    assert counting.usage_calls <= 3 * 9 + 3
    got: dict[str, dict[date, int]] = {}
    for r in rows:
        assert r.agent_id is not None
        got.setdefault(r.agent_id, {})[r.day] = r.active_ms
    assert len(got) == 301
    nov = {d: date(2026, 11, d) for d in range(22, 31)}
    assert got["p000"] == {nov[23]: H, nov[24]: H}  # Berlin: 23:00 to 01:00
    assert got["p001"] == {nov[24]: 2 * H}  # Tokyo: 07:00 to 09:00 the next day
    assert got["p002"] == {nov[23]: 2 * H}  # New York: 17:00 to 19:00
    assert got["t"] == {nov[24]: H, nov[25]: H}  # Tokyo 07:00 on the 24th, Berlin 23:00
    # The viewer's days: one zone for everyone, one query per day.
    counting.usage_calls = 0
    rows = await usage_by_day(
        counting,  # type: ignore[arg-type]
        first,
        last,
        day="viewer",
        zone=ZoneInfo("Asia/Kolkata"),  # +5:30: 03:30 to 05:30 on the 24th
        group_by=["app"],
        agent_ids=["t", "p001"],
    )
    assert counting.usage_calls == 9
    assert [(r.day, r.app, r.active_ms) for r in rows] == [
        (nov[24], "Code", 3 * H),
        (nov[26], "Google-chrome", H),
    ]


# -- schema 11: rollups by key id, with weeks --------------------------------------------

SCHEMA10 = paths.DATA / "schema10"
# The tables of a schema-10 store that hold what usage() answers from.
SCHEMA10_TABLES = (
    "agents",
    "spans",
    "rollups",
    "team_rollups",
    "rollup_runs",
    "zone_runs",
    "span_stats",
    "categories",
)


def schema10_sqlite(path: Path) -> None:
    """tests/data/schema10/store.sql (written by the code of schema 10) as a SQLite file."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.executescript((SCHEMA10 / "store.sql").read_text())
        conn.execute("PRAGMA user_version=10")


def schema10_postgres(url: str, tmp_path: Path) -> None:
    """The same rows in a PostgreSQL database whose tables are schema 10's, made by its
    own migration steps."""
    from officepulse.store.postgres import CATEGORY_REBUILD, CATEGORY_STEP
    from officepulse.store.postgres import MIGRATIONS as PG_MIGRATIONS

    source = tmp_path / "schema10.sqlite3"
    schema10_sqlite(source)
    with psycopg.connect(url) as pg, contextlib.closing(sqlite3.connect(source)) as lite:
        pg.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at "
                   "TIMESTAMPTZ NOT NULL DEFAULT now())")  # fmt: skip
        for step in range(1, 11):
            pg.execute(PG_MIGRATIONS[step])
            if step == CATEGORY_STEP:
                pg.execute(CATEGORY_REBUILD)
            pg.execute("INSERT INTO schema_version (version) VALUES (%s)", (step,))
        for table in SCHEMA10_TABLES:
            pg.execute(f"DELETE FROM {table}")  # type: ignore[arg-type]
            columns = ", ".join(c[1] for c in lite.execute(f"PRAGMA table_info({table})"))
            with pg.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type]
                for row in lite.execute(f"SELECT {columns} FROM {table}"):
                    copy.write_row(row)


async def answers_as_recorded(store: Store, recorded: list[dict[str, Any]]) -> None:
    for case in recorded:
        rows = await store.usage(case["lo"], case["hi"], case["group_by"], case["agent_ids"])
        got = sorted([r.agent_id, r.app, r.category, r.active_ms, r.idle_ms] for r in rows)
        assert got == case["rows"], case


@pytest.mark.parametrize("kind", ["sqlite", "sqlite-pending", "postgres"])
async def test_a_schema_10_store_made_by_the_previous_code_answers_as_it_did(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    # The store of tests/data/schema10 was written by the code before rollup keys and
    # weeks (its make_store.py): runs, idle time, an app in two categories, re-categorised,
    # pruned spans whose time is in the rollups alone, an erased agent; with "pending",
    # the ActivityWatch API's connection then wrote spans the store had not folded yet.
    # Migrated, every answer that code gave is given again, to the millisecond.
    expected = json.loads((SCHEMA10 / "expected.json").read_text())
    impl: Store
    if kind == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        schema10_postgres(url, tmp_path)
        impl = PostgresStore(url)
    else:
        path = tmp_path / "v10.sqlite3"
        schema10_sqlite(path)
        if kind == "sqlite-pending":
            with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as raw:
                for statement in expected["other_writer"]:
                    raw.execute(statement)
        impl = SQLiteStore(path)
    recorded = expected["pending" if kind == "sqlite-pending" else "folded"]
    await impl.open()
    try:
        await answers_as_recorded(impl, recorded)
        # A write folds what another writer left and keeps the migrated rows in step: far
        # from every range asked, it changes no answer...
        await impl.commit_spans("zz", [Span(400 * D, 400 * D + 3 * H + 7, CODE)], 1)
        await answers_as_recorded(impl, recorded)
        # ...and a span of the history extended by 5 s adds 5 s wherever it is counted.
        (last,) = [s for _, s in await impl.spans(0, 10**13, "cy")][-1:]
        await impl.commit_spans("cy", [replace(last, end_ms=last.end_ms + 5_000)], 9)
        lo, hi = recorded[0]["lo"], recorded[0]["hi"]
        assert hi > last.end_ms + 5_000
        (row,) = await impl.usage(lo, hi, [], ["cy"])
        (was,) = (
            r[3] + r[4]
            for c in recorded
            if (c["lo"], c["group_by"], c["agent_ids"]) == (lo, ["agent"], None)
            for r in c["rows"]
            if r[0] == "cy"
        )
        assert row.active_ms + row.idle_ms == was + 5_000
    finally:
        await impl.close()
    if kind != "postgres":
        with contextlib.closing(sqlite3.connect(path)) as raw:
            assert raw.execute("PRAGMA user_version").fetchone() == (16,)
            assert raw.execute("SELECT count(*) FROM rollup_pending").fetchone() == (0,)


def second(store: Store) -> Store:
    """Another store on the same database, as another process (the CLI) opens one."""
    if isinstance(store, PostgresStore):
        return PostgresStore(store.url)
    assert isinstance(store, SQLiteStore)
    return SQLiteStore(store.path)


async def test_an_agent_erased_elsewhere_and_written_again_is_counted_exactly(
    store: Store,
) -> None:
    # This store knows the ids of x's rollup keys from its writes; another process erases
    # x, which deletes those keys. x's server still had it connected and writes again with
    # the same apps: the store must look the keys up again, not write rows under ids that
    # name nothing (their time would be missing from every total by agent).
    store.save_agent(agent("x"))
    await store.commit_spans("x", [Span(0, 2 * H + 5, CODE), Span(D, D + M, TUBE)], 1)
    await store.commit_spans("y", [Span(0, H, CODE)], 1)
    other = second(store)
    await other.open()
    try:
        assert await other.remove_agent("x", erase=True, now_ms=5)
    finally:
        await other.close()
    await store.commit_spans(
        "x", [Span(3 * D, 3 * D + 2 * H + 7, CODE), Span(8 * D - 3, 8 * D + M, AWAY)], 2
    )
    stored = await store.spans(-D, 10 * D)
    assert {who for who, _ in stored} == {"x", "y"}
    for lo, hi in [(-D, 10 * D), (0, 7 * D), (3 * D + 1, 8 * D + 17), (7 * D, 14 * D)]:
        expected = usage_from_spans(stored, lo, hi)
        rows = await store.usage(lo, hi, ["agent", "app"])
        assert {(r.agent_id, r.app): [r.active_ms, r.idle_ms] for r in rows} == expected
        only = await store.usage(lo, hi, ["app"], agent_ids=["x"])
        assert {r.app: [r.active_ms, r.idle_ms] for r in only} == {
            app: ms for (who, app), ms in expected.items() if who == "x"
        }


def poison_rollups(store: Store, bucket_ms: int) -> None:
    """A constraint on the rollups themselves: no week row of ``bucket_ms``. A write that
    would make one fails after it has added its keys to the dictionary."""
    if isinstance(store, PostgresStore):
        with psycopg.connect(store.url) as pg:
            pg.execute(
                "CREATE FUNCTION poison_rollups() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.size_ms = {WEEK} AND NEW.bucket_ms = {bucket_ms} THEN "
                "RAISE EXCEPTION 'poisoned week' USING ERRCODE = 'check_violation'; END IF; "
                "RETURN NEW; END $$"
            )
            pg.execute(
                "CREATE TRIGGER poison_rollups BEFORE INSERT ON rollups "
                "FOR EACH ROW EXECUTE FUNCTION poison_rollups()"
            )
    else:
        assert isinstance(store, SQLiteStore)
        with contextlib.closing(sqlite3.connect(store.path)) as raw, raw:
            raw.execute(
                "CREATE TRIGGER poison_rollups BEFORE INSERT ON rollups "
                f"WHEN new.size_ms = {WEEK} AND new.bucket_ms = {bucket_ms} "
                "BEGIN SELECT RAISE(ABORT, 'poisoned week'); END"
            )


def cure_rollups(store: Store) -> None:
    if isinstance(store, PostgresStore):
        with psycopg.connect(store.url) as pg:
            pg.execute("DROP TRIGGER poison_rollups ON rollups")
    else:
        assert isinstance(store, SQLiteStore)
        with contextlib.closing(sqlite3.connect(store.path)) as raw, raw:
            raw.execute("DROP TRIGGER poison_rollups")


async def test_keys_added_by_a_write_that_failed_are_never_used(store: Store) -> None:
    # A write adds b's new key (b, Tube) to the dictionary, then fails and is rolled back:
    # the id it was given is gone (and SQLite gives it again, to the next new key). The
    # store must not keep it: b's next write of Tube would count under another key's id,
    # or under none.
    await store.commit_spans("a", [Span(0, H, CODE)], 1)
    poison_rollups(store, 14 * WEEK)
    with pytest.raises(StoreRefused):
        await store.commit_spans("b", [Span(14 * WEEK + 5 * M, 14 * WEEK + 9 * M, TUBE)], 1)
    cure_rollups(store)
    await store.commit_spans("c", [Span(20 * WEEK, 20 * WEEK + M, Activity(app="Slack"))], 1)
    await store.commit_spans("b", [Span(30 * WEEK, 30 * WEEK + 7 * M, TUBE)], 2)
    stored = await store.spans(-D, 40 * WEEK)
    assert {who for who, _ in stored} == {"a", "b", "c"}
    for lo, hi in [(-D, 40 * WEEK), (29 * WEEK, 31 * WEEK), (30 * WEEK, 30 * WEEK + D)]:
        rows = await store.usage(lo, hi, ["agent", "app"])
        want = usage_from_spans(stored, lo, hi)
        assert {(r.agent_id, r.app): [r.active_ms, r.idle_ms] for r in rows} == want, (lo, hi)
