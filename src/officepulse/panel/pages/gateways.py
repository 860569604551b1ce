"""The Gateways page (admins; open mode: anyone, like the Agents page): every gateway
serving agents, its address, connections, uptime and version, as /api/v1/gateways says.

The table reloads itself every ``REFRESH_SECONDS`` (htmx polling /gateways/table): the
fleet changes at the pace of the gateways' announcements (every 5 s), so polling is as
live as a push would be, and costs one bus request per open page per look.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from officepulse.bus.gateways import FORGET_AFTER
from officepulse.panel.fleet import Fleet
from officepulse.panel.pages.admin import admin_only
from officepulse.panel.pages.chrome import chrome, html_response
from officepulse.security.access import VIEWER

REFRESH_SECONDS = 5

Render = Callable[..., str]


class GatewaysPage:
    def __init__(self, render: Render, fleet: Fleet, now_ms: Callable[[], int]) -> None:
        self.render = render
        self.fleet = fleet
        self.now_ms = now_ms

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/gateways", admin_only(self.page)),
            web.get("/gateways/table", admin_only(self.table)),
        ]

    async def _context(self) -> dict[str, object]:
        now = self.now_ms()
        return {
            "rows": await self.fleet.look(),
            "now": now,
            "refresh": REFRESH_SECONDS,
            "forget_after": round(FORGET_AFTER),
        }

    async def page(self, request: web.Request) -> web.Response:
        context = await self._context()
        return html_response(
            self.render("gateways.html", page="gateways", **context, **chrome(request[VIEWER]))
        )

    async def table(self, request: web.Request) -> web.Response:
        return html_response(self.render("gateways_table.html", **await self._context()))
