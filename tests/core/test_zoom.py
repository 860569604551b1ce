from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from officepulse.core.charts import timeline
from officepulse.core.days import day_range
from officepulse.core.reports import Block
from officepulse.core.zones import ZoneRun
from officepulse.core.zoom import clip, cut, zoom_window

H = 3_600_000
M = 60_000
PARIS = ZoneInfo("Europe/Paris")


def at(hour: int, minute: int = 0, day: int = 3, month: int = 12) -> int:
    return int(datetime(2026, month, day, hour, minute, tzinfo=PARIS).timestamp() * 1000)


def paris_day(day: int = 3, month: int = 12) -> list[ZoneRun]:
    return [ZoneRun(*day_range(date(2026, month, day), PARIS), PARIS.key)]


BLOCKS = [
    Block(at(8, 40), at(10, 15), "Code", "main.py", None, False),
    Block(at(10, 15), at(10, 45), "Code", "main.py", None, True),  # idle
    Block(at(10, 45), at(17, 5), "Slack", "#dev", None, False),
    Block(at(21, 0), at(21, 30), "Spotify", "", None, True),  # idle only: not work
]


def test_the_whole_day() -> None:
    window = zoom_window(paris_day(), BLOCKS, "day", None)
    assert (window.start_ms, window.end_ms) == (at(0), at(0, day=4))
    assert window.tick_minutes == 60
    assert len(window.hours) == 24
    assert window.hour == 8  # "One hour" opens on the hour the activity starts in


def test_working_hours_run_from_the_first_activitys_hour_to_the_end_of_the_lasts() -> None:
    window = zoom_window(paris_day(), BLOCKS, "work", None)
    assert (window.start_ms, window.end_ms) == (at(8), at(18))
    assert window.pieces == (ZoneRun(at(8), at(18), PARIS.key),)
    # A day without activity: office hours.
    empty = zoom_window(paris_day(), [], "work", None)
    assert (empty.start_ms, empty.end_ms) == (at(9), at(17))


def test_one_hour_by_its_place_in_the_day_kept_within_the_day() -> None:
    window = zoom_window(paris_day(), BLOCKS, "hour", 10)
    assert (window.start_ms, window.end_ms, window.hour) == (at(10), at(11), 10)
    assert window.tick_minutes == 10
    assert zoom_window(paris_day(), BLOCKS, "hour", 99).hour == 23
    assert zoom_window(paris_day(), BLOCKS, "hour", None).hour == 8
    # On the autumn day the 3rd hour of the day is the second 02:00.
    autumn = zoom_window(paris_day(25, 10), [], "hour", 3)
    assert len(autumn.hours) == 25
    assert autumn.end_ms - autumn.start_ms == H
    assert autumn.start_ms == at(2, day=25, month=10) + H


def test_a_zoomed_band_draws_the_blocks_parts_within_it_with_finer_ticks() -> None:
    window = zoom_window(paris_day(), BLOCKS, "hour", 10)
    shown = clip(BLOCKS, window.start_ms, window.end_ms)
    assert [(b.start_ms, b.end_ms, b.app, b.idle) for b in shown] == [
        (at(10), at(10, 15), "Code", False),
        (at(10, 15), at(10, 45), "Code", True),
        (at(10, 45), at(11), "Slack", False),
    ]
    tl = timeline(shown, window.pieces, tick_minutes=window.tick_minutes)
    assert [t.label for t in tl.ticks] == ["10:00", "10:10", "10:20", "10:30", "10:40", "10:50"]
    assert [(p.x, p.width) for p in tl.active] == [(0.0, 25.0), (75.0, 25.0)]
    assert [(p.x, p.width) for p in tl.idle] == [(25.0, 50.0)]


def utc(hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 11, 25, hour, minute, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)


def test_a_travellers_working_hours_keep_both_zones() -> None:
    berlin = ZoneRun(utc(0) - H, utc(12), "Europe/Berlin")  # 00:00 to 13:00 in Berlin
    tokyo = ZoneRun(utc(12), utc(15), "Asia/Tokyo")  # 21:00 to 24:00 in Tokyo
    blocks = [
        Block(utc(10, 30), utc(12), "Code", "", None, False),
        Block(utc(12), utc(13, 20), "Slack", "", None, False),
    ]
    window = zoom_window([berlin, tokyo], blocks, "work", None)
    # From 11:00 in Berlin (10:00 UTC) to 23:00 in Tokyo (14:00 UTC), across the flight.
    assert (window.start_ms, window.end_ms) == (utc(10), utc(14))
    assert [p.tz for p in window.pieces] == ["Europe/Berlin", "Asia/Tokyo"]
    tl = timeline(blocks, window.pieces, tick_minutes=window.tick_minutes)
    assert [t.label for t in tl.ticks] == ["11", "12", "21", "22"]
    assert cut([berlin, tokyo], utc(13), utc(20)) == (ZoneRun(utc(13), utc(15), "Asia/Tokyo"),)
