"""What a store keeps of activity, as narrow protocols: writing spans (the gateway),
reading spans, usage and zones (the panel), the category rules, and retention. Both stores
implement all of them (``Store``, store/base.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from officepulse.core.categories import Rule
from officepulse.core.spans import Span
from officepulse.core.zones import ZoneRun
from officepulse.store.records import GroupKey, UsageRow


class Flushes(Protocol):
    async def flush(self) -> None:
        """Return once everything queued so far is durably stored."""
        ...


class SpanWrites(Flushes, Protocol):
    """The one path that writes an agent's spans (gateway/ingest.py)."""

    def save_span(self, agent_id: str, span: Span) -> None:
        """Queue an insert-or-update of the span keyed by (agent_id, start_ms)."""
        ...

    async def commit_spans(self, agent_id: str, spans: Sequence[Span], seq: int) -> None:
        """Write ``spans`` (insert-or-update by start) and record that the agent's
        journal is stored up to sequence number ``seq``, in one transaction.
        Returns once durable; a caller may then acknowledge ``seq``. Waits when
        too many commits are pending, which is how a slow store slows agents, and
        while the store fails (it keeps trying: store/failures.py). Raises
        ``StoreRefused`` when the spans can never be stored: ``seq`` is recorded as
        taken all the same."""
        ...

    async def acked_seq(self, agent_id: str) -> int:
        """The highest sequence number stored for the agent (0: none)."""
        ...

    async def last_span(self, agent_id: str) -> Span | None: ...


class UsageReads(Protocol):
    """Spans, time per group and zones over a period (the panel's reads)."""

    async def spans(
        self, start_ms: int, end_ms: int, agent_id: str | None = None, limit: int = 100_000
    ) -> list[tuple[str, Span]]:
        """Stored spans that overlap [start_ms, end_ms), whole (not clipped), in
        time order, per agent; at most ``limit``."""
        ...

    async def usage(
        self,
        start_ms: int,
        end_ms: int,
        group_by: Sequence[GroupKey],
        agent_ids: Sequence[str] | None = None,
    ) -> list[UsageRow]:
        """Time per group within [start_ms, end_ms); spans are clipped to it. With
        ``agent_ids``, only those agents' time (an empty list: nobody's)."""
        ...

    async def zones(
        self, agent_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> dict[str, list[ZoneRun]]:
        """Each agent's zone runs (core/zones.py) that overlap [start_ms, end_ms), whole,
        in time order; every agent's when ``agent_ids`` is None. Agents without runs
        there are left out."""
        ...


class CategoryStore(Protocol):
    async def categories(self) -> list[Rule]:
        """The category rules in force, in order (core/categories.py); changed by
        ``set_categories`` (store/categorising.py)."""
        ...


class Pruning(Protocol):
    async def prune(self, before_ms: int) -> int:
        """Retention: delete the raw spans that ended at or before ``before_ms``, and
        nothing else. Rollups are kept as they are, so every total over whole minutes
        (hours, days in any zone) is the same after as before; only what needs raw spans
        (titles, URLs, the timeline, sub-minute edges) is gone before that instant.
        Deletes in bounded chunks so that writes keep flowing; returns how many."""
        ...
