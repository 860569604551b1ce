"""Ingest: turns an agent's hello, heartbeats, span batches, presence and
goodbye into stored spans and presence updates on the bus. The one path that writes an
agent's spans: heartbeats through ``beat``, batches through ``take_spans`` then ``commit``.

One ``AgentState`` per connection (gateway/agents.py) holds the agent's latest stored span
(which a heartbeat or an equal span extends) and the highest journal sequence number
taken, so a batch sent again is recognised and stored once. What becomes of the agent
itself (online, seen, offline, shown) is the owner's, ``Agents``: ingest tells it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from officepulse.core.plausible import instant_refusal, span_refusal
from officepulse.core.spans import Span, Stale, append_span, continued, iso_utc, merge, to_ms
from officepulse.core.zones import known_zone
from officepulse.gateway.agents import Agents, AgentState
from officepulse.gateway.facts import facts_of, heard, run_of
from officepulse.protocol.errors import CloseCode, ProtocolError
from officepulse.protocol.messages import (
    PNG_SIGNATURE,
    AppNames,
    Facts,
    Heartbeat,
    Hello,
    Presence,
    Spans,
)
from officepulse.store.agent_facts import AgentFacts
from officepulse.store.app_names import AppNames as AppNameStore
from officepulse.store.base import AgentInfo
from officepulse.store.spans import SpanWrites


@dataclass(frozen=True, slots=True)
class Note:
    """What the agent is told of one span of a batch (a non-fatal protocol error)."""

    code: Literal["span-adjusted", "span-refused"]
    message: str


def _zoned(span: Span, tz: str) -> Span:
    # Not dataclasses.replace: this runs for every heartbeat that changes a span.
    return span if span.tz is not None else Span(span.start_ms, span.end_ms, span.activity, tz)


def _unobserved(seconds: float) -> None:
    return None


class IngestStore(SpanWrites, AgentFacts, AppNameStore, Protocol):
    """What ingest writes: spans, what agents say of their computers, and what their
    desktops call their apps."""


class Ingest:
    def __init__(
        self,
        store: IngestStore,
        agents: Agents,
        *,
        pulsetime: float,
        clock: Callable[[], float],
        commit_seconds: Callable[[float], None] = _unobserved,
    ) -> None:
        self.store = store
        self.agents = agents
        self.pulsetime_ms = int(pulsetime * 1000)
        self.clock = clock
        # Plain counts, read by /metrics at scrape time (ops/counts.py): what a heartbeat
        # pays for metrics is one integer addition.
        self.heartbeats = 0
        self.spans_stored = 0
        self.spans_refused = 0
        # Each commit's time to durable, in seconds (ops/metrics.py's histogram).
        self.commit_seconds = commit_seconds
        # The app names this process stored (app -> name and a digest of its icon): every
        # connection sends its own, and most are the same, so only what is new or changed
        # is written.
        self.app_names_stored: dict[str, tuple[str, bytes | None]] = {}

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def connect(self, hello: Hello) -> AgentState:
        if not known_zone(hello.tz):
            raise ProtocolError(
                CloseCode.INVALID_MESSAGE,
                f"invalid message: unknown time zone {hello.tz!r} - at `$.tz` "
                "(use an IANA name such as 'Europe/Paris')",
            )
        info = AgentInfo(
            id=hello.agent_id,
            name=hello.name,
            host=hello.host,
            platform=hello.platform,
            version=hello.agent_version,
            tz=hello.tz,
            online=True,
            last_seen_ms=self._now_ms(),
        )
        now = info.last_seen_ms
        state = AgentState(
            info, await self.store.last_span(hello.agent_id), now, now, hello_tz=hello.tz
        )
        state.seq = await self.store.acked_seq(hello.agent_id)
        state.run = run_of(hello, now)
        if state.run is not None:
            await self.store.save_facts(hello.agent_id, [state.run])
        await self.agents.online(state)
        return state

    async def app_names(self, message: AppNames) -> list[str]:
        """Keep what an agent's desktop calls its apps, and their icons (the last reported
        wins). Returns why icons were refused (an icon that is no PNG: the name is kept)."""
        known = self.app_names_stored
        refused, new, seen = [], {}, {}
        for n in message.names:
            icon = n.icon
            if icon is not None and not icon.startswith(PNG_SIGNATURE):
                refused.append(f"the icon of {n.app!r} is not a PNG image; its name is kept")
                icon = None
            mark = (n.name, None if icon is None else hashlib.blake2b(icon).digest())
            if known.get(n.app) != mark:
                new[n.app], seen[n.app] = (n.name, icon), mark
        if new:
            await self.store.report_app_names(new)
            known.update(seen)
        return refused

    async def facts(self, state: AgentState, facts: Facts) -> list[str]:
        """Store what the agent saw of its computer; what was refused, in words."""
        rows, refused = facts_of(state.run, facts, self._now_ms())
        if state.run is not None:
            state.run = rows[-1]
        if rows:
            await self.store.save_facts(state.info.id, rows)
        return refused

    def beat(self, state: AgentState, heartbeat: Heartbeat) -> tuple[str | None, bool]:
        """Apply one heartbeat: why it was refused (or None), and whether what the agent
        shows changed, which the caller then shows (``Agents.show``). Not a coroutine, nor
        does it publish itself: it runs for nearly every message, and most change nothing
        shown."""
        self.heartbeats += 1
        now_ms = int(self.clock() * 1000)  # _now_ms(), without a call
        ts_ms = to_ms(heartbeat.ts)
        implausible = instant_refusal(ts_ms, now_ms)
        if implausible is not None:
            return f"heartbeat at {heartbeat.ts.isoformat()} refused: {implausible}", False
        previous = state.current
        if previous is not None and previous.tz is not None:
            # Nearly every heartbeat continues the agent's span, which is zoned already:
            # what merge() would do with it, with nothing made but the span extended.
            span = continued(previous, ts_ms, heartbeat.activity, self.pulsetime_ms)
            if span is not None:
                self.agents.seen(state, now_ms)
                if span is not previous:
                    self.store.save_span(state.info.id, span)
                    state.current = span
                return None, False
        result = merge(previous, ts_ms, heartbeat.activity, self.pulsetime_ms)
        if isinstance(result, Stale):
            return (
                f"heartbeat at {heartbeat.ts.isoformat()} is older than the current span, which "
                f"started at {iso_utc(result.current.start_ms)}"
            ), False
        self.agents.seen(state, now_ms)
        if not result.changed:
            return None, False
        # v1 heartbeats say nothing of zones: their spans are in the hello's zone.
        tz = state.hello_tz
        if result.closed is not None:
            self.store.save_span(state.info.id, _zoned(result.closed, tz))
        current = _zoned(result.current, tz)
        self.store.save_span(state.info.id, current)
        state.current = current
        started = previous is None or previous.start_ms != current.start_ms
        if started:
            self.spans_stored += 1  # a new span: extending one stores none
        return None, started or result.switched

    async def take_spans(
        self, state: AgentState, batch: Spans
    ) -> tuple[list[Span], int, list[Note]]:
        """The rows to commit for a batch, the sequence number they complete, and
        notes on spans that had to be clipped or were refused (core/plausible.py:
        what no agent can have seen). Sequence numbers already taken are skipped:
        that is what makes re-sending safe; a refused span's number is taken too, so
        the agent's journal moves on past it."""
        # Sequence numbers only have to grow: an agent's journal compacts spans it
        # has never sent, which leaves gaps.
        rows: dict[int, Span] = {}
        notes: list[Note] = []
        now_ms = self._now_ms()
        for offset, item in enumerate(batch.spans):
            seq = batch.first_seq + offset
            if seq <= state.seq:
                continue
            state.seq = seq
            tz = item.tz or state.hello_tz
            span = Span(to_ms(item.start), to_ms(item.end), item.activity, tz)
            implausible = span_refusal(span.start_ms, span.end_ms, now_ms)
            if implausible is not None:
                self.spans_refused += 1
                notes.append(
                    Note(
                        "span-refused",
                        f"span {seq} ({iso_utc(span.start_ms)} to {iso_utc(span.end_ms)}) "
                        f"refused: {implausible}",
                    )
                )
                continue
            if not known_zone(tz):
                notes.append(
                    Note(
                        "span-adjusted",
                        f"span {seq}: unknown time zone {tz!r}; counted in the connection's "
                        f"zone {state.hello_tz!r} (use an IANA name such as 'Europe/Paris')",
                    )
                )
                span = replace(span, tz=state.hello_tz)
            appended = append_span(state.current, span)
            if appended.upsert is not None:
                rows[appended.upsert.start_ms] = appended.upsert  # a later version wins
            if appended.note is not None:
                notes.append(Note("span-adjusted", f"span {seq}: {appended.note}"))
            state.current = appended.last
        newest = state.current.tz if state.current is not None else None
        if newest is not None and newest != state.info.tz:
            await self.agents.moved(state, newest)
        return list(rows.values()), state.seq, notes

    async def commit(self, state: AgentState, rows: list[Span], seq: int) -> None:
        """Store the rows ``take_spans`` gave, with the sequence number they complete, in one
        durable commit (the gateway acknowledges ``seq`` once it returns)."""
        started = time.perf_counter()
        await self.store.commit_spans(state.info.id, rows, seq)
        self.commit_seconds(time.perf_counter() - started)
        self.spans_stored += len(rows)

    async def presence(self, state: AgentState, presence: Presence) -> None:
        now_ms = self._now_ms()
        state.speaks_presence = True
        state.last_seen_ms = now_ms
        state.live = (
            Span(to_ms(presence.since), now_ms, presence.activity)
            if presence.activity is not None
            else None
        )
        state.reason = presence.reason if presence.activity is None else None
        await self.agents.show(state)

    async def disconnect(self, state: AgentState) -> None:
        now_ms = self._now_ms()
        await self.agents.offline(state, now_ms)
        if state.run is not None:
            # The run's end: until here it is known to have run. After the agent is shown
            # offline, which a failed write must not hold up.
            state.run = heard(state.run, now_ms)
            await self.store.save_facts(state.info.id, [state.run])
