"""Calendar periods in a viewer's time zone, as UTC millisecond ranges.

A day is midnight to midnight on the wall clock of the given zone, so a
daylight-saving change gives a 23- or 25-hour day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

RangeName = Literal["today", "yesterday", "7d"]
RANGES: tuple[RangeName, ...] = ("today", "yesterday", "7d")


@dataclass(frozen=True, slots=True)
class Period:
    start_ms: int
    end_ms: int
    label: str


def _midnight_ms(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(0), tzinfo=zone).timestamp() * 1000)


def period(name: RangeName, now: datetime, zone: ZoneInfo) -> Period:
    """The named range containing ``now`` (aware), in ``zone``.

    "7d" is the last seven calendar days, today included.
    """
    today = now.astimezone(zone).date()
    if name == "today":
        first, days = today, 1
    elif name == "yesterday":
        first, days = today - timedelta(days=1), 1
    else:
        first, days = today - timedelta(days=6), 7
    last = first + timedelta(days=days)
    label = (
        first.isoformat()
        if days == 1
        else f"{first.isoformat()} – {(last - timedelta(days=1)).isoformat()}"
    )
    return Period(_midnight_ms(first, zone), _midnight_ms(last, zone), label)
