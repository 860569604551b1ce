"""The one owner of agent state: connected, seen, blocked, removed.

Every path that changes what is known of an agent goes through ``Agents``: ingest (hello,
heartbeat, presence, goodbye), control (what team leads did: block, unblock, remove,
revoke), ActivityWatch's watchers and its importer. It alone saves an agent's row
(``save_agent``) and alone publishes its presence on the bus, so there is one place that
says an agent is online or offline. Scaled out, a gateway process holds a lease of its
own (server/leases.py), renewed while it runs; the row of each agent connected to it
names that lease, written by the store with every write of the row online (``online``,
``seen``, ``renew``), so its "last seen" (``last_seen_ms``) stays what it says: when it
was last heard from, not when its lease was renewed. The agents of a lease not renewed
for ``LEASE_SECONDS`` (its gateway died) are taken by whichever process sweeps first
(server/leases.py), in one conditional UPDATE, and ``expired`` shows them offline;
nobody else marks an agent offline.

Its interface, in three parts:

- agents connected here, through their ``AgentState``: ``online`` (hello), ``seen`` (a
  heartbeat: a plain method, no await, nothing allocated unless its row is due),
  ``show`` (what it shows moved), ``moved`` (its zone changed), ``let_go`` (blocked or
  removed while connected, or connected to another gateway since), ``renew`` (written
  online again, under this gateway's lease), ``offline`` (goodbye or connection lost);
- agents changed by team leads, in any process: ``changed`` (blocked, unblocked),
  ``removed``;
- agents whose gateway died: ``expired``;
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

# A gateway renews its lease this often; a lease not renewed for LEASE_SECONDS has
# lapsed. The margin between the two (7 s) is what one renewal, a statement of one row on
# a connection of its own, may lag on a loaded machine before its agents are wrongly
# swept; an agent of a dead gateway is offline at most LEASE_SECONDS + the sweep's period
# (server/leases.py) after the gateway's last renewal: 12 s, inside issue 12's 15 s.
LEASE_RENEW_EVERY = 3.0
LEASE_SECONDS = 10.0

# "elsewhere": the agent connected to another gateway since (single session across
# gateways, gateway/sessions.py): its row and presence are that gateway's now.
Gone = Literal["blocked", "removed", "elsewhere"]


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
    # With nothing to show (``live`` None): why, as its presence said.
    reason: str | None = None
    # The zone the hello named: spans that name none were recorded in it. ``info.tz``
    # follows the newest span's zone (a traveller's current zone).
    hello_tz: str = "UTC"
    # Set when a team lead blocked or removed the agent while it was connected, or when
    # it connected to another gateway since.
    gone: Gone | None = None
    # The agent process's run, as its hello and facts told (gateway/facts.py); None for
    # agents that predate run facts.
    run: Fact | None = None
    # When its session here began (wall clock, ms), once claimed across gateways
    # (gateway/sessions.py); 0 when nobody claims (the embedded server, takeover: false).
    began_ms: int = 0

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
            reason=state.reason if state.speaks_presence else None,
        )

    async def moved(self, state: AgentState, tz: str) -> None:
        """The computer is in another zone now: the agent list and dashboards show it."""
        state.info = replace(state.info, tz=tz)
        self._store.save_agent(state.seen_info())
        await self.show(state)

    def let_go(self, state: AgentState, gone: Gone) -> None:
        """A team lead blocked or removed it while it was connected here: ``offline``
        then shows it so, and does not write a removed agent's row back. Connected to
        another gateway since: ``offline`` neither writes nor shows anything."""
        state.gone = gone

    def renew(self, state: AgentState, now_ms: int) -> None:
        """Its connection is alive (the gateway's pings are answered) but its row may say
        offline: a sweep took it while this gateway's lease was late (server/leases.py).
        A plain call: its whole row, online, queued in the store's next batch, which
        names this gateway's lease now."""
        state.last_seen_ms = state.saved_seen_ms = now_ms
        self._store.save_agent(state.seen_info())

    async def offline(self, state: AgentState, now_ms: int) -> None:
        """Its connection ended."""
        if state.gone == "elsewhere":
            return  # the gateway it connected to since has its row and its presence
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

    # -- agents whose gateway died

    async def expired(self, statuses: list[AgentStatus]) -> None:
        """Their leases lapsed and the store marked them offline (server/leases.py):
        every dashboard shows them as the store has them now."""
        for status in statuses:
            await self.changed(status)

    # -- agents with no connection (ActivityWatch's watchers and importer)

    def save(self, info: AgentInfo) -> None:
        self._store.save_agent(info)

    async def publish(self, view: AgentView) -> None:
        if self._bus is not None:
            await self._bus.publish(PRESENCE_SUBJECT, encode_view(view))
