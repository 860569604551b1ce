"""The store's reads as one viewer may see them: what the pages, reports and API read
about agents and their activity goes through here (security/visibility.py decides what
each level shows), so nothing reaches a browser before it is applied."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from officepulse.core.categories import RuleSet
from officepulse.core.spans import Span
from officepulse.core.zones import ZoneRun
from officepulse.security.visibility import present_span, present_usage
from officepulse.store.accounts import Visibility
from officepulse.store.agents import AgentReads
from officepulse.store.base import AgentStatus, GroupKey, UsageRow
from officepulse.store.spans import UsageReads

Level = Callable[[str | None], Visibility]


class StoreReads(UsageReads, AgentReads, Protocol):
    """What the panel reads of a store: agents, spans, usage and zones."""


class VisibleReads:
    def __init__(
        self,
        store: StoreReads,
        level: Level,
        rules: RuleSet,
        *,
        sees_all: bool,
        usage_as_stored: bool = False,
    ) -> None:
        self.store = store
        self.level = level
        self.rules = rules  # the category rules in force (what "category" shows)
        self.sees_all = sees_all  # open mode: everything as stored
        # No agent is shown to this viewer as its category only (Directory.
        # anyone_as_category): usage is then as stored, whoever's it is.
        self.usage_as_stored = sees_all or usage_as_stored

    def _status(self, status: AgentStatus) -> AgentStatus:
        if status.current is None or self.sees_all:
            return status
        current = present_span(status.current, self.level(status.info.id), self.rules)
        return AgentStatus(status.info, current)

    async def agents(self) -> list[AgentStatus]:
        return [self._status(s) for s in await self.store.agents()]

    async def agent(self, agent_id: str) -> AgentStatus | None:
        status = await self.store.agent(agent_id)
        return self._status(status) if status is not None else None

    async def spans(
        self, start_ms: int, end_ms: int, agent_id: str | None = None, limit: int = 100_000
    ) -> list[tuple[str, Span]]:
        rows = await self.store.spans(start_ms, end_ms, agent_id, limit)
        if self.sees_all:
            return rows
        return [(a, present_span(span, self.level(a), self.rules)) for a, span in rows]

    async def zones(
        self, agent_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> dict[str, list[ZoneRun]]:
        return await self.store.zones(agent_ids, start_ms, end_ms)  # zones only, no activity

    async def usage(
        self,
        start_ms: int,
        end_ms: int,
        group_by: Sequence[GroupKey],
        agent_ids: Sequence[str] | None = None,
    ) -> list[UsageRow]:
        if self.usage_as_stored:
            # Not grouped by agent, the team's rollups answer it (a row per app, not one
            # per agent and app).
            return await self.store.usage(start_ms, end_ms, group_by, agent_ids)
        # Each person's apps as their level shows them, so rows are read per agent and
        # category even when not grouped by them (a team-wide sum must not reveal a hidden
        # app; "category" shows the category), then summed to the keys asked for.
        keys: list[GroupKey] = ["agent", "category", *(k for k in group_by if k == "app")]
        rows = await self.store.usage(start_ms, end_ms, keys, agent_ids)
        return present_usage(rows, self.level, group_by)
