"""The panel's wiring: its parts (pages, REST API, dashboards and their hub), its routes,
and its life in a process that gives it the store, the bus and the access control. It
never talks to agents: what it does to them goes through ``agents_changed``.

In embedded mode server/app.py runs it beside the gateway, in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from aiohttp import web

from officepulse.bus.base import Bus
from officepulse.bus.gateways import Gateways
from officepulse.bus.presence import PRESENCE_SUBJECT, AgentView
from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.routes import routes as api_routes
from officepulse.panel.app_names import AppNames
from officepulse.panel.assets import STATIC, find_vendor_files
from officepulse.panel.category_rules import CategoryRules
from officepulse.panel.dashboard_socket import DashboardSocket
from officepulse.panel.dashboards import Dashboards
from officepulse.panel.fleet import Fleet
from officepulse.panel.gaps import Gaps, known_builds
from officepulse.panel.hub import Hub
from officepulse.panel.live import Live
from officepulse.panel.office_cards import OfficeCards
from officepulse.panel.office_status import OfficeStatus
from officepulse.panel.pages.admin import AdminPages
from officepulse.panel.pages.apps import AppsPage
from officepulse.panel.pages.categories import CategoriesPage
from officepulse.panel.pages.errors import ErrorPages
from officepulse.panel.pages.gateways import GatewaysPage
from officepulse.panel.pages.office import OfficePage
from officepulse.panel.pages.people import PeoplePages
from officepulse.panel.pages.reports import ReportPages
from officepulse.panel.recategorising import Recategoriser
from officepulse.panel.today import TodayTotals
from officepulse.panel.uncategorized import Uncategorized
from officepulse.panel.viewers import Viewers
from officepulse.panel.views import Views
from officepulse.panel.visible_reads import VisibleReads
from officepulse.security.access import AccessControl
from officepulse.settings import ServerSettings
from officepulse.store.base import Store
from officepulse.store.failures import FailureLog
from officepulse.store.moment import one_moment

log = logging.getLogger(__name__)
UTC_ZONE = ZoneInfo("UTC")
# How often the office looks at what time alone changes (idle becomes away) and reads the
# time today of those whose presence changed; and how often everyone's.
OFFICE_TICK = 5.0
TODAY_EVERY_MS = 60_000


class Panel:
    def __init__(
        self,
        settings: ServerSettings,
        store: Store,
        bus: Bus,
        access: AccessControl,
        *,
        auth_mode: str,
        agents_changed: Callable[[], Awaitable[None]],
        gateways: Gateways,
        clock: Callable[[], float],
        fanout_seconds: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.clock = clock
        self.vendor_files = find_vendor_files(settings.assets_dir)
        self.app_names = AppNames(
            store, audit=access.audit, on_change=lambda: self.hub.resend_all()
        )
        self.views = Views(
            self.vendor_files is not None, self.app_names.name, self.app_names.icon_url
        )
        self.viewers = Viewers(store, access, lambda: Live.of(self.hub.views(), self.now_ms()))
        self.today = TodayTotals(self._everything)
        self.cards = OfficeCards(self.views, self.viewers, OfficeStatus(), self.today, self.now_ms)
        self.hub = Hub(
            lambda view, level: self.cards.person(view, level, self.hub.group(view.id)),
            self.views.count,
            settings.browser_send_timeout,
            *([fanout_seconds] if fanout_seconds is not None else []),
            group_of=self.cards.group_of,
            observe=self.cards.observe,
        )
        self.dashboards = Dashboards(settings.max_browsers, settings.max_browsers_per_ip)
        self.socket = DashboardSocket(self.hub, self.viewers, self.cards, self.dashboards)
        # History re-categorised in the background after each change of the rules.
        self.recategoriser = Recategoriser(
            store,
            self.now_ms,
            batch=settings.recategorize_batch,
            pause=settings.recategorize_pause,
        )
        self.rules = CategoryRules(store, access, self.changed, self.recategoriser)
        self.gaps = Gaps(store, known_builds(settings), round(settings.gap_min_seconds * 1000))
        self.fleet = Fleet(gateways, clock)
        self.api = ApiContext(
            store,
            self.viewers,
            self.hub,
            self.rules,
            self.gaps,
            self.fleet,
            self.app_names,
            Uncategorized(store),
        )
        self.office = OfficePage(self.cards, self.viewers, self.hub, self.refresh_today)
        self.reports = ReportPages(store, self.views, clock, self.viewers.reads, self.gaps)
        self.categories = CategoriesPage(
            self.views, self.rules, self.viewers.reads, self.api.uncategorized, self.now_ms
        )
        self.apps = AppsPage(self.views, self.app_names, self.viewers.reads, self.now_ms)
        self.people = PeoplePages(store, access, self.views.template, self.changed, self.recheck)
        self.admin = AdminPages(store, access, self.views, auth_mode, self.now_ms, agents_changed)
        self.gateways = GatewaysPage(self.views.template, self.fleet, self.now_ms)
        # A middleware (server/app.py puts it outside the access control's).
        self.error_pages = ErrorPages(self.views, access).middleware
        self._recheck_task: asyncio.Task[None] | None = None
        self._names_task: asyncio.Task[None] | None = None
        self._office_task: asyncio.Task[None] | None = None
        self._today_read_ms = 0  # when everyone's time today was last read

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _everything(self, now_ms: int) -> VisibleReads:
        """The store with the activity in progress up to ``now_ms``, everything visible:
        what the office reads each person's time today from (their total shows nothing
        of their apps)."""
        return VisibleReads(
            self.store,
            lambda agent_id: "full",
            self.viewers.directory.rules,
            sees_all=True,
            live=Live.of(self.hub.views(), now_ms),
        )

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            *self.office.routes(),
            *self.reports.routes(),
            *self.categories.routes(),
            *self.apps.routes(),
            *self.socket.routes(),
            *api_routes(self.api),
            web.get("/static/vendor/{name}", self.vendor),
            web.static("/static/", STATIC),
            *self.people.routes(),
            *self.admin.routes(),
            *self.gateways.routes(),
        ]

    async def vendor(self, request: web.Request) -> web.StreamResponse:
        path = (self.vendor_files or {}).get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound(text="not installed: run `make setup`")
        return web.FileResponse(path)

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Once the store is open and the bus started: the hub starts from the agents as
        stored, and presence from here on reaches it."""
        await self.viewers.refresh()
        self.hub.seed([AgentView.of_status(s) for s in await self.store.agents()])
        await self.bus.subscribe(PRESENCE_SUBJECT, self.hub.on_presence)
        self._recheck_task = asyncio.create_task(self._recheck_often(), name="session-recheck")
        await self.app_names.reload()
        self._names_task = asyncio.create_task(self._names_often(), name="app-names")
        await FailureLog("reading time today", log).attempt(self.refresh_today)
        self._office_task = asyncio.create_task(self._office_often(), name="office")
        await self.recategoriser.start()  # a job a restart cut short goes on

    async def stop(self) -> None:
        await self.recategoriser.stop()
        for task in (self._recheck_task, self._names_task, self._office_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.hub.detach_all()

    def announce(self) -> None:
        """What a person starting the server must know about the panel."""
        if self.vendor_files is None:
            log.warning(
                "htmx is not installed, so dashboards cannot update live: run `make setup` "
                "(npm ci) or set OFFICEPULSE_ASSETS_DIR to the folder holding node_modules"
            )

    # -- who sees what ---------------------------------------------------------------

    async def changed(self) -> None:
        """Who owns what, what someone shows, or the category rules changed here."""
        await self.viewers.refresh()
        self.hub.resend_all()
        await self.recheck()  # a reset password, a removed person, a new role

    async def recheck(self) -> None:
        """Closes the dashboards whose session has ended (sign-outs made here)."""
        await self.dashboards.recheck(self.store, self.now_ms())

    async def _recheck_often(self) -> None:
        # Ends made by another process (the CLI, another server) reach only the store.
        failures = FailureLog("re-reading the dashboards' sessions", log)
        while True:
            await asyncio.sleep(self.settings.browser_session_recheck)
            await failures.attempt(self.recheck)

    async def _names_often(self) -> None:
        # Names reported to a gateway (maybe another process) reach only the store: read
        # again now and then, and the office's cards show a name as soon as it is known.
        failures = FailureLog("re-reading the app names", log)
        while True:
            await asyncio.sleep(self.app_names.max_age_ms / 1000)
            await failures.attempt(self._names_changed)

    # -- the office as time passes -------------------------------------------------------

    async def refresh_today(self) -> None:
        """Reads everyone's time today; the cards whose figure moved are sent again."""
        now = self.now_ms()
        self._today_read_ms = now
        views = self.hub.views()
        self.today.forget(v.id for v in views)
        await self._read_today(views, now)

    async def _read_today(self, views: list[AgentView], now: int) -> None:
        # Its reads (agents, zones, totals) in one moment: the queue written once for them.
        async with one_moment(self.store):
            moved = await self.today.refresh(views, now)
        self.hub.resend(moved)

    async def _office_tick(self) -> None:
        # Idle long enough is away, with no message to say so.
        self.hub.regroup(self.hub.members("idle"))
        if self.now_ms() - self._today_read_ms >= TODAY_EVERY_MS:
            await self.refresh_today()
            return
        touched = self.today.touched()
        views = [v for a in touched if (v := self.hub.view(a)) is not None]
        if views:
            await self._read_today(views, self.now_ms())

    async def _office_often(self) -> None:
        failures = FailureLog("reading time today", log)
        while True:
            await asyncio.sleep(OFFICE_TICK)
            await failures.attempt(self._office_tick)

    async def _names_changed(self) -> None:
        before = self.app_names.names(), self.app_names.icons()
        await self.app_names.reload()
        if (self.app_names.names(), self.app_names.icons()) != before:
            self.hub.resend_all()
