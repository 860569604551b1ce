"""GET /api/v1/openapi.json: the OpenAPI document, its schemas generated from the same
Structs the handlers encode, so that it cannot drift from what they answer."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from officepulse import __version__
from officepulse.bus.gateways import ANNOUNCE_EVERY, FORGET_AFTER, INFO_WITHIN
from officepulse.core.days import DAY_MODES, MAX_DAYS
from officepulse.panel.api.agents import AgentsOut
from officepulse.panel.api.app_names import AppNameIn, AppNameOut, AppNamesOut
from officepulse.panel.api.categories import (
    CategoriesIn,
    CategoriesOut,
    CategoriesSaved,
    JobOut,
    UncategorizedOut,
)
from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.gaps import GapsOut
from officepulse.panel.api.gateways import GatewaysOut
from officepulse.panel.api.hours import UsageHoursOut
from officepulse.panel.api.params import AGENT_ID_PATTERN, FORMATS, group_by_values
from officepulse.panel.api.responses import ErrorOut, json_response
from officepulse.panel.api.spans import EXPORT_LIMIT, SpansOut
from officepulse.panel.api.timeline import TimelineOut
from officepulse.panel.api.titles import TitlesOut
from officepulse.panel.api.usage import UsageDaysOut, UsageOut
from officepulse.store.base import GROUP_KEYS


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
            UsageHoursOut,
            SpansOut,
            TimelineOut,
            GapsOut,
            TitlesOut,
            ErrorOut,
            CategoriesIn,
            CategoriesOut,
            CategoriesSaved,
            JobOut,
            UncategorizedOut,
            AppNamesOut,
            AppNameIn,
            AppNameOut,
            GatewaysOut,
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

    def saved(description: str) -> dict[str, Any]:
        location = {
            "description": "/api/v1/categories/jobs/{id}: how the job is getting on",
            "schema": {"type": "string"},
        }
        return {
            "description": description,
            "headers": {"Location": location},
            **ref("CategoriesSaved"),
        }

    # A change of the rules, answered at once (panel/recategorising.py).
    accepted = (
        "Spans written from now on are categorised by the new rules at once; those stored "
        "before are re-categorised in the background, in batches, by the job the answer "
        "names (one at a time: a newer change supersedes a job still running, whose work "
        "the newer job redoes). Until it is done, each span counts once, in its new "
        "category if the job has reached it, else in its old; totals over all categories "
        "stay exact. A server restarted meanwhile goes on with the job."
    )

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
    # One person's calendar day: the timeline and the gaps take it alike.
    one_day = [
        agent,
        _param("date", day, "the calendar day"),
        day_mode,
        _param(
            "tz",
            text,
            "IANA time zone the day is reckoned in; required unless day=person",
            required=False,
        ),
    ]
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
            "/api/v1/usage/hours": {
                "get": {
                    "operationId": "usageHours",
                    "summary": "Seconds of activity per hour of the day and weekday over the "
                    "days from `from` to `to`: the report pages' heat map.",
                    "description": "Each day is reckoned as for /api/v1/usage/days (`day`, "
                    "`tz`), and each of its hours on the wall clock it is reckoned on: with "
                    "`day=person`, each person's own. A row is a weekday (`weekday`, ISO 8601: "
                    "1 = Monday) and an hour of the clock (`hour`, 0-23), summed over every "
                    "such day of the range: the hour repeated when daylight saving time ends "
                    "counts twice, the one skipped in spring in none. Cells without time are "
                    f"left out. At most {MAX_DAYS} days.",
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
                        {**agent, "required": False, "description": "only this agent's time"},
                        fmt,
                    ],
                    "responses": {
                        **ok(
                            "Totals per weekday and hour (as text/csv with format=csv).",
                            "UsageHoursOut",
                        ),
                        "404": unknown,
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
                        *one_day,
                        fmt,
                    ],
                    "responses": {
                        **ok("The day's blocks (as text/csv with format=csv).", "TimelineOut"),
                        "404": unknown,
                    },
                }
            },
            "/api/v1/gaps": {
                "get": {
                    "operationId": "gaps",
                    "summary": "What one person's agent did not record on a calendar day, and why.",
                    "description": "The same list the person's page shows, to the person and "
                    "to admins alike, clipped to the day (`date`, `day` and `tz` as for "
                    "/api/v1/timeline), in time order. `kind` is `not-running` (the computer "
                    "was on but the agent was not running; its sleeps left out), "
                    "`journal-gap` (the agent's journal was begun anew: what it had not sent "
                    "is lost), `asleep` (the computer slept), `clock-jump` (its clock was set: "
                    "`start` = `end`, the new time), `paused` (the person paused the agent), "
                    "`private` (kept private by the person's own privacy lists: nothing of "
                    "what it was is known), or `unknown-build` (the agent's build is not one "
                    "this server knows: its own, or one in `agent_builds`). `reason` says it "
                    "in words.",
                    "parameters": [
                        *one_day,
                    ],
                    "responses": {
                        "200": {"description": "The day's gaps.", **ref("GapsOut")},
                        "400": bad,
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
                    "summary": "The category rules, in order (the first that matches wins), "
                    "and the latest change's job re-categorising history.",
                    "responses": {"200": {"description": "The rules.", **ref("CategoriesOut")}},
                },
                "put": {
                    "operationId": "setCategories",
                    "summary": "Replace the whole rule list; every stored span is "
                    "re-categorised in the background.",
                    "description": accepted,
                    "requestBody": {"required": True, **ref("CategoriesIn")},
                    "responses": {
                        "202": saved("The rules now in force, and their job, under way."),
                        "400": {
                            "description": "A rule is wrong; `error` names it (its index) "
                            "and what is wrong. Nothing was changed.",
                            **ref("ErrorOut"),
                        },
                    },
                },
            },
            "/api/v1/categories/jobs/{job_id}": {
                "get": {
                    "operationId": "getCategoryJob",
                    "summary": "How re-categorising history by one change of the rules is "
                    "getting on (the `Location` of that change's answer).",
                    "parameters": [
                        {
                            "name": "job_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1},
                            "description": "the job's id (the rules' version)",
                        }
                    ],
                    "responses": {
                        "200": {"description": "The job.", **ref("JobOut")},
                        "404": {"description": "No job has this id.", **ref("ErrorOut")},
                    },
                }
            },
            "/api/v1/categories/uncategorized": {
                "get": {
                    "operationId": "uncategorized",
                    "summary": "Apps and web sites with active time in no category in "
                    "[start, end), most first.",
                    "description": "As the caller may see them: each person's time at the "
                    "level they let others see (at `app` their apps' categories are decided "
                    "by the app alone; time shown as a category only is left out), and web "
                    "sites only from the spans of the agents the caller sees in full (their "
                    "own, and those of people who show everything). A site's time is its "
                    "browser's too. Apps and sites a rule now takes (made since, history "
                    "being re-categorised) are left out.",
                    "parameters": [start, end],
                    "responses": {
                        "200": {
                            "description": "What no rule categorises.",
                            **ref("UncategorizedOut"),
                        },
                        "400": bad,
                    },
                }
            },
            "/api/v1/app-names": {
                "get": {
                    "operationId": "getAppNames",
                    "summary": "Every app with a name: the one its desktop reports (agents "
                    "send it) and the one an admin set, which wins. Totals stay keyed by `app`.",
                    "responses": {"200": {"description": "The apps.", **ref("AppNamesOut")}},
                },
                "put": {
                    "operationId": "setAppName",
                    "summary": "Show an app by a name of your own everywhere (`name`: null "
                    "gives it its reported name back).",
                    "requestBody": {"required": True, **ref("AppNameIn")},
                    "responses": {
                        "200": {"description": "The app's names now.", **ref("AppNameOut")},
                        "400": {
                            "description": "The body is wrong; `error` says what.",
                            **ref("ErrorOut"),
                        },
                    },
                },
            },
            "/api/v1/categories/reset": {
                "post": {
                    "operationId": "resetCategories",
                    "summary": "Put the default rules back; every stored span is "
                    "re-categorised in the background.",
                    "description": accepted,
                    "responses": {"202": saved("The default rules, and their job, under way.")},
                }
            },
            "/api/v1/gateways": {
                "get": {
                    "operationId": "listGateways",
                    "summary": "Every gateway process serving agents: its address, how many "
                    "agents are connected to it, since when it runs, its version.",
                    "description": f"Each gateway that announced itself (every "
                    f"{ANNOUNCE_EVERY:g} s) is asked now; one that does not answer within "
                    f"{INFO_WITHIN:g} s is listed with what it said last and `answering` "
                    f"false, and left out once it has not been heard from for "
                    f"{FORGET_AFTER:g} s. The embedded server (`officepulse server`) is one "
                    'gateway, `"embedded"` unless gateway_id says otherwise. `uptime_seconds` '
                    "runs from `started` (the gateway's clock) to `last_heard` (the panel's).",
                    "responses": {
                        "200": {"description": "The gateways, by id.", **ref("GatewaysOut")},
                        "403": {
                            "description": "Only an admin sees the gateways (once people "
                            "have accounts).",
                            **ref("ErrorOut"),
                        },
                    },
                }
            },
        },
        "components": {
            "schemas": components,
            # Once people have accounts (security/access.py): the session cookie that
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
    for path in ("/api/v1/spans", "/api/v1/timeline", "/api/v1/gaps", "/api/v1/titles"):
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


async def document(api: ApiContext, request: web.Request) -> web.Response:
    return json_response(openapi())
