"""GET /api/v1/titles: time per window title (and URL) of one app of one person."""

from __future__ import annotations

from datetime import datetime

import msgspec
from aiohttp import web

from officepulse.core.reports import TitleTotal
from officepulse.panel import report_data
from officepulse.panel.api import params
from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.responses import export, refused
from officepulse.store.base import AgentStatus


class TitleRowOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    title: str
    url: str | None = None
    seconds: float
    idle_seconds: float


class TitlesOut(msgspec.Struct, kw_only=True):
    agent: str
    name: str
    app: str
    start: datetime
    end: datetime
    rows: list[TitleRowOut]
    truncated: bool


def titles_out(
    agent: AgentStatus,
    app: str,
    start: datetime,
    end: datetime,
    rows: list[TitleTotal],
    truncated: bool,
) -> TitlesOut:
    return TitlesOut(
        agent=agent.info.id,
        name=agent.info.name,
        app=app,
        start=start,
        end=end,
        rows=[
            TitleRowOut(
                title=r.title, url=r.url, seconds=r.active_ms / 1000, idle_seconds=r.idle_ms / 1000
            )
            for r in rows
        ],
        truncated=truncated,
    )


async def titles(api: ApiContext, request: web.Request) -> web.Response:
    q = request.query
    try:
        app = params.parse_required("app", q.get("app"), "the app's name")
        start, end = params.usage_range(q.get("start"), q.get("end"))
        fmt = params.parse_format(q.get("format"))
        agent = await api.agent(q.get("agent"))
    except params.ApiError as exc:
        return refused(exc)
    start_ms, end_ms = params.range_ms(start, end)
    reads = await api.reads(request)
    rows, truncated = await report_data.titles(reads, agent.info.id, app, [(start_ms, end_ms)])
    out = titles_out(agent, app, start, end, rows, truncated)
    return export(out, fmt, list(out.rows), TitleRowOut, "titles")
