"""Per-day totals over a range of dates, in the viewer's zone or in each person's own.

The dashboard's time page and ``GET /api/v1/usage/days`` both call ``usage_by_day``.
Every figure comes from ``Store.usage`` (rollups, exact for any range), so a day of
23, 24 or 25 hours, or a traveller's shortened day, costs what a day costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from officepulse.core.days import DayMode, dates, day_range, person_plan, window
from officepulse.server.report_data import Reads
from officepulse.store.base import GroupKey, UsageRow


@dataclass(frozen=True, slots=True)
class DayUsage:
    """Time on one day. A key not grouped by is None."""

    day: date
    agent_id: str | None
    app: str | None
    active_ms: int
    idle_ms: int
    category: str | None = None


async def usage_by_day(
    store: Reads,
    first: date,
    last: date,
    *,
    day: DayMode,
    zone: ZoneInfo,
    group_by: Sequence[GroupKey] = (),
    agent_ids: Sequence[str] | None = None,
) -> list[DayUsage]:
    """Time per day from ``first`` to ``last`` (both included) per ``group_by``
    (any of "agent", "app", "category", or none), in day order then by key; days and groups
    without time are left out.

    ``day="viewer"``: a day is midnight to midnight in ``zone`` for everyone (one
    query per day). ``day="person"``: each agent's own day, in the zone their
    computer was in at the time (``Store.zones``; outside any recorded run, their
    current zone); ``zone`` is then unused. Agents whose zone history over the range
    is the same are asked about together, so a team in a few zones costs a few
    queries per day. ``agent_ids`` limits the answer to those agents.

    For example, the last seven days of Alice's own days, per app::

        rows = await usage_by_day(store, today - timedelta(days=6), today,
                                  day="person", zone=viewer_zone,
                                  group_by=["app"], agent_ids=["alice"])
    """
    totals: dict[_Key, list[int]] = {}

    def add(d: date, rows: Sequence[UsageRow]) -> None:
        for row in rows:
            slot = totals.setdefault((d, row.agent_id, row.app, row.category), [0, 0])
            slot[0] += row.active_ms
            slot[1] += row.idle_ms

    if day == "viewer":
        for d in dates(first, last):
            lo, hi = day_range(d, zone)
            add(d, await store.usage(lo, hi, group_by, agent_ids))
    else:
        wanted = None if agent_ids is None else set(agent_ids)
        fallbacks = {
            s.info.id: s.info.tz
            for s in await store.agents()
            if wanted is None or s.info.id in wanted
        }
        span = window(first, last)
        histories = await store.zones(agent_ids, *span)
        plan = person_plan(dates(first, last), histories, fallbacks, span)
        for (d, ranges), agents in plan.items():
            for lo, hi in ranges:
                add(d, await store.usage(lo, hi, group_by, agents))
    return [
        DayUsage(d, agent, app, active, idle, category)
        for (d, agent, app, category), (active, idle) in sorted(totals.items(), key=_order)
        if active or idle
    ]


# (day, agent, app, category): a key not grouped by is None.
_Key = tuple[date, str | None, str | None, str | None]


def _order(item: tuple[_Key, list[int]]) -> tuple[date, str, str, str]:
    (d, agent, app, category), _ = item
    return d, agent or "", app or "", category or ""
