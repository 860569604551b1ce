"""GET /api/v1/spans: the stored spans that overlap a range, whole, as the viewer may
see them (an export: at most EXPORT_LIMIT)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import msgspec
from aiohttp import web

from officepulse.core.spans import Span
from officepulse.panel.api import params
from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.responses import bad_request, export, instant
from officepulse.panel.visible_reads import VisibleReads
from officepulse.security.access import VIEWER

EXPORT_LIMIT = 100_000


def _stored(agent_id: str, start_ms: int, end_ms: int) -> bool:
    return False


class SpanRowOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    agent: str
    name: str | None = None
    start: datetime
    end: datetime
    seconds: float
    app: str
    app_name: str  # the app as the dashboard shows it (/api/v1/app-names)
    title: str = ""
    url: str | None = None
    idle: bool = False
    private: bool = False
    paused: bool = False
    program: str | None = None
    project: str | None = None
    file: str | None = None
    media: str | None = None
    # Counted up to now, not stored yet (panel/live.py): the agent's spans replace it.
    in_progress: bool = False


class SpansOut(msgspec.Struct, kw_only=True):
    start: datetime
    end: datetime
    spans: list[SpanRowOut]
    truncated: bool


def spans_out(
    start: datetime,
    end: datetime,
    rows: list[tuple[str, Span]],
    names: Mapping[str, str],
    live: Callable[[str, int, int], bool] = _stored,
    app_name: Callable[[str], str] = str,
) -> SpansOut:
    """``live``: whether an agent's span (its start and end) is in progress."""
    out = []
    for agent_id, span in rows[:EXPORT_LIMIT]:
        a = span.activity
        media = None
        if a.media is not None:
            media = " — ".join(x for x in (a.media.artist, a.media.title) if x) or a.media.player
        out.append(
            SpanRowOut(
                agent=agent_id,
                name=names.get(agent_id),
                start=instant(span.start_ms),
                end=instant(span.end_ms),
                seconds=span.duration_ms / 1000,
                app=a.app,
                app_name=app_name(a.app),
                title=a.title,
                url=a.url,
                idle=a.idle,
                private=a.private,
                paused=a.paused,
                program=a.program,
                project=a.project,
                file=a.file,
                media=media,
                in_progress=live(agent_id, span.start_ms, span.end_ms),
            )
        )
    return SpansOut(start=start, end=end, spans=out, truncated=len(rows) > EXPORT_LIMIT)


async def spans(api: ApiContext, request: web.Request) -> web.Response:
    q = request.query
    try:
        start, end = params.usage_range(q.get("start"), q.get("end"))
        fmt = params.parse_format(q.get("format"))
        agent_id = params.parse_agent_filter(q.get("agent"))
    except params.ApiError as exc:
        return bad_request(str(exc))
    start_ms, end_ms = params.range_ms(start, end)
    reads = await api.reads(request)
    rows = await _visible_spans(reads, request, api, start_ms, end_ms, agent_id, EXPORT_LIMIT + 1)
    app_name = (await api.app_names.fresh()).name
    out = spans_out(start, end, rows, await api.store.agent_names(), reads.in_progress, app_name)
    return export(out, fmt, list(out.spans), SpanRowOut, "spans")


async def _visible_spans(
    reads: VisibleReads,
    request: web.Request,
    api: ApiContext,
    start_ms: int,
    end_ms: int,
    agent_id: str | None,
    limit: int,
) -> list[tuple[str, Span]]:
    agent_id = agent_id or None  # "agent=" is no agent, as access.py reads it
    viewer = request[VIEWER]
    if viewer.sees_all or agent_id is not None or viewer.is_admin:
        return await reads.spans(start_ms, end_ms, agent_id, limit)
    # A member's export is their own agents' spans (access.py checked a named agent).
    assert viewer.person is not None
    rows = []
    for own in sorted(api.viewers.directory.agents_of(viewer.person)):
        rows += await reads.spans(start_ms, end_ms, own, limit)
    rows.sort(key=lambda r: (r[1].start_ms, r[0]))
    return rows[:limit]
