"""Calendar periods in a viewer's time zone, as UTC millisecond ranges.

A day is midnight to midnight on the wall clock of the given zone, so a
daylight-saving change gives a 23- or 25-hour day. Weeks start on Monday (ISO 8601).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from officepulse.errors import OfficepulseError

RangeName = Literal["today", "yesterday", "week", "7d", "month", "30d"]
RANGES: tuple[RangeName, ...] = ("today", "yesterday", "week", "7d", "month", "30d")
RANGE_LABELS: dict[str, str] = {
    "today": "Today",
    "yesterday": "Yesterday",
    "week": "This week",
    "7d": "Last 7 days",
    "month": "This month",
    "30d": "Last 30 days",
}
# The longest custom range the dashboard reckons; the API's own limit is in panel/api/params.py.
MAX_DAYS = 400
# Dates a report may name: far enough from datetime's own limits (years 1 and 9999)
# that the days around them, in any zone, are dates too.
FIRST_DATE, LAST_DATE = date(1000, 1, 1), date(9998, 12, 31)


class PeriodError(OfficepulseError, ValueError):
    """A range that cannot be reckoned; the message says which part was wrong."""


@dataclass(frozen=True, slots=True)
class Period:
    start_ms: int
    end_ms: int
    label: str
    first: date | None = None
    last: date | None = None  # inclusive


def midnight_ms(day: date, zone: ZoneInfo) -> int:
    """The first instant of ``day`` on the wall clock of ``zone``."""
    return int(datetime.combine(day, time(0), tzinfo=zone).timestamp() * 1000)


def range_days(name: RangeName, today: date) -> tuple[date, date]:
    """The first and last (inclusive) calendar day of a named range around ``today``.

    "7d" and "30d" end today, today included; "week" and "month" are the calendar
    week (from Monday) and month so far.
    """
    if name == "today":
        return today, today
    if name == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    if name == "week":
        return today - timedelta(days=today.weekday()), today
    if name == "7d":
        return today - timedelta(days=6), today
    if name == "month":
        return today.replace(day=1), today
    return today - timedelta(days=29), today


def days_period(first: date, last: date, zone: ZoneInfo) -> Period:
    """Midnight before ``first`` to midnight after ``last``, in ``zone``."""
    if last < first:
        raise PeriodError(f"the range ends ({last}) before it starts ({first})")
    if (last - first).days >= MAX_DAYS:
        raise PeriodError(f"the range is longer than {MAX_DAYS} days")
    label = first.isoformat() if first == last else f"{first.isoformat()} – {last.isoformat()}"
    end = midnight_ms(last + timedelta(days=1), zone)
    return Period(midnight_ms(first, zone), end, label, first, last)


def period(name: RangeName, now: datetime, zone: ZoneInfo) -> Period:
    """The named range containing ``now`` (aware), in ``zone``."""
    first, last = range_days(name, now.astimezone(zone).date())
    return days_period(first, last, zone)


def parse_day(name: str, raw: str) -> date:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise PeriodError(f"'{name}' is not a date like 2026-11-30: {raw!r}") from None
    if not FIRST_DATE <= day <= LAST_DATE:
        raise PeriodError(f"'{name}' must be a date from {FIRST_DATE} to {LAST_DATE}: {raw!r}")
    return day


def chosen_period(
    range_name: str | None,
    first_raw: str | None,
    last_raw: str | None,
    now: datetime,
    zone: ZoneInfo,
) -> tuple[str, Period]:
    """What a range picker asked for: a preset by name, or "custom" with ``from`` and
    ``to`` dates (inclusive). No name means custom when dates are given, else today."""
    name = range_name or ("custom" if first_raw or last_raw else "today")
    if name == "custom":
        if not first_raw or not last_raw:
            raise PeriodError("a custom range needs both 'from' and 'to' dates")
        return name, days_period(parse_day("from", first_raw), parse_day("to", last_raw), zone)
    for known in RANGES:
        if name == known:
            return name, period(known, now, zone)
    raise PeriodError(f"unknown range {name!r}; use one of {', '.join(RANGES)} or custom")


def latest_range(
    today: date, latest: date | None
) -> tuple[RangeName | Literal["custom"], date] | None:
    """The range a report opens on when ``today`` has no activity and ``latest`` is the
    latest date that has: "yesterday" when it was, else that one date ("custom"); None
    to stay on today (nothing at all, or nothing before today)."""
    if latest is None or latest >= today:
        return None
    return ("yesterday" if latest == today - timedelta(days=1) else "custom"), latest
