"""Zones as people read them: a place and an offset that depends on the date."""

from __future__ import annotations

from datetime import UTC, datetime

from officepulse.core.spans import to_ms
from officepulse.core.zone_names import place, utc_offset, wall_hours, zone_label
from officepulse.core.zones import ZoneRun

WINTER = to_ms(datetime(2026, 1, 15, tzinfo=UTC))
SUMMER = to_ms(datetime(2026, 7, 15, tzinfo=UTC))


def test_a_zone_is_a_place_and_its_offset_that_day() -> None:
    assert zone_label("Asia/Tokyo", WINTER) == "Tokyo, UTC+9"
    assert zone_label("Europe/Berlin", WINTER) == "Berlin, UTC+1"
    assert zone_label("Europe/Berlin", SUMMER) == "Berlin, UTC+2"
    assert zone_label("America/Los_Angeles", SUMMER) == "Los Angeles, UTC-7"
    assert zone_label("Asia/Kathmandu", WINTER) == "Kathmandu, UTC+5:45"
    assert zone_label("America/St_Johns", WINTER) == "St Johns, UTC-3:30"
    assert zone_label("UTC", WINTER) == "UTC"
    assert zone_label("Etc/UTC", SUMMER) == "UTC"
    assert place("America/Argentina/Buenos_Aires") == "Buenos Aires"
    assert utc_offset("Europe/London", WINTER) == "UTC"


def test_a_stretch_on_its_wall_clock_ends_at_24_00_at_midnight() -> None:
    tokyo_evening = ZoneRun(
        to_ms(datetime(2026, 11, 25, 12, tzinfo=UTC)),
        to_ms(datetime(2026, 11, 25, 15, tzinfo=UTC)),
        "Asia/Tokyo",
    )
    assert wall_hours(tokyo_evening) == "21:00–24:00"
    berlin_morning = ZoneRun(
        to_ms(datetime(2026, 11, 24, 23, tzinfo=UTC)),
        to_ms(datetime(2026, 11, 25, 12, tzinfo=UTC)),
        "Europe/Berlin",
    )
    assert wall_hours(berlin_morning) == "00:00–13:00"
    empty = ZoneRun(berlin_morning.start_ms, berlin_morning.start_ms, "Europe/Berlin")
    assert wall_hours(empty) == "00:00–00:00"
