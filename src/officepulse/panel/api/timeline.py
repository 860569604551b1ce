"""GET /api/v1/timeline: one person's calendar day, block by block, in the viewer's zone
or on the person's own clock (as many zones as they were in that day)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import msgspec
from aiohttp import web

from officepulse.core.days import DayMode, Days
from officepulse.core.reports import Block
from officepulse.core.zones import ZoneRun
from officepulse.panel import day_usage, report_data
from officepulse.panel.api import params
from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.responses import export, instant, refused
from officepulse.store.base import AgentStatus


class BlockOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    start: datetime
    end: datetime
    seconds: float
    app: str
    app_name: str  # the app as the dashboard shows it (/api/v1/app-names)
    title: str = ""
    url: str | None = None
    idle: bool = False
    # Counted up to now, not stored yet (panel/live.py): the agent's spans replace it.
    in_progress: bool = False


class ZonePieceOut(msgspec.Struct, kw_only=True):
    """A stretch of the day on one zone's wall clock."""

    start: datetime
    end: datetime
    tz: str


class TimelineOut(msgspec.Struct, kw_only=True):
    agent: str
    name: str
    date: date
    day: str
    tz: str | None
    zones: list[ZonePieceOut]
    start: datetime
    end: datetime
    hours: int
    seconds: float
    idle_seconds: float
    blocks: list[BlockOut]
    truncated: bool


def timeline_out(
    agent: AgentStatus,
    day: date,
    mode: DayMode,
    pieces: list[ZoneRun],
    blocks: list[Block],
    truncated: bool,
    live: Callable[[str, int, int], bool],
    app_name: Callable[[str], str] = str,
) -> TimelineOut:
    """The day ``pieces`` make up (one, in the viewer's zone; or the person's own, in
    as many as their zones that day), and its blocks; ``live``: whether a stretch of an
    agent's is in progress."""
    length = sum(p.end_ms - p.start_ms for p in pieces)
    return TimelineOut(
        agent=agent.info.id,
        name=agent.info.name,
        date=day,
        day=mode,
        tz=pieces[0].tz if mode == "viewer" else None,
        zones=[
            ZonePieceOut(start=instant(p.start_ms), end=instant(p.end_ms), tz=p.tz) for p in pieces
        ],
        start=instant(pieces[0].start_ms),
        end=instant(pieces[-1].end_ms),
        hours=-(-length // 3_600_000),
        seconds=sum(b.duration_ms for b in blocks if not b.idle) / 1000,
        idle_seconds=sum(b.duration_ms for b in blocks if b.idle) / 1000,
        blocks=[
            BlockOut(
                start=instant(b.start_ms),
                end=instant(b.end_ms),
                seconds=b.duration_ms / 1000,
                app=b.app,
                app_name=app_name(b.app),
                title=b.title,
                url=b.url,
                idle=b.idle,
                in_progress=live(agent.info.id, b.start_ms, b.end_ms),
            )
            for b in blocks
        ],
        truncated=truncated,
    )


async def timeline(api: ApiContext, request: web.Request) -> web.Response:
    q = request.query
    try:
        day = params.parse_date("date", q.get("date"))
        mode = params.parse_day_mode(q.get("day"))
        zone = params.parse_day_zone(mode, q.get("tz"))
        fmt = params.parse_format(q.get("format"))
        agent = await api.agent(q.get("agent"))
    except params.ApiError as exc:
        return refused(exc)
    reads = await api.reads(request)
    pieces = await day_usage.pieces(reads, agent, Days(day, day, mode, zone))
    ranges = [(p.start_ms, p.end_ms) for p in pieces]
    blocks, truncated = await report_data.day(reads, agent.info.id, ranges)
    app_name = (await api.app_names.fresh()).name
    out = timeline_out(agent, day, mode, pieces, blocks, truncated, reads.in_progress, app_name)
    return export(out, fmt, list(out.blocks), BlockOut, "timeline")
