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
from officepulse.bus.counted import CountedBus
from officepulse.bus.memory import MemoryBus
from officepulse.database_choice import command
from officepulse.gateway.admission import Admission
from officepulse.gateway.agents import Agents
from officepulse.gateway.control import AgentControl
from officepulse.gateway.gateway import Gateway
from officepulse.gateway.ingest import Ingest
from officepulse.ops.health import Health, running_check, store_check
from officepulse.ops.metrics import Metrics
from officepulse.ops.request_ids import request_ids
from officepulse.panel.app import Panel
from officepulse.panel.hub import Hub
from officepulse.security.access import AccessControl
from officepulse.security.guard import guard
from officepulse.security.hosts import HostRules, default_names
from officepulse.server.collector import tune_collector
from officepulse.server.fdlimit import fd_limit, raise_fd_limit, socket_cap
from officepulse.server.netnames import machine_names
from officepulse.server.proxies import TrustedProxies
from officepulse.server.retention import Retention
from officepulse.server.sockets import GatedSite, SocketGate, socket_of
from officepulse.settings import ServerSettings
from officepulse.store import store_from_url
from officepulse.store.base import Store

log = logging.getLogger(__name__)


class Server:
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
        self.settings = settings
        self.clock = clock
        self.store: Store = store if store is not None else store_from_url(settings.database)
        # Counted for /metrics, whichever bus it is (bus/counted.py).
        self.bus = CountedBus(bus if bus is not None else MemoryBus())
        # This process's own metrics registry (ops/metrics.py); each part counts its own.
        self.metrics = Metrics("server")
        # The one owner of agent state: every path that saves an agent or publishes its
        # presence (ingest, control, the ActivityWatch API) goes through it.
        self.agents = Agents(self.store, self.bus)
        self.ingest = Ingest(
            self.store,
            self.agents,
            pulsetime=settings.pulsetime,
            clock=clock,
            commit_seconds=self.metrics.commit_seconds.observe,
        )
        self.auth_mode = settings.agent_auth_mode()
        self.admission = Admission(
            self.store,
            required=self.auth_mode == "required",
            clock=clock,
            latest_version=settings.agent_latest_version,
            min_version=settings.agent_min_version,
            download_url=settings.agent_download_url,
        )
        self.gateway = Gateway(settings, self.ingest, self.admission, socket_of=socket_of)
        self.control = AgentControl(
            self.store,
            self.gateway,
            self.agents,
            required=self.auth_mode == "required",
            clock=clock,
        )
        self.access = AccessControl(self.store, clock, metrics_token=settings.metrics_token)
        self.panel = Panel(
            settings,
            self.store,
            self.bus,
            self.access,
            auth_mode=self.auth_mode,
            agents_changed=self.control.poll,  # this process acts at once; others poll
            clock=clock,
            fanout_seconds=self.metrics.fanout_seconds.observe,
        )
        self.metrics.watch_gateway(self.gateway.counts)
        self.metrics.watch_panel(self.panel.dashboards.counts)
        self.metrics.watch_bus(self.bus.counts)
        self.health = Health(
            {
                "store": store_check(self.store.schema_version),
                "bus": running_check("bus", lambda: self.bus.running),
            }
        )
        self.retention = Retention(self.store, settings.retention_days, clock)
        self.activitywatch = AwApi(
            self.store,
            self.agents,
            self.retention,
            view=self.panel.hub.view,
            clock=clock,
            read_only=self.auth_mode == "required",
        )
        self._retention_task: asyncio.Task[None] | None = None
        names = settings.allowed_hosts
        self.hosts = HostRules.of(
            names if names is not None else default_names(settings.host, machine_names())
        )
        self.sockets = SocketGate(
            settings.max_sockets or socket_cap(fd_limit()),
            TrustedProxies.of(settings.trusted_proxies or ()),
            made_within=settings.header_timeout + 1,  # the TLS handshake's timeout, and some
        )

    @property
    def hub(self) -> Hub:
        """The agents as the dashboards see them now."""
        return self.panel.hub

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def app(self) -> web.Application:
        # Every request passes the Host/Origin guard, then the access control
        # (security/access.py: its route table); behind trusted proxies it is first given
        # its real client, which per-IP limits, the loopback check and logs see.
        # Each request gets its id for the logs first (ops/request_ids.py). A browser's
        # unknown, refused or failed page is a page of the dashboard (panel/pages/errors.py).
        middlewares = [
            request_ids,
            guard(self.hosts),
            self.panel.error_pages,
            self.access.middleware,
        ]
        if self.sockets.trusted:
            middlewares.insert(0, self.sockets.middleware())
        app = web.Application(middlewares=middlewares)
        app.router.add_get("/agent", self.gateway.handle)
        app.router.add_routes(self.panel.routes())
        app.router.add_routes([*self.health.routes(), *self.metrics.routes()])
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._shutdown)
        app.on_cleanup.append(self._cleanup)
        self.activitywatch.add_routes(app)  # after _startup: its start-up needs the store
        app.on_startup.append(self._start_retention)  # last: the AW tables prune too
        return app

    async def _startup(self, app: web.Application) -> None:
        await self.store.open()
        # No agent is connected to a server that is only now starting.
        await self.store.mark_all_offline()
        await self.bus.start()
        # Events from here on are acted on; the hub starts from the state after them.
        await self.control.start()
        await self.panel.start()

    async def announce(self, port: int) -> None:
        """What a person starting the server must know, once it listens on ``port`` (said
        only then: a server that could not listen has no one to warn about)."""
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
        self.health.stopping = True
        await self.control.stop()
        if self._retention_task is not None:
            self._retention_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention_task
        await self.gateway.close_all()
        await self.panel.stop()

    async def _cleanup(self, app: web.Application) -> None:
        await self.bus.close()
        await self.store.close()


async def serve(
    settings: ServerSettings,
    *,
    ready: Callable[[str], None] | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Run until cancelled. ``ready`` gets the URL once the port is bound; with
    ``tls`` it serves https and wss."""
    limit = raise_fd_limit()
    tune_collector()
    server = Server(settings)
    # aiohttp closes a connection with no complete request head within keepalive_timeout
    # of its opening or of the last answer: the header timeout (server/sockets.py).
    runner = web.AppRunner(server.app(), access_log=None, keepalive_timeout=settings.header_timeout)
    await runner.setup()
    assert runner.server is not None
    site = GatedSite(
        runner,
        server.sockets.factory(runner.server, tls=tls is not None),
        settings.host,
        settings.port,
        ssl_context=tls,
        handshake_timeout=settings.header_timeout,
    )
    try:
        await site.start()
    except OSError:
        await runner.cleanup()  # closes the store; the caller says why it could not listen
        raise
    port = runner.addresses[0][1] if runner.addresses else settings.port
    host = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0", "::") else settings.host
    url = f"{'https' if tls is not None else 'http'}://{host}:{port}"
    # Said once the port is bound, so that a busy port is all a person sees (cli.py).
    cap = server.sockets.max_sockets
    log.info("serving at most %d sockets at once (file descriptor limit: %s)", cap, limit)
    if limit is not None and cap > socket_cap(limit):
        log.warning(
            "max_sockets %d leaves less than a tenth of the file descriptor limit %d for the "
            "database and logs: connections may fail with 'Too many open files' first",
            cap,
            limit,
        )
    await server.announce(port)
    if ready is not None:
        ready(url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
