"""A gateway process (``officepulse gateway``): agents' websockets (/agent), their
admission and limits, ingest into the shared database, and their presence published on
NATS for the panels. It answers the panels' requests (gateway/service.py) and polls the
database for what the CLI changed (gateway/control.py), like the embedded server.

Several run at once on one database: a gateway starting does not mark every agent
offline as the embedded server does, since most are connected to the other gateways.
Instead it holds a lease of its own, renewed while it runs, which each agent's row
connected here names, and sweeps the agents of the leases other gateways stopped
renewing (server/leases.py); and an agent's hello here ends its session on any other
gateway (gateway/sessions.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiohttp import web

from officepulse import logcontext
from officepulse.bus.base import Bus
from officepulse.gateway.parts import GatewayParts
from officepulse.gateway.sessions import Sessions
from officepulse.server import wiring
from officepulse.server.leases import renewals, sweeper
from officepulse.server.sockets import socket_of
from officepulse.settings import ServerSettings
from officepulse.store.base import Store

log = logging.getLogger(__name__)


class GatewayProcess(wiring.Wired):
    def __init__(
        self,
        settings: ServerSettings,
        *,
        store: Store | None = None,
        bus: Bus | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = settings.gateway_id or wiring.default_gateway_id()
        # Set before the site listens, so every connection's task inherits it: each log
        # line names this gateway (logjson.py).
        logcontext.gateway_id.set(self.id)
        if bus is None:
            bus = wiring.process_bus(settings, f"gateway {self.id}")
        super().__init__(settings, store, bus, "gateway")
        self.parts = GatewayParts(
            settings,
            self.store,
            self.bus,
            gateway_id=self.id,
            clock=clock,
            socket_of=socket_of,
            commit_seconds=self.metrics.commit_seconds.observe,
        )
        self.metrics.watch_gateway(self.parts.gateway.counts)
        self.sessions = Sessions(self.id, self.bus, self.parts.gateway, clock)
        self.renewals = renewals(self.store, self.id, self.parts.gateway, self.parts.agents, clock)
        self.sweeper = sweeper(
            self.store, self.parts.agents, self.bus, clock, self.parts.gateway.held_ids
        )
        self._tasks: list[asyncio.Task[None]] = []

    def app(self) -> web.Application:
        # No access control: /agent is the only route, and agents are admitted by their
        # credential (gateway/admission.py).
        app = self.application()
        app.router.add_get("/agent", self.parts.gateway.handle)
        return app

    async def _startup(self, app: web.Application) -> None:
        await self.store.open()
        await self.bus.start()
        await self.parts.start()
        await self.sessions.start()
        if self.renewals is not None:
            # Before it listens: the hellos' rows name the lease.
            await self.renewals.start()
            self._tasks.append(asyncio.create_task(self.renewals.run(), name="lease-renewals"))
        if self.sweeper is not None:
            await self.sweeper.start()
            self._tasks.append(asyncio.create_task(self.sweeper.run(), name="lease-sweeper"))

    async def announce(self, port: int) -> None:
        await self.parts.service.listening(f"{self.settings.host}:{port}")
        log.info("gateway %s serving agents on port %d", self.id, port)

    async def _shutdown(self, app: web.Application) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.sessions.stop()
        if self.sweeper is not None:
            await self.sweeper.stop()
        await self.parts.stop()
