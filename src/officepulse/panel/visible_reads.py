"""The store's reads as one viewer may see them: what the pages, reports and API read
about agents and their activity goes through here (security/visibility.py decides what
each level shows), so nothing reaches a browser before it is applied.

They include the activity in progress (panel/live.py): each online agent's stretch since
its stored spans end, up to the request's now, shown at the same level as its stored
spans. ``live_only`` is that part alone, which the answers mark as in progress."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from officepulse.core.categories import RuleSet
from officepulse.core.spans import Span
from officepulse.core.zones import ZoneRun
from officepulse.panel.live import NOTHING_LIVE, Live, grouped, in_progress, overlapping, usage_rows
from officepulse.security.visibility import present_span, present_usage, team_by_category
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
        live: Live = NOTHING_LIVE,
        stored: bool = True,
        in_full: frozenset[str] | None = None,
    ) -> None:
        """``live``: the agents with an activity in progress and the request's now;
        ``stored`` False answers the in-progress part alone; ``in_full``: the agents
        this viewer sees in full (None: every one)."""
        self.store = store
        self.level = level
        self.rules = rules  # the category rules in force (what "category" shows)
        self.sees_all = sees_all  # open mode: everything as stored
        # No agent is shown to this viewer as its category only (Directory.
        # anyone_as_category): usage is then as stored, whoever's it is.
        self.usage_as_stored = sees_all or usage_as_stored
        self.live = live
        self.stored = stored
        self.in_full = None if sees_all else (in_full or frozenset())
        # agent id -> the in-progress span these reads last gave (start, end)
        self._given: dict[str, tuple[int, int]] = {}

    def live_only(self) -> VisibleReads:
        """The same reads of the activity in progress alone (agents and zones as stored):
        what the answers mark as in progress."""
        return VisibleReads(
            self.store,
            self.level,
            self.rules,
            sees_all=self.sees_all,
            usage_as_stored=self.usage_as_stored,
            live=self.live,
            stored=False,
            in_full=self.in_full,
        )

    def in_progress(self, agent_id: str, start_ms: int, end_ms: int) -> bool:
        """Whether ``[start_ms, end_ms)`` (a span ``spans`` gave, or a piece of it) is
        the agent's activity in progress: no stored span reaches into it, as it starts
        where they end."""
        given = self._given.get(agent_id)
        return given is not None and given[0] <= start_ms and end_ms <= given[1]

    async def _in_progress(
        self, start_ms: int, end_ms: int, agent_ids: Sequence[str] | None = None
    ) -> dict[str, Span]:
        """The in-progress spans, their start read after the stored rows they are added
        to (so that a batch stored meanwhile is never counted twice: stored ends only
        grow); nothing is read for a range no activity in progress reaches."""
        views = self.live.reaching(start_ms, end_ms, agent_ids)
        if not views:
            return {}
        # Where each agent's stored spans end, from those of the last minutes (an older
        # end is before any in-progress span counted), not the agent list.
        lo, hi = self.live.stored_window()
        one = views[0].id if len(views) == 1 else None
        ends: dict[str, int] = {}
        for agent_id, span in await self.store.spans(lo, hi, one):
            ends[agent_id] = max(ends.get(agent_id, span.end_ms), span.end_ms)
        return in_progress(views, ends, self.live.now_ms)

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
        rows = await self.store.spans(start_ms, end_ms, agent_id, limit) if self.stored else []
        agent_ids = None if not agent_id else [agent_id]
        live = await self._in_progress(start_ms, end_ms, agent_ids)
        extra = overlapping(live, start_ms, end_ms, agent_id or None)
        if extra:  # in the store's order
            self._given.update((a, (span.start_ms, span.end_ms)) for a, span in extra)
            rows = sorted([*rows, *extra], key=lambda r: (r[1].start_ms, r[0]))[:limit]
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
        by_category = "category" in group_by and not self.sees_all
        if self.usage_as_stored and not by_category:
            # Not grouped by agent, the team's rollups answer it (a row per app, not one
            # per agent and app).
            rows = await self._stored_usage(start_ms, end_ms, group_by, agent_ids)
            live = await self._live_usage(start_ms, end_ms, agent_ids)
            return grouped([*rows, *live], group_by) if live else rows
        if self.usage_as_stored and "agent" not in group_by and agent_ids is None:
            return await self._team_by_category(start_ms, end_ms, group_by)
        # Each person's apps as their level shows them, so rows are read per agent and
        # category even when not grouped by them (a team-wide sum must not reveal a hidden
        # app; "category" shows the category), and by app with the category (on "app" the
        # app alone decides it), then summed to the keys asked for.
        keys: list[GroupKey] = ["agent", "category"]
        if "app" in group_by or by_category:
            keys.append("app")
        rows = await self._stored_usage(start_ms, end_ms, keys, agent_ids)
        live = await self._live_usage(start_ms, end_ms, agent_ids)
        return present_usage([*rows, *live], self.level, group_by, self.rules)

    async def _team_by_category(
        self, start_ms: int, end_ms: int, group_by: Sequence[GroupKey]
    ) -> list[UsageRow]:
        """Everyone's time by category, the categories of those shown at "app" decided by
        their apps: the team's rows, less those of the few agents seen in full, read
        apart (security/visibility.py ``team_by_category``)."""
        keys: list[GroupKey] = ["agent", "app", "category"]
        full = sorted(self.in_full or ())
        mine = await self._stored_usage(start_ms, end_ms, keys, full) if full else []
        team = await self._stored_usage(start_ms, end_ms, ["app", "category"], None)
        live = await self._live_usage(start_ms, end_ms, None)
        return team_by_category(team, mine, live, self.level, group_by, self.rules)

    async def _stored_usage(
        self,
        start_ms: int,
        end_ms: int,
        group_by: Sequence[GroupKey],
        agent_ids: Sequence[str] | None,
    ) -> list[UsageRow]:
        if not self.stored:
            return []
        return await self.store.usage(start_ms, end_ms, group_by, agent_ids)

    async def _live_usage(
        self, start_ms: int, end_ms: int, agent_ids: Sequence[str] | None
    ) -> list[UsageRow]:
        live = await self._in_progress(start_ms, end_ms, agent_ids)
        return usage_rows(live, start_ms, end_ms, agent_ids, self.rules.categorize)
