"""GET /api/v1/usage/hours: seconds of activity per hour of the day and weekday over a
range of dates (the report pages' heat map), everyone's or one agent's."""

from __future__ import annotations

from datetime import date

import msgspec
from aiohttp import web

from officepulse.panel import hour_usage
from officepulse.panel.api import params
from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.responses import export, refused


class HourRowOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    weekday: int  # ISO 8601: 1 = Monday … 7 = Sunday
    hour: int  # 0-23 on the wall clock the days are reckoned on
    seconds: float
    idle_seconds: float
    # Of ``seconds`` and ``idle_seconds``, the time still in progress (counted up to
    # now, not yet in the agent's stored spans: panel/live.py); left out when none.
    in_progress_seconds: float = 0.0


class UsageHoursOut(msgspec.Struct, kw_only=True):
    first: date = msgspec.field(name="from")
    last: date = msgspec.field(name="to")
    day: str
    tz: str | None
    agent: str | None
    rows: list[HourRowOut]


async def usage_hours(api: ApiContext, request: web.Request) -> web.Response:
    q = request.query
    try:
        first, last = params.days_range(q.get("from"), q.get("to"))
        mode = params.parse_day_mode(q.get("day"))
        zone = params.parse_zone(q.get("tz") or "UTC")
        fmt = params.parse_format(q.get("format"))
        agent_id = params.parse_agent_filter(q.get("agent"))
        agent = await api.agent(agent_id) if agent_id is not None else None
    except params.ApiError as exc:
        return refused(exc)
    agent_ids = [agent.info.id] if agent is not None else None
    reads = await api.reads(request)
    rows = await hour_usage.usage_by_hour(
        reads, first, last, day=mode, zone=zone, agent_ids=agent_ids
    )
    live = {
        (r.weekday, r.hour): r.active_ms + r.idle_ms
        for r in await hour_usage.usage_by_hour(
            reads.live_only(), first, last, day=mode, zone=zone, agent_ids=agent_ids
        )
    }
    out = UsageHoursOut(
        first=first,
        last=last,
        day=mode,
        tz=zone.key if mode == "viewer" else None,
        agent=agent.info.id if agent is not None else None,
        rows=[
            HourRowOut(
                weekday=r.weekday + 1,
                hour=r.hour,
                seconds=r.active_ms / 1000,
                idle_seconds=r.idle_ms / 1000,
                # Only when there is some: msgspec leaves a default out by identity.
                **(
                    {"in_progress_seconds": live[(r.weekday, r.hour)] / 1000}
                    if live.get((r.weekday, r.hour))
                    else {}
                ),
            )
            for r in rows
        ],
    )
    return export(out, fmt, list(out.rows), HourRowOut, "usage-hours")
