"""The REST API's route table: each path, and the handler that answers it with the
ApiContext it is given (who may call each is security/access.py's table)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from officepulse.panel.api import (
    agents,
    app_names,
    categories,
    gaps,
    gateways,
    hours,
    openapi,
    spans,
    timeline,
    titles,
    usage,
)
from officepulse.panel.api.context import ApiContext

ApiHandler = Callable[[ApiContext, web.Request], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def routes(api: ApiContext) -> list[web.RouteDef]:
    def bound(handler: ApiHandler) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await handler(api, request)

        return handle

    return [
        web.get("/api/v1/agents", bound(agents.list_agents)),
        web.get("/api/v1/usage", bound(usage.usage)),
        web.get("/api/v1/usage/days", bound(usage.usage_days)),
        web.get("/api/v1/usage/hours", bound(hours.usage_hours)),
        web.get("/api/v1/spans", bound(spans.spans)),
        web.get("/api/v1/timeline", bound(timeline.timeline)),
        web.get("/api/v1/gaps", bound(gaps.gaps)),
        web.get("/api/v1/titles", bound(titles.titles)),
        web.get("/api/v1/categories", bound(categories.get_categories)),
        web.put("/api/v1/categories", bound(categories.set_categories)),
        web.post("/api/v1/categories/reset", bound(categories.reset_categories)),
        web.get("/api/v1/categories/jobs/{job_id}", bound(categories.get_job)),
        web.get("/api/v1/categories/uncategorized", bound(categories.uncategorized)),
        web.get("/api/v1/app-names", bound(app_names.get_app_names)),
        web.put("/api/v1/app-names", bound(app_names.set_app_name)),
        web.get("/api/v1/openapi.json", bound(openapi.document)),
        web.get("/api/v1/gateways", bound(gateways.list_gateways)),
    ]
