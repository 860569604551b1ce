from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from officepulse.core.periods import (
    PeriodError,
    chosen_period,
    latest_range,
    midnight_ms,
    period,
)


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


def test_every_preset_in_the_viewers_zone() -> None:
    # Thursday 2026-01-01 already in Tokyo, still Wednesday 2025-12-31 in New York.
    now = datetime(2026, 1, 1, 3, tzinfo=UTC)
    cases = {
        ("today", "Asia/Tokyo"): ("2026-01-01", "2026-01-01"),
        ("today", "America/New_York"): ("2025-12-31", "2025-12-31"),
        ("yesterday", "Asia/Tokyo"): ("2025-12-31", "2025-12-31"),
        ("week", "Asia/Tokyo"): ("2025-12-29", "2026-01-01"),  # from Monday
        ("week", "America/New_York"): ("2025-12-29", "2025-12-31"),
        ("7d", "Asia/Tokyo"): ("2025-12-26", "2026-01-01"),
        ("month", "Asia/Tokyo"): ("2026-01-01", "2026-01-01"),
        ("month", "America/New_York"): ("2025-12-01", "2025-12-31"),
        ("30d", "Asia/Tokyo"): ("2025-12-03", "2026-01-01"),
    }
    for (name, zone_name), (first, last) in cases.items():
        zone = ZoneInfo(zone_name)
        got = period(name, now, zone)  # type: ignore[arg-type]
        assert (str(got.first), str(got.last)) == (first, last), (name, zone_name)
        assert got.start_ms == midnight_ms(date.fromisoformat(first), zone)
        assert got.end_ms == midnight_ms(date.fromisoformat(last) + timedelta(days=1), zone)


def test_a_custom_range_is_whole_days_inclusive() -> None:
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2026, 6, 1, tzinfo=UTC)
    name, got = chosen_period("custom", "2026-03-28", "2026-03-30", now, paris)
    assert name == "custom"
    assert got.label == "2026-03-28 – 2026-03-30"
    assert hours(got) == 3 * 24 - 1  # the spring-forward day is in it
    # Dates alone mean a custom range; nothing at all means today.
    assert chosen_period(None, "2026-03-28", "2026-03-28", now, paris)[0] == "custom"
    assert chosen_period(None, None, None, now, paris)[1].label == "2026-06-01"
    # A preset ignores dates that came along with it (the picker always sends them).
    assert chosen_period("yesterday", "2020-01-01", "2020-01-02", now, paris)[1].label == (
        "2026-05-31"
    )


def test_a_wrong_range_says_what_is_wrong() -> None:
    utc, now = ZoneInfo("UTC"), datetime(2026, 6, 1, tzinfo=UTC)
    cases = {
        ("custom", "2026-01-02", "2026-01-01"): "ends (2026-01-01) before it starts",
        ("custom", "2026-01-02", None): "needs both 'from' and 'to'",
        ("custom", "2026-13-01", "2026-12-01"): "'from' is not a date",
        ("custom", "2026-01-01", "soon"): "'to' is not a date",
        ("custom", "2020-01-01", "2026-01-01"): "longer than 400 days",
        ("fortnight", None, None): "unknown range 'fortnight'",
    }
    for (name, first, last), message in cases.items():
        with pytest.raises(PeriodError, match=re.escape(message)):
            chosen_period(name, first, last, now, utc)


def test_an_empty_today_opens_on_the_latest_day_with_activity() -> None:
    sunday = date(2026, 12, 6)
    assert latest_range(sunday, date(2026, 12, 4)) == ("custom", date(2026, 12, 4))  # Friday
    assert latest_range(sunday, date(2026, 12, 5)) == ("yesterday", date(2026, 12, 5))
    assert latest_range(sunday, None) is None  # nothing at all: today it stays
    assert latest_range(sunday, sunday) is None
    # Someone whose own day is already tomorrow: today it stays.
    assert latest_range(sunday, date(2026, 12, 7)) is None
