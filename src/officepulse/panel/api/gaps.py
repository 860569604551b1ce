"""GET /api/v1/gaps: what one person's agent did not record on a calendar day, and why
(core/gaps.py): the same list their page shows, to them and to admins."""

from __future__ import annotations

from datetime import date, datetime

import msgspec
from aiohttp import web

from officepulse.core.days import Days
from officepulse.core.gaps import GapKind
from officepulse.panel import day_usage
from officepulse.panel.api import params
from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.responses import instant, json_response, refused


class GapOut(msgspec.Struct, kw_only=True):
    """A stretch not recorded (for a clock jump an instant: ``start`` = ``end``)."""

    kind: GapKind
    start: datetime
    end: datetime
    seconds: float
    reason: str


class GapsOut(msgspec.Struct, kw_only=True):
    agent: str
    name: str
    date: date
    start: datetime
    end: datetime
    gaps: list[GapOut]


async def gaps(api: ApiContext, request: web.Request) -> web.Response:
    q = request.query
    try:
        day = params.parse_date("date", q.get("date"))
        mode = params.parse_day_mode(q.get("day"))
        zone = params.parse_day_zone(mode, q.get("tz"))
        agent = await api.agent(q.get("agent"))
    except params.ApiError as exc:
        return refused(exc)
    reads = await api.reads(request)
    pieces = await day_usage.pieces(reads, agent, Days(day, day, mode, zone))
    lo, hi = pieces[0].start_ms, pieces[-1].end_ms
    found = await api.gaps.between(agent.info.id, lo, hi)
    return json_response(
        GapsOut(
            agent=agent.info.id,
            name=agent.info.name,
            date=day,
            start=instant(lo),
            end=instant(hi),
            gaps=[
                GapOut(
                    kind=g.kind,
                    start=instant(g.start_ms),
                    end=instant(g.end_ms),
                    seconds=(g.end_ms - g.start_ms) / 1000,
                    reason=g.reason,
                )
                for g in found
            ],
        )
    )
