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
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Days:
    """Dates ``first`` to ``last`` (both included) as a report counts them: midnight
    to midnight in ``zone`` for everyone (``mode="viewer"``), or on each person's own
    wall clock at the time (``mode="person"``; ``zone`` then only names the viewer)."""

    first: date
    last: date
    mode: DayMode
    zone: ZoneInfo

    def viewer_pieces(self) -> list[ZoneRun]:
        """The dates in the viewer's zone: one stretch of time."""
        lo, _ = day_range(self.first, self.zone)
        _, hi = day_range(self.last, self.zone)
        return [ZoneRun(lo, hi, self.zone.key)]


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


def own_pieces(segments: Sequence[ZoneRun], first: date, last: date) -> list[ZoneRun]:
    """Days ``first`` to ``last`` of a person whose zone history over a window is
    ``segments`` (disjoint, sorted, covering the window), as pieces of time each in
    one zone: each segment's share of those days on its wall clock. Touching pieces
    of one zone are joined; a flight west past midnight leaves a gap (the time that
    belongs to the day before, lived again)."""
    out: list[ZoneRun] = []
    for seg in segments:
        zone = ZoneInfo(seg.tz)
        lo = max(midnight_ms(first, zone), seg.start_ms)
        hi = min(midnight_ms(last + timedelta(days=1), zone), seg.end_ms)
        if lo >= hi:
            continue
        if out and out[-1].end_ms == lo and out[-1].tz == seg.tz:
            out[-1] = ZoneRun(out[-1].start_ms, hi, seg.tz)
        else:
            out.append(ZoneRun(lo, hi, seg.tz))
    return out


def joined(pieces: Iterable[ZoneRun]) -> tuple[Range, ...]:
    """The pieces' time as ranges, touching ones joined whatever their zones."""
    out: list[Range] = []
    for piece in pieces:
        if out and out[-1][1] == piece.start_ms:
            out[-1] = (out[-1][0], piece.end_ms)
        else:
            out.append((piece.start_ms, piece.end_ms))
    return tuple(out)


def own_day(segments: Sequence[ZoneRun], day: date) -> tuple[Range, ...]:
    """Day ``day`` of a person whose zone history over a window is ``segments``: each
    segment's share of the day in its zone, touching pieces joined."""
    return joined(own_pieces(segments, day, day))


def by_history(
    histories: Mapping[str, Sequence[ZoneRun]], fallbacks: Mapping[str, str], span: Range
) -> dict[tuple[ZoneRun, ...], list[str]]:
    """Agents of ``fallbacks`` (agent -> current zone, for time outside their runs)
    grouped by their zone history over ``span``."""
    groups: dict[tuple[ZoneRun, ...], list[str]] = {}
    for agent, tz in fallbacks.items():
        segs = tuple(cover(histories.get(agent, ()), span[0], span[1], tz))
        groups.setdefault(segs, []).append(agent)
    return groups


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
    groups = by_history(histories, fallbacks, span)
    plan: dict[tuple[date, tuple[Range, ...]], list[str]] = {}
    for day in days:
        for segs, agents in groups.items():
            ranges = own_day(segs, day)
            if ranges:
                plan.setdefault((day, ranges), []).extend(agents)
    return plan


def person_days_plan(
    first: date,
    last: date,
    histories: Mapping[str, Sequence[ZoneRun]],
    fallbacks: Mapping[str, str],
    span: Range,
) -> dict[tuple[Range, ...], list[str]]:
    """Which ranges make up each agent's own days ``first`` to ``last`` taken together,
    grouped: ranges -> agents. The same time as every day of ``person_plan`` (a
    person's days follow one another), in a few ranges rather than a few per day."""
    plan: dict[tuple[Range, ...], list[str]] = {}
    for segs, agents in by_history(histories, fallbacks, span).items():
        ranges = joined(own_pieces(segs, first, last))
        if ranges:
            plan.setdefault(ranges, []).extend(agents)
    return plan
