"""GET /api/v1/usage and /api/v1/usage/days: seconds of activity, grouped, over a range
of instants or per calendar day."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

from officepulse.core.days import DayMode
from officepulse.panel import day_usage
from officepulse.panel.api import params
from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.responses import bad_request, export
from officepulse.panel.day_usage import DayUsage
from officepulse.store.base import GroupKey, UsageRow


class UsageRowOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    agent: str | None = None
    name: str | None = None
    app: str | None = None
    app_name: str | None = None  # the app as the dashboard shows it (/api/v1/app-names)
    category: str | None = None
    seconds: float
    idle_seconds: float
    # Of ``seconds`` and ``idle_seconds``, the time still in progress (counted up to
    # now, not yet in the agent's stored spans: panel/live.py); left out when none.
    in_progress_seconds: float = 0.0


class UsageOut(msgspec.Struct, kw_only=True):
    start: datetime
    end: datetime
    group_by: list[str]
    rows: list[UsageRowOut]


class DayRowOut(UsageRowOut, kw_only=True, omit_defaults=True):
    """A usage row of one day."""

    day: date


class UsageDaysOut(msgspec.Struct, kw_only=True):
    first: date = msgspec.field(name="from")
    last: date = msgspec.field(name="to")
    day: str
    tz: str | None
    group_by: list[str]
    rows: list[DayRowOut]


# A row's keys: (day or None, agent, app, category).
RowKey = tuple[date | None, str | None, str | None, str | None]


def row_key(r: UsageRow | DayUsage) -> RowKey:
    return (r.day if isinstance(r, DayUsage) else None, r.agent_id, r.app, r.category)


def _row_fields(
    r: UsageRow | DayUsage,
    names: Mapping[str, str],
    live: Mapping[RowKey, int],
    app_name: Callable[[str], str],
) -> dict[str, Any]:
    """A usage row's fields as the API shows them: seconds, the agent's name, the app's,
    and how much of it is in progress (``live``: ms per row's keys)."""
    in_progress = live.get(row_key(r), 0)
    return {
        # Only when there is some: msgspec leaves a default out by identity, not value.
        **({"in_progress_seconds": in_progress / 1000} if in_progress else {}),
        "agent": r.agent_id,
        "name": names.get(r.agent_id) if r.agent_id is not None else None,
        "app": r.app,
        "app_name": app_name(r.app) if r.app is not None else None,
        "category": r.category,
        "seconds": r.active_ms / 1000,
        "idle_seconds": r.idle_ms / 1000,
    }


def usage_out(
    start: datetime,
    end: datetime,
    group_by: list[GroupKey],
    rows: list[UsageRow],
    names: Mapping[str, str],
    live: Mapping[RowKey, int] | None = None,
    app_name: Callable[[str], str] = str,
) -> UsageOut:
    """``names``: agents' names by id, shown beside the rows' agents ({} when the rows
    are not grouped by agent); ``live``: the ms of each row in progress; ``app_name``
    what each app is shown as."""
    return UsageOut(
        start=start,
        end=end,
        group_by=list(group_by),
        rows=[UsageRowOut(**_row_fields(r, names, live or {}, app_name)) for r in rows],
    )


def usage_days_out(
    first: date,
    last: date,
    mode: DayMode,
    zone: ZoneInfo,
    group_by: list[GroupKey],
    rows: list[DayUsage],
    names: Mapping[str, str],
    live: Mapping[RowKey, int] | None = None,
    app_name: Callable[[str], str] = str,
) -> UsageDaysOut:
    return UsageDaysOut(
        first=first,
        last=last,
        day=mode,
        tz=zone.key if mode == "viewer" else None,
        group_by=list(group_by),
        rows=[DayRowOut(day=r.day, **_row_fields(r, names, live or {}, app_name)) for r in rows],
    )


def key_columns(group_by: list[GroupKey]) -> list[str]:
    """The CSV columns that name a row's group: the agent's id and name, the app, the
    category."""
    return [
        *(["agent", "name"] if "agent" in group_by else []),
        *(["app", "app_name"] if "app" in group_by else []),
        *(["category"] if "category" in group_by else []),
    ]


# The CSV columns of every usage row after its keys.
FIGURES = ["seconds", "idle_seconds", "in_progress_seconds"]


def in_progress_ms(rows: Iterable[UsageRow | DayUsage]) -> dict[RowKey, int]:
    """The in-progress part of each row's keys (rows read from ``live_only`` reads)."""
    return {row_key(r): r.active_ms + r.idle_ms for r in rows}


async def usage(api: ApiContext, request: web.Request) -> web.Response:
    q = request.query
    try:
        start, end = params.usage_range(q.get("start"), q.get("end"))
        group_by = params.parse_group_by(q.get("group_by"))
        fmt = params.parse_format(q.get("format"))
    except params.ApiError as exc:
        return bad_request(str(exc))
    start_ms, end_ms = params.range_ms(start, end)
    reads = await api.reads(request)
    # The totals, what apps are called and agents' names: read at once (on PostgreSQL,
    # round trips at the same time on pooled connections, not one after another).
    rows, app_names, names = await asyncio.gather(
        reads.usage(start_ms, end_ms, group_by), api.app_names.fresh(), api.names(group_by)
    )
    live = in_progress_ms(await reads.live_only().usage(start_ms, end_ms, group_by))
    out = usage_out(start, end, group_by, rows, names, live, app_names.name)
    columns = [*key_columns(group_by), *FIGURES]
    return export(out, fmt, list(out.rows), UsageRowOut, "usage", columns)


async def usage_days(api: ApiContext, request: web.Request) -> web.Response:
    q = request.query
    try:
        first, last = params.days_range(q.get("from"), q.get("to"))
        mode = params.parse_day_mode(q.get("day"))
        zone = params.parse_zone(q.get("tz") or "UTC")
        group_by = params.parse_group_by(q.get("group_by"))
        fmt = params.parse_format(q.get("format"))
    except params.ApiError as exc:
        return bad_request(str(exc))
    reads = await api.reads(request)
    rows, app_names, names = await asyncio.gather(
        day_usage.usage_by_day(reads, first, last, day=mode, zone=zone, group_by=group_by),
        api.app_names.fresh(),
        api.names(group_by),
    )
    live = in_progress_ms(
        await day_usage.usage_by_day(
            reads.live_only(), first, last, day=mode, zone=zone, group_by=group_by
        )
    )
    out = usage_days_out(first, last, mode, zone, group_by, rows, names, live, app_names.name)
    columns = ["day", *key_columns(group_by), *FIGURES]
    return export(out, fmt, list(out.rows), DayRowOut, "usage-days", columns)
