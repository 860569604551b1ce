"""The pure parts of rollups (store/base.py): cutting time into buckets, a span's whole
hours kept as one run, the delta of a rewritten span, how a usage range is split between
weeks, days, hours, minutes and raw spans, and the ids of rollup keys a writer keeps. Both
stores use them; tests/store/test_store_contract.py checks the stores' answers."""

from __future__ import annotations

import itertools
from typing import TypeVar

from hypothesis import example, given
from hypothesis import strategies as st

from officepulse.store.base import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    WEEK_MS,
    BucketKey,
    Contribution,
    KeyIds,
    KeyNames,
    RunKey,
    UsagePlan,
    UsageRow,
    bucketed,
    keys_of,
    learn_keys,
    missing_keys,
    rollup_delta,
    run_delta,
    split,
    team_delta,
    usage_from,
    usage_plan,
    whole_hours,
)

_K = TypeVar("_K")

M, H, D, WK = MINUTE_MS, HOUR_MS, DAY_MS, WEEK_MS
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


@given(times, times, st.sampled_from([M, H, D, WK]))
def test_split_covers_the_span_exactly_once(a: int, b: int, size: int) -> None:
    start, end = min(a, b), max(a, b)
    parts = list(split(start, end, size))
    assert sum(ms for _, ms in parts) == end - start
    assert all(bucket % size == 0 and 0 < ms <= size for bucket, ms in parts)
    assert len({bucket for bucket, _ in parts}) == len(parts)


def test_the_delta_of_a_rewrite_is_what_changed() -> None:
    # An extension adds only the new time; rewriting as it was changes nothing. A row
    # holds [active ms, idle ms] of one (agent, app, category) and bucket.
    W = "Work"
    grow = rollup_delta([("a", 0, 90_000, "Code", W, False)], [("a", 0, 150_000, "Code", W, False)])
    assert grow[M] == {("a", "Code", W, M): [30_000, 0], ("a", "Code", W, 2 * M): [30_000, 0]}
    assert grow[H] == {("a", "Code", W, 0): [60_000, 0]}
    assert grow[D] == {("a", "Code", W, 0): [60_000, 0]}
    assert grow[WK] == {("a", "Code", W, 0): [60_000, 0]}
    same = [("a", 0, 90_000, "Code", W, False)]
    assert rollup_delta(same, same) == {M: {}, H: {}, D: {}, WK: {}}
    # A change of idle moves the time from one column of the row to the other...
    moved = rollup_delta([("a", 0, 10, "Code", W, False)], [("a", 0, 10, "Code", W, True)])
    assert moved[H] == {("a", "Code", W, 0): [-10, 10]}
    # ...a change of app from one row to another.
    other = rollup_delta([("a", 0, 10, "Code", W, False)], [("a", 0, 10, "xterm", W, True)])
    assert other[D] == {("a", "Code", W, 0): [-10, 0], ("a", "xterm", W, 0): [0, 10]}
    # So does a change of category (re-categorisation): nothing else moves.
    recat = rollup_delta([("a", 0, 10, "Code", W, False)], [("a", 0, 10, "Code", "Fun", False)])
    assert recat[M] == {("a", "Code", W, 0): [-10, 0], ("a", "Code", "Fun", 0): [10, 0]}
    assert team_delta(recat)[D] == {("Code", W, 0): [-10, 0], ("Code", "Fun", 0): [10, 0]}
    # A day bucket is a UTC day, also before the epoch; a week starts on the epoch's
    # weekday (a Thursday), 00:00 UTC.
    assert rollup_delta([], [("a", -1, 1, "Code", W, False)])[D] == {
        ("a", "Code", W, -D): [1, 0],
        ("a", "Code", W, 0): [1, 0],
    }
    assert rollup_delta([], [("a", -1, 1, "Code", W, False)])[WK] == {
        ("a", "Code", W, -WK): [1, 0],
        ("a", "Code", W, 0): [1, 0],
    }
    monday = 1_796_601_600_000  # 2026-12-07 00:00 UTC, a Monday
    assert monday % D == 0
    (week,) = rollup_delta([], [("a", monday, monday + 1, "Code", W, False)])[WK]
    assert week[3] == monday - 4 * D  # Thursday 2026-12-03


def test_the_team_delta_sums_over_agents_and_drops_what_cancels() -> None:
    # Time moved from one agent to another at the same app and bucket: no team change.
    W = "Work"
    delta = rollup_delta([("a", 0, 10, "Code", W, False)], [("b", 0, 10, "Code", W, False)])
    assert delta[M] == {("a", "Code", W, 0): [-10, 0], ("b", "Code", W, 0): [10, 0]}
    assert team_delta(delta) == {M: {}, H: {}, D: {}, WK: {}}
    both = rollup_delta([], [("a", 0, 10, "Code", W, False), ("b", 5, 2 * M, "Code", W, True)])
    assert team_delta(both)[M] == {("Code", W, 0): [10, M - 5], ("Code", W, M): [0, M]}
    assert team_delta(both)[D] == {("Code", W, 0): [10, 2 * M - 5]}
    # Every (agent, app, category) the rows and runs of a write name.
    runs = run_delta([], [("c", 0, 2 * H, "xterm", "Fun", False)])
    assert keys_of(both, runs) == {("a", "Code", W), ("b", "Code", W), ("c", "xterm", "Fun")}


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
    assert all(lo % WK == 0 and hi % WK == 0 for lo, hi in plan.weeks)
    # Each finer size only fills what the coarser one cannot: under a week of days at
    # each edge, under a day of hours, under an hour of minutes.
    assert all(hi - lo < WK for lo, hi in plan.days) or not plan.weeks
    assert all(hi - lo < D for lo, hi in plan.hours) or not plan.days
    assert all(hi - lo < H for lo, hi in plan.minutes) or not plan.hours
    # Raw spans are read only for the sub-minute edges.
    assert all(hi - lo < M for lo, hi in plan.raw)
    assert len(plan.raw) <= 2
    assert len(plan.minutes) <= 2
    assert len(plan.hours) <= 2
    assert len(plan.days) <= 2
    assert len(plan.days) <= 1 or plan.weeks
    assert len(plan.weeks) <= 1
    assert plan.by_size() == (
        (M, plan.minutes),
        (H, plan.hours),
        (D, plan.days),
        (WK, plan.weeks),
    )


def test_a_month_is_read_as_weeks_with_days_hours_minutes_and_raw_at_the_edges() -> None:
    plan = usage_plan(D - H - M - 1, 31 * D + H + M + 1)
    assert plan.weeks == ((WK, 4 * WK),)
    assert plan.days == ((D, WK), (4 * WK, 31 * D))
    assert plan.hours == ((D - H, D), (31 * D, 31 * D + H))
    assert plan.minutes == ((D - H - M, D - H), (31 * D + H, 31 * D + H + M))
    assert plan.raw == ((D - H - M - 1, D - H - M), (31 * D + H + M, 31 * D + H + M + 1))
    # Under a week, or a week that does not start on the weeks' weekday: days alone.
    assert usage_plan(2 * D, 9 * D).weeks == ()
    assert usage_plan(2 * D, 9 * D).days == ((2 * D, 9 * D),)
    assert usage_plan(WK, 2 * WK) == UsagePlan((), (), (), (), ((WK, 2 * WK),))


# -- long spans: whole hours as one run ------------------------------------------------

YEAR = 365 * D
# Lengths from nothing to eleven years, with ragged edges.
lengths = (
    st.integers(0, 3 * H)
    | st.integers(0, 2 * D)
    | st.tuples(st.integers(0, 11 * 365), st.integers(0, D)).map(lambda t: t[0] * D + t[1])
)


def whole_rows_delta(
    old: list[Contribution], new: list[Contribution]
) -> dict[int, dict[BucketKey, list[int]]]:
    """The delta with every row cut into buckets whole, old rows taken away and new ones
    added: what ``rollup_delta`` must come to, however it pairs rows."""
    delta: dict[int, dict[BucketKey, list[int]]] = {size: {} for size in (M, H, D, WK)}
    for rows, sign in ((old, -1), (new, 1)):
        for agent, start, end, app, category, idle in rows:
            for lo, hi in bucketed(start, end):
                for size, table in delta.items():
                    for bucket, ms in split(lo, hi, size):
                        pair = table.setdefault((agent, app, category, bucket), [0, 0])
                        pair[1 if idle else 0] += sign * ms
    return {size: {k: v for k, v in t.items() if v != [0, 0]} for size, t in delta.items()}


rewrites = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        times,
        lengths,
        st.sampled_from([None, "end", "app", "idle"]),  # what the rewrite changed
        lengths,
    ),
    max_size=6,
)


@given(rewrites)
@example([("a", 59 * M, 2 * M, "end", H + 5)])  # grown past a whole hour: a new run
def test_rows_rewritten_with_another_end_change_by_the_stretch_between(
    rows: list[tuple[str, int, int, str | None, int]],
) -> None:
    # A span that heartbeats extend is rewritten with only its end moved: its delta is
    # the stretch between the two ends, whichever way it moved, as if both rows were cut
    # whole; rows that changed anything else, or were only written or only gone, too.
    old: list[Contribution] = []
    new: list[Contribution] = []
    for agent, start, length, change, other in rows:
        row: Contribution = (agent, start, start + length, "Code", "Work", False)
        old.append(row)
        if change == "end":
            new.append((agent, start, start + other, "Code", "Work", False))
        elif change == "app":
            new.append((agent, start, start + length, "xterm", "Work", False))
        elif change == "idle":
            new.append((agent, start, start + other, "Code", "Work", True))
    assert rollup_delta(old, new) == whole_rows_delta(old, new)
    assert rollup_delta(new, old) == whole_rows_delta(new, old)


def test_an_extended_row_is_cut_only_where_it_grew() -> None:
    # 10 s more of a span that began a minute ago: one minute bucket, not three.
    grown = rollup_delta(
        [("a", M, 2 * M, "Code", "Work", False)], [("a", M, 2 * M + 10_000, "Code", "Work", False)]
    )
    assert grown[M] == {("a", "Code", "Work", 2 * M): [10_000, 0]}


@given(times, lengths)
def test_a_span_is_its_edges_in_buckets_and_its_whole_hours_as_one_run(
    start: int, length: int
) -> None:
    end = start + length
    run = whole_hours(start, end)
    edges = bucketed(start, end)
    run_ms = run[1] - run[0] if run else 0
    assert sum(hi - lo for lo, hi in edges) + run_ms == length
    if run is not None:
        assert run[0] % H == 0
        assert run[1] % H == 0
        assert start <= run[0] < run[1] <= end
        # Each edge lies within one hour: a few dozen minute buckets at most.
        assert all(lo // H == (hi - 1) // H for lo, hi in edges)
    else:
        assert length < 2 * H
    buckets = rollup_delta([], [("a", start, end, "Code", "Work", False)])
    assert len(buckets[M]) <= 2 * 60
    assert len(buckets[H]) <= 2
    assert len(buckets[D]) <= 2
    assert len(buckets[WK]) <= 2


def test_ten_years_cost_what_an_hour_costs() -> None:
    W = "Work"
    start, end = 17 * M + 3, 10 * YEAR + 5 * H + 7 * M + 11
    span: Contribution = ("a", start, end, "Code", W, False)
    delta = rollup_delta([], [span])
    assert sum(len(t) for t in delta.values()) == 43 + 8 + 2 + 2 + 2
    assert run_delta([], [span]) == {("a", H, 10 * YEAR + 5 * H, "Code", W): [1, 0]}
    assert sum(ms[0] for ms in delta[M].values()) == (H - start) + (7 * M + 11)
    # Extended by a minute: only the last hour's buckets change; the run stays as it was.
    grown: Contribution = ("a", start, end + M, "Code", W, False)
    assert run_delta([span], [grown]) == {}
    assert rollup_delta([span], [grown])[M] == {
        ("a", "Code", W, 10 * YEAR + 5 * H + 7 * M): [M - 11, 0],
        ("a", "Code", W, 10 * YEAR + 5 * H + 8 * M): [11, 0],
    }
    # Past the next hour: the run grows by that hour (one row out, one in).
    longer: Contribution = ("a", start, end + H, "Code", W, False)
    assert run_delta([span], [longer]) == {
        ("a", H, 10 * YEAR + 5 * H, "Code", W): [-1, 0],
        ("a", H, 10 * YEAR + 6 * H, "Code", W): [1, 0],
    }
    # Re-categorised: the run moves to the new category with the buckets.
    fun: Contribution = ("a", start, end, "Code", "Fun", False)
    assert run_delta([span], [fun]) == {
        ("a", H, 10 * YEAR + 5 * H, "Code", W): [-1, 0],
        ("a", H, 10 * YEAR + 5 * H, "Code", "Fun"): [1, 0],
    }
    # Gone idle: the same run counts it idle instead.
    away: Contribution = ("a", start, end, "Code", W, True)
    assert run_delta([span], [away]) == {("a", H, 10 * YEAR + 5 * H, "Code", W): [-1, 1]}


class Rollups:
    """Bucket rows and runs as a store keeps them, built only from deltas, and the answer
    a store gives from them (raw edges from the spans, the rest from the rows)."""

    def __init__(self) -> None:
        self.spans: dict[tuple[str, int], Contribution] = {}
        self.buckets: dict[int, dict[BucketKey, list[int]]] = {M: {}, H: {}, D: {}, WK: {}}
        self.runs: dict[RunKey, list[int]] = {}

    def write(self, row: Contribution) -> None:
        key = (row[0], row[1])
        old = [self.spans[key]] if key in self.spans else []
        self.spans[key] = row
        # Rows that come to nothing are deleted, as the stores delete them.
        for size, delta in rollup_delta(old, [row]).items():
            add(self.buckets[size], delta)
        add(self.runs, run_delta(old, [row]))

    def usage(self, lo: int, hi: int) -> dict[tuple[str, str, bool], int]:
        out: dict[tuple[str, str, bool], int] = {}

        def add(key: tuple[str, str, bool], ms: int) -> None:
            out[key] = out.get(key, 0) + ms

        plan = usage_plan(lo, hi)
        for a, b in plan.raw:
            for agent, s, e, app, _, idle in self.spans.values():
                if min(e, b) > max(s, a):
                    add((agent, app, idle), min(e, b) - max(s, a))
        for size, ranges in plan.by_size():
            for a, b in ranges:
                for (agent, app, _, bucket), (active, idle_ms) in self.buckets[size].items():
                    if a <= bucket < b:
                        add((agent, app, False), active)
                        add((agent, app, True), idle_ms)
        rolled = plan.rolled()
        if rolled is not None:
            a, b = rolled
            for (agent, s, e, app, _), (n_active, n_idle) in self.runs.items():
                if min(e, b) > max(s, a):
                    add((agent, app, False), n_active * (min(e, b) - max(s, a)))
                    add((agent, app, True), n_idle * (min(e, b) - max(s, a)))
        return {k: v for k, v in out.items() if v}


def add(table: dict[_K, list[int]], delta: dict[_K, list[int]]) -> None:
    """Add a delta's [active, idle] pairs to a table's rows, deleting what comes to
    nothing (as the stores do)."""
    for k, (active, idle) in delta.items():
        row = table.setdefault(k, [0, 0])
        row[0] += active
        row[1] += idle
        if row == [0, 0]:
            del table[k]


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([0, 17 * M + 3, -5 * H - 1, 40 * D + 1])).map(
            lambda t: ("a" if t[0] < 2 else "b", t[1])
        ),
        min_size=1,
        max_size=8,
    ),
    st.lists(lengths, min_size=8, max_size=8),
    st.lists(st.booleans(), min_size=8, max_size=8),
    st.lists(st.tuples(times | lengths, times | lengths), min_size=1, max_size=4),
)
def test_rollups_built_from_deltas_answer_like_the_raw_spans(
    slots: list[tuple[str, int]],
    spans_ms: list[int],
    idles: list[bool],
    ranges: list[tuple[int, int]],
) -> None:
    rollups = Rollups()
    for (agent, start), length, idle in zip(slots, spans_ms, idles, strict=False):
        rollups.write((agent, start, start + length, "Code", "Work", idle))
    for a, b in [*ranges, (-D, 12 * YEAR), (2 * YEAR + 7, 2 * YEAR + D + 5)]:
        lo, hi = min(a, b), max(a, b)
        raw: dict[tuple[str, str, bool], int] = {}
        for agent, s, e, app, _, idle in rollups.spans.values():
            if min(e, hi) > max(s, lo):
                key = (agent, app, idle)
                raw[key] = raw.get(key, 0) + min(e, hi) - max(s, lo)
        assert rollups.usage(lo, hi) == raw, (lo, hi)
    # However long the spans, the rows kept stay few.
    assert sum(len(t) for t in rollups.buckets.values()) <= len(rollups.spans) * (120 + 6)
    assert len(rollups.runs) <= len(rollups.spans)


# -- key ids ---------------------------------------------------------------------------


def test_key_ids_are_kept_until_the_dictionary_changes() -> None:
    keys = KeyIds(limit=3)
    ids = keys.known(0)
    code, fun = ("a", "Code", "Work"), ("a", "Tube", "Fun")
    assert missing_keys(ids, [fun, code]) == [code, fun]
    learn_keys(ids, [(7, *code)])
    assert missing_keys(ids, [fun, code]) == [fun]
    # The next write at the same version finds them.
    assert keys.known(0) is ids
    assert keys.known(0)[code] == 7
    # An erasure raised the version: every id is forgotten (the erased agent's are gone).
    later = keys.known(1)
    assert later == {}
    # A write that read the version before that erasure gets ids of its own, and the
    # newer ones stay kept for the writes after it.
    older = keys.known(0)
    assert older == {}
    assert older is not later
    learn_keys(later, [(8, *fun)])
    assert keys.known(1) == {fun: 8}
    # A write that failed forgets them all: what it added was rolled back.
    keys.forget()
    again = keys.known(1)
    assert again == {}
    # Past the limit, all are forgotten (and looked up again as they are needed).
    learn_keys(again, [(8, *fun), (9, "b", "x", "y"), (10, "c", "x", "y"), (11, "d", "x", "y")])
    assert keys.known(1) == {}


def test_usage_rows_are_named_from_key_ids_and_grouped_in_order() -> None:
    # Rows as the stores read them: per key id (named from memory), or by name (raw
    # edges, another writer's spans, team rows), in any order.
    names = KeyNames()
    rows = [
        (3, None, None, None, 5, 1),
        (1, None, None, None, 7, 0),
        (None, "b", "Code", "Work", 1, 0),
        (2, None, None, None, 0, 4),
        (9, None, None, None, 100, 100),  # erased after it was read: no name
        (4, None, None, None, 0, 0),  # came to nothing: no row
    ]
    assert names.missing(rows) == [1, 2, 3, 4, 9]
    names.learn([(1, "b", "Code", "Work"), (2, "a", "Code", "Work"), (3, "b", "Tube", "Fun")])
    names.learn([(4, "c", "Code", "Work")])
    assert names.missing(rows) == [9]
    by_agent_app = usage_from(rows, names, ["agent", "app"])
    assert by_agent_app == [
        UsageRow("a", "Code", 0, 4),
        UsageRow("b", "Code", 8, 0),
        UsageRow("b", "Tube", 5, 1),
    ]
    # In the order asked for, keys not asked for left out.
    assert usage_from(rows, names, ["category", "agent"]) == [
        UsageRow("b", None, 5, 1, "Fun"),
        UsageRow("a", None, 0, 4, "Work"),
        UsageRow("b", None, 8, 0, "Work"),
    ]
    assert usage_from(rows, names, ["app"]) == [
        UsageRow(None, "Code", 8, 4),
        UsageRow(None, "Tube", 5, 1),
    ]
    assert usage_from(rows, names, []) == [UsageRow(None, None, 13, 5)]
    assert usage_from([(4, None, None, None, 0, 0)], names, []) == []


def test_names_read_for_an_answer_name_it_even_if_the_kept_ones_were_forgotten() -> None:
    # Another answer, read meanwhile, went past the limit and forgot every kept name.
    names = KeyNames(limit=1)
    rows = [(1, None, None, None, 5, 0), (2, None, None, None, 7, 0)]
    fresh = names.learn([(1, "a", "Code", "Work"), (2, "b", "Code", "Work")])
    names.learn([(3, "c", "Code", "Work")])  # more than the limit was kept: all forgotten
    assert names.names == {3: ("c", "Code", "Work")}
    assert usage_from(rows, names, ["agent"], fresh) == [
        UsageRow("a", None, 5, 0),
        UsageRow("b", None, 7, 0),
    ]
