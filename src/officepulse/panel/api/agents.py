"""GET /api/v1/agents: every agent, online or not, with what is in front of it now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec
from aiohttp import web

from officepulse.bus.presence import AgentView
from officepulse.panel.api.context import ApiContext
from officepulse.panel.api.responses import instant, json_response
from officepulse.security.access import VIEWER


class CurrentActivity(msgspec.Struct, kw_only=True, omit_defaults=True):
    app: str
    app_name: str  # the app as the dashboard shows it (/api/v1/app-names)
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


def agent_out(view: AgentView, app_name: Callable[[str], str] = str) -> AgentOut:
    current = None
    if view.current is not None:
        a = view.current.activity
        current = CurrentActivity(
            app=a.app,
            app_name=app_name(a.app),
            title=a.title,
            url=a.url,
            process=a.process,
            idle=a.idle,
            paused=a.paused,
            since=instant(view.current.start_ms),
            last_heartbeat=instant(view.current.end_ms),
        )
    return AgentOut(
        id=view.id,
        name=view.name,
        host=view.host,
        platform=view.platform,
        version=view.version,
        tz=view.tz,
        online=view.online,
        last_seen=instant(view.last_seen_ms),
        current=current,
        blocked=view.blocked,
    )


async def list_agents(api: ApiContext, request: web.Request) -> web.Response:
    statuses = await api.store.agents()
    await api.viewers.refresh()
    level = api.viewers.level(request[VIEWER])
    views = [api.hub.view(s.info.id) or AgentView.of_status(s) for s in statuses]
    app_name = (await api.app_names.fresh()).name
    agents = [agent_out(view, app_name) for view in api.viewers.shown(views, level)]
    return json_response(AgentsOut(agents=agents))
