"""GET /api/v1/gateways: every gateway process serving agents, as the panel sees the
fleet now (panel/fleet.py): its address, how many agents are connected to it, since when
it runs, its version, and whether it answered just now."""

from __future__ import annotations

from datetime import datetime

import msgspec
from aiohttp import web

from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.responses import instant, json_response
from officepulse.panel.fleet import GatewayRow


class GatewayOut(msgspec.Struct, kw_only=True):
    id: str
    # Where agents reach it, as it listens (host:port); empty until it listens.
    address: str
    # Agents connected to it now (while it answers; else when last heard).
    connections: int
    started: datetime
    uptime_seconds: int
    version: str
    last_heard: datetime
    # False: it did not answer just now (stopped, stuck, or cut off); it is left out
    # once it has not been heard for 15 s.
    answering: bool


class GatewaysOut(msgspec.Struct, kw_only=True):
    gateways: list[GatewayOut]


def gateway_out(row: GatewayRow) -> GatewayOut:
    info = row.info
    return GatewayOut(
        id=info.id,
        address=info.address,
        connections=info.connections,
        started=instant(info.started_ms),
        uptime_seconds=row.uptime_ms // 1000,
        version=info.version,
        last_heard=instant(row.heard_ms),
        answering=row.answering,
    )


async def list_gateways(api: ApiContext, request: web.Request) -> web.Response:
    rows = await api.fleet.look()
    return json_response(GatewaysOut(gateways=[gateway_out(row) for row in rows]))
