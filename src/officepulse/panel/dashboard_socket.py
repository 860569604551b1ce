"""The dashboard's websocket (/browser): the office as the viewer may see it, then every
change the hub fans out, until the browser leaves, falls behind, or its session ends
(panel/dashboards.py counts them and ends them)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from officepulse.panel.api.responses import bad_request
from officepulse.panel.dashboards import Dashboard, Dashboards
from officepulse.panel.hub import Hub
from officepulse.panel.office_cards import OfficeCards
from officepulse.panel.viewers import Viewers
from officepulse.security.access import VIEWER

log = logging.getLogger(__name__)


class DashboardSocket:
    def __init__(
        self, hub: Hub, viewers: Viewers, cards: OfficeCards, dashboards: Dashboards
    ) -> None:
        self.hub = hub
        self.viewers = viewers
        self.cards = cards
        self.dashboards = dashboards
        self._senders: set[asyncio.Task[bool]] = set()

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/browser", self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
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
            return await self._serve(request, dashboard)
        finally:
            self.dashboards.discard(dashboard)

    async def _serve(self, request: web.Request, dashboard: Dashboard) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096, compress=False)
        await ws.prepare(request)
        await self.viewers.refresh()
        level = self.viewers.level(request[VIEWER])
        queue = self.hub.attach(ws.send_str, level)
        # The same instant as attach(): nothing missed, every card in the group it knows.
        office = self.cards.people(
            self.hub.views(), level, self.hub.groups(), manages=request[VIEWER].may_manage
        )
        counts = self.cards.views.count(self.hub.counts())
        close: tuple[int, str] = (WSCloseCode.OK, "")
        try:
            await ws.send_str(office + counts)
            sender = asyncio.create_task(queue.run())
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
            reader = asyncio.create_task(_drain(ws))
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


async def _drain(ws: web.WebSocketResponse) -> None:
    # Dashboards only listen; reading is how a close is noticed.
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break
