"""What the reports read from the store, shared by the dashboard's pages and the
REST API so that both show the same numbers (the same code makes them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from officepulse.core.categories import SEPARATOR, UNCATEGORIZED, CategoryNode, category_tree
from officepulse.core.days import Days
from officepulse.core.reports import (
    Block,
    PersonTotals,
    TitleTotal,
    day_blocks,
    merge_title_totals,
    title_totals,
    totals_by_person,
)
from officepulse.core.spans import Span
from officepulse.core.zones import known_zone
from officepulse.panel.day_usage import usage_by_day, usage_over
from officepulse.panel.hour_usage import usage_by_hour
from officepulse.panel.reads import LiveReads, Reads
from officepulse.store.base import AgentStatus, GroupKey

Range = tuple[int, int]

# Raw spans read for one report at most; beyond it the answer says it was truncated.
SPAN_LIMIT = 100_000


async def team(
    store: Reads, days: Days, agent_ids: Sequence[str] | None = None
) -> list[PersonTotals]:
    """Everyone's time per app over ``days`` (the viewer's days, or each person's own),
    most active person first (exact, from the rollups: the same answer as
    /api/v1/usage/days summed over the dates)."""
    rows = await usage_over(store, days, ["agent", "app"], agent_ids)
    names = {a.info.id: (a.info.name, a.info.host) for a in await store.agents()}
    return totals_by_person(
        ((r.agent_id or "?", r.app or "?", r.active_ms, r.idle_ms) for r in rows), names
    )


async def in_progress(
    reads: LiveReads, days: Days, agent_ids: Sequence[str] | None = None
) -> dict[str, int]:
    """Of each person's time over ``days`` (active and idle), the ms still in progress:
    counted up to now, not yet in their agent's stored spans (panel/live.py)."""
    rows = await usage_over(reads.live_only(), days, ["agent"], agent_ids)
    return {r.agent_id or "?": r.active_ms + r.idle_ms for r in rows}


async def person(store: Reads, agent: AgentStatus, days: Days) -> PersonTotals:
    found = await team(store, days, [agent.info.id])
    return found[0] if found else PersonTotals(agent.info.id, agent.info.name, agent.info.host)


async def category_trees(
    store: Reads, days: Days, agent_ids: Sequence[str] | None = None
) -> dict[str, list[CategoryNode]]:
    """Each person's categories over ``days`` as a tree (a category's total includes
    its sub-categories'): /api/v1/usage with group_by=agent,category, added up."""
    rows: dict[str, list[tuple[str, int, int]]] = {}
    for r in await usage_over(store, days, ["agent", "category"], agent_ids):
        rows.setdefault(r.agent_id or "?", []).append(
            (r.category or UNCATEGORIZED, r.active_ms, r.idle_ms)
        )
    return {agent: category_tree(found) for agent, found in rows.items()}


async def team_by_category(store: Reads, days: Days) -> list[PersonTotals]:
    """Everyone's time per top-level category (sub-categories included), most active
    person first: the team view's bars by category."""
    trees = await category_trees(store, days)
    names = {a.info.id: (a.info.name, a.info.host) for a in await store.agents()}
    return totals_by_person(
        (
            (agent, node.path, node.total_ms, node.total_idle_ms)
            for agent, tree in trees.items()
            for node in tree
        ),
        names,
    )


async def _spans(
    store: Reads, agent_id: str, ranges: Sequence[Range]
) -> tuple[list[tuple[list[Span], int, int]], bool]:
    """The agent's spans over each range (at most SPAN_LIMIT in all), and whether there
    were more."""
    out, left = [], SPAN_LIMIT
    for lo, hi in ranges:
        rows = await store.spans(lo, hi, agent_id, left + 1)
        if len(rows) > left:
            out.append(([span for _, span in rows[:left]], lo, hi))
            return out, True
        out.append(([span for _, span in rows], lo, hi))
        left -= len(rows)
    return out, False


async def day(store: Reads, agent_id: str, ranges: Sequence[Range]) -> tuple[list[Block], bool]:
    """The agent's blocks in ``ranges`` (a day: one range, or a traveller's pieces),
    and whether there were too many."""
    found, truncated = await _spans(store, agent_id, ranges)
    return [b for spans, lo, hi in found for b in day_blocks(spans, lo, hi)], truncated


async def titles(
    store: Reads, agent_id: str, app: str, ranges: Sequence[Range]
) -> tuple[list[TitleTotal], bool]:
    found, truncated = await _spans(store, agent_id, ranges)
    totals = merge_title_totals(title_totals(spans, app, lo, hi) for spans, lo, hi in found)
    return totals, truncated


async def per_day(
    store: Reads, days: Days, by: str, agent_ids: Sequence[str] | None = None
) -> list[tuple[date, str, int]]:
    """(date, label, active ms) over ``days``: per app, or (``by="category"``) per
    top-level category, its sub-categories' time in it; for everyone, or ``agent_ids``.
    /api/v1/usage/days, so the columns add up to the totals beside them."""
    key: GroupKey = "category" if by == "category" else "app"
    rows = await usage_by_day(
        store,
        days.first,
        days.last,
        day=days.mode,
        zone=days.zone,
        group_by=[key],
        agent_ids=agent_ids,
    )
    if key == "category":
        return [
            (r.day, (r.category or UNCATEGORIZED).split(SEPARATOR)[0], r.active_ms) for r in rows
        ]
    return [(r.day, r.app or "?", r.active_ms) for r in rows]


async def time_over(
    store: Reads, days: Days, agent_ids: Sequence[str] | None = None
) -> tuple[int, int]:
    """(active ms, idle ms) over ``days``, of everyone or of ``agent_ids``."""
    rows = await usage_over(store, days, [], agent_ids)
    return sum(r.active_ms for r in rows), sum(r.idle_ms for r in rows)


async def by_hour(
    store: Reads, days: Days, agent_ids: Sequence[str] | None = None
) -> dict[tuple[int, int], int]:
    """Active ms per (weekday, hour of the clock) over ``days``: /api/v1/usage/hours."""
    rows = await usage_by_hour(
        store, days.first, days.last, day=days.mode, zone=days.zone, agent_ids=agent_ids
    )
    return {(r.weekday, r.hour): r.active_ms for r in rows if r.active_ms}


async def latest_day(
    store: Reads, days: Days, agent_ids: Sequence[str] | None = None
) -> date | None:
    """The latest date with any time of everyone's (or of ``agent_ids``): the date their
    latest stored span ends on, in the viewer's zone or (``days.mode="person"``) in the
    zone it was recorded in; None when nobody has any."""
    found = []
    for status in await store.agents():
        span = status.current
        if span is None or (agent_ids is not None and status.info.id not in agent_ids):
            continue
        tz = span.tz if days.mode == "person" and span.tz and known_zone(span.tz) else None
        zone = ZoneInfo(tz or status.info.tz) if days.mode == "person" else days.zone
        last = max(span.start_ms, span.end_ms - 1)  # its last millisecond
        found.append(datetime.fromtimestamp(last / 1000, UTC).astimezone(zone).date())
    return max(found, default=None)
