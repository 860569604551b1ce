"""The pure parts of rollups (store/base.py): cutting time into buckets, the delta of a
rewritten span, and how a usage range is split between hours, minutes and raw spans.
Both stores use them; tests/test_store_contract.py checks the stores' answers."""

from __future__ import annotations

import itertools

from hypothesis import example, given
from hypothesis import strategies as st

from officepulse.store.base import HOUR_MS, MINUTE_MS, rollup_delta, split, usage_plan

M, H = MINUTE_MS, HOUR_MS
times = st.integers(-3 * H, 30 * H) | st.integers(-180, 1800).map(lambda m: m * M)


def test_split_cuts_at_bucket_boundaries() -> None:
    assert list(split(30_000, 150_000, M)) == [(0, 30_000), (M, M), (2 * M, 30_000)]
    assert list(split(M, 2 * M, M)) == [(M, M)]
    assert list(split(5, 5, M)) == []
    assert list(split(-1, 1, M)) == [(-M, 1), (0, 1)]


@given(times, times, st.sampled_from([M, H]))
def test_split_covers_the_span_exactly_once(a: int, b: int, size: int) -> None:
    start, end = min(a, b), max(a, b)
    parts = list(split(start, end, size))
    assert sum(ms for _, ms in parts) == end - start
    assert all(bucket % size == 0 and 0 < ms <= size for bucket, ms in parts)
    assert len({bucket for bucket, _ in parts}) == len(parts)


def test_the_delta_of_a_rewrite_is_what_changed() -> None:
    # An extension adds only the new time; rewriting as it was changes nothing.
    grow = rollup_delta([("a", 0, 90_000, "Code", False)], [("a", 0, 150_000, "Code", False)])
    assert grow[M] == {("a", "Code", False, M): 30_000, ("a", "Code", False, 2 * M): 30_000}
    assert grow[H] == {("a", "Code", False, 0): 60_000}
    same = [("a", 0, 90_000, "Code", False)]
    assert rollup_delta(same, same) == {M: {}, H: {}}
    # A change of app (or idle) moves the time from one key to the other.
    moved = rollup_delta([("a", 0, 10, "Code", False)], [("a", 0, 10, "Code", True)])
    assert moved[H] == {("a", "Code", False, 0): -10, ("a", "Code", True, 0): 10}


@given(times, times)
@example(1, -59_999)  # across one minute boundary with no whole minute inside
def test_a_usage_plan_tiles_the_range_with_aligned_buckets(a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    plan = usage_plan(start, end)
    pieces = sorted([*plan.raw, *plan.minutes, *plan.hours])
    if start == end:
        assert pieces == []
        return
    assert pieces[0][0] == start
    assert pieces[-1][1] == end
    assert all(x[1] == y[0] for x, y in itertools.pairwise(pieces))
    assert all(lo < hi for lo, hi in pieces)
    assert all(lo % M == 0 and hi % M == 0 for lo, hi in plan.minutes)
    assert all(lo % H == 0 and hi % H == 0 for lo, hi in plan.hours)
    # Raw spans are read only for the sub-minute edges.
    assert all(hi - lo < M for lo, hi in plan.raw)
    assert len(plan.raw) <= 2
    assert len(plan.minutes) <= 2
    assert len(plan.hours) <= 1
