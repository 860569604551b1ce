"""Acting on what team leads do to agents, whichever process did it.

The CLI (another process) and the dashboard (any server process) change agents in the
shared database, and each change leaves an AgentEvent. Every server process polls for
new events every ``interval`` seconds (one indexed query that finds nothing, almost
always) and acts on those that concern it: a blocked or removed agent connected here is
disconnected with the reason; every change goes to the owner of agent state (agents.py),
which publishes it on the bus, so every dashboard of this process drops (or shows again)
the agent. So a block takes effect within
``interval`` plus a round trip, with one server process or several.

Where the agents are depends on the process: in the embedded server and in a gateway they
are disconnected here (``LocalDisconnect``); a panel has none and asks every gateway over
the bus (bus/gateways.py) at once, instead of waiting for their next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from officepulse.bus.gateways import Disconnect
from officepulse.gateway.admission import agent_blocked, agent_removed, credential_revoked
from officepulse.gateway.agents import Agents
from officepulse.gateway.gateway import Gateway
from officepulse.store.agents import AgentRecords
from officepulse.store.base import AgentEvent
from officepulse.store.failures import FailureLog

log = logging.getLogger(__name__)

# Disconnects an agent wherever this process reaches it; how many connections it closed.
Disconnector = Callable[[Disconnect], Awaitable[int]]


class LocalDisconnect:
    """Disconnects agents connected to this process's gateway, telling each why."""

    def __init__(self, store: AgentRecords, gateway: Gateway, clock: Callable[[], float]) -> None:
        self.store = store
        self.gateway = gateway
        self.clock = clock

    async def __call__(self, order: Disconnect) -> int:
        agent_id = order.agent_id
        if order.action == "remove":
            if not await self.gateway.kick(agent_id, agent_removed(), "removed"):
                return 0
            # What it wrote between the removal and its disconnection goes too.
            await self.store.flush()
            await self.store.remove_agent(agent_id, order.erase, int(self.clock() * 1000))
            return 1
        if order.action == "block":
            status = await self.store.agent(agent_id)
            if status is None or status.blocked is None:
                return 0  # unblocked (or removed) since
            return int(await self.gateway.kick(agent_id, agent_blocked(status.blocked), "blocked"))
        return int(await self.gateway.kick(agent_id, credential_revoked(), None))


class AgentControl:
    def __init__(
        self,
        store: AgentRecords,
        agents: Agents,
        disconnect: Disconnector,
        *,
        required: bool,
        clock: Callable[[], float],
        interval: float = 0.5,
    ) -> None:
        self.store = store
        self.disconnect = disconnect
        self.agents = agents
        self.required = required
        self.clock = clock
        self.interval = interval
        self.seen = 0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.failures = FailureLog("checking for changes to agents", log)

    async def start(self) -> None:
        """From now on; earlier events are in the state the server starts from."""
        events = await self.store.agent_events(0)
        self.seen = events[-1].seq if events else 0
        self._task = asyncio.create_task(self._run(), name="agent-control")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            # A database hiccup must not end the watching; the next poll tries again, and
            # a failing store is said once, not every half second.
            await self.failures.attempt(self.poll)

    async def poll(self) -> None:
        """Act on every event not yet seen (the dashboard calls this right after a change,
        so that its own process does not wait for the next tick)."""
        async with self._lock:
            for event in await self.store.agent_events(self.seen):
                await self._apply(event)
                self.seen = event.seq

    async def _apply(self, event: AgentEvent) -> None:
        agent_id = event.agent_id
        status = await self.store.agent(agent_id)
        if status is None:
            erase = event.kind == "erase"
            await self.disconnect(Disconnect(agent_id=agent_id, action="remove", erase=erase))
            await self.agents.removed(agent_id)
        elif status.blocked is not None:
            await self.disconnect(Disconnect(agent_id=agent_id, action="block"))
            await self.agents.changed(status)
        elif event.kind == "unblock":
            await self.agents.changed(status)
        elif event.kind == "revoke" and self.required:
            await self.disconnect(Disconnect(agent_id=agent_id, action="revoke"))
