from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from officepulse.core.days import day_range, own_pieces
from officepulse.core.heatmap import LEVELS, heat_map, hour_slots, level, weekday_counts
from officepulse.core.zones import ZoneRun

H = 3_600_000
M = 60_000


def ms(year: int, month: int, day: int, hour: int, minute: int = 0, tz: str = "UTC") -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def day_piece(day: date, tz: str) -> ZoneRun:
    return ZoneRun(*day_range(day, ZoneInfo(tz)), tz)


def test_a_day_is_24_hours_of_its_wall_clock_each_in_its_weekdays_row() -> None:
    slots = hour_slots([day_piece(date(2026, 12, 7), "Asia/Kolkata")])  # a Monday, UTC+5:30
    assert [(s.weekday, s.hour) for s in slots] == [(0, h) for h in range(24)]
    # Kolkata's hours begin at half past on UTC's clock.
    assert slots[9].start_ms == ms(2026, 12, 7, 3, 30)
    assert all(s.end_ms - s.start_ms == H for s in slots)


def test_daylight_saving_days_repeat_or_skip_an_hour_of_the_clock() -> None:
    spring = hour_slots([day_piece(date(2026, 3, 29), "Europe/Berlin")])
    assert [s.hour for s in spring] == [0, 1, *range(3, 24)]  # 02:00 never happened
    autumn = hour_slots([day_piece(date(2026, 10, 25), "Europe/Berlin")])
    assert [s.hour for s in autumn] == [0, 1, 2, 2, *range(3, 24)]  # 02:00 twice
    assert all(s.weekday == 6 for s in autumn)  # both Sundays


def test_a_half_hour_daylight_saving_change_cuts_where_the_clock_says() -> None:
    # Lord Howe Island goes from UTC+10:30 to +11 at 02:00 on 2026-10-04: 02:00 is 02:30.
    slots = hour_slots([day_piece(date(2026, 10, 4), "Australia/Lord_Howe")])
    two = [s for s in slots if s.hour == 2]
    assert [(s.end_ms - s.start_ms) // M for s in two] == [30]
    assert sum(s.end_ms - s.start_ms for s in slots) == 23 * H + 30 * M


def test_a_travellers_own_day_has_the_hours_of_each_of_its_zones() -> None:
    # Berlin until 12:00 UTC (13:00 there), then Tokyo (21:00): a 16-hour Wednesday.
    flight = ms(2026, 11, 25, 12)
    history = [
        ZoneRun(ms(2026, 11, 20, 0), flight, "Europe/Berlin"),
        ZoneRun(flight, ms(2026, 11, 30, 0), "Asia/Tokyo"),
    ]
    pieces = own_pieces(history, date(2026, 11, 25), date(2026, 11, 25))
    slots = hour_slots(pieces)
    assert [s.hour for s in slots] == [*range(0, 13), 21, 22, 23]
    assert {s.weekday for s in slots} == {2}
    assert [s.tz for s in slots][12:14] == ["Europe/Berlin", "Asia/Tokyo"]


def test_a_piece_that_starts_within_an_hour_counts_its_part_in_that_hour() -> None:
    piece = ZoneRun(ms(2026, 12, 7, 9, 20), ms(2026, 12, 7, 11, 5), "UTC")
    slots = hour_slots([piece])
    assert [(s.hour, (s.end_ms - s.start_ms) // M) for s in slots] == [(9, 40), (10, 60), (11, 5)]


def test_the_grid_has_a_row_per_weekday_of_the_period_and_shades_by_share() -> None:
    week = [date(2026, 11, 30) + timedelta(days=n) for n in range(14)]  # two weeks
    totals = {(0, 9): 100 * M, (0, 10): 20 * M, (4, 17): 1 * M, (6, 23): 50 * M}
    grid = heat_map(totals, week)
    assert [r.name for r in grid.rows][:2] == ["Monday", "Tuesday"]
    assert [r.days for r in grid.rows] == [2] * 7
    assert [len(r.cells) for r in grid.rows] == [24] * 7
    monday = grid.rows[0].cells
    assert (monday[9].ms, monday[9].level) == (100 * M, LEVELS)
    assert (monday[10].ms, monday[10].level) == (20 * M, 1)  # a fifth of the busiest
    assert grid.rows[4].cells[17].level == 1  # any time at all shows
    assert grid.rows[6].cells[23].level == 3
    assert monday[0].level == 0
    assert grid.total_ms == 171 * M
    assert [(s.low_ms, s.high_ms) for s in grid.shades] == [
        (0, 20 * M), (20 * M, 40 * M), (40 * M, 60 * M), (60 * M, 80 * M), (80 * M, 100 * M),
    ]  # fmt: skip
    # Cells meet across the width.
    assert monday[0].x == 0
    assert abs(monday[23].x + monday[23].width - 100) < 1e-9
    # A day's report has the one row of its weekday.
    one = heat_map({}, [date(2026, 12, 6)])
    assert [r.name for r in one.rows] == ["Sunday"]
    assert one.shades == ()
    assert one.max_ms == 0


def test_levels_and_weekday_counts() -> None:
    assert [level(ms, 100) for ms in (0, 1, 20, 21, 99, 100)] == [0, 1, 1, 2, 5, 5]
    assert level(5, 0) == 0
    days = [datetime(2026, 12, 1, tzinfo=UTC).date() + timedelta(days=n) for n in range(31)]
    assert weekday_counts(days) == {0: 4, 1: 5, 2: 5, 3: 5, 4: 4, 5: 4, 6: 4}
