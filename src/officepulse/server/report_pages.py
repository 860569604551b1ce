"""The report pages: the team's time (/time) and one person's (/people/{id}), with
a range picker in the viewer's zone, charts drawn as SVG on the server, and htmx
fragments for each part (the whole report, a person's titles, a person's day).

Every page is a plain GET of its URL, so it can be bookmarked and works without
JS; htmx only swaps the part that changed and pushes the URL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from markupsafe import escape

from officepulse.core.charts import stacked_bar, timeline
from officepulse.core.periods import RANGE_LABELS, Period, PeriodError, chosen_period, midnight_ms
from officepulse.core.reports import top_and_other
from officepulse.server import api, report_data
from officepulse.server.views import Views
from officepulse.store.base import AgentStatus, Store

# Apps drawn in each person's bar on the team view; the rest are "other".
TOP_APPS = 5
IDLE_FILL = "var(--idle-block)"


@dataclass(frozen=True)
class Picker:
    """What the range picker shows, also when what was asked for was wrong."""

    action: str
    range: str
    first: str
    last: str
    tz: str
    hidden: Mapping[str, str] = field(default_factory=dict)
    ranges: tuple[tuple[str, str], ...] = tuple(RANGE_LABELS.items())


@dataclass(frozen=True)
class Chosen:
    """A report's range, as asked for and as reckoned."""

    range: str
    period: Period
    tz: str
    zone: ZoneInfo

    def params(self) -> dict[str, str]:
        """The query that asks for this range again (links keep presets relative)."""
        out = {"range": self.range, "tz": self.tz}
        if self.range == "custom" and self.period.first and self.period.last:
            out["from"], out["to"] = self.period.first.isoformat(), self.period.last.isoformat()
        return out

    def today(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()


def _html(text: str, status: int = 200) -> web.Response:
    response = web.Response(text=text, status=status, content_type="text/html")
    response.headers["Vary"] = "HX-Request"
    return response


def is_fragment(request: web.Request) -> bool:
    # A history restore asks for the whole page even though htmx sends it.
    return (
        request.headers.get("HX-Request") == "true"
        and "HX-History-Restore-Request" not in request.headers
    )


def with_query(path: str, params: Mapping[str, str]) -> str:
    return f"{path}?{urlencode(params)}" if params else path


class ReportPages:
    def __init__(self, store: Store, views: Views, clock: Callable[[], float]) -> None:
        self.store = store
        self.views = views
        self.clock = clock

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/time", self.team_page)
        app.router.add_get("/people/{agent_id}", self.person_page)
        app.router.add_get("/people/{agent_id}/titles", self.titles_fragment)
        app.router.add_get("/people/{agent_id}/timeline", self.timeline_fragment)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- the range -----------------------------------------------------------------

    def choose(self, query: Mapping[str, str]) -> Chosen:
        zone = api.parse_zone(query.get("tz"))
        name, period = chosen_period(
            query.get("range"), query.get("from"), query.get("to"), self.now(), zone
        )
        return Chosen(name, period, query["tz"], zone)

    @staticmethod
    def picker(action: str, query: Mapping[str, str], hidden: Mapping[str, str]) -> Picker:
        """The picker as asked (even when it was wrong, so it can be put right)."""
        return Picker(
            action=action,
            range=query.get("range") or ("custom" if query.get("from") else "today"),
            first=query.get("from", ""),
            last=query.get("to", ""),
            tz=query.get("tz", ""),
            hidden=hidden,
        )

    def _respond(
        self, request: web.Request, title: str, fragment: str, status: int = 200
    ) -> web.Response:
        if is_fragment(request):
            return _html(fragment, status)
        return _html(self.views.page(title, fragment, "time"), status)

    def _loading(self, request: web.Request, title: str) -> web.Response:
        """Opened without a zone: the page asks the browser for its own."""
        query = {k: v for k, v in request.query.items() if k != "tz"}
        html = self.views.render(
            "report_loading.html",
            ZoneInfo("UTC"),
            url=with_query(request.path, query),
            fallback=with_query(request.path, {**query, "tz": "UTC"}),
        )
        return self._respond(request, title, html)

    def _error(
        self, request: web.Request, title: str, picker: Picker, error: str, status: int = 400
    ) -> web.Response:
        html = self.views.render("report_error.html", ZoneInfo("UTC"), picker=picker, error=error)
        return self._respond(request, title, html, status)

    # -- the team ------------------------------------------------------------------

    async def team_page(self, request: web.Request) -> web.Response:
        title = "Time"
        if not request.query.get("tz"):
            return self._loading(request, title)
        try:
            chosen = self.choose(request.query)
        except (api.ApiError, PeriodError) as exc:
            return self._error(request, title, self.picker("/time", request.query, {}), str(exc))
        period = chosen.period
        people = await report_data.team(self.store, period.start_ms, period.end_ms)
        scale = max((p.active_ms + p.idle_ms for p in people), default=0)
        shown = []
        for person in people:
            top = top_and_other(person.items, TOP_APPS)
            shown.append(
                {
                    "id": person.id,
                    "name": person.name,
                    "host": person.host,
                    "active_ms": person.active_ms,
                    "idle_ms": person.idle_ms,
                    "top": [t for t in top if t.active_ms],
                    "segments": stacked_bar(top, scale, IDLE_FILL),
                }
            )
        html = self.views.render(
            "team_report.html",
            chosen.zone,
            picker=self._picker_for("/time", chosen, {}),
            period=period,
            people=shown,
            query=urlencode(chosen.params()),
        )
        return self._respond(request, title, html)

    def _picker_for(self, action: str, chosen: Chosen, hidden: Mapping[str, str]) -> Picker:
        p = chosen.period
        return Picker(
            action=action,
            range=chosen.range,
            first=p.first.isoformat() if p.first else "",
            last=p.last.isoformat() if p.last else "",
            tz=chosen.tz,
            hidden=hidden,
        )

    # -- a person ------------------------------------------------------------------

    async def _agent(self, request: web.Request) -> AgentStatus:
        agent = await self.store.agent(request.match_info["agent_id"])
        if agent is None:
            raise web.HTTPNotFound(
                text=f"nobody has the agent id {request.match_info['agent_id']!r}"
            )
        return agent

    async def person_page(self, request: web.Request) -> web.Response:
        agent = await self._agent(request)
        title = agent.info.name
        if not request.query.get("tz"):
            return self._loading(request, title)
        path = f"/people/{agent.info.id}"
        app = request.query.get("app", "")
        hidden = {"app": app} if app else {}
        try:
            chosen = self.choose(request.query)
            day = self._day(request.query, chosen)
        except (api.ApiError, PeriodError) as exc:
            return self._error(request, title, self.picker(path, request.query, hidden), str(exc))
        context = {
            **await self._person_context(agent, chosen),
            **await self._titles_context(agent, chosen, app),
            **await self._timeline_context(agent, chosen, day, app),
            "picker": self._picker_for(path, chosen, hidden),
        }
        html = self.views.render("person_report.html", chosen.zone, **context)
        return self._respond(request, title, html)

    async def titles_fragment(self, request: web.Request) -> web.Response:
        agent = await self._agent(request)
        try:
            chosen = self.choose(request.query)
            app = api.parse_required("app", request.query.get("app"), "the app's name")
        except (api.ApiError, PeriodError) as exc:
            return _html(f'<section id="titles"><p class="error">{_escape(exc)}</p></section>', 400)
        context = await self._titles_context(agent, chosen, app)
        return _html(self.views.render("titles.html", chosen.zone, **context))

    async def timeline_fragment(self, request: web.Request) -> web.Response:
        agent = await self._agent(request)
        try:
            chosen = self.choose(request.query)
            day = self._day(request.query, chosen)
        except (api.ApiError, PeriodError) as exc:
            html = f'<section id="timeline"><p class="error">{_escape(exc)}</p></section>'
            return _html(html, 400)
        context = await self._timeline_context(agent, chosen, day, request.query.get("app", ""))
        return _html(self.views.render("timeline.html", chosen.zone, **context))

    def _day(self, query: Mapping[str, str], chosen: Chosen) -> date:
        """The day asked for; else today if it is in the range, else the range's last."""
        raw = query.get("day")
        if raw:
            return api.parse_date("day", raw)
        today, p = chosen.today(self.now()), chosen.period
        if p.first and p.last and not p.first <= today <= p.last:
            return p.last
        return today

    async def _person_context(self, agent: AgentStatus, chosen: Chosen) -> dict[str, object]:
        p = chosen.period
        person = await report_data.person(self.store, agent, p.start_ms, p.end_ms)
        return {
            "person": person,
            "period": p,
            "max_ms": max((t.active_ms for t in person.items), default=0),
            "query": urlencode(chosen.params()),
        }

    async def _titles_context(
        self, agent: AgentStatus, chosen: Chosen, app: str
    ) -> dict[str, object]:
        p = chosen.period
        path = f"/people/{agent.info.id}"
        params = chosen.params()
        titles, truncated = (
            await report_data.titles(self.store, agent.info.id, app, p.start_ms, p.end_ms)
            if app
            else ([], False)
        )

        def self_url(**extra: str) -> str:
            return with_query(path, {**params, **extra})

        return {
            "app": app,
            "period": p,
            "titles": titles,
            "truncated": truncated,
            "titles_max_ms": max((t.active_ms for t in titles), default=0),
            "self_url": self_url,
            "titles_url": lambda label: with_query(f"{path}/titles", {**params, "app": label}),
        }

    async def _timeline_context(
        self, agent: AgentStatus, chosen: Chosen, day: date, app: str
    ) -> dict[str, object]:
        path = f"/people/{agent.info.id}"
        start_ms = midnight_ms(day, chosen.zone)
        end_ms = midnight_ms(day + timedelta(days=1), chosen.zone)
        blocks, truncated = await report_data.day(self.store, agent.info.id, start_ms, end_ms)
        keep = {**chosen.params(), **({"app": app} if app else {})}
        return {
            "day": day,
            "previous": day - timedelta(days=1),
            "following": day + timedelta(days=1),
            "tl": timeline(blocks, start_ms, end_ms, chosen.zone),
            "blocks": blocks,
            "truncated": truncated,
            "day_active_ms": sum(b.duration_ms for b in blocks if not b.idle),
            "day_idle_ms": sum(b.duration_ms for b in blocks if b.idle),
            "page_url": path,
            "timeline_action": f"{path}/timeline",
            "day_hidden": keep,
            "day_url": lambda d: with_query(path, {**keep, "day": d.isoformat()}) + "#timeline",
            "day_fragment_url": lambda d: with_query(
                f"{path}/timeline", {**keep, "day": d.isoformat()}
            ),
        }


def _escape(exc: Exception) -> str:
    return str(escape(str(exc)))
