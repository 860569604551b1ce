"""The REST API under /api/v1: response types, query parsing and the OpenAPI
document, which is generated from the same Structs the handlers encode."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from officepulse import __version__
from officepulse.core.spans import Span, to_ms
from officepulse.server.presence import AgentView
from officepulse.store.base import GROUP_KEYS, AgentStatus, GroupKey, UsageRow

MAX_RANGE = timedelta(days=400)


class ApiError(Exception):
    """A bad request; the message names the parameter and what was wrong."""


class CurrentActivity(msgspec.Struct, kw_only=True, omit_defaults=True):
    app: str
    title: str
    url: str | None = None
    process: str | None = None
    idle: bool
    since: datetime
    last_heartbeat: datetime


class AgentOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    host: str
    platform: str
    version: str
    tz: str
    online: bool
    last_seen: datetime
    current: CurrentActivity | None
    # Blocked by a team lead: refused until unblocked; its history is kept.
    blocked: bool


class AgentsOut(msgspec.Struct, kw_only=True):
    agents: list[AgentOut]


class UsageRowOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    agent: str | None = None
    name: str | None = None
    app: str | None = None
    seconds: float
    idle_seconds: float


class UsageOut(msgspec.Struct, kw_only=True):
    start: datetime
    end: datetime
    group_by: list[str]
    rows: list[UsageRowOut]


class ErrorOut(msgspec.Struct, kw_only=True):
    error: str


class SpanRowOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    agent: str
    name: str | None = None
    start: datetime
    end: datetime
    seconds: float
    app: str
    title: str = ""
    url: str | None = None
    idle: bool = False
    private: bool = False
    program: str | None = None
    project: str | None = None
    file: str | None = None
    media: str | None = None


class SpansOut(msgspec.Struct, kw_only=True):
    start: datetime
    end: datetime
    spans: list[SpanRowOut]
    truncated: bool


EXPORT_LIMIT = 100_000
FORMATS = ("json", "csv")


def parse_format(raw: str | None) -> str:
    value = raw or "json"
    if value not in FORMATS:
        raise ApiError(f"'format' must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def spans_out(
    start: datetime, end: datetime, rows: list[tuple[str, Span]], agents: list[AgentStatus]
) -> SpansOut:
    names = {a.info.id: a.info.name for a in agents}
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
                start=_dt(span.start_ms),
                end=_dt(span.end_ms),
                seconds=span.duration_ms / 1000,
                app=a.app,
                title=a.title,
                url=a.url,
                idle=a.idle,
                private=a.private,
                program=a.program,
                project=a.project,
                file=a.file,
                media=media,
            )
        )
    return SpansOut(start=start, end=end, spans=out, truncated=len(rows) > EXPORT_LIMIT)


def to_csv(rows: list[msgspec.Struct], columns: list[str]) -> str:
    """One header line, then a line per row; instants as ISO 8601, empty for none."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = []
        for column in columns:
            value = getattr(row, column)
            if isinstance(value, datetime):
                value = value.isoformat().replace("+00:00", "Z")
            values.append("" if value is None else value)
        writer.writerow(values)
    return buffer.getvalue()


def _dt(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def agent_out(view: AgentView) -> AgentOut:
    current = None
    if view.current is not None:
        a = view.current.activity
        current = CurrentActivity(
            app=a.app,
            title=a.title,
            url=a.url,
            process=a.process,
            idle=a.idle,
            since=_dt(view.current.start_ms),
            last_heartbeat=_dt(view.current.end_ms),
        )
    return AgentOut(
        id=view.id,
        name=view.name,
        host=view.host,
        platform=view.platform,
        version=view.version,
        tz=view.tz,
        online=view.online,
        last_seen=_dt(view.last_seen_ms),
        current=current,
        blocked=view.blocked,
    )


def parse_instant(name: str, raw: str | None) -> datetime:
    if raw is None:
        raise ApiError(f"missing query parameter '{name}' (an ISO 8601 instant)")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ApiError(f"'{name}' is not an ISO 8601 date-time: {raw!r}") from exc
    if value.tzinfo is None:
        raise ApiError(f"'{name}' must say which time zone it is in, e.g. {raw}Z or {raw}+02:00")
    return value


def parse_group_by(raw: str | None) -> list[GroupKey]:
    if raw is None or raw == "":
        return ["agent", "app"]
    keys: list[GroupKey] = []
    for part in raw.split(","):
        key = part.strip()
        if key not in GROUP_KEYS:
            raise ApiError(
                f"'group_by' cannot contain {key!r}; use a comma-separated list of "
                f"{', '.join(GROUP_KEYS)}"
            )
        if key in keys:
            raise ApiError(f"'group_by' names {key!r} twice")
        keys.append(key)
    return keys


def usage_range(start_raw: str | None, end_raw: str | None) -> tuple[datetime, datetime]:
    start = parse_instant("start", start_raw)
    end = parse_instant("end", end_raw)
    if end <= start:
        raise ApiError("'end' must be after 'start'")
    if end - start > MAX_RANGE:
        raise ApiError(f"the range is longer than {MAX_RANGE.days} days")
    return start, end


def usage_out(
    start: datetime,
    end: datetime,
    group_by: list[GroupKey],
    rows: list[UsageRow],
    agents: list[AgentStatus],
) -> UsageOut:
    names = {a.info.id: a.info.name for a in agents}
    return UsageOut(
        start=start,
        end=end,
        group_by=list(group_by),
        rows=[
            UsageRowOut(
                agent=r.agent_id,
                name=names.get(r.agent_id) if r.agent_id is not None else None,
                app=r.app,
                seconds=r.active_ms / 1000,
                idle_seconds=r.idle_ms / 1000,
            )
            for r in rows
        ],
    )


def range_ms(start: datetime, end: datetime) -> tuple[int, int]:
    return to_ms(start), to_ms(end)


def openapi() -> dict[str, Any]:
    (_, components) = msgspec.json.schema_components(
        [AgentsOut, UsageOut, SpansOut, ErrorOut], ref_template="#/components/schemas/{name}"
    )

    def ref(name: str) -> dict[str, Any]:
        return {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}
        }

    bad = {"description": "A parameter is missing or wrong; `error` says which.", **ref("ErrorOut")}
    instant = {"type": "string", "format": "date-time"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "officepulse",
            "version": __version__,
            "description": "Live team presence and time per app. Times are ISO 8601 instants; "
            "durations are seconds.",
        },
        "paths": {
            "/api/v1/agents": {
                "get": {
                    "operationId": "listAgents",
                    "summary": "Every agent, online or not, with what is in front of it now.",
                    "responses": {"200": {"description": "The agents.", **ref("AgentsOut")}},
                }
            },
            "/api/v1/usage": {
                "get": {
                    "operationId": "usage",
                    "summary": "Seconds of activity in [start, end), grouped.",
                    "description": "Spans are clipped to the range. `seconds` is active time; "
                    "`idle_seconds` is time the person was away while the app was in front.",
                    "parameters": [
                        {"name": "start", "in": "query", "required": True, "schema": instant},
                        {"name": "end", "in": "query", "required": True, "schema": instant},
                        {
                            "name": "format",
                            "in": "query",
                            "required": False,
                            "description": "json (default) or csv",
                            "schema": {"type": "string", "enum": list(FORMATS)},
                        },
                        {
                            "name": "group_by",
                            "in": "query",
                            "required": False,
                            "description": "Comma-separated subset of: agent, app. "
                            "Default: agent,app.",
                            "schema": {"type": "string", "default": "agent,app"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "Totals (as text/csv with format=csv).",
                            **ref("UsageOut"),
                        },
                        "400": bad,
                    },
                }
            },
            "/api/v1/spans": {
                "get": {
                    "operationId": "spans",
                    "summary": "The stored spans that overlap [start, end), whole, in time order.",
                    "description": f"At most {EXPORT_LIMIT} spans; `truncated` says when "
                    "there were more (ask for a shorter range).",
                    "parameters": [
                        {"name": "start", "in": "query", "required": True, "schema": instant},
                        {"name": "end", "in": "query", "required": True, "schema": instant},
                        {
                            "name": "agent",
                            "in": "query",
                            "required": False,
                            "description": "only this agent's spans",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "format",
                            "in": "query",
                            "required": False,
                            "description": "json (default) or csv",
                            "schema": {"type": "string", "enum": list(FORMATS)},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "Spans (as text/csv with format=csv).",
                            **ref("SpansOut"),
                        },
                        "400": bad,
                    },
                }
            },
        },
        "components": {"schemas": components},
    }
