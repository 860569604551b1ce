"""What every kind of server process shares: the Host/Origin rules, the socket gate, the
middlewares, its bus, and serving an application until cancelled. The processes are
server/app.py (embedded: everything in one), server/gateway_process.py and
server/panel_process.py (scaled out).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from officepulse.bus.base import Bus
from officepulse.bus.counted import CountedBus
from officepulse.bus.memory import MemoryBus
from officepulse.ops.health import Health, running_check, store_check
from officepulse.ops.metrics import Metrics
from officepulse.ops.request_ids import request_ids
from officepulse.security.access import metrics_refusal
from officepulse.security.guard import guard
from officepulse.security.hosts import HostRules, default_names
from officepulse.server.collector import tune_collector
from officepulse.server.fdlimit import fd_limit, raise_fd_limit, socket_cap
from officepulse.server.netnames import machine_names
from officepulse.server.proxies import TrustedProxies
from officepulse.server.sockets import GatedSite, SocketGate
from officepulse.settings import ServerSettings
from officepulse.store import store_from_url
from officepulse.store.base import Store

log = logging.getLogger(__name__)


class Wired:
    """What every server process holds: its settings, store and bus (counted), the
    Host/Origin rules and the socket gate, its metrics (ops/metrics.py) and health
    (ops/health.py); and its application's life: ``_startup``, ``_shutdown`` (each
    process's own) and ``_cleanup`` (the bus, then the store, closed)."""

    def __init__(
        self, settings: ServerSettings, store: Store | None, bus: Bus, process: str
    ) -> None:
        self.settings = settings
        self.store: Store = (
            store
            if store is not None
            else store_from_url(settings.database, connect_timeout=settings.database_timeout)
        )
        # Counted for /metrics, whichever bus it is (bus/counted.py).
        self.bus = CountedBus(bus)
        # This process's own metrics registry; each part hands over its own counts.
        self.metrics = Metrics(process)
        self.metrics.watch_bus(self.bus.counts)
        self.health = Health(
            {
                "store": store_check(self.store.schema_version),
                "bus": running_check("bus", lambda: self.bus.connected),
            }
        )
        self.hosts = host_rules(settings)
        self.sockets = socket_gate(settings)

    def application(self, *after: Middleware) -> web.Application:
        """An application behind ``middlewares`` (``after``: the access control; without
        one, /metrics keeps its own rule), with /healthz, /readyz and /metrics and its
        life hooks set; the caller adds its other routes."""
        guards = after or (metrics_only(self.settings.metrics_token),)
        app = web.Application(middlewares=middlewares(self.hosts, self.sockets, *guards))
        app.router.add_routes([*self.health.routes(), *self.metrics.routes()])
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._stopping)
        app.on_shutdown.append(self._shutdown)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _stopping(self, app: web.Application) -> None:
        self.health.stopping = True  # /readyz says so while the process winds down

    async def _startup(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _shutdown(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _cleanup(self, app: web.Application) -> None:
        await self.bus.close()
        await self.store.close()


class Served(Protocol):
    """A server process's wiring, as ``serve`` runs it."""

    @property
    def sockets(self) -> SocketGate: ...

    def app(self) -> web.Application: ...

    async def announce(self, port: int) -> None: ...


def host_rules(settings: ServerSettings) -> HostRules:
    names = settings.allowed_hosts
    return HostRules.of(
        names if names is not None else default_names(settings.host, machine_names())
    )


def socket_gate(settings: ServerSettings) -> SocketGate:
    return SocketGate(
        settings.max_sockets or socket_cap(fd_limit()),
        TrustedProxies.of(settings.trusted_proxies or ()),
        made_within=settings.header_timeout + 1,  # the TLS handshake's timeout, and some
    )


def middlewares(hosts: HostRules, sockets: SocketGate, *after: Middleware) -> list[Middleware]:
    """Every request passes the Host/Origin guard, then ``after`` (the access control);
    behind trusted proxies it is first given its real client, which per-IP limits, the
    loopback check and logs see."""
    # Each request gets its id for the logs first (ops/request_ids.py).
    chain: list[Middleware] = [request_ids, guard(hosts), *after]
    if sockets.trusted:
        chain.insert(0, sockets.middleware())
    return chain


def metrics_only(token: str | None) -> Middleware:
    """For a process without the access control (a gateway serves only /agent, whose
    agents are admitted by their credential): /metrics by the same rule as elsewhere
    (security/access.py, ``metrics_refusal``)."""

    @web.middleware
    async def check(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path == "/metrics":
            denied = metrics_refusal(request, token)
            if denied is not None:
                return denied
        return await handler(request)

    return check


def process_bus(settings: ServerSettings, name: str) -> Bus:
    """NATS when ``nats_url`` is set, else the in-process bus."""
    if settings.nats_url is None:
        return MemoryBus()
    from officepulse.bus.nats_bus import NatsBus  # nats-py: officepulse[scaleout]

    return NatsBus(settings.nats_url, name=name)


def default_gateway_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"[:64]


async def serve(
    settings: ServerSettings,
    make: Callable[[ServerSettings], Served],
    *,
    ready: Callable[[str], None] | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Run ``make(settings)`` until cancelled. ``ready`` gets the URL once the port is
    bound; with ``tls`` it serves https and wss."""
    limit = raise_fd_limit()
    tune_collector()
    server = make(settings)
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
