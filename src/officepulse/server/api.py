"""The REST API under /api/v1: response types, query parsing and the OpenAPI
document, which is generated from the same Structs the handlers encode."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from officepulse import __version__
from officepulse.core.categories import MAX_RULES, Rule
from officepulse.core.days import DAY_MODES, MAX_DAYS, DayMode
from officepulse.core.periods import PeriodError, parse_day
from officepulse.core.reports import Block, TitleTotal
from officepulse.core.spans import Span, to_ms
from officepulse.core.zones import ZoneRun
from officepulse.server.days import DayUsage
from officepulse.server.presence import AgentView
from officepulse.store.base import GROUP_KEYS, AgentStatus, GroupKey, UsageRow

MAX_RANGE = timedelta(days=400)


class ApiError(Exception):
    """A bad request; the message names the parameter and what was wrong."""


class UnknownAgent(ApiError):
    """The request names an agent the server has never heard of (404)."""


class CurrentActivity(msgspec.Struct, kw_only=True, omit_defaults=True):
    app: str
    title: str
    url: str | None = None
    process: str | None = None
    idle: bool
    # The person paused the agent (app is "paused"): nothing of the desktop is read.
    paused: bool = False
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
    category: str | None = None
    seconds: float
    idle_seconds: float


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


class ErrorOut(msgspec.Struct, kw_only=True):
    error: str


class CategoriesIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The whole ordered rule list; the first rule that matches an activity wins."""

    rules: Annotated[list[Rule], msgspec.Meta(extra_json_schema={"maxItems": MAX_RULES})]


class CategoriesOut(msgspec.Struct, kw_only=True):
    rules: list[Rule]


class CategoriesSaved(msgspec.Struct, kw_only=True):
    rules: list[Rule]
    changed: int  # stored spans whose category changed


_categories_decoder = msgspec.json.Decoder(CategoriesIn)


def parse_rules(body: bytes) -> list[Rule]:
    """A PUT body; the error names the path of what was wrong ("$.rules[2].fields[0]")."""
    if not body.strip():
        raise ApiError('the body is empty; send {"rules": [...]}')
    try:
        return _categories_decoder.decode(body).rules
    except msgspec.DecodeError as exc:
        raise ApiError(f"bad rules: {exc}") from None


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
    paused: bool = False
    program: str | None = None
    project: str | None = None
    file: str | None = None
    media: str | None = None


class SpansOut(msgspec.Struct, kw_only=True):
    start: datetime
    end: datetime
    spans: list[SpanRowOut]
    truncated: bool


class BlockOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    start: datetime
    end: datetime
    seconds: float
    app: str
    title: str = ""
    url: str | None = None
    idle: bool = False


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


EXPORT_LIMIT = 100_000
FORMATS = ("json", "csv")


# protocol/messages.py AgentId: ids are kept to a safe alphabet.
AGENT_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"


def parse_agent_filter(raw: str | None) -> str | None:
    """An optional agent id: absent means every agent; present, it must be an id."""
    if raw is not None and re.fullmatch(AGENT_ID_PATTERN[1:-1], raw) is None:
        raise ApiError(f"'agent' must be an agent id (1-64 of A-Z a-z 0-9 _ -), not {raw!r}")
    return raw


def parse_format(raw: str | None) -> str:
    value = "json" if raw is None else raw
    if value not in FORMATS:
        raise ApiError(f"'format' must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def spans_out(
    start: datetime, end: datetime, rows: list[tuple[str, Span]], names: Mapping[str, str]
) -> SpansOut:
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
                paused=a.paused,
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
            paused=a.paused,
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


def parse_required(name: str, raw: str | None, what: str) -> str:
    if not raw:
        raise ApiError(f"missing query parameter '{name}' ({what})")
    return raw


def parse_zone(raw: str | None) -> ZoneInfo:
    name = parse_required("tz", raw, "an IANA time zone such as Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(f"'tz' is not a known time zone: {name!r}") from None


def parse_date(name: str, raw: str | None) -> date:
    value = parse_required(name, raw, "a calendar date such as 2026-11-30")
    try:
        return parse_day(name, value)
    except PeriodError as exc:
        raise ApiError(str(exc)) from None


def timeline_out(
    agent: AgentStatus,
    day: date,
    mode: DayMode,
    pieces: list[ZoneRun],
    blocks: list[Block],
    truncated: bool,
) -> TimelineOut:
    """The day ``pieces`` make up (one, in the viewer's zone; or the person's own, in
    as many as their zones that day), and its blocks."""
    length = sum(p.end_ms - p.start_ms for p in pieces)
    return TimelineOut(
        agent=agent.info.id,
        name=agent.info.name,
        date=day,
        day=mode,
        tz=pieces[0].tz if mode == "viewer" else None,
        zones=[ZonePieceOut(start=_dt(p.start_ms), end=_dt(p.end_ms), tz=p.tz) for p in pieces],
        start=_dt(pieces[0].start_ms),
        end=_dt(pieces[-1].end_ms),
        hours=-(-length // 3_600_000),
        seconds=sum(b.duration_ms for b in blocks if not b.idle) / 1000,
        idle_seconds=sum(b.duration_ms for b in blocks if b.idle) / 1000,
        blocks=[
            BlockOut(
                start=_dt(b.start_ms),
                end=_dt(b.end_ms),
                seconds=b.duration_ms / 1000,
                app=b.app,
                title=b.title,
                url=b.url,
                idle=b.idle,
            )
            for b in blocks
        ],
        truncated=truncated,
    )


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
    for key in raw.split(","):
        if key not in GROUP_KEYS:
            raise ApiError(
                f"'group_by' cannot contain {key!r}; use a comma-separated list of "
                f"{', '.join(GROUP_KEYS)}"
            )
        if key in keys:
            raise ApiError(f"'group_by' names {key!r} twice")
        keys.append(key)
    return keys


def group_by_values() -> list[str]:
    """Every value ``group_by`` takes: each order of each non-empty subset, and
    "" for the default."""
    subsets = (
        ",".join(keys)
        for n in range(1, len(GROUP_KEYS) + 1)
        for keys in itertools.permutations(GROUP_KEYS, n)
    )
    return ["", *subsets]


def usage_range(start_raw: str | None, end_raw: str | None) -> tuple[datetime, datetime]:
    start = parse_instant("start", start_raw)
    end = parse_instant("end", end_raw)
    if end <= start:
        raise ApiError("'end' must be after 'start'")
    if end - start > MAX_RANGE:
        raise ApiError(f"the range is longer than {MAX_RANGE.days} days")
    return start, end


def _row_fields(r: UsageRow | DayUsage, names: Mapping[str, str]) -> dict[str, Any]:
    """A usage row's fields as the API shows them: seconds, and the agent's name."""
    return {
        "agent": r.agent_id,
        "name": names.get(r.agent_id) if r.agent_id is not None else None,
        "app": r.app,
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
) -> UsageOut:
    """``names``: agents' names by id, shown beside the rows' agents ({} when the rows
    are not grouped by agent)."""
    return UsageOut(
        start=start,
        end=end,
        group_by=list(group_by),
        rows=[UsageRowOut(**_row_fields(r, names)) for r in rows],
    )


def days_range(first_raw: str | None, last_raw: str | None) -> tuple[date, date]:
    """``from`` and ``to``, both included, at most MAX_DAYS days."""
    first = parse_date("from", first_raw)
    last = parse_date("to", last_raw)
    if last < first:
        raise ApiError("'to' must not be before 'from'")
    if (last - first).days + 1 > MAX_DAYS:
        raise ApiError(f"the range is longer than {MAX_DAYS} days")
    return first, last


def parse_day_mode(raw: str | None) -> DayMode:
    for mode in DAY_MODES:
        if ("viewer" if raw is None else raw) == mode:
            return mode
    raise ApiError(f"'day' must be one of {', '.join(DAY_MODES)}, not {raw!r}")


def parse_day_zone(mode: DayMode, raw: str | None) -> ZoneInfo:
    """``tz`` for a day: required for the viewer's day; for a person's own day their
    zone history decides, and a ``tz`` given must still be a zone (it names the viewer)."""
    if mode == "person" and raw is None:
        return ZoneInfo("UTC")
    return parse_zone(raw)


def usage_days_out(
    first: date,
    last: date,
    mode: DayMode,
    zone: ZoneInfo,
    group_by: list[GroupKey],
    rows: list[DayUsage],
    names: Mapping[str, str],
) -> UsageDaysOut:
    return UsageDaysOut(
        first=first,
        last=last,
        day=mode,
        tz=zone.key if mode == "viewer" else None,
        group_by=list(group_by),
        rows=[DayRowOut(day=r.day, **_row_fields(r, names)) for r in rows],
    )


def key_columns(group_by: list[GroupKey]) -> list[str]:
    """The CSV columns that name a row's group: the agent's id and name, the app, the
    category."""
    return [
        *(["agent", "name"] if "agent" in group_by else []),
        *(["app"] if "app" in group_by else []),
        *(["category"] if "category" in group_by else []),
    ]


def range_ms(start: datetime, end: datetime) -> tuple[int, int]:
    return to_ms(start), to_ms(end)


def _param(
    name: str, schema: dict[str, Any], description: str = "", *, required: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        out["description"] = description
    return out


def openapi() -> dict[str, Any]:
    (_, components) = msgspec.json.schema_components(
        [
            AgentsOut,
            UsageOut,
            UsageDaysOut,
            SpansOut,
            TimelineOut,
            TitlesOut,
            ErrorOut,
            CategoriesIn,
            CategoriesOut,
            CategoriesSaved,
        ],
        ref_template="#/components/schemas/{name}",
    )

    def ref(name: str) -> dict[str, Any]:
        return {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}
        }

    def table(name: str, what: str) -> dict[str, Any]:
        """JSON, or the same rows as CSV with format=csv."""
        json_body = ref(name)["content"]
        csv_body = {"text/csv": {"schema": {"type": "string"}}}
        return {"description": what, "content": {**json_body, **csv_body}}

    def ok(description: str, name: str) -> dict[str, Any]:
        return {"200": table(name, description), "400": bad}

    bad = {"description": "A parameter is missing or wrong; `error` says which.", **ref("ErrorOut")}
    unknown = {"description": "No agent has this id; `error` says so.", **ref("ErrorOut")}
    text = {"type": "string"}
    instant = {"type": "string", "format": "date-time"}
    day = {"type": "string", "format": "date"}
    start = _param("start", instant, "first instant of the range")
    end = _param("end", instant, "the range ends before this instant")
    fmt = _param("format", {"type": "string", "enum": list(FORMATS)}, "json (default) or csv")
    fmt["required"] = False
    group_by = _param(
        "group_by",
        {"type": "string", "enum": group_by_values(), "default": "agent,app"},
        f"Comma-separated subset of: {', '.join(GROUP_KEYS)} (a category's time without its "
        "sub-categories'). Default: agent,app.",
        required=False,
    )
    day_mode = _param(
        "day",
        {"type": "string", "enum": list(DAY_MODES)},
        "whose days: viewer (default: midnight to midnight in `tz`) or person (each "
        "person's own, on the clock of where they were)",
        required=False,
    )
    agent = _param(
        "agent",
        {"type": "string", "pattern": AGENT_ID_PATTERN},
        "the agent's id (see /api/v1/agents)",
    )
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "officepulse",
            "version": __version__,
            "description": "Live team presence and time per app. Times are ISO 8601 instants; "
            "durations are seconds. The dashboard's reports are drawn from these same answers. "
            "Once people have accounts every call needs a signed-in session (the cookie POST "
            "/signin sets), and what it answers about others is at the level each person "
            "lets others see (a category only: the top level of their category, as the app and "
            "as the category); one person's timeline and titles are for that person or an "
            "admin, and changing the category rules is for admins.",
        },
        "paths": {
            "/api/v1/agents": {
                "get": {
                    "operationId": "listAgents",
                    "summary": "Every agent, online or not, with what is in front of it now "
                    "and the time zone its computer is in (`tz`).",
                    "responses": {"200": {"description": "The agents.", **ref("AgentsOut")}},
                }
            },
            "/api/v1/usage": {
                "get": {
                    "operationId": "usage",
                    "summary": "Seconds of activity in [start, end), grouped.",
                    "description": "Spans are clipped to the range. `seconds` is active time; "
                    "`idle_seconds` is time the person was away while the app was in front. "
                    "The dashboard's team view and a person's per-app chart are this report "
                    "(group_by=agent,app) for the chosen days; their charts by category are "
                    "group_by=agent,category with each category's time added to its "
                    'ancestors\' ("Work" = "Work > Programming" + … + exactly "Work").',
                    "parameters": [
                        start,
                        end,
                        fmt,
                        group_by,
                    ],
                    "responses": ok("Totals (as text/csv with format=csv).", "UsageOut"),
                }
            },
            "/api/v1/usage/days": {
                "get": {
                    "operationId": "usageDays",
                    "summary": "Seconds of activity per day from `from` to `to`, grouped.",
                    "description": "A day is midnight to midnight: in the zone `tz` for everyone "
                    "(`day=viewer`), or in each person's own zone at the time, as their agent "
                    "reported it (`day=person`: a traveller's days follow them; `tz` is then "
                    "unused). Daylight-saving changes give 23- and 25-hour days. "
                    f"At most {MAX_DAYS} days; days without time are left out.",
                    "parameters": [
                        _param("from", day, "the first day"),
                        _param("to", day, "the last day, included"),
                        day_mode,
                        _param(
                            "tz",
                            {"type": "string", "default": "UTC"},
                            "the viewer's IANA time zone; default UTC",
                            required=False,
                        ),
                        group_by,
                        fmt,
                    ],
                    "responses": ok(
                        "Totals per day (as text/csv with format=csv).", "UsageDaysOut"
                    ),
                }
            },
            "/api/v1/spans": {
                "get": {
                    "operationId": "spans",
                    "summary": "The stored spans that overlap [start, end), whole, in time order.",
                    "description": f"At most {EXPORT_LIMIT} spans; `truncated` says when "
                    "there were more (ask for a shorter range).",
                    "parameters": [
                        start,
                        end,
                        {**agent, "required": False, "description": "only this agent's spans"},
                        fmt,
                    ],
                    "responses": ok("Spans (as text/csv with format=csv).", "SpansOut"),
                }
            },
            "/api/v1/timeline": {
                "get": {
                    "operationId": "timeline",
                    "summary": "One person's calendar day, span by span, clipped to the day.",
                    "description": "With `day=viewer` (the default) the day runs from midnight "
                    "to midnight on the wall clock of `tz`, so it has 23 or 25 `hours` when "
                    "daylight saving time begins or ends. With `day=person` it is the person's "
                    "own day, on the wall clock of the zone their agent reported at the time, "
                    "and `tz` is not needed: a flight east makes it shorter, one west longer or "
                    "in two pieces; `zones` lists its stretches, each in one zone, `hours` "
                    "is its real length and `tz` is null. "
                    "Blocks are in time order; idle blocks are the time the person was away "
                    "while the app was in front; gaps are times the agent was not running.",
                    "parameters": [
                        agent,
                        _param("date", day, "the calendar day"),
                        day_mode,
                        _param(
                            "tz",
                            text,
                            "IANA time zone the day is reckoned in; required unless day=person",
                            required=False,
                        ),
                        fmt,
                    ],
                    "responses": {
                        **ok("The day's blocks (as text/csv with format=csv).", "TimelineOut"),
                        "404": unknown,
                    },
                }
            },
            "/api/v1/titles": {
                "get": {
                    "operationId": "titles",
                    "summary": "Time per window title (and URL) of one app of one person "
                    "in [start, end).",
                    "description": "Spans are clipped to the range; rows are sorted by active "
                    "time, most first. A title seen with two URLs is two rows.",
                    "parameters": [
                        agent,
                        _param("app", {"type": "string", "minLength": 1}, "the app's name"),
                        start,
                        end,
                        fmt,
                    ],
                    "responses": {
                        **ok("Totals per title (as text/csv with format=csv).", "TitlesOut"),
                        "404": unknown,
                    },
                }
            },
            "/api/v1/categories": {
                "get": {
                    "operationId": "getCategories",
                    "summary": "The category rules, in order (the first that matches wins).",
                    "responses": {"200": {"description": "The rules.", **ref("CategoriesOut")}},
                },
                "put": {
                    "operationId": "setCategories",
                    "summary": "Replace the whole rule list and re-categorise every stored span.",
                    "requestBody": {"required": True, **ref("CategoriesIn")},
                    "responses": {
                        "200": {
                            "description": "The rules now in force and how many spans changed.",
                            **ref("CategoriesSaved"),
                        },
                        "400": {
                            "description": "A rule is wrong; `error` names it (its index) "
                            "and what is wrong. Nothing was changed.",
                            **ref("ErrorOut"),
                        },
                    },
                },
            },
            "/api/v1/categories/reset": {
                "post": {
                    "operationId": "resetCategories",
                    "summary": "Put the default rules back and re-categorise every stored span.",
                    "responses": {
                        "200": {
                            "description": "The default rules and how many spans changed.",
                            **ref("CategoriesSaved"),
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": components,
            # Once people have accounts (server/access.py): the session cookie that
            # POST /signin sets. Without accounts (open mode) no credential is needed.
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "officepulse_session"}
            },
        },
        "security": [{"session": []}, {}],
    }
    denied = {"description": "Not signed in (once people have accounts).", **ref("ErrorOut")}
    for operations in doc["paths"].values():
        for operation in operations.values():
            operation["responses"]["401"] = denied
    for path in ("/api/v1/spans", "/api/v1/timeline", "/api/v1/titles"):
        doc["paths"][path]["get"]["responses"]["403"] = {
            "description": "`agent` is another person's, and you are not an admin.",
            **ref("ErrorOut"),
        }
    for method, path in (("put", "/api/v1/categories"), ("post", "/api/v1/categories/reset")):
        doc["paths"][path][method]["responses"]["403"] = {
            "description": "Only an admin changes the rules (once people have accounts).",
            **ref("ErrorOut"),
        }
    doc["paths"]["/api/v1/spans"]["get"]["description"] += (
        " A member gets their own agents' spans only; an admin gets everyone's, each at "
        "the level that person lets others see (no titles or URLs below `full`)."
    )
    return doc
