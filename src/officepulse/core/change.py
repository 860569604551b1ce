"""A period's total beside the one before: the daily average, and the change against
the previous period of equal length ("+2 h 10 min (+12%) vs the same days last week").
Pure: dates in, dates and numbers out; today is never read here.

Which period comes before depends on what was asked for, so that like is compared with
like: a week so far (Monday to Wednesday) with the same weekdays of the week before, a
month so far with the same dates of the month before (when it has them all), any other
run of days with as many days just before it. Every previous period has as many days as
the period itself, so the two totals compare without scaling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class Previous:
    """The days a period is compared with, and how the page names them."""

    first: date
    last: date  # inclusive
    label: str  # "the same days last week", "yesterday", …


def previous_days(range_name: str, first: date, last: date) -> Previous:
    """The period of as many days as ``first``..``last`` that it is compared with;
    ``range_name`` is the preset it was chosen by ("week", "month", …; "custom" or
    any other name: the days just before)."""
    n = (last - first).days + 1
    if range_name == "week" and first.weekday() == 0 and n <= 7:
        label = "last week" if n == 7 else "the same days last week"
        return Previous(first - timedelta(days=7), last - timedelta(days=7), label)
    if range_name == "month" and first.day == 1:
        before = (first - timedelta(days=1)).replace(day=1)
        if (first - before).days >= n:  # the month before has all these dates
            # Both whole months (as long as each other): the month before, as such.
            whole = before + timedelta(days=n) == first and (last + timedelta(days=1)).day == 1
            label = "last month" if whole else "the same days last month"
            return Previous(before, before + timedelta(days=n - 1), label)
    if range_name == "today" and n == 1:
        return Previous(first - timedelta(days=1), first - timedelta(days=1), "yesterday")
    start = first - timedelta(days=n)
    label = "the day before" if n == 1 else f"the previous {n} days"
    return Previous(start, first - timedelta(days=1), label)


@dataclass(frozen=True, slots=True)
class Change:
    """A period's total against its previous one's (active milliseconds)."""

    total_ms: int
    days: int  # days in the period
    active_days: int  # of them, days with any active time
    previous_ms: int
    previous: Previous

    @property
    def average_ms(self) -> int:
        """The daily average over every day of the period (days without activity too,
        as the columns show them), rounded down to the millisecond."""
        return self.total_ms // self.days if self.days else 0

    @property
    def delta_ms(self) -> int:
        return self.total_ms - self.previous_ms

    @property
    def percent(self) -> int | None:
        """The change in percent of the previous total, rounded half away from zero;
        None when the previous period had nothing (no ratio to give)."""
        if self.previous_ms <= 0:
            return None
        sign = 1 if self.delta_ms >= 0 else -1
        return sign * ((abs(self.delta_ms) * 200 // self.previous_ms + 1) // 2)


def change(
    day_totals: dict[date, int], first: date, last: date, previous: Previous, previous_ms: int
) -> Change:
    """The change of the days ``first``..``last`` (``day_totals``: active ms per date;
    dates missing had none) against ``previous_ms`` over ``previous``."""
    days = (last - first).days + 1
    within = [ms for d, ms in day_totals.items() if first <= d <= last]
    return Change(sum(within), days, sum(1 for ms in within if ms > 0), previous_ms, previous)
