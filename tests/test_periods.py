from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from officepulse.core.periods import period


def hours(p: object) -> float:
    return (p.end_ms - p.start_ms) / 3_600_000  # type: ignore[attr-defined]


def test_today_is_midnight_to_midnight_in_the_viewers_zone() -> None:
    now = datetime(2026, 6, 10, 22, 30, tzinfo=UTC)  # already the 11th in Tokyo
    tokyo = period("today", now, ZoneInfo("Asia/Tokyo"))
    assert tokyo.label == "2026-06-11"
    assert tokyo.start_ms == int(datetime(2026, 6, 10, 15, tzinfo=UTC).timestamp() * 1000)
    assert hours(tokyo) == 24


def test_daylight_saving_days_have_23_and_25_hours() -> None:
    paris = ZoneInfo("Europe/Paris")
    spring = period("yesterday", datetime(2026, 3, 30, 12, tzinfo=UTC), paris)
    autumn = period("yesterday", datetime(2026, 10, 26, 12, tzinfo=UTC), paris)
    assert (spring.label, hours(spring)) == ("2026-03-29", 23)
    assert (autumn.label, hours(autumn)) == ("2026-10-25", 25)


def test_last_seven_days_include_today() -> None:
    week = period("7d", datetime(2026, 3, 31, 12, tzinfo=UTC), ZoneInfo("Europe/Paris"))
    assert week.label == "2026-03-25 – 2026-03-31"
    assert hours(week) == 7 * 24 - 1
