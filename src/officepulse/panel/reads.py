"""What the reports and per-day totals read: the store's reads about agents and their
activity. The server passes them the store as the request's viewer may see it
(panel/visible_reads.py); a Store satisfies it too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from officepulse.core.spans import Span
from officepulse.core.zones import ZoneRun
from officepulse.store.base import AgentStatus, GroupKey, UsageRow


class Reads(Protocol):
    async def agents(self) -> list[AgentStatus]: ...

    async def spans(
        self, start_ms: int, end_ms: int, agent_id: str | None = None, limit: int = 100_000
    ) -> list[tuple[str, Span]]: ...

    async def usage(
        self,
        start_ms: int,
        end_ms: int,
        group_by: Sequence[GroupKey],
        agent_ids: Sequence[str] | None = None,
    ) -> list[UsageRow]: ...

    async def zones(
        self, agent_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> dict[str, list[ZoneRun]]: ...


class LiveReads(Reads, Protocol):
    """Reads that include the activity in progress (panel/visible_reads.py), and can say
    which part of what they give it is."""

    def live_only(self) -> LiveReads:
        """The same reads of the activity in progress alone."""
        ...

    def in_progress(self, agent_id: str, start_ms: int, end_ms: int) -> bool:
        """Whether that stretch of an agent's, as ``spans`` gave it, is in progress."""
        ...
