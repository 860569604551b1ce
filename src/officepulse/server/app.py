"""The server application: wires store, bus, ingest, hub and the web routes.

In embedded mode one process runs all of it: the gateway for agents (/agent)
and the panel for people (pages, /browser, /api/v1).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from aiohttp import WSMsgType, web

from officepulse.bus.base import Bus
from officepulse.bus.memory import MemoryBus
from officepulse.core.periods import RANGES, period
from officepulse.server import api, aw_compat
from officepulse.server.admin import add_routes as add_admin_routes
from officepulse.server.admission import Admission
from officepulse.server.assets import VENDOR_FILES, find_node_modules
from officepulse.server.control import AgentControl
from officepulse.server.gateway import Gateway
from officepulse.server.hub import Hub
from officepulse.server.ingest import Ingest
from officepulse.server.presence import PRESENCE_SUBJECT, AgentView
from officepulse.server.views import Views, usage_by_person
from officepulse.settings import ServerSettings
from officepulse.store import is_postgres, store_from_url
from officepulse.store.base import Store

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
UTC_ZONE = ZoneInfo("UTC")

_json = msgspec.json.Encoder()


def json_response(body: msgspec.Struct | dict[str, object], status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(body), status=status, content_type="application/json")


def csv_response(text: str, name: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="officepulse-{name}.csv"'},
    )


def bad_request(message: str) -> web.Response:
    return json_response(api.ErrorOut(error=message), status=400)


class Server:
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
        self.bus: Bus = bus if bus is not None else MemoryBus()
        self.node_modules = find_node_modules(settings.assets_dir)
        self.views = Views(assets_ok=self.node_modules is not None)
        self.ingest = Ingest(self.store, self.bus, pulsetime=settings.pulsetime, clock=clock)
        self.auth_mode = settings.agent_auth_mode()
        self.admission = Admission(self.store, required=self.auth_mode == "required", clock=clock)
        self.gateway = Gateway(settings, self.ingest, self.admission)
        self.control = AgentControl(
            self.store, self.gateway, self.bus, required=self.auth_mode == "required", clock=clock
        )
        self.hub = Hub(
            lambda view: self.views.person(view, self.now_ms(), UTC_ZONE),
            self.views.count,
            settings.browser_send_timeout,
        )
        self._browser_tasks: set[asyncio.Task[bool]] = set()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.office)
        app.router.add_get("/time", self.time_page)
        app.router.add_get("/time/usage", self.time_usage)
        app.router.add_get("/agent", self.gateway.handle)
        app.router.add_get("/browser", self.browser)
        app.router.add_get("/api/v1/agents", self.api_agents)
        app.router.add_get("/api/v1/usage", self.api_usage)
        app.router.add_get("/api/v1/spans", self.api_spans)
        app.router.add_get("/api/v1/openapi.json", self.api_openapi)
        app.router.add_get("/static/vendor/{name}", self.vendor)
        app.router.add_static("/static/", STATIC)
        add_admin_routes(app, self)
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._shutdown)
        app.on_cleanup.append(self._cleanup)
        if not is_postgres(self.settings.database):
            # The ActivityWatch API keeps its tables in SQLite only, for now.
            aw_compat.add_routes(app, self)  # after _startup: its start-up needs the store
        return app

    async def _startup(self, app: web.Application) -> None:
        if self.node_modules is None:
            log.warning(
                "htmx is not installed, so dashboards cannot update live: run `make setup` "
                "(npm ci) or set OFFICEPULSE_ASSETS_DIR to the folder holding node_modules"
            )
        if self.auth_mode == "open":
            log.warning(
                "agent_auth is open: anyone who can reach %s:%d can connect an agent without "
                "a credential, and the dashboard is open to all; set agent_auth = required "
                "and enroll agents (officepulse tokens create) before listening beyond "
                "this computer",
                self.settings.host,
                self.settings.port,
            )
        await self.store.open()
        # No agent is connected to a server that is only now starting.
        await self.store.mark_all_offline()
        await self.bus.start()
        # Events from here on are acted on; the hub starts from the state after them.
        await self.control.start()
        self.hub.seed([AgentView.of_status(s) for s in await self.store.agents()])
        await self.bus.subscribe(PRESENCE_SUBJECT, self.hub.on_presence)

    async def _shutdown(self, app: web.Application) -> None:
        await self.control.stop()
        await self.gateway.close_all()
        for queue in list(self.hub.browsers):
            self.hub.detach(queue)

    async def _cleanup(self, app: web.Application) -> None:
        await self.bus.close()
        await self.store.close()

    # -- pages -------------------------------------------------------------------

    async def office(self, request: web.Request) -> web.Response:
        views = list(self.hub.views.values())
        html = self.views.office_page(views, self.now_ms(), UTC_ZONE)
        return web.Response(text=html, content_type="text/html")

    async def time_page(self, request: web.Request) -> web.Response:
        return web.Response(text=self.views.time_page(), content_type="text/html")

    async def time_usage(self, request: web.Request) -> web.Response:
        range_name = request.query.get("range", "today")
        if range_name not in RANGES:
            return web.Response(status=400, text=f"unknown range {range_name!r}")
        tz = request.query.get("tz", "UTC")
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            return web.Response(status=400, text=f"unknown time zone {tz!r}")
        now = datetime.fromtimestamp(self.clock(), UTC)
        span = period(range_name, now, zone)
        rows = await self.store.usage(span.start_ms, span.end_ms, ["agent", "app"])
        people = usage_by_person(rows, await self.store.agents())
        html = self.views.usage(people, span, range_name, tz)
        return web.Response(text=html, content_type="text/html")

    async def vendor(self, request: web.Request) -> web.StreamResponse:
        rel = VENDOR_FILES.get(request.match_info["name"])
        if rel is None or self.node_modules is None:
            raise web.HTTPNotFound(text="not installed: run `make setup`")
        return web.FileResponse(self.node_modules / rel)

    # -- dashboards ----------------------------------------------------------------

    async def browser(self, request: web.Request) -> web.StreamResponse:
        # No permessage-deflate: it would be paid once per dashboard for every change.
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096, compress=False)
        await ws.prepare(request)
        queue = self.hub.attach(ws.send_str)
        views = list(self.hub.views.values())  # the same instant as attach(): nothing missed
        try:
            await ws.send_str(
                self.views.people(views, self.now_ms(), UTC_ZONE) + self.views.count(views)
            )
            sender = asyncio.create_task(queue.run())
            self._browser_tasks.add(sender)
            sender.add_done_callback(self._browser_tasks.discard)
            reader = asyncio.create_task(self._drain(ws))
            done, pending = await asyncio.wait(
                {sender, reader}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if sender in done and sender.result() and request.transport is not None:
                # Its socket is full, so a polite close would wait behind the backlog.
                request.transport.abort()
        finally:
            self.hub.detach(queue)
            if not ws.closed:
                await ws.close()
        return ws

    @staticmethod
    async def _drain(ws: web.WebSocketResponse) -> None:
        # Dashboards only listen; reading is how a close is noticed.
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break

    # -- API -------------------------------------------------------------------------

    async def api_agents(self, request: web.Request) -> web.Response:
        statuses = await self.store.agents()
        live = self.hub.views
        agents = [api.agent_out(live.get(s.info.id) or AgentView.of_status(s)) for s in statuses]
        return json_response(api.AgentsOut(agents=agents))

    async def api_usage(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            start, end = api.usage_range(q.get("start"), q.get("end"))
            group_by = api.parse_group_by(q.get("group_by"))
            fmt = api.parse_format(q.get("format"))
        except api.ApiError as exc:
            return bad_request(str(exc))
        start_ms, end_ms = api.range_ms(start, end)
        rows = await self.store.usage(start_ms, end_ms, group_by)
        agents = await self.store.agents()
        out = api.usage_out(start, end, group_by, rows, agents)
        if fmt == "csv":
            keys = [k for k in ("agent", "name", "app") if k in group_by]
            columns = [*keys[:1], "name", *keys[1:]] if "agent" in group_by else keys
            return csv_response(
                api.to_csv(list(out.rows), [*columns, "seconds", "idle_seconds"]), "usage"
            )
        return json_response(out)

    async def api_spans(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            start, end = api.usage_range(q.get("start"), q.get("end"))
            fmt = api.parse_format(q.get("format"))
        except api.ApiError as exc:
            return bad_request(str(exc))
        start_ms, end_ms = api.range_ms(start, end)
        rows = await self.store.spans(start_ms, end_ms, q.get("agent"), api.EXPORT_LIMIT + 1)
        out = api.spans_out(start, end, rows, await self.store.agents())
        if fmt == "csv":
            columns = list(api.SpanRowOut.__struct_fields__)
            return csv_response(api.to_csv(list(out.spans), columns), "spans")
        return json_response(out)

    async def api_openapi(self, request: web.Request) -> web.Response:
        return json_response(api.openapi())


async def serve(settings: ServerSettings, *, ready: Callable[[str], None] | None = None) -> None:
    """Run until cancelled. ``ready`` gets the URL once the port is bound."""
    server = Server(settings)
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else settings.port
    host = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0", "::") else settings.host
    url = f"http://{host}:{port}"
    if ready is not None:
        ready(url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
