"""Calendar days as UTC millisecond ranges: in one zone (the viewer's day), or in
each agent's own zone history (the person's day). Pure: no store, no clock.

A day is [local midnight, next local midnight), so daylight-saving changes give
23- and 25-hour days. A person's own day D is, for each stretch of their zone
history, day D in that stretch's zone cut to the stretch: a flight east makes
the day of the flight shorter, one west longer, and every instant still falls
in exactly one of their days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from officepulse.core.periods import midnight_ms
from officepulse.core.zones import ZoneRun, cover

DayMode = Literal["viewer", "person"]
DAY_MODES: tuple[DayMode, ...] = ("viewer", "person")
# Longest range one request may ask for, in days: a year (a leap year's 366), so a
# year's report is one request while one request cannot ask for decades.
MAX_DAYS = 366
# No zone is more than this from UTC (Kiribati is +14), so a window this much wider
# than the UTC days holds every zone's day.
_ZONE_SLACK = timedelta(days=1)

Range = tuple[int, int]


def dates(first: date, last: date) -> list[date]:
    """Every date from ``first`` to ``last``, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def day_range(day: date, zone: ZoneInfo) -> Range:
    """[midnight, next midnight) of ``day`` in ``zone``: 23, 24 or 25 hours."""
    return midnight_ms(day, zone), midnight_ms(day + timedelta(days=1), zone)


def window(first: date, last: date) -> Range:
    """A UTC range that holds days ``first`` to ``last`` in every zone."""
    utc = ZoneInfo("UTC")
    return midnight_ms(first - _ZONE_SLACK, utc), midnight_ms(last + 2 * _ZONE_SLACK, utc)


def own_day(segments: Sequence[ZoneRun], day: date) -> tuple[Range, ...]:
    """Day ``day`` of a person whose zone history over a window is ``segments``
    (disjoint, sorted, covering the window): each segment's share of the day in its
    zone, touching pieces joined."""
    out: list[Range] = []
    for seg in segments:
        lo, hi = day_range(day, ZoneInfo(seg.tz))
        lo, hi = max(lo, seg.start_ms), min(hi, seg.end_ms)
        if lo >= hi:
            continue
        if out and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def person_plan(
    days: Iterable[date],
    histories: Mapping[str, Sequence[ZoneRun]],
    fallbacks: Mapping[str, str],
    span: Range,
) -> dict[tuple[date, tuple[Range, ...]], list[str]]:
    """Which ranges make up each agent's own day, grouped: (day, ranges) -> agents.
    Agents of ``fallbacks`` (agent -> current zone, for time outside their runs) whose
    histories over ``span`` agree share one entry, so a team that lives in a few
    zones costs a few queries per day however many people it has."""
    segments = {
        agent: tuple(cover(histories.get(agent, ()), span[0], span[1], tz))
        for agent, tz in fallbacks.items()
    }
    by_history: dict[tuple[ZoneRun, ...], list[str]] = {}
    for agent, segs in segments.items():
        by_history.setdefault(segs, []).append(agent)
    plan: dict[tuple[date, tuple[Range, ...]], list[str]] = {}
    for day in days:
        for segs, agents in by_history.items():
            ranges = own_day(segs, day)
            if ranges:
                plan.setdefault((day, ranges), []).extend(agents)
    return plan
