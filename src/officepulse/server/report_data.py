"""What the reports read from the store, shared by the dashboard's pages and the
REST API so that both show the same numbers (the same code makes them)."""

from __future__ import annotations

from officepulse.core.reports import (
    Block,
    PersonTotals,
    TitleTotal,
    day_blocks,
    title_totals,
    totals_by_person,
)
from officepulse.store.base import AgentStatus, Store

# Raw spans read for one report at most; beyond it the answer says it was truncated.
SPAN_LIMIT = 100_000


async def team(store: Store, start_ms: int, end_ms: int) -> list[PersonTotals]:
    """Everyone's time per app in [start_ms, end_ms), most active person first
    (exact, from the rollups: the same answer as /api/v1/usage)."""
    rows = await store.usage(start_ms, end_ms, ["agent", "app"])
    names = {a.info.id: (a.info.name, a.info.host) for a in await store.agents()}
    return totals_by_person(
        ((r.agent_id or "?", r.app or "?", r.active_ms, r.idle_ms) for r in rows), names
    )


async def person(store: Store, agent: AgentStatus, start_ms: int, end_ms: int) -> PersonTotals:
    everyone = await team(store, start_ms, end_ms)
    found = next((p for p in everyone if p.id == agent.info.id), None)
    return found or PersonTotals(agent.info.id, agent.info.name, agent.info.host)


async def day(store: Store, agent_id: str, start_ms: int, end_ms: int) -> tuple[list[Block], bool]:
    """The agent's blocks in [start_ms, end_ms), and whether there were too many."""
    rows = await store.spans(start_ms, end_ms, agent_id, SPAN_LIMIT + 1)
    blocks = day_blocks((span for _, span in rows[:SPAN_LIMIT]), start_ms, end_ms)
    return blocks, len(rows) > SPAN_LIMIT


async def titles(
    store: Store, agent_id: str, app: str, start_ms: int, end_ms: int
) -> tuple[list[TitleTotal], bool]:
    rows = await store.spans(start_ms, end_ms, agent_id, SPAN_LIMIT + 1)
    totals = title_totals((span for _, span in rows[:SPAN_LIMIT]), app, start_ms, end_ms)
    return totals, len(rows) > SPAN_LIMIT
