"""The server application: wires store, bus, ingest, hub and the web routes.

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
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from officepulse.bus.base import Bus
from officepulse.bus.memory import MemoryBus
from officepulse.core.categories import (
    UNCATEGORIZED,
    CategoryError,
    CategoryNode,
    Rule,
    category_tree,
    default_rules,
)
from officepulse.core.days import Days
from officepulse.core.spans import Span
from officepulse.database_choice import command
from officepulse.server import api, aw_compat, days, report_data
from officepulse.server.access import VIEWER, AccessControl, Viewer
from officepulse.server.admin import add_routes as add_admin_routes
from officepulse.server.admission import Admission
from officepulse.server.assets import find_vendor_files
from officepulse.server.category_editor import FormError, apply_edit, rules_from_form
from officepulse.server.collector import tune_collector
from officepulse.server.control import AgentControl
from officepulse.server.dashboards import Dashboard, Dashboards
from officepulse.server.fdlimit import fd_limit, raise_fd_limit, socket_cap
from officepulse.server.gateway import Gateway
from officepulse.server.guard import guard
from officepulse.server.hosts import HostRules, default_names
from officepulse.server.hub import Hub
from officepulse.server.ingest import Ingest
from officepulse.server.netnames import machine_names
from officepulse.server.people import PeoplePages, chrome
from officepulse.server.presence import PRESENCE_SUBJECT, AgentView
from officepulse.server.proxies import TrustedProxies
from officepulse.server.report_pages import ReportPages
from officepulse.server.retention import Retention
from officepulse.server.sockets import GatedSite, SocketGate
from officepulse.server.views import Views
from officepulse.server.visibility import (
    EMPTY,
    Directory,
    present_view,
)
from officepulse.server.visible_reads import VisibleReads
from officepulse.settings import ServerSettings
from officepulse.store import store_from_url
from officepulse.store.accounts import Visibility
from officepulse.store.base import DAY_MS, AgentStatus, GroupKey, Store
from officepulse.store.failures import FailureLog

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


def export(
    out: msgspec.Struct,
    fmt: str,
    rows: list[msgspec.Struct],
    row: type[msgspec.Struct],
    name: str,
    columns: list[str] | None = None,
) -> web.Response:
    """``out`` as JSON, or its ``rows`` as a CSV table with a column per field of ``row``
    (or the ``columns`` given: a grouped report has only the keys it was grouped by)."""
    if fmt == "csv":
        return csv_response(api.to_csv(rows, columns or list(row.__struct_fields__)), name)
    return json_response(out)


def bad_request(message: str, status: int = 400) -> web.Response:
    return json_response(api.ErrorOut(error=message), status=status)


def refused(exc: api.ApiError) -> web.Response:
    return bad_request(str(exc), 404 if isinstance(exc, api.UnknownAgent) else 400)


def html_response(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")


def spans_changed(changed: int) -> str:
    return f"Saved. {changed} span{'' if changed == 1 else 's'} re-categorised."


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
        self.vendor_files = find_vendor_files(settings.assets_dir)
        self.views = Views(assets_ok=self.vendor_files is not None)
        self.ingest = Ingest(self.store, self.bus, pulsetime=settings.pulsetime, clock=clock)
        self.auth_mode = settings.agent_auth_mode()
        self.admission = Admission(self.store, required=self.auth_mode == "required", clock=clock)
        self.gateway = Gateway(settings, self.ingest, self.admission)
        self.control = AgentControl(
            self.store, self.gateway, self.bus, required=self.auth_mode == "required", clock=clock
        )
        self.access = AccessControl(self.store, clock)
        # Who owns which agent and what each person shows: read again on every page and
        # dashboard connection and after every change made here; the hub's fan-out uses
        # the latest.
        self.directory: Directory = EMPTY
        self.people = PeoplePages(
            self.store, self.access, self.views.template, self._people_changed, self._recheck
        )
        self.hub = Hub(
            lambda view, level: self.views.person(
                present_view(view, level, self.directory.rules), self.now_ms(), UTC_ZONE
            ),
            self.views.count,
            settings.browser_send_timeout,
        )
        self.reports = ReportPages(self.store, self.views, clock, self.reads)
        self._browser_tasks: set[asyncio.Task[bool]] = set()
        self.dashboards = Dashboards(settings.max_browsers, settings.max_browsers_per_ip)
        self._recheck_task: asyncio.Task[None] | None = None
        self.retention = Retention(self.store, settings.retention_days, clock)
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

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def app(self) -> web.Application:
        # Every request passes the Host/Origin guard, then the access control
        # (server/access.py: its route table); behind trusted proxies it is first given
        # its real client, which per-IP limits, the loopback check and logs see.
        middlewares = [guard(self.hosts), self.access.middleware]
        if self.sockets.trusted:
            middlewares.insert(0, self.sockets.middleware())
        app = web.Application(middlewares=middlewares)
        app.router.add_get("/", self.office)
        self.reports.add_routes(app)
        app.router.add_get("/categories", self.categories_page)
        app.router.add_post("/categories/edit", self.categories_edit)
        app.router.add_post("/categories/save", self.categories_save)
        app.router.add_post("/categories/reset", self.categories_reset)
        app.router.add_get("/agent", self.gateway.handle)
        app.router.add_get("/browser", self.browser)
        app.router.add_get("/api/v1/agents", self.api_agents)
        app.router.add_get("/api/v1/usage", self.api_usage)
        app.router.add_get("/api/v1/usage/days", self.api_usage_days)
        app.router.add_get("/api/v1/spans", self.api_spans)
        app.router.add_get("/api/v1/timeline", self.api_timeline)
        app.router.add_get("/api/v1/titles", self.api_titles)
        app.router.add_get("/api/v1/categories", self.api_categories)
        app.router.add_put("/api/v1/categories", self.api_set_categories)
        app.router.add_post("/api/v1/categories/reset", self.api_reset_categories)
        app.router.add_get("/api/v1/openapi.json", self.api_openapi)
        app.router.add_get("/static/vendor/{name}", self.vendor)
        app.router.add_static("/static/", STATIC)
        self.people.add_routes(app)
        add_admin_routes(app, self)
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._shutdown)
        app.on_cleanup.append(self._cleanup)
        aw_compat.add_routes(app, self)  # after _startup: its start-up needs the store
        app.on_startup.append(self._start_retention)  # last: the AW tables prune too
        return app

    async def _startup(self, app: web.Application) -> None:
        await self.store.open()
        await self._refresh_directory()
        # No agent is connected to a server that is only now starting.
        await self.store.mark_all_offline()
        await self.bus.start()
        # Events from here on are acted on; the hub starts from the state after them.
        await self.control.start()
        self.hub.seed([AgentView.of_status(s) for s in await self.store.agents()])
        await self.bus.subscribe(PRESENCE_SUBJECT, self.hub.on_presence)
        self._recheck_task = asyncio.create_task(self._recheck_often(), name="session-recheck")

    async def announce(self, port: int) -> None:
        """What a person starting the server must know, once it listens on ``port`` (said
        only then: a server that could not listen has no one to warn about)."""
        if self.vendor_files is None:
            log.warning(
                "htmx is not installed, so dashboards cannot update live: run `make setup` "
                "(npm ci) or set OFFICEPULSE_ASSETS_DIR to the folder holding node_modules"
            )
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
        await self.control.stop()
        for task in (self._retention_task, self._recheck_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.gateway.close_all()
        for queue in list(self.hub.browsers):
            self.hub.detach(queue)

    async def _cleanup(self, app: web.Application) -> None:
        await self.bus.close()
        await self.store.close()

    # -- who sees what (server/visibility.py) ----------------------------------------

    async def _refresh_directory(self) -> Directory:
        self.directory = await self.access.directory()
        return self.directory

    async def _people_changed(self) -> None:
        await self._refresh_directory()
        self.hub.resend_all()
        await self._recheck()  # a reset password, a removed person, a new role

    async def _recheck(self) -> None:
        """Closes the dashboards whose session has ended (sign-outs made here)."""
        await self.dashboards.recheck(self.store, self.now_ms())

    async def _recheck_often(self) -> None:
        # Ends made by another process (the CLI, another server) reach only the store.
        failures = FailureLog("re-reading the dashboards' sessions", log)
        while True:
            await asyncio.sleep(self.settings.browser_session_recheck)
            await failures.attempt(self._recheck)

    def _level(self, viewer: Viewer) -> Callable[[str | None], Visibility]:
        person = None if viewer.sees_all else viewer.person

        def level(agent_id: str | None) -> Visibility:
            return self.directory.level(person, agent_id)

        return level

    async def _visible_views(self, viewer: Viewer) -> list[AgentView]:
        await self._refresh_directory()
        level = self._level(viewer)
        rules = self.directory.rules
        return [present_view(v, level(v.id), rules) for v in self.hub.views.values()]

    async def reads(self, request: web.Request) -> VisibleReads:
        """The store as the request's viewer may see it."""
        viewer = request[VIEWER]
        directory = await self._refresh_directory()
        person = None if viewer.sees_all else viewer.person
        return VisibleReads(
            self.store,
            self._level(viewer),
            directory.rules,
            sees_all=viewer.sees_all,
            usage_as_stored=not directory.anyone_as_category(person),
        )

    async def _visible_spans(
        self, request: web.Request, start_ms: int, end_ms: int, agent_id: str | None, limit: int
    ) -> list[tuple[str, Span]]:
        agent_id = agent_id or None  # "agent=" is no agent, as access.py reads it
        reads = await self.reads(request)
        viewer = request[VIEWER]
        if viewer.sees_all or agent_id is not None or viewer.is_admin:
            return await reads.spans(start_ms, end_ms, agent_id, limit)
        # A member's export is their own agents' spans (access.py checked a named agent).
        assert viewer.person is not None
        rows = []
        for own in sorted(self.directory.agents_of(viewer.person)):
            rows += await reads.spans(start_ms, end_ms, own, limit)
        rows.sort(key=lambda r: (r[1].start_ms, r[0]))
        return rows[:limit]

    # -- pages -------------------------------------------------------------------

    async def office(self, request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        views = await self._visible_views(viewer)
        html = self.views.office_page(views, self.now_ms(), UTC_ZONE, **chrome(viewer))
        return web.Response(text=html, content_type="text/html")

    # -- categories page ---------------------------------------------------------------
    # Anyone signed in reads it; admins change the rules (access.py; open mode: anyone).

    async def _category_tree(self, request: web.Request) -> list[CategoryNode]:
        end = self.now_ms()
        reads = await self.reads(request)  # a person on "category" counts in its top level
        rows = await reads.usage(end - 7 * DAY_MS, end, ["category"])
        return category_tree((r.category or UNCATEGORIZED, r.active_ms, r.idle_ms) for r in rows)

    async def categories_page(self, request: web.Request) -> web.Response:
        rules = await self.store.categories()
        tree = await self._category_tree(request)
        viewer = request[VIEWER]
        page = self.views.categories_page(rules, tree, not viewer.may_manage, **chrome(viewer))
        return html_response(page)

    @staticmethod
    async def _form(request: web.Request) -> dict[str, str]:
        return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}

    async def categories_edit(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        try:
            rules = apply_edit(rules_from_form(form), form.get("op", ""))
        except FormError as exc:
            return web.Response(status=400, text=str(exc))
        tree = await self._category_tree(request)
        return html_response(self.views.categories_editor(rules, tree, draft=True))

    async def categories_save(self, request: web.Request) -> web.Response:
        try:
            rules = rules_from_form(await self._form(request))
        except FormError as exc:
            return web.Response(status=400, text=str(exc))
        try:
            changed = await self._set_categories(request, rules, "categories.set")
        except CategoryError as exc:
            # Shown in the page (htmx swaps only 2xx answers), numbered as the page does.
            where = f"rule {exc.index + 1}: " if exc.index is not None else ""
            tree = await self._category_tree(request)
            return html_response(
                self.views.categories_editor(
                    rules,
                    tree,
                    error=f"Not saved: {where}{exc.reason}",
                    error_index=exc.index,
                    draft=True,
                )
            )
        return await self._saved_editor(request, changed)

    async def categories_reset(self, request: web.Request) -> web.Response:
        changed = await self._set_categories(request, default_rules(), "categories.reset")
        return await self._saved_editor(request, changed)

    async def _set_categories(self, request: web.Request, rules: list[Rule], action: str) -> int:
        """Store the rules (CategoryError: nothing changed), audit who did it, and show
        the people on "category" by the new rules."""
        changed = await self.store.set_categories(rules)
        detail = f"{len(rules)} rules; {changed} spans re-categorised"
        await self.access.audit(request[VIEWER].person, action, "categories", detail)
        await self._people_changed()
        return changed

    async def _saved_editor(self, request: web.Request, changed: int) -> web.Response:
        rules = await self.store.categories()
        tree = await self._category_tree(request)
        return html_response(
            self.views.categories_editor(rules, tree, message=spans_changed(changed))
        )

    async def vendor(self, request: web.Request) -> web.StreamResponse:
        path = (self.vendor_files or {}).get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound(text="not installed: run `make setup`")
        return web.FileResponse(path)

    # -- dashboards ----------------------------------------------------------------

    async def browser(self, request: web.Request) -> web.StreamResponse:
        # No permessage-deflate: it would be paid once per dashboard for every change.
        ip = request.remote or ""
        refusal = self.dashboards.refusal(ip)
        if refusal is not None:
            log.warning("dashboard refused: %s", refusal)
            return bad_request(refusal, 503)
        viewer = request[VIEWER]
        # Counted from here, before the first await: the limits cannot be overrun.
        dashboard = self.dashboards.add(ip, viewer)
        try:
            return await self._dashboard(request, dashboard)
        finally:
            self.dashboards.discard(dashboard)

    async def _dashboard(self, request: web.Request, dashboard: Dashboard) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096, compress=False)
        await ws.prepare(request)
        await self._refresh_directory()
        level = self._level(request[VIEWER])
        queue = self.hub.attach(ws.send_str, level)
        views = list(self.hub.views.values())  # the same instant as attach(): nothing missed
        shown = [present_view(v, level(v.id), self.directory.rules) for v in views]
        close: tuple[int, str] = (WSCloseCode.OK, "")
        try:
            await ws.send_str(
                self.views.people(shown, self.now_ms(), UTC_ZONE) + self.views.count(views)
            )
            sender = asyncio.create_task(queue.run())
            self._browser_tasks.add(sender)
            sender.add_done_callback(self._browser_tasks.discard)
            reader = asyncio.create_task(self._drain(ws))
            # Whichever comes first: the browser leaves, falls behind, or its session ends.
            watched: set[asyncio.Future[Any]] = {sender, reader, dashboard.ended}
            done, pending = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if dashboard.ended in done:
                close = dashboard.ended.result()
            elif sender in done and sender.result() and request.transport is not None:
                # Its socket is full, so a polite close would wait behind the backlog.
                request.transport.abort()
        finally:
            self.hub.detach(queue)
            if not ws.closed:
                code, reason = close
                await ws.close(code=code, message=reason.encode())
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
        await self._refresh_directory()
        level = self._level(request[VIEWER])
        agents = [
            api.agent_out(
                present_view(
                    live.get(s.info.id) or AgentView.of_status(s),
                    level(s.info.id),
                    self.directory.rules,
                )
            )
            for s in statuses
        ]
        return json_response(api.AgentsOut(agents=agents))

    async def _names(self, group_by: list[GroupKey]) -> dict[str, str]:
        """Agents' names for rows grouped by agent; rows that name no agent need none, so
        nothing is read for them."""
        return await self.store.agent_names() if "agent" in group_by else {}

    async def api_usage(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            start, end = api.usage_range(q.get("start"), q.get("end"))
            group_by = api.parse_group_by(q.get("group_by"))
            fmt = api.parse_format(q.get("format"))
        except api.ApiError as exc:
            return bad_request(str(exc))
        start_ms, end_ms = api.range_ms(start, end)
        rows = await (await self.reads(request)).usage(start_ms, end_ms, group_by)
        out = api.usage_out(start, end, group_by, rows, await self._names(group_by))
        columns = [*api.key_columns(group_by), "seconds", "idle_seconds"]
        return export(out, fmt, list(out.rows), api.UsageRowOut, "usage", columns)

    async def api_usage_days(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            first, last = api.days_range(q.get("from"), q.get("to"))
            mode = api.parse_day_mode(q.get("day"))
            zone = api.parse_zone(q.get("tz") or "UTC")
            group_by = api.parse_group_by(q.get("group_by"))
            fmt = api.parse_format(q.get("format"))
        except api.ApiError as exc:
            return bad_request(str(exc))
        reads = await self.reads(request)
        rows = await days.usage_by_day(reads, first, last, day=mode, zone=zone, group_by=group_by)
        names = await self._names(group_by)
        out = api.usage_days_out(first, last, mode, zone, group_by, rows, names)
        columns = ["day", *api.key_columns(group_by), "seconds", "idle_seconds"]
        return export(out, fmt, list(out.rows), api.DayRowOut, "usage-days", columns)

    async def api_spans(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            start, end = api.usage_range(q.get("start"), q.get("end"))
            fmt = api.parse_format(q.get("format"))
            agent_id = api.parse_agent_filter(q.get("agent"))
        except api.ApiError as exc:
            return bad_request(str(exc))
        start_ms, end_ms = api.range_ms(start, end)
        rows = await self._visible_spans(request, start_ms, end_ms, agent_id, api.EXPORT_LIMIT + 1)
        out = api.spans_out(start, end, rows, await self.store.agent_names())
        return export(out, fmt, list(out.spans), api.SpanRowOut, "spans")

    async def _agent(self, raw: str | None) -> AgentStatus:
        agent_id = api.parse_required("agent", raw, "an agent id")
        agent = await self.store.agent(agent_id)
        if agent is None:
            raise api.UnknownAgent(f"no agent has the id {agent_id!r}")
        return agent

    async def api_timeline(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            day = api.parse_date("date", q.get("date"))
            mode = api.parse_day_mode(q.get("day"))
            zone = api.parse_day_zone(mode, q.get("tz"))
            fmt = api.parse_format(q.get("format"))
            agent = await self._agent(q.get("agent"))
        except api.ApiError as exc:
            return refused(exc)
        reads = await self.reads(request)
        pieces = await days.pieces(reads, agent, Days(day, day, mode, zone))
        ranges = [(p.start_ms, p.end_ms) for p in pieces]
        blocks, truncated = await report_data.day(reads, agent.info.id, ranges)
        out = api.timeline_out(agent, day, mode, pieces, blocks, truncated)
        return export(out, fmt, list(out.blocks), api.BlockOut, "timeline")

    async def api_titles(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            app = api.parse_required("app", q.get("app"), "the app's name")
            start, end = api.usage_range(q.get("start"), q.get("end"))
            fmt = api.parse_format(q.get("format"))
            agent = await self._agent(q.get("agent"))
        except api.ApiError as exc:
            return refused(exc)
        start_ms, end_ms = api.range_ms(start, end)
        reads = await self.reads(request)
        rows, truncated = await report_data.titles(reads, agent.info.id, app, [(start_ms, end_ms)])
        out = api.titles_out(agent, app, start, end, rows, truncated)
        return export(out, fmt, list(out.rows), api.TitleRowOut, "titles")

    async def api_categories(self, request: web.Request) -> web.Response:
        return json_response(api.CategoriesOut(rules=await self.store.categories()))

    async def api_set_categories(self, request: web.Request) -> web.Response:
        try:
            rules = api.parse_rules(await request.read())
            changed = await self._set_categories(request, rules, "categories.set")
        except (api.ApiError, CategoryError) as exc:
            return bad_request(str(exc))
        return await self._categories_saved(changed)

    async def api_reset_categories(self, request: web.Request) -> web.Response:
        changed = await self._set_categories(request, default_rules(), "categories.reset")
        return await self._categories_saved(changed)

    async def _categories_saved(self, changed: int) -> web.Response:
        rules = await self.store.categories()
        return json_response(api.CategoriesSaved(rules=rules, changed=changed))

    async def api_openapi(self, request: web.Request) -> web.Response:
        return json_response(api.openapi())


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
