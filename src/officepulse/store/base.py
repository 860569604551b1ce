"""The Store seam: where agents and their spans are kept.

Writes are queued and coalesced (many heartbeats that extend one span become
one row update); reads see every write queued before them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from officepulse.core.spans import Span

GroupKey = Literal["agent", "app"]
GROUP_KEYS: tuple[GroupKey, ...] = ("agent", "app")


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: str
    name: str
    host: str
    platform: str
    version: str
    tz: str
    online: bool
    last_seen_ms: int


@dataclass(frozen=True, slots=True)
class AgentStatus:
    info: AgentInfo
    current: Span | None


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Time in a period. A key not grouped by is None. Idle time is counted
    apart from active time, against the app that was in front."""

    agent_id: str | None
    app: str | None
    active_ms: int
    idle_ms: int


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def save_agent(self, agent: AgentInfo) -> None:
        """Queue an insert-or-update of the agent."""
        ...

    def save_span(self, agent_id: str, span: Span) -> None:
        """Queue an insert-or-update of the span keyed by (agent_id, start_ms)."""
        ...

    async def commit_spans(self, agent_id: str, spans: Sequence[Span], seq: int) -> None:
        """Write ``spans`` (insert-or-update by start) and record that the agent's
        journal is stored up to sequence number ``seq``, in one transaction.
        Returns once durable; a caller may then acknowledge ``seq``. Waits when
        too many commits are pending, which is how a slow store slows agents."""
        ...

    async def acked_seq(self, agent_id: str) -> int:
        """The highest sequence number stored for the agent (0: none)."""
        ...

    async def flush(self) -> None:
        """Return once everything queued so far is durably stored."""
        ...

    async def last_span(self, agent_id: str) -> Span | None: ...

    async def agents(self) -> list[AgentStatus]: ...

    async def agent(self, agent_id: str) -> AgentStatus | None: ...

    async def mark_all_offline(self) -> None:
        """At start-up: no agent is connected to a server that just started."""
        ...

    async def usage(
        self, start_ms: int, end_ms: int, group_by: Sequence[GroupKey]
    ) -> list[UsageRow]:
        """Time per group within [start_ms, end_ms); spans are clipped to it."""
        ...
