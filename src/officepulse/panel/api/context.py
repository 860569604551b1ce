"""What the REST API's handlers read and change, handed to each of them (routes.py)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from officepulse.panel.api.params import UnknownAgent, parse_required
from officepulse.panel.app_names import AppNames
from officepulse.panel.category_rules import CategoryRules
from officepulse.panel.fleet import Fleet
from officepulse.panel.gaps import Gaps
from officepulse.panel.hub import Hub
from officepulse.panel.uncategorized import Uncategorized
from officepulse.panel.viewers import Viewers
from officepulse.panel.visible_reads import StoreReads, VisibleReads
from officepulse.store.base import AgentStatus, GroupKey


@dataclass(frozen=True, slots=True)
class ApiContext:
    store: StoreReads
    viewers: Viewers
    hub: Hub  # the agents as the dashboards see them now
    rules: CategoryRules
    gaps: Gaps
    fleet: Fleet  # the gateways, as this panel hears them
    app_names: AppNames  # what apps are shown as (panel/app_names.py)
    uncategorized: Uncategorized  # what no rule categorises (panel/uncategorized.py)

    async def reads(self, request: web.Request) -> VisibleReads:
        """The store as the request's viewer may see it."""
        return await self.viewers.reads(request)

    async def names(self, group_by: list[GroupKey]) -> dict[str, str]:
        """Agents' names for rows grouped by agent; rows that name no agent need none, so
        nothing is read for them."""
        return await self.store.agent_names() if "agent" in group_by else {}

    async def agent(self, raw: str | None) -> AgentStatus:
        """The agent the ``agent`` parameter names (UnknownAgent: none has that id)."""
        agent_id = parse_required("agent", raw, "an agent id")
        agent = await self.store.agent(agent_id)
        if agent is None:
            raise UnknownAgent(f"no agent has the id {agent_id!r}")
        return agent
