"""The server process: wires store, bus, the gateway (ingest, admission, control) and
the panel (panel/app.py) into one aiohttp application, and serves it.

In embedded mode one process runs all of it: the gateway for agents (/agent)
and the panel for people (pages, /browser, /api/v1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable

from aiohttp import web

from officepulse.activitywatch.http import AwApi
from officepulse.bus.base import Bus
from officepulse.bus.gateways import Gateways
from officepulse.bus.memory import MemoryBus
from officepulse.database_choice import command
from officepulse.gateway.parts import GatewayParts
from officepulse.panel.app import Panel
from officepulse.panel.hub import Hub
from officepulse.security.access import AccessControl
from officepulse.server import wiring
from officepulse.server.retention import Retention
from officepulse.server.sockets import socket_of
from officepulse.settings import ServerSettings
from officepulse.store.base import Store

log = logging.getLogger(__name__)


class Server(wiring.Wired):
    """One process: the gateway for agents (/agent) and the panel for people, on one
    store and one bus, behind the same Host/Origin guard, access control and socket
    gate; the ActivityWatch API (/api/0/) and retention beside them."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        store: Store | None = None,
        bus: Bus | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, store, bus if bus is not None else MemoryBus(), "server")
        self.clock = clock
        self.parts = GatewayParts(
            settings,
            self.store,
            self.bus,
            gateway_id=settings.gateway_id or "embedded",
            clock=clock,
            socket_of=socket_of,
            commit_seconds=self.metrics.commit_seconds.observe,
        )
        self.agents = self.parts.agents
        self.ingest = self.parts.ingest
        self.auth_mode = self.parts.auth_mode
        self.admission = self.parts.admission
        self.gateway = self.parts.gateway
        self.control = self.parts.control
        self.access = AccessControl(self.store, clock, metrics_token=settings.metrics_token)
        # The panel's view of the fleet: this process's one gateway, over the in-process bus.
        self.gateways = Gateways(self.bus, time.monotonic)
        self.panel = Panel(
            settings,
            self.store,
            self.bus,
            self.access,
            auth_mode=self.auth_mode,
            agents_changed=self.control.poll,  # this process acts at once; others poll
            gateways=self.gateways,
            clock=clock,
            fanout_seconds=self.metrics.fanout_seconds.observe,
        )
        self.metrics.watch_gateway(self.gateway.counts)
        self.metrics.watch_panel(self.panel.dashboards.counts)
        self.retention = Retention(self.store, settings.retention_days, clock)
        self.retention.prune_also(self.store.prune_facts)  # honest gaps' facts
        self.activitywatch = AwApi(
            self.store,
            self.agents,
            self.retention,
            view=self.panel.hub.view,
            clock=clock,
            read_only=self.auth_mode == "required",
        )
        self._retention_task: asyncio.Task[None] | None = None

    @property
    def hub(self) -> Hub:
        """The agents as the dashboards see them now."""
        return self.panel.hub

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def app(self) -> web.Application:
        # The access control: security/access.py, its route table. A browser's unknown,
        # refused or failed page is a page of the dashboard (panel/pages/errors.py): that
        # middleware sits outside the access control's.
        app = self.application(self.panel.error_pages, self.access.middleware)
        app.router.add_get("/agent", self.gateway.handle)
        app.router.add_routes(self.panel.routes())
        self.activitywatch.add_routes(app)  # after _startup: its start-up needs the store
        app.on_startup.append(self._start_retention)  # last: the AW tables prune too
        return app

    async def _startup(self, app: web.Application) -> None:
        await self.store.open()
        # No agent is connected to a server that is only now starting.
        await self.store.mark_all_offline()
        await self.bus.start()
        # Events from here on are acted on; the hub starts from the state after them.
        await self.parts.start()
        await self.gateways.start()  # its roll call: the gateway above says it is here
        await self.panel.start()

    async def announce(self, port: int) -> None:
        """What a person starting the server must know, once it listens on ``port`` (said
        only then: a server that could not listen has no one to warn about)."""
        await self.parts.service.listening(f"{self.settings.host}:{port}")
        self.panel.announce()
        if self.auth_mode == "open":
            log.warning(
                "agent_auth is open: anyone who can reach %s:%d can connect an agent without "
                "a credential, and the dashboard is open to all; set agent_auth = required "
                "and enroll agents (%s) before listening beyond this computer",
                self.settings.host,
                port,
                command("tokens create", self.settings.database),
            )
        if await self.access.locked():
            log.info("people have accounts: sign-in is required for the dashboard and API")
        else:
            log.warning(
                "open mode: no person accounts exist, so anyone who can reach this server "
                "sees the office without signing in; create the first admin with `%s`",
                command("admin create --login NAME", self.settings.database),
            )

    async def _start_retention(self, app: web.Application) -> None:
        if self.settings.retention_days:
            self._retention_task = asyncio.create_task(self.retention.run(), name="retention")

    async def _shutdown(self, app: web.Application) -> None:
        if self._retention_task is not None:
            self._retention_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention_task
        await self.parts.stop()
        await self.panel.stop()


async def serve(
    settings: ServerSettings,
    *,
    ready: Callable[[str], None] | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Run the embedded server until cancelled. ``ready`` gets the URL once the port is
    bound; with ``tls`` it serves https and wss."""
    await wiring.serve(settings, Server, ready=ready, tls=tls)
