"""The activity in progress, counted up to now (panel/live.py), as a pure core: it
starts where the stored spans end, so the two never overlap, and it follows what the
agent reports (a switch, going idle dated back)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from officepulse.core.categories import DEFAULT_RULES, compile_rules
from officepulse.panel.live import (
    MAX_IN_PROGRESS_MS,
    Live,
    grouped,
    in_progress,
    overlapping,
    usage_rows,
)
from officepulse.protocol.messages import Activity
from tests.support.live import view

CODE = Activity(app="Code", title="main.py")
IDLE = Activity(app="Code", title="main.py", idle=True)


def test_from_the_stored_end_or_the_activity_start_whichever_is_later() -> None:
    views = [view("ann", 1_000, CODE), view("bob", 5_000, CODE)]
    got = in_progress(views, {"ann": 4_000, "bob": 2_000}, 9_000)
    assert {a: (s.start_ms, s.end_ms) for a, s in got.items()} == {
        "ann": (4_000, 9_000),
        "bob": (5_000, 9_000),
    }


def test_nothing_in_progress_offline_for_v1_agents_or_once_stored_up_to_now() -> None:
    views = [
        view("off", 1_000, CODE, online=False),
        view("v1", 1_000, CODE, live=False),  # its latest stored span, not presence
        view("done", 1_000, CODE),
        view("old", 1_000, CODE),
    ]
    ends = {"done": 9_000, "old": 1_000}
    assert in_progress(views, ends, 9_000).keys() == {"old"}  # "done" is stored up to now
    # Longer than an agent holds its open span back: it is not handing its spans on.
    assert in_progress(views, ends, 2_000 + MAX_IN_PROGRESS_MS).keys() == {"done"}


def test_going_idle_dated_back_shrinks_the_active_time() -> None:
    """Before the agent noticed, Code is in progress up to now; once it reports idle
    since the last input and stores Code up to it, the active time is what happened."""
    rules = compile_rules(DEFAULT_RULES)
    before = in_progress([view("ann", 0, CODE)], {}, 18_000)
    assert usage_rows(before, 0, 60_000, None, rules.categorize)[0].active_ms == 18_000
    after = in_progress([view("ann", 8_000, IDLE)], {"ann": 8_000}, 18_000)
    (row,) = usage_rows(after, 0, 60_000, None, rules.categorize)
    assert (row.active_ms, row.idle_ms) == (0, 10_000)


@given(
    stored=st.lists(st.integers(1, 60_000), max_size=6),
    since=st.integers(0, 400_000),
    now=st.integers(0, 500_000),
    lo=st.integers(0, 500_000),
    length=st.integers(1, 500_000),
)
def test_never_overlaps_what_is_stored_and_counts_only_inside_the_range(
    stored: list[int], since: int, now: int, lo: int, length: int
) -> None:
    ends, edge = [], 0
    for ms in stored:  # contiguous stored spans, as an agent's are
        edge += ms
        ends.append(edge)
    stored_end = ends[-1] if ends else None
    live = in_progress([view("ann", since, CODE)], {"ann": stored_end} if stored_end else {}, now)
    span = live.get("ann")
    if span is not None:
        assert span.start_ms >= (stored_end or 0)
        assert span.start_ms >= since
        assert span.end_ms == now
    hi = lo + length
    rows = usage_rows(live, lo, hi, None, compile_rules(DEFAULT_RULES).categorize)
    want = max(0, min(now, hi) - max(span.start_ms, lo)) if span is not None else 0
    assert sum(r.active_ms for r in rows) == want
    assert bool(overlapping(live, lo, hi)) == (want > 0)


def test_rows_are_grouped_as_asked_and_past_ranges_read_nothing() -> None:
    rules = compile_rules(DEFAULT_RULES)
    live = in_progress([view("ann", 0, CODE), view("bob", 0, IDLE)], {}, 10_000)
    rows = usage_rows(live, 0, 20_000, None, rules.categorize)
    (total,) = grouped(rows, [])
    assert (total.active_ms, total.idle_ms) == (10_000, 10_000)
    assert usage_rows(live, 0, 20_000, ["bob"], rules.categorize)[0].agent_id == "bob"
    snapshot = Live.of([view("ann", 5_000, CODE), view("x", 0, CODE, online=False)], 10_000)
    assert [v.id for v in snapshot.views] == ["ann"]
    assert snapshot.reaching(0, 5_000, None) == ()  # a range ending before it began
    assert snapshot.reaching(10_000, 20_000, None) == ()  # a range starting now
    assert [v.id for v in snapshot.reaching(0, 5_001, None)] == ["ann"]
    assert snapshot.reaching(0, 5_001, ["bob"]) == ()
