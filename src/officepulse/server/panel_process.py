"""A panel process (``officepulse panel``): pages, the REST API and the dashboards, on the
shared database, hearing presence from the gateways over NATS. It holds no agent: what a
team lead does to one (block, remove, revoke) goes to every gateway as a request
(bus/gateways.py), and to the dashboards through the owner of agent state's ``changed``
and ``removed`` (gateway/agents.py), which only publish here.

Its hub starts from the store and the gateways' snapshot (panel/snapshot.py), and takes
that snapshot again whenever the bus comes back after NATS went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiohttp import web

from officepulse.bus.gateways import Gateways
from officepulse.gateway.agents import Agents
from officepulse.gateway.control import AgentControl
from officepulse.panel.app import Panel
from officepulse.panel.snapshot import resync
from officepulse.security.access import AccessControl
from officepulse.server import wiring
from officepulse.server.leases import sweeper
from officepulse.server.retention import Retention
from officepulse.settings import ServerSettings
from officepulse.store.failures import FailureLog

log = logging.getLogger(__name__)


class PanelProcess(wiring.Wired):
    def __init__(self, settings: ServerSettings, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(settings, None, wiring.process_bus(settings, "panel"), "panel")
        self.gateways = Gateways(self.bus, time.monotonic)
        auth_mode = settings.agent_auth_mode()
        # Publishes only: the panel saves no agent's row.
        agents = Agents(self.store, self.bus)
        self.control = AgentControl(
            self.store,
            agents,
            self.gateways.disconnect,
            required=auth_mode == "required",
            clock=clock,
        )
        self.access = AccessControl(self.store, clock, metrics_token=settings.metrics_token)
        self.panel = Panel(
            settings,
            self.store,
            self.bus,
            self.access,
            auth_mode=auth_mode,
            agents_changed=self.control.poll,  # asks the gateways at once
            gateways=self.gateways,
            clock=clock,
            fanout_seconds=self.metrics.fanout_seconds.observe,
        )
        self.metrics.watch_panel(self.panel.dashboards.counts)
        self.retention = Retention(self.store, settings.retention_days, clock)
        self.retention.prune_also(self.store.prune_facts)  # honest gaps' facts
        self._retention_task: asyncio.Task[None] | None = None
        # Sweeps lapsed leases too: the agents of a dead gateway go offline even when
        # every gateway is dead (server/leases.py).
        self.sweeper = sweeper(self.store, agents, self.bus, clock)
        self._sweeper_task: asyncio.Task[None] | None = None
        self.resyncs = FailureLog("taking the gateways' snapshot", log)

    def app(self) -> web.Application:
        # A browser's unknown, refused or failed page is a page of the dashboard.
        app = self.application(self.panel.error_pages, self.access.middleware)
        app.router.add_routes(self.panel.routes())
        return app

    async def _startup(self, app: web.Application) -> None:
        await self.store.open()
        await self.bus.start()
        await self.gateways.start()
        await self.control.start()
        await self.panel.start()  # from the store; presence from here on reaches it
        self.bus.on_reconnected(self._resync)
        await self.resyncs.attempt(self.resync)
        if self.settings.retention_days:
            self._retention_task = asyncio.create_task(self.retention.run(), name="retention")
        if self.sweeper is not None:
            await self.sweeper.start()
            self._sweeper_task = asyncio.create_task(self.sweeper.run(), name="lease-sweeper")

    async def resync(self) -> None:
        live = [view for answer in await self.gateways.connections() for view in answer.agents]
        changed = await resync(self.panel.hub, await self.store.agents(), live)
        log.info(
            "presence from %d gateway(s), %d agent(s) connected; %d view(s) updated",
            len(self.gateways.known()),
            len(live),
            changed,
        )

    async def _resync(self) -> None:
        await self.resyncs.attempt(self.resync)

    async def announce(self, port: int) -> None:
        self.panel.announce()

    async def _shutdown(self, app: web.Application) -> None:
        await self.control.stop()
        if self.sweeper is not None:
            await self.sweeper.stop()
        for task in (self._retention_task, self._sweeper_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.panel.stop()
