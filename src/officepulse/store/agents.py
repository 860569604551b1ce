"""What a store keeps of agents, as narrow protocols: reading them (and the changes team
leads made, which servers poll), and writing them. Both stores implement both (``Store``,
store/base.py)."""

from __future__ import annotations

from typing import Protocol

from officepulse.store.records import AgentEvent, AgentInfo, AgentStatus, Blocked
from officepulse.store.spans import Flushes


class AgentReads(Protocol):
    async def agents(self) -> list[AgentStatus]: ...

    async def agent_names(self) -> dict[str, str]:
        """Every agent's name by id: what API rows show beside an agent's id. One read of
        the agents table, none of spans (``agents`` finds each one's current span)."""
        ...

    async def agent(self, agent_id: str) -> AgentStatus | None: ...

    async def agent_events(self, after_seq: int) -> list[AgentEvent]:
        """Events after ``after_seq``, oldest first (cheap when there are none)."""
        ...


class AgentBlocks(Protocol):
    async def blocked(self, agent_id: str) -> Blocked | None:
        """Whether a team lead blocked the agent: what admission asks at every hello,
        one small read of the agent's row (not its latest span)."""
        ...


class AgentWrites(Flushes, Protocol):
    """Agents' details as they connect, and what team leads do to them (blocking,
    removing: each records an AgentEvent)."""

    def save_agent(self, agent: AgentInfo) -> None:
        """Queue an insert-or-update of the agent."""
        ...

    async def mark_all_offline(self) -> None:
        """At start-up: no agent is connected to a server that just started."""
        ...

    async def block_agent(self, agent_id: str, reason: str, now_ms: int) -> bool:
        """False when there is no such agent."""
        ...

    async def unblock_agent(self, agent_id: str, now_ms: int) -> bool: ...

    async def remove_agent(self, agent_id: str, erase: bool, now_ms: int) -> bool:
        """Delete the agent and its credential; with ``erase`` its spans too, their time
        taken out of the rollups by the same delta path as every write, and an ActivityWatch
        agent's raw events (store/aw_erase.py)."""
        ...


class AgentRecords(AgentReads, AgentBlocks, AgentWrites, Protocol):
    """Agents, read and written."""
