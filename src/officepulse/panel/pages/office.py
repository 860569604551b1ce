"""The office (/): everyone's card as the viewer may see it, in groups (active, idle, …
offline: core/office.py); the dashboard's websocket (panel/dashboard_socket.py) keeps it
live."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from officepulse.panel.hub import Hub
from officepulse.panel.office_cards import OfficeCards
from officepulse.panel.pages.chrome import chrome, html_response
from officepulse.panel.viewers import Viewers
from officepulse.security.access import VIEWER


class OfficePage:
    def __init__(
        self,
        cards: OfficeCards,
        viewers: Viewers,
        hub: Hub,
        refresh_today: Callable[[], Awaitable[None]],
    ) -> None:
        self.cards = cards
        self.viewers = viewers
        self.hub = hub
        # Everyone's time today, read again: a page shows the figures as of its request.
        self.refresh_today = refresh_today

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/", self.page)]

    async def page(self, request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        await self.viewers.refresh()
        await self.refresh_today()
        html = self.cards.page(
            self.hub.views(),
            self.viewers.level(viewer),
            self.hub.groups(),
            self.hub.counts(),
            **chrome(viewer),
        )
        return html_response(html)
