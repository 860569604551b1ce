"""What a store's writer takes from its queue for one transaction (both stores), and the
single writes it is cut into when one of them can never be made (store/failures.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from officepulse.core.spans import iso_utc
from officepulse.store.base import AgentInfo


class Commit(Protocol):
    """A ``commit_spans`` batch waiting to be written."""

    agent_id: str
    seq: int


R = TypeVar("R")  # a span row, as the store writes it
C = TypeVar("C", bound=Commit)


@dataclass
class Queued(Generic[R, C]):
    """Agents' details, spans and commits to write together, in that order (a later
    write of one key wins); ``mark_offline`` first of all."""

    agents: dict[str, AgentInfo] = field(default_factory=dict)
    spans: dict[tuple[str, int], R] = field(default_factory=dict)
    commits: list[C] = field(default_factory=list)
    mark_offline: bool = False

    def empty(self) -> bool:
        return not (self.agents or self.spans or self.commits or self.mark_offline)

    def agent_ids(self) -> set[str]:
        """The agents with a write here (``mark_offline`` aside, which is everyone's)."""
        return {
            *self.agents,
            *(agent_id for agent_id, _ in self.spans),
            *(c.agent_id for c in self.commits),
        }

    def parts(self) -> list[Queued[R, C]]:
        """Each write on its own, in the order they are written together."""
        return [
            *([Queued[R, C](mark_offline=True)] if self.mark_offline else []),
            *(Queued[R, C](agents={k: a}) for k, a in self.agents.items()),
            *(Queued[R, C](spans={k: r}) for k, r in self.spans.items()),
            *(Queued[R, C](commits=[c]) for c in self.commits),
        ]

    @staticmethod
    def joined(parts: Sequence[Queued[R, C]]) -> Queued[R, C]:
        """The parts as one batch again (what is left to write after a failure)."""
        out = Queued[R, C]()
        for part in parts:
            out.agents.update(part.agents)
            out.spans.update(part.spans)
            out.commits += part.commits
            out.mark_offline = out.mark_offline or part.mark_offline
        return out

    def what(self) -> str:
        """The write, as a log line or a refusal names it."""
        if self.commits:
            c = self.commits[0]
            return f"agent {c.agent_id}'s spans up to sequence number {c.seq}"
        if self.spans:
            agent_id, start_ms = next(iter(self.spans))
            return f"agent {agent_id}'s span at {iso_utc(start_ms)}"
        if self.agents:
            return f"agent {next(iter(self.agents))}'s details"
        return "marking every agent offline"


class Whose:
    """The agents with a write queued, and those of the batch being written: a read of
    one agent's rows writes (or waits for) what is queued first only when that agent is
    among them (``holds``), so that a reconnect storm's hellos do not each wait for the
    others' queued rows, nor for as long as the writer waits on a lock. Both stores keep
    one; SQLite's under its queue lock."""

    def __init__(self) -> None:
        self.queued: set[str] = set()
        self.writing: frozenset[str] = frozenset()

    def add(self, agent_id: str) -> None:
        self.queued.add(agent_id)

    def put_back(self, batch: Queued[R, C]) -> None:
        """What was not written is queued again."""
        self.queued.update(batch.agent_ids())

    def taken(self) -> None:
        """The queue was taken for writing."""
        self.writing, self.queued = frozenset(self.queued), set()

    def written(self) -> None:
        self.writing = frozenset()

    def holds(self, agent_id: str) -> bool:
        return agent_id in self.queued or agent_id in self.writing
