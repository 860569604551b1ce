"""The office (/): everyone's card as the viewer may see it; the dashboard's websocket
(panel/dashboard_socket.py) keeps it live."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from aiohttp import web

from officepulse.panel.hub import Hub
from officepulse.panel.pages.chrome import chrome, html_response
from officepulse.panel.viewers import Viewers
from officepulse.panel.views import Views
from officepulse.security.access import VIEWER

UTC_ZONE = ZoneInfo("UTC")


class OfficePage:
    def __init__(self, views: Views, viewers: Viewers, hub: Hub, now_ms: Callable[[], int]) -> None:
        self.views = views
        self.viewers = viewers
        self.hub = hub
        self.now_ms = now_ms

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/", self.page)]

    async def page(self, request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        await self.viewers.refresh()
        shown = self.viewers.shown(self.hub.views(), self.viewers.level(viewer))
        html = self.views.office_page(shown, self.now_ms(), UTC_ZONE, **chrome(viewer))
        return html_response(html)
