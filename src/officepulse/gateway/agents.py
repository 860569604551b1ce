"""The one owner of agent state: connected, seen, blocked, removed.

Every path that changes what is known of an agent goes through ``Agents``: ingest (hello,
heartbeat, presence, goodbye), control (what team leads did: block, unblock, remove,
revoke), ActivityWatch's watchers and its importer. It alone saves an agent's row
(``save_agent``) and alone publishes its presence on the bus, so there is one place that
says an agent is online or offline: the place the scale-out gives leases to (a gateway
holds a lease on each agent between ``online`` and ``offline``; nobody else marks it).

Its interface, in three parts:

- agents connected here, through their ``AgentState``: ``online`` (hello), ``seen`` (a
  heartbeat: a plain method, no await, nothing allocated unless its row is due),
  ``show`` (what it shows moved), ``moved`` (its zone changed), ``let_go`` (blocked or
  removed while connected), ``offline`` (goodbye or connection lost);
- agents changed by team leads, in any process: ``changed`` (blocked, unblocked),
  ``removed``;
- agents with no connection (ActivityWatch): ``save`` and ``publish``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol

from officepulse.bus.base import Bus
from officepulse.bus.presence import PRESENCE_SUBJECT, AgentView, encode_view
from officepulse.core.spans import Span
from officepulse.store.agent_facts import Fact
from officepulse.store.base import AgentInfo, AgentStatus

# How often a connected agent's "last seen" is written while heartbeats flow;
# connect and disconnect are always written at once.
LAST_SEEN_EVERY_MS = 10_000

Gone = Literal["blocked", "removed"]


class AgentRows(Protocol):
    """The store as the owner uses it: agents' rows, queued (written in the store's next
    batch)."""

    def save_agent(self, agent: AgentInfo) -> None: ...


@dataclass
class AgentState:
    """One agent connected to this process: what is known of it, and what ingest keeps
    (its latest stored span, which a heartbeat or an equal span extends, and the highest
    journal sequence number taken, so a batch sent again is stored once)."""

    info: AgentInfo
    current: Span | None
    last_seen_ms: int = 0
    saved_seen_ms: int = 0
    seq: int = 0
    live: Span | None = None
    speaks_presence: bool = False
    # The zone the hello named: spans that name none were recorded in it. ``info.tz``
    # follows the newest span's zone (a traveller's current zone).
    hello_tz: str = "UTC"
    # Set when a team lead blocked or removed the agent while it was connected.
    gone: Gone | None = None
    # The agent process's run, as its hello and facts told (gateway/facts.py); None for
    # agents that predate run facts.
    run: Fact | None = None

    def seen_info(self) -> AgentInfo:
        return replace(self.info, last_seen_ms=self.last_seen_ms)


class Agents:
    """The owner of agent state (module docstring). ``bus`` is None in a process nobody
    watches (the CLI's importer): then nothing is published."""

    def __init__(self, store: AgentRows, bus: Bus | None) -> None:
        self._store = store
        self._bus = bus

    # -- agents connected here

    async def online(self, state: AgentState) -> None:
        """Its hello was taken: saved online and shown."""
        self._store.save_agent(state.info)
        await self.show(state)

    def seen(self, state: AgentState, now_ms: int) -> None:
        """Heard from it (a heartbeat). Its row is written at most every
        ``LAST_SEEN_EVERY_MS``: a plain call, as it runs for nearly every message."""
        state.last_seen_ms = now_ms
        if now_ms - state.saved_seen_ms >= LAST_SEEN_EVERY_MS:
            state.saved_seen_ms = now_ms
            self._store.save_agent(state.seen_info())

    async def show(self, state: AgentState) -> None:
        """Tell the dashboards what it shows now."""
        await self.publish(self.view(state))

    @staticmethod
    def view(state: AgentState) -> AgentView:
        """What the dashboards show of it: its presence if it sends any, else its latest
        span (also a panel's snapshot of the agents connected here)."""
        shown = state.live if state.speaks_presence else state.current
        return AgentView.of(
            state.seen_info(),
            shown,
            blocked=state.gone == "blocked",
            removed=state.gone == "removed",
            live=state.speaks_presence,
        )

    async def moved(self, state: AgentState, tz: str) -> None:
        """The computer is in another zone now: the agent list and dashboards show it."""
        state.info = replace(state.info, tz=tz)
        self._store.save_agent(state.seen_info())
        await self.show(state)

    def let_go(self, state: AgentState, gone: Gone) -> None:
        """A team lead blocked or removed it while it was connected here: ``offline``
        then shows it so, and does not write a removed agent's row back."""
        state.gone = gone

    async def offline(self, state: AgentState, now_ms: int) -> None:
        """Its connection ended."""
        state.last_seen_ms = now_ms
        state.info = replace(state.info, online=False)
        if state.gone != "removed":  # a removed agent's row must not come back
            self._store.save_agent(state.seen_info())
        await self.show(state)

    # -- agents changed by team leads (in this process or another)

    async def changed(self, status: AgentStatus) -> None:
        """Blocked or unblocked: shown as the store has it."""
        await self.publish(AgentView.of_status(status))

    async def removed(self, agent_id: str) -> None:
        """Removed: every dashboard drops it."""
        await self.publish(AgentView.gone(agent_id))

    # -- agents with no connection (ActivityWatch's watchers and importer)

    def save(self, info: AgentInfo) -> None:
        self._store.save_agent(info)

    async def publish(self, view: AgentView) -> None:
        if self._bus is not None:
            await self._bus.publish(PRESENCE_SUBJECT, encode_view(view))
