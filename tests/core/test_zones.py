"""Zone runs and days in zones, by example and by property (core/zones.py,
core/days.py, agent/zonewatch.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from officepulse.agent.timeline import Timeline, TimelineError
from officepulse.agent.zonewatch import ZoneWatch
from officepulse.core.days import (
    dates,
    day_range,
    joined,
    own_day,
    own_pieces,
    person_days_plan,
    person_plan,
    window,
)
from officepulse.core.spans import to_ms
from officepulse.core.zones import ZoneRun, changes, cover, paint, paint_all, repaint
from officepulse.core.zones import zone_at as stored_zone_at

H = 3_600_000
ZONES = ["Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles", "Asia/Kathmandu"]

marks = st.lists(
    st.tuples(st.integers(0, 60), st.integers(1, 20), st.sampled_from(["A", "B", "C"])).map(
        lambda t: (t[0], t[0] + t[1], t[2])
    ),
    max_size=12,
)


def zone_at(runs: list[ZoneRun], t: int) -> str | None:
    found = [r.tz for r in runs if r.start_ms <= t < r.end_ms]
    assert len(found) <= 1
    return found[0] if found else None


def well_formed(runs: list[ZoneRun]) -> None:
    for a, b in itertools.pairwise(runs):
        assert a.start_ms < a.end_ms
        assert a.end_ms <= b.start_ms  # sorted, disjoint
        assert a.tz != b.tz  # neighbours of one zone are joined


@given(marks)
def test_every_instant_of_a_span_has_the_zone_written_last_over_it(ms: list) -> None:
    runs = paint_all([], ms)
    well_formed(runs)
    for t in range(0, 81):
        last = [tz for lo, hi, tz in ms if lo <= t < hi]
        if last:
            assert zone_at(runs, t) == last[-1], t


@given(marks, marks)
def test_painting_near_what_changes_is_painting_everything(first: list, batch: list) -> None:
    """What a store does (reads only the runs next to a batch's hull, deletes and
    inserts what changed) gives what painting the whole history gives."""
    stored = {r.start_ms: r for r in paint_all([], first)}
    if batch:
        lo, hi = min(m[0] for m in batch), max(m[1] for m in batch)
        starts = sorted(stored)
        before = [s for s in starts if s < lo]
        after = [s for s in starts if s > hi]
        near_lo = before[-1] if before else lo
        near_hi = after[0] if after else hi
        near = [stored[s] for s in starts if near_lo <= s <= near_hi]
        deletes, inserts = repaint({"a": near}, {"a": batch})
        for _, start in deletes:
            del stored[start]
        for _, start, end, tz in inserts:
            assert start not in stored
            stored[start] = ZoneRun(start, end, tz)
    assert sorted(stored.values()) == paint_all([], [*first, *batch])


def test_a_span_of_another_zone_inside_a_run_splits_it() -> None:
    runs = paint([ZoneRun(0, 10 * H, "Europe/Berlin")], 4 * H, 5 * H, "Asia/Tokyo")
    assert runs == [
        ZoneRun(0, 4 * H, "Europe/Berlin"),
        ZoneRun(4 * H, 5 * H, "Asia/Tokyo"),
        ZoneRun(5 * H, 10 * H, "Europe/Berlin"),
    ]
    # Written again in the first zone (a corrected span), it heals.
    assert paint(runs, 4 * H, 5 * H, "Europe/Berlin") == [ZoneRun(0, 10 * H, "Europe/Berlin")]
    # The same zone after a gap (the computer was off) is still one stay.
    assert paint(runs[:1], 20 * H, 21 * H, "Europe/Berlin") == [ZoneRun(0, 21 * H, "Europe/Berlin")]
    assert changes(runs, runs) == ([], [])


def test_cover_fills_around_runs_with_the_current_zone() -> None:
    runs = [ZoneRun(2, 4, "A"), ZoneRun(6, 8, "B")]
    assert cover(runs, 0, 10, "C") == [
        ZoneRun(0, 2, "C"),
        ZoneRun(2, 4, "A"),
        ZoneRun(4, 6, "C"),
        ZoneRun(6, 8, "B"),
        ZoneRun(8, 10, "C"),
    ]
    assert cover(runs, 3, 7, "C") == [ZoneRun(3, 4, "A"), ZoneRun(4, 6, "C"), ZoneRun(6, 7, "B")]
    assert cover([], 0, 5, "C") == [ZoneRun(0, 5, "C")]


def test_daylight_saving_gives_23_and_25_hour_days() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    hours = {
        d: (lambda r: (r[1] - r[0]) / H)(day_range(d, berlin))
        for d in (date(2026, 3, 29), date(2026, 6, 1), date(2026, 10, 25))
    }
    assert hours == {date(2026, 3, 29): 23, date(2026, 6, 1): 24, date(2026, 10, 25): 25}
    lo, _ = day_range(date(2026, 11, 30), ZoneInfo("Asia/Kathmandu"))
    assert lo == to_ms(datetime(2026, 11, 29, 18, 15, tzinfo=UTC))


def test_a_flight_east_shortens_the_day_and_counts_each_instant_once() -> None:
    flight = to_ms(datetime(2026, 11, 25, 12, tzinfo=UTC))  # 13:00 Berlin, 21:00 Tokyo
    lo, hi = window(date(2026, 11, 23), date(2026, 11, 28))
    segs = cover([ZoneRun(lo, flight, "Europe/Berlin")], lo, hi, "Asia/Tokyo")
    wednesday = own_day(segs, date(2026, 11, 25))
    assert wednesday == (
        (
            to_ms(datetime(2026, 11, 24, 23, tzinfo=UTC)),
            to_ms(datetime(2026, 11, 25, 15, tzinfo=UTC)),
        ),
    )
    assert own_day(segs, date(2026, 11, 26)) == (
        (
            to_ms(datetime(2026, 11, 25, 15, tzinfo=UTC)),
            to_ms(datetime(2026, 11, 26, 15, tzinfo=UTC)),
        ),
    )


def test_a_flight_west_past_midnight_gives_a_day_in_two_pieces() -> None:
    # Tokyo 03:00 on the 26th is 10:00 on the 25th in Los Angeles: the 25th comes again.
    flight = to_ms(datetime(2026, 11, 25, 18, tzinfo=UTC))
    lo, hi = window(date(2026, 11, 24), date(2026, 11, 27))
    segs = cover(
        [ZoneRun(lo, flight, "Asia/Tokyo"), ZoneRun(flight, hi, "America/Los_Angeles")],
        lo,
        hi,
        "UTC",
    )
    twenty_fifth = own_day(segs, date(2026, 11, 25))
    assert twenty_fifth == (
        (
            to_ms(datetime(2026, 11, 24, 15, tzinfo=UTC)),
            to_ms(datetime(2026, 11, 25, 15, tzinfo=UTC)),
        ),
        (flight, to_ms(datetime(2026, 11, 26, 8, tzinfo=UTC))),
    )
    twenty_sixth = own_day(segs, date(2026, 11, 26))
    assert twenty_sixth[0] == (to_ms(datetime(2026, 11, 25, 15, tzinfo=UTC)), flight)


history = st.lists(st.tuples(st.integers(1, 72), st.sampled_from(ZONES)), min_size=1, max_size=6)


@given(history)
def test_own_days_partition_any_history(stays: list[tuple[int, str]]) -> None:
    """However a person travels, their own days cover every instant exactly once."""
    first, last = date(2026, 3, 25), date(2026, 4, 5)
    lo, hi = window(first, last)
    start = to_ms(datetime(2026, 3, 27, tzinfo=UTC))
    runs: list[ZoneRun] = []
    t = start
    for hours, tz in stays:
        runs = paint(runs, t, t + hours * H, tz)
        t += hours * H
    segs = cover(runs, lo, hi, "UTC")
    pieces = sorted(
        p
        for d in dates(first - timedelta(days=3), last + timedelta(days=3))
        for p in own_day(segs, d)
    )
    assert pieces[0][0] == lo
    assert pieces[-1][1] == hi
    for a, b in itertools.pairwise(pieces):
        assert a[1] == b[0]  # no gap, no overlap


@given(history, st.integers(0, 8), st.integers(0, 5))
def test_several_own_days_are_those_days_together(
    stays: list[tuple[int, str]], skip: int, more: int
) -> None:
    """A person's days first..last taken together (what a report over a range counts)
    are exactly the union of each day's pieces, each instant in the same zone."""
    first = date(2026, 3, 25) + timedelta(days=skip)
    last = first + timedelta(days=more)
    lo, hi = window(first, last)
    runs: list[ZoneRun] = []
    t = to_ms(datetime(2026, 3, 27, tzinfo=UTC))
    for hours, tz in stays:
        runs = paint(runs, t, t + hours * H, tz)
        t += hours * H
    segs = cover(runs, lo, hi, "UTC")
    together = own_pieces(segs, first, last)
    each = [p for d in dates(first, last) for p in own_pieces(segs, d, d)]
    assert joined(together) == joined(sorted(each))
    for piece in each:
        for at in (piece.start_ms, (piece.start_ms + piece.end_ms) // 2, piece.end_ms - 1):
            assert stored_zone_at(together, at, "none") == piece.tz
    for a, b in itertools.pairwise(together):
        assert a.end_ms <= b.start_ms
        assert a.tz != b.tz or a.end_ms < b.start_ms  # touching pieces of one zone are one
    plan = person_days_plan(first, last, {"p": runs}, {"p": "UTC", "q": "UTC"}, (lo, hi))
    assert [ranges for ranges, agents in plan.items() if "p" in agents] == [joined(together)]


def test_a_week_of_own_days_is_a_few_ranges_not_a_few_per_day() -> None:
    days = dates(date(2026, 11, 23), date(2026, 11, 29))
    span = window(days[0], days[-1])
    flight = to_ms(datetime(2026, 11, 25, 12, tzinfo=UTC))  # Berlin to Tokyo
    fallbacks = {"kenji": "Asia/Tokyo", "anna": "Europe/Berlin", "ben": "Europe/Berlin"}
    plan = person_days_plan(
        days[0], days[-1], {"kenji": [ZoneRun(span[0], flight, "Europe/Berlin")]}, fallbacks, span
    )
    berlin_week = (
        day_range(days[0], ZoneInfo("Europe/Berlin"))[0],
        day_range(days[-1], ZoneInfo("Europe/Berlin"))[1],
    )
    assert plan == {
        # Monday midnight in Berlin to Sunday midnight in Tokyo: six days and 16 hours.
        ((berlin_week[0], day_range(days[-1], ZoneInfo("Asia/Tokyo"))[1]),): ["kenji"],
        (berlin_week,): ["anna", "ben"],
    }
    # The same time as the days one by one.
    per_day = person_plan(
        days, {"kenji": [ZoneRun(span[0], flight, "Europe/Berlin")]}, fallbacks, span
    )
    kenji = sorted(
        r for (_, ranges), agents in per_day.items() if "kenji" in agents for r in ranges
    )
    ((lo, hi),) = next(iter(plan))
    assert sum(b - a for a, b in kenji) == hi - lo == (6 * 24 + 16) * H


def test_the_zone_at_an_instant() -> None:
    runs = [ZoneRun(0, 10, "A"), ZoneRun(10, 20, "B"), ZoneRun(30, 40, "C")]
    assert [stored_zone_at(runs, t, "X") for t in (-1, 0, 9, 10, 19, 20, 29, 30, 39, 40)] == [
        "X",
        "A",
        "A",
        "B",
        "B",
        "X",
        "X",
        "C",
        "C",
        "X",
    ]


def test_a_team_in_a_few_zones_is_a_few_groups() -> None:
    days = dates(date(2026, 11, 23), date(2026, 11, 29))
    span = window(days[0], days[-1])
    fallbacks = {f"p{i}": ZONES[i % 3] for i in range(1000)}
    traveller = {"p0": [ZoneRun(span[0], span[0] + 60 * H, "Asia/Tokyo")]}
    plan = person_plan(days, traveller, fallbacks, span)
    # A group per zone per day; the traveller's days before and after the flight are
    # Tokyo's and Berlin's, so only the day of the flight is one more.
    assert len(plan) == 3 * 7 + 1
    assert [d for (d, _), agents in plan.items() if agents == ["p0"]] == [date(2026, 11, 24)]
    assert sorted(a for (d, _), agents in plan.items() if d == days[0] for a in agents) == sorted(
        fallbacks
    )


def test_the_zone_is_looked_up_once_a_minute_and_after_a_jump() -> None:
    seen: list[str] = []
    zones = iter(["Europe/Berlin", "Europe/Berlin", "Asia/Tokyo", "Asia/Tokyo"])

    def lookup() -> str:
        seen.append(next(zones))
        return seen[-1]

    watch = ZoneWatch(lookup)
    assert [watch(t) for t in range(0, 60_000, 1000)] == ["Europe/Berlin"] * 60
    assert len(seen) == 1
    assert watch(60_000) == "Europe/Berlin"
    assert len(seen) == 2
    assert watch(10 * H) == "Asia/Tokyo"  # woke up eleven hours later
    assert watch(10 * H - 5) == "Asia/Tokyo"  # the clock went back: look again
    assert len(seen) == 4


def test_a_timeline_names_zones_line_by_line() -> None:
    timeline = Timeline.parse(
        '{"offset": 0, "app": "Code"}\n'
        '{"offset": 60, "app": "Code", "tz": "Europe/Berlin"}\n'
        '{"offset": 120, "app": "Slack"}\n'
        '{"offset": 180, "app": "Slack", "tz": "Asia/Tokyo"}\n'
        '{"offset": 240, "end": true}\n'
    )
    assert [timeline.zone_at(t) for t in (0, 59.9, 60, 150, 180, 240)] == [
        None,
        None,
        "Europe/Berlin",
        "Europe/Berlin",
        "Asia/Tokyo",
        "Asia/Tokyo",
    ]
    with pytest.raises(TimelineError, match=r"t, line 2: unknown time zone 'Mars/Olympus'"):
        Timeline.parse(
            '{"offset": 0, "app": "Code"}\n{"offset": 1, "app": "Code", "tz": "Mars/Olympus"}\n'
            '{"offset": 2, "end": true}\n',
            "t",
        )
