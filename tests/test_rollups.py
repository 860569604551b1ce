"""The pure parts of rollups (store/base.py): cutting time into buckets, the delta of a
rewritten span, and how a usage range is split between hours, minutes and raw spans.
Both stores use them; tests/test_store_contract.py checks the stores' answers."""

from __future__ import annotations

import itertools

from hypothesis import example, given
from hypothesis import strategies as st

from officepulse.store.base import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    rollup_delta,
    split,
    team_delta,
    usage_plan,
)

M, H, D = MINUTE_MS, HOUR_MS, DAY_MS
times = (
    st.integers(-3 * H, 30 * H)
    | st.integers(-180, 1800).map(lambda m: m * M)
    | st.integers(-2 * D, 5 * D)
    | st.integers(-48, 120).map(lambda h: h * H)
    | st.integers(-2, 5).map(lambda d: d * D)
)


def test_split_cuts_at_bucket_boundaries() -> None:
    assert list(split(30_000, 150_000, M)) == [(0, 30_000), (M, M), (2 * M, 30_000)]
    assert list(split(M, 2 * M, M)) == [(M, M)]
    assert list(split(5, 5, M)) == []
    assert list(split(-1, 1, M)) == [(-M, 1), (0, 1)]


@given(times, times, st.sampled_from([M, H, D]))
def test_split_covers_the_span_exactly_once(a: int, b: int, size: int) -> None:
    start, end = min(a, b), max(a, b)
    parts = list(split(start, end, size))
    assert sum(ms for _, ms in parts) == end - start
    assert all(bucket % size == 0 and 0 < ms <= size for bucket, ms in parts)
    assert len({bucket for bucket, _ in parts}) == len(parts)


def test_the_delta_of_a_rewrite_is_what_changed() -> None:
    # An extension adds only the new time; rewriting as it was changes nothing.
    W = "Work"
    grow = rollup_delta([("a", 0, 90_000, "Code", W, False)], [("a", 0, 150_000, "Code", W, False)])
    assert grow[M] == {("a", "Code", W, False, M): 30_000, ("a", "Code", W, False, 2 * M): 30_000}
    assert grow[H] == {("a", "Code", W, False, 0): 60_000}
    assert grow[D] == {("a", "Code", W, False, 0): 60_000}
    same = [("a", 0, 90_000, "Code", W, False)]
    assert rollup_delta(same, same) == {M: {}, H: {}, D: {}}
    # A change of app (or idle) moves the time from one key to the other.
    moved = rollup_delta([("a", 0, 10, "Code", W, False)], [("a", 0, 10, "Code", W, True)])
    assert moved[H] == {("a", "Code", W, False, 0): -10, ("a", "Code", W, True, 0): 10}
    # So does a change of category (re-categorisation): nothing else moves.
    recat = rollup_delta([("a", 0, 10, "Code", W, False)], [("a", 0, 10, "Code", "Fun", False)])
    assert recat[M] == {("a", "Code", W, False, 0): -10, ("a", "Code", "Fun", False, 0): 10}
    assert team_delta(recat)[D] == {("Code", W, False, 0): -10, ("Code", "Fun", False, 0): 10}
    # A day bucket is a UTC day, also before the epoch.
    assert rollup_delta([], [("a", -1, 1, "Code", W, False)])[D] == {
        ("a", "Code", W, False, -D): 1,
        ("a", "Code", W, False, 0): 1,
    }


def test_the_team_delta_sums_over_agents_and_drops_what_cancels() -> None:
    # Time moved from one agent to another at the same app and bucket: no team change.
    W = "Work"
    delta = rollup_delta([("a", 0, 10, "Code", W, False)], [("b", 0, 10, "Code", W, False)])
    assert delta[M] == {("a", "Code", W, False, 0): -10, ("b", "Code", W, False, 0): 10}
    assert team_delta(delta) == {M: {}, H: {}, D: {}}
    both = rollup_delta([], [("a", 0, 10, "Code", W, False), ("b", 5, 2 * M, "Code", W, False)])
    assert team_delta(both)[M] == {("Code", W, False, 0): 10 + M - 5, ("Code", W, False, M): M}
    assert team_delta(both)[D] == {("Code", W, False, 0): 10 + 2 * M - 5}


@given(times, times)
@example(1, -59_999)  # across one minute boundary with no whole minute inside
def test_a_usage_plan_tiles_the_range_with_aligned_buckets(a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    plan = usage_plan(start, end)
    pieces = sorted([*plan.raw, *plan.minutes, *plan.hours, *plan.days])
    if start == end:
        assert pieces == []
        return
    assert pieces[0][0] == start
    assert pieces[-1][1] == end
    assert all(x[1] == y[0] for x, y in itertools.pairwise(pieces))
    assert all(lo < hi for lo, hi in pieces)
    assert all(lo % M == 0 and hi % M == 0 for lo, hi in plan.minutes)
    assert all(lo % H == 0 and hi % H == 0 for lo, hi in plan.hours)
    assert all(lo % D == 0 and hi % D == 0 for lo, hi in plan.days)
    # Each finer size only fills what the coarser one cannot: under a day of hours at
    # each edge, under an hour of minutes.
    assert all(hi - lo < D for lo, hi in plan.hours) or not plan.days
    assert all(hi - lo < H for lo, hi in plan.minutes) or not plan.hours
    # Raw spans are read only for the sub-minute edges.
    assert all(hi - lo < M for lo, hi in plan.raw)
    assert len(plan.raw) <= 2
    assert len(plan.minutes) <= 2
    assert len(plan.hours) <= 2
    assert len(plan.days) <= 1
    assert plan.by_size() == ((M, plan.minutes), (H, plan.hours), (D, plan.days))


def test_a_month_is_read_as_days_with_hours_minutes_and_raw_at_the_edges() -> None:
    plan = usage_plan(D - H - M - 1, 31 * D + H + M + 1)
    assert plan.days == ((D, 31 * D),)
    assert plan.hours == ((D - H, D), (31 * D, 31 * D + H))
    assert plan.minutes == ((D - H - M, D - H), (31 * D + H, 31 * D + H + M))
    assert plan.raw == ((D - H - M - 1, D - H - M), (31 * D + H + M, 31 * D + H + M + 1))
