"""Time per hour of the day and weekday over a range of dates: the heat map on the
report pages and ``GET /api/v1/usage/hours`` both call ``usage_by_hour``.

Each hour of each day (core/heatmap.py's slots: on the viewer's clock, or on each
person's own as ``usage_by_day`` reckons their days) is one ``Store.usage`` read, exact
from the rollups as every other total is; so the cells add up to the period's total.
Dates on which nobody asked about had any time are not read hour by hour (one read per
day finds them first), so a month of workdays costs its workdays' hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from officepulse.core.days import DayMode, by_history, day_range, own_pieces, window
from officepulse.core.heatmap import Slot, hour_slots
from officepulse.core.zones import ZoneRun
from officepulse.panel.day_usage import current_zones, usage_by_day
from officepulse.panel.reads import Reads


@dataclass(frozen=True, slots=True)
class HourUsage:
    """Time in one cell of the week: a weekday (0 = Monday) and an hour of the clock."""

    weekday: int
    hour: int
    active_ms: int
    idle_ms: int


async def _plan(
    store: Reads,
    first: date,
    last: date,
    day: DayMode,
    zone: ZoneInfo,
    agent_ids: Sequence[str] | None,
) -> list[tuple[list[Slot], Sequence[str] | None]]:
    """The hour slots to read, each list with the agents it is read for: everyone's on
    the viewer's clock, or on each person's own, one list per day and group of people
    whose day it is in the same zones at the same instants (however their zone
    histories were recorded: a team at home in one zone is one group). Only the dates
    on which they had any time."""
    busy: dict[date, set[str]] = {}
    for row in await usage_by_day(
        store, first, last, day=day, zone=zone, group_by=["agent"], agent_ids=agent_ids
    ):
        busy.setdefault(row.day, set()).add(row.agent_id or "")
    if day == "viewer":
        pieces = [ZoneRun(*day_range(d, zone), zone.key) for d in sorted(busy)]
        return [(hour_slots(pieces), agent_ids)]
    span = window(first, last)
    histories = await store.zones(agent_ids, *span)
    groups: dict[tuple[ZoneRun, ...], list[str]] = {}
    for segs, agents in by_history(histories, await current_zones(store, agent_ids), span).items():
        for d in sorted(busy):
            working = [a for a in agents if a in busy[d]]
            if working:
                groups.setdefault(tuple(own_pieces(segs, d, d)), []).extend(working)
    return [(hour_slots(pieces), agents) for pieces, agents in groups.items() if pieces]


async def usage_by_hour(
    store: Reads,
    first: date,
    last: date,
    *,
    day: DayMode,
    zone: ZoneInfo,
    agent_ids: Sequence[str] | None = None,
) -> list[HourUsage]:
    """Time per (weekday, hour) over the dates ``first`` to ``last`` (both included), in
    weekday then hour order; cells without time are left out. ``day`` and ``zone`` are
    as for ``usage_by_day``: with ``day="person"`` each person's hours are on their own
    wall clock at the time. ``agent_ids`` limits it to those agents."""
    cells: dict[tuple[int, int], list[int]] = {}
    for slots, agents in await _plan(store, first, last, day, zone, agent_ids):
        for slot in slots:
            rows = await store.usage(slot.start_ms, slot.end_ms, [], agents)
            cell = cells.setdefault((slot.weekday, slot.hour), [0, 0])
            cell[0] += sum(r.active_ms for r in rows)
            cell[1] += sum(r.idle_ms for r in rows)
    return [
        HourUsage(weekday, hour, active, idle)
        for (weekday, hour), (active, idle) in sorted(cells.items())
        if active or idle
    ]
