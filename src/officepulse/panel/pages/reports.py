"""The report pages: the team's time (/time) and one person's (/people/{id}), with
a range picker in the viewer's zone, a choice of whose days count (the viewer's or
each person's own, ``day=viewer|person``), charts drawn as SVG on the server, and
htmx fragments for each part (the whole report, a person's titles, a person's day).

Every page is a plain GET of its URL, so it can be bookmarked and works without
JS; htmx only swaps the part that changed and pushes the URL.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from markupsafe import escape

from officepulse.core.categories import category_colour
from officepulse.core.change import change, previous_days
from officepulse.core.charts import HOUR_MS, stacked_bar, timeline
from officepulse.core.columns import day_columns, ranked
from officepulse.core.days import DayMode, Days, dates
from officepulse.core.heatmap import heat_map
from officepulse.core.palette import IDLE_COLOUR, Palette, team_palette
from officepulse.core.periods import (
    RANGE_LABELS,
    Period,
    PeriodError,
    chosen_period,
    days_period,
    latest_range,
)
from officepulse.core.reports import Block, PersonTotals, top_and_other
from officepulse.core.spans import to_ms
from officepulse.core.zones import ZoneRun, zone_at
from officepulse.core.zoom import ZOOM_LABELS, ZOOMS, Zoom, clip, zoom_window
from officepulse.panel import day_usage, report_data
from officepulse.panel.api.params import (
    ApiError,
    parse_date,
    parse_day_mode,
    parse_required,
    parse_zone,
)
from officepulse.panel.gaps import Gaps
from officepulse.panel.pages.chrome import chrome
from officepulse.panel.reads import LiveReads, Reads
from officepulse.panel.views import Views
from officepulse.security.access import VIEWER
from officepulse.store.agents import AgentReads
from officepulse.store.base import AgentStatus

# Apps (or categories) drawn in each person's bar on the team view, and in the columns
# of each day; the rest are "other".
TOP = 5
# What the team's bars are stacked by (``by``); the first is the default.
CHARTS = ("app", "category")
IDLE_FILL = IDLE_COLOUR


@dataclass(frozen=True)
class DayLink:
    """One choice (whose days count; what the bars are stacked by), as a link to the
    same view with it."""

    mode: str
    label: str
    url: str
    current: bool


@dataclass(frozen=True)
class Picker:
    """What the range picker shows, also when what was asked for was wrong."""

    action: str
    range: str
    first: str
    last: str
    tz: str
    hidden: Mapping[str, str] = field(default_factory=dict)
    days: tuple[DayLink, ...] = ()
    charts: tuple[DayLink, ...] = ()
    ranges: tuple[tuple[str, str], ...] = tuple(RANGE_LABELS.items())


def choice_links(
    path: str, query: Mapping[str, str], key: str, labels: Mapping[str, str]
) -> tuple[DayLink, ...]:
    """Links to the same view with ``key`` set to each of ``labels`` (the first is the
    default, left out of the URL), keeping everything else the view was asked with."""
    default = next(iter(labels))
    asked = query.get(key) or default
    rest = {k: v for k, v in query.items() if k != key}
    return tuple(
        DayLink(
            mode,
            label,
            with_query(path, {**rest, **({key: mode} if mode != default else {})}),
            mode == asked,
        )
        for mode, label in labels.items()
    )


def day_links(path: str, query: Mapping[str, str]) -> tuple[DayLink, ...]:
    """The choice "Days: mine (zone) | each person's own" as links that keep everything
    else the view was asked with (range, dates, app, the day on the timeline, by)."""
    labels = {"viewer": f"mine ({query.get('tz') or 'UTC'})", "person": "each person's own"}
    return choice_links(path, query, "day", labels)


def chart_links(path: str, query: Mapping[str, str]) -> tuple[DayLink, ...]:
    """The team view's "By app | By category" as links that keep the rest of the view."""
    return choice_links(path, query, "by", {"app": "By app", "category": "By category"})


def parse_by(raw: str | None) -> str:
    if raw is None or raw in CHARTS:
        return raw or CHARTS[0]
    raise ApiError(f"'by' must be one of {', '.join(CHARTS)}, not {raw!r}")


# What the day's timeline is zoomed to, kept in its links (core/zoom.py).
ZOOM_KEYS = ("zoom", "hour")


def parse_zoom(query: Mapping[str, str]) -> tuple[Zoom, int | None]:
    """The timeline's zoom (``zoom``: day, work or hour) and, zoomed to one hour, which
    (``hour``: its place in the day, 0 the first; none: where the day's activity starts)."""
    raw = query.get("zoom") or "day"
    zoom = next((z for z in ZOOMS if z == raw), None)
    if zoom is None:
        raise ApiError(f"'zoom' must be one of {', '.join(ZOOMS)}, not {raw!r}")
    hour = query.get("hour") or None
    if hour is not None and not re.fullmatch(r"\d{1,2}", hour):
        raise ApiError(f"'hour' must be the hour's place in the day, from 0, not {hour!r}")
    return zoom, None if hour is None else int(hour)


def zoom_params(zoom: Zoom, hour: int) -> dict[str, str]:
    """The query that asks for a zoom again: nothing for the whole day (the default)."""
    if zoom == "day":
        return {}
    return {"zoom": zoom, **({"hour": str(hour)} if zoom == "hour" else {})}


def _day_palette(paint: Palette, day: date, blocks: Sequence[Block]) -> Palette:
    """The page's colours (``paint``: the range's apps, most used first) for a day's
    timeline, where a day stepped to outside the range may have apps the range has not:
    those take colours after the range's own (which keep theirs), most used first, none
    shared with another app of that day."""
    apps = ranked((day, b.app, b.duration_ms) for b in blocks if not b.idle)
    return Palette([list(paint.assigned()), list(apps)])


@dataclass(frozen=True)
class Chosen:
    """A report's range, as asked for and as reckoned."""

    range: str
    period: Period
    tz: str
    zone: ZoneInfo
    day: DayMode = "viewer"

    def params(self) -> dict[str, str]:
        """The query that asks for this range again (links keep presets relative)."""
        out = {"range": self.range, "tz": self.tz}
        if self.range == "custom" and self.period.first and self.period.last:
            out["from"], out["to"] = self.period.first.isoformat(), self.period.last.isoformat()
        if self.day != "viewer":
            out["day"] = self.day
        return out

    def days(self, day: date | None = None) -> Days:
        """The range's dates, or one ``day``, counted in whose days were asked."""
        first, last = (day, day) if day else (self.period.first, self.period.last)
        assert first is not None  # every chosen period has its dates
        assert last is not None
        return Days(first, last, self.day, self.zone)


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
    def __init__(
        self,
        store: AgentReads,
        views: Views,
        clock: Callable[[], float],
        reads: Callable[[web.Request], Awaitable[LiveReads]],
        gaps: Gaps,
    ) -> None:
        self.store = store
        self.views = views
        self.clock = clock
        self.reads = reads  # the store as the request's viewer may see it
        self.gaps = gaps  # what the agent did not record, and why: the same for everyone

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/time", self.team_page),
            web.get("/people/{agent_id}", self.person_page),
            web.get("/people/{agent_id}/titles", self.titles_fragment),
            web.get("/people/{agent_id}/timeline", self.timeline_fragment),
        ]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- the range -----------------------------------------------------------------

    def choose(self, query: Mapping[str, str]) -> Chosen:
        zone = parse_zone(query.get("tz"))
        name, period = chosen_period(
            query.get("range"), query.get("from"), query.get("to"), self.now(), zone
        )
        return Chosen(name, period, query["tz"], zone, parse_day_mode(query.get("day")))

    @staticmethod
    def old_day_link(request: web.Request) -> None:
        """Links made before whose-days was a choice named the timeline's date ``day``;
        it is ``date`` now (as in /api/v1/timeline), and ``day`` is viewer or person (as
        in /api/v1/usage/days). Such a link is sent on to what it meant."""
        raw = request.query.get("day", "")
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) and "date" not in request.query:
            query = {k: v for k, v in request.query.items() if k != "day"}
            raise web.HTTPFound(with_query(request.path, {**query, "date": raw}))

    @staticmethod
    def picker(
        action: str, query: Mapping[str, str], hidden: Mapping[str, str], charts: bool = False
    ) -> Picker:
        """The picker as asked (even when it was wrong, so it can be put right)."""
        if charts and query.get("by") == "category":  # a wrong ``by`` is not kept
            hidden = {**hidden, "by": "category"}
        return Picker(
            action=action,
            range=query.get("range") or ("custom" if query.get("from") else "today"),
            first=query.get("from", ""),
            last=query.get("to", ""),
            tz=query.get("tz", ""),
            # A wrong ``day`` is not kept: choosing a range again puts it right.
            hidden={**hidden, **({"day": "person"} if query.get("day") == "person" else {})},
            days=day_links(action, {**query, **hidden}),
            charts=chart_links(action, {**query, **hidden}) if charts else (),
        )

    def _picker_for(
        self, action: str, chosen: Chosen, keep: Mapping[str, str], charts: bool = False
    ) -> Picker:
        """The picker for a report as reckoned. ``keep`` is what its links keep besides
        the range (the app or ``by``; on the timeline, its date); the form keeps ``app``
        and ``by``. ``charts``: it offers the choice of what the bars are stacked by."""
        p = chosen.period
        params = chosen.params()
        return Picker(
            action=action,
            range=chosen.range,
            first=p.first.isoformat() if p.first else "",
            last=p.last.isoformat() if p.last else "",
            tz=chosen.tz,
            hidden={
                **{k: v for k, v in keep.items() if k in ("app", "by")},
                **({"day": chosen.day} if "day" in params else {}),
            },
            days=day_links(action, {**params, **keep}),
            charts=chart_links(action, {**params, **keep}) if charts else (),
        )

    def _respond(
        self, request: web.Request, title: str, fragment: str, status: int = 200
    ) -> web.Response:
        if is_fragment(request):
            return _html(fragment, status)
        return _html(self.views.page(title, fragment, "time", **chrome(request[VIEWER])), status)

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
        self.old_day_link(request)
        if not request.query.get("tz"):
            return self._loading(request, title)
        try:
            chosen = self.choose(request.query)
            by = parse_by(request.query.get("by"))
        except (ApiError, PeriodError) as exc:
            picker = self.picker("/time", request.query, {}, charts=True)
            return self._error(request, title, picker, str(exc))
        reads = await self.reads(request)
        chosen, opened_on = await self._on_data(request.query, chosen, reads, None)
        period = chosen.period
        if by == "category":
            people = await report_data.team_by_category(reads, chosen.days())
        else:
            people = await report_data.team(reads, chosen.days())
        live = await report_data.in_progress(reads, chosen.days())
        rows = await report_data.per_day(reads, chosen.days(), by)
        paint = (
            category_colour
            if by == "category"
            else team_palette([p.items for p in people], TOP, list(ranked(rows))[:TOP])
        )
        overview = await self._overview(reads, chosen, rows, paint, None)
        zones = {a.info.id: a.info.tz for a in await reads.agents()}
        scale = max((p.active_ms + p.idle_ms for p in people), default=0)
        shown = []
        for person in people:
            top = top_and_other(person.items, TOP)
            shown.append(
                {
                    "id": person.id,
                    "name": person.name,
                    "host": person.host,
                    "tz": zones.get(person.id, "UTC"),
                    "active_ms": person.active_ms,
                    "idle_ms": person.idle_ms,
                    "in_progress_ms": live.get(person.id, 0),
                    "top": [t for t in top if t.active_ms],
                    "segments": stacked_bar(top, scale, IDLE_FILL, paint),
                }
            )
        html = self.views.render(
            "team_report.html",
            chosen.zone,
            picker=self._picker_for(
                "/time", chosen, {"by": by} if by != "app" else {}, charts=True
            ),
            by=by,
            paint=paint,
            idle_fill=IDLE_FILL,
            period=period,
            days=chosen.days(),
            now_ms=to_ms(self.now()),
            people=shown,
            query=urlencode(chosen.params()),
            opened_on=opened_on,
            latest=await self._latest(
                reads, chosen, "/time", {"by": by} if by != "app" else {}, None, bool(people)
            ),
            **overview,
        )
        return self._respond(request, title, html)

    # -- what every report shows first ---------------------------------------------

    async def _on_data(
        self,
        query: Mapping[str, str],
        chosen: Chosen,
        reads: Reads,
        agent_ids: Sequence[str] | None,
    ) -> tuple[Chosen, date | None]:
        """A report opened without a range shows today; when today has no activity (a
        Sunday, a morning before anyone started), it opens on the latest day that has
        some instead, and says so (the date it opened on; None when it stayed)."""
        if any(query.get(k) for k in ("range", "from", "to")) or chosen.range != "today":
            return chosen, None
        if any(await report_data.time_over(reads, chosen.days(), agent_ids)):
            return chosen, None
        today = chosen.days().first
        found = latest_range(today, await report_data.latest_day(reads, chosen.days(), agent_ids))
        if found is None:
            return chosen, None
        name, day = found
        return replace(chosen, range=name, period=days_period(day, day, chosen.zone)), day

    async def _latest(
        self,
        reads: Reads,
        chosen: Chosen,
        path: str,
        keep: Mapping[str, str],
        agent_ids: Sequence[str] | None,
        has_time: bool,
    ) -> tuple[date, str] | None:
        """For a report with no time: the latest date that has some, outside the range,
        and a link to it (``keep``: what else the link keeps); None otherwise."""
        if has_time:
            return None
        days = chosen.days()
        latest = await report_data.latest_day(reads, days, agent_ids)
        if latest is None or days.first <= latest <= days.last:
            return None
        day = latest.isoformat()
        params = {**chosen.params(), **keep, "range": "custom", "from": day, "to": day}
        return latest, with_query(path, params)

    async def _overview(
        self,
        reads: Reads,
        chosen: Chosen,
        rows: list[tuple[date, str, int]],
        paint: Callable[[str], str],
        agent_ids: Sequence[str] | None,
    ) -> dict[str, object]:
        """The period at a glance: its total, daily average and change against the
        previous period; a column per day stacked by the most used labels of ``rows``
        (per_day's); the hours of the week as a heat map."""
        days = chosen.days()
        period_dates = dates(days.first, days.last)
        columns = day_columns(period_dates, rows, TOP, paint)
        before = previous_days(chosen.range, days.first, days.last)
        previous_ms, _ = await report_data.time_over(
            reads, Days(before.first, before.last, days.mode, days.zone), agent_ids
        )
        totals = {c.day: c.total_ms for c in columns.columns}
        return {
            "columns": columns,
            "change": change(totals, days.first, days.last, before, previous_ms),
            "heat": heat_map(await report_data.by_hour(reads, days, agent_ids), period_dates),
        }

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
        self.old_day_link(request)
        if not request.query.get("tz"):
            return self._loading(request, title)
        path = f"/people/{agent.info.id}"
        app = request.query.get("app", "")
        keep = {k: request.query[k] for k in ("app", "date", *ZOOM_KEYS) if request.query.get(k)}
        try:
            chosen = self.choose(request.query)
            zoom, hour = parse_zoom(request.query)
            reads = await self.reads(request)
            chosen, opened_on = await self._on_data(request.query, chosen, reads, [agent.info.id])
            rows = await report_data.per_day(reads, chosen.days(), "app", [agent.info.id])
            day = self._day(request.query, chosen, agent, {d for d, _, ms in rows if ms})
        except (ApiError, PeriodError) as exc:
            picker = self.picker(path, request.query, {"app": app} if app else {})
            return self._error(request, title, picker, str(exc))
        pieces = await day_usage.pieces(reads, agent, chosen.days())
        person, paint = await self._person_context(reads, agent, chosen, pieces)
        timeline_context, zone_of = await self._timeline_context(
            reads, agent, chosen, day, app, paint, zoom, hour
        )
        totals = person["person"]
        assert isinstance(totals, PersonTotals)
        has_time = bool(totals.active_ms or totals.idle_ms)
        context = {
            **person,
            **await self._titles_context(reads, agent, chosen, app, pieces),
            **timeline_context,
            **await self._overview(reads, chosen, rows, paint, [agent.info.id]),
            "paint": paint,
            "by": "app",
            "picker": self._picker_for(path, chosen, keep),
            "opened_on": opened_on,
            "latest": await self._latest(
                reads, chosen, path, {"app": app} if app else {}, [agent.info.id], has_time
            ),
        }
        html = self.views.render("person_report.html", zone_of, **context)
        return self._respond(request, title, html)

    async def titles_fragment(self, request: web.Request) -> web.Response:
        agent = await self._agent(request)
        self.old_day_link(request)
        try:
            chosen = self.choose(request.query)
            app = parse_required("app", request.query.get("app"), "the app's name")
        except (ApiError, PeriodError) as exc:
            return _html(f'<section id="titles"><p class="error">{_escape(exc)}</p></section>', 400)
        reads = await self.reads(request)
        pieces = await day_usage.pieces(reads, agent, chosen.days())
        context = await self._titles_context(reads, agent, chosen, app, pieces)
        paint = await self._palette(reads, agent, chosen)
        return _html(self.views.render("titles.html", chosen.zone, paint=paint, **context))

    async def timeline_fragment(self, request: web.Request) -> web.Response:
        agent = await self._agent(request)
        self.old_day_link(request)
        try:
            chosen = self.choose(request.query)
            day = self._day(request.query, chosen, agent)
            zoom, hour = parse_zoom(request.query)
        except (ApiError, PeriodError) as exc:
            html = f'<section id="timeline"><p class="error">{_escape(exc)}</p></section>'
            return _html(html, 400)
        app = request.query.get("app", "")
        reads = await self.reads(request)
        paint = await self._palette(reads, agent, chosen)
        context, zone_of = await self._timeline_context(
            reads, agent, chosen, day, app, paint, zoom, hour
        )
        # The page's URL and its "Days" links now name this date (and zoom) too, so a
        # reload or a switch of whose days shows the same day.
        path = f"/people/{agent.info.id}"
        zoomed = context["zoom_params"]
        assert isinstance(zoomed, dict)
        keep = {**({"app": app} if app else {}), "date": day.isoformat(), **zoomed}
        links = self.views.render(
            "day_links.html", chosen.zone, picker=self._picker_for(path, chosen, keep), oob=True
        )
        response = _html(self.views.render("timeline.html", zone_of, **context) + links)
        response.headers["HX-Push-Url"] = with_query(path, {**chosen.params(), **keep})
        return response

    async def _palette(self, reads: Reads, agent: AgentStatus, chosen: Chosen) -> Palette:
        """The person page's app colours, for a fragment of it: the same as the page's."""
        person = await report_data.person(reads, agent, chosen.days())
        return Palette([[t.label for t in person.items]])

    def _day(
        self,
        query: Mapping[str, str],
        chosen: Chosen,
        agent: AgentStatus,
        busy: Collection[date] = (),
    ) -> date:
        """The date asked for; else the latest of the range's ``busy`` dates (those with
        activity) up to today; else today if it is in the range, else the range's last.
        Today is the viewer's, or with their own days the person's."""
        raw = query.get("date")
        if raw:
            return parse_date("date", raw)
        zone = chosen.zone if chosen.day == "viewer" else ZoneInfo(agent.info.tz)
        today, p = self.now().astimezone(zone).date(), chosen.period
        worked = [d for d in busy if d <= today and (not p.first or p.first <= d)]
        if worked:
            return max(worked)
        if p.first and p.last and not p.first <= today <= p.last:
            return p.last
        return today

    async def _person_context(
        self, reads: LiveReads, agent: AgentStatus, chosen: Chosen, pieces: list[ZoneRun]
    ) -> tuple[dict[str, object], Palette]:
        """The page's totals, and its app colours (the apps ranked by their time)."""
        person = await report_data.person(reads, agent, chosen.days())
        live = await report_data.in_progress(reads, chosen.days(), [agent.info.id])
        trees = await report_data.category_trees(reads, chosen.days(), [agent.info.id])
        categories = trees.get(agent.info.id, [])
        zones: list[ZoneRun] = []
        for piece in pieces:  # each zone the range is in, at its first stretch
            if not zones or zones[-1].tz != piece.tz:
                zones.append(piece)
        return {
            "person": person,
            "period": chosen.period,
            "days": chosen.days(),
            "range_zones": zones,
            "in_progress_ms": live.get(agent.info.id, 0),
            "max_ms": max((t.active_ms for t in person.items), default=0),
            "categories": categories,
            "categories_max_ms": max((n.total_ms for n in categories), default=0),
            "query": urlencode(chosen.params()),
        }, Palette([[t.label for t in person.items]])

    async def _titles_context(
        self, reads: Reads, agent: AgentStatus, chosen: Chosen, app: str, pieces: list[ZoneRun]
    ) -> dict[str, object]:
        path = f"/people/{agent.info.id}"
        params = chosen.params()
        ranges = [(p.start_ms, p.end_ms) for p in pieces]
        titles, truncated = (
            await report_data.titles(reads, agent.info.id, app, ranges) if app else ([], False)
        )

        def self_url(**extra: str) -> str:
            return with_query(path, {**params, **extra})

        return {
            "app": app,
            "period": chosen.period,
            "titles": titles,
            "truncated": truncated,
            "titles_max_ms": max((t.active_ms for t in titles), default=0),
            "self_url": self_url,
            "titles_url": lambda label: with_query(f"{path}/titles", {**params, "app": label}),
        }

    async def _timeline_context(
        self,
        reads: LiveReads,
        agent: AgentStatus,
        chosen: Chosen,
        day: date,
        app: str,
        paint: Palette,
        zoom: Zoom = "day",
        hour: int | None = None,
    ) -> tuple[dict[str, object], Callable[[int], ZoneInfo]]:
        """The day's band (zoomed to ``zoom``; ``hour``: which one) and table, and the
        zone each of its instants is shown in."""
        path = f"/people/{agent.info.id}"
        pieces = await day_usage.pieces(reads, agent, chosen.days(day))
        ranges = [(p.start_ms, p.end_ms) for p in pieces]
        blocks, truncated = await report_data.day(reads, agent.info.id, ranges)
        gaps = await self.gaps.between(agent.info.id, pieces[0].start_ms, pieces[-1].end_ms)
        window = zoom_window(pieces, blocks, zoom, hour)
        shown = clip(blocks, window.start_ms, window.end_ms)
        keep = {**chosen.params(), **({"app": app} if app else {})}
        zoomed = zoom_params(zoom, window.hour)

        def zone_of(ms: int) -> ZoneInfo:
            return ZoneInfo(zone_at(pieces, ms, chosen.tz))

        def url(d: date, fragment: bool = False, zooming: Mapping[str, str] | None = None) -> str:
            """This view of day ``d``, zoomed as it is (or as ``zooming`` says)."""
            params = {**keep, "date": d.isoformat(), **(zoomed if zooming is None else zooming)}
            if fragment:
                return with_query(f"{path}/timeline", params)
            return with_query(path, params) + "#timeline"

        def zoom_url(level: Zoom, at: int, fragment: bool = False) -> str:
            return url(day, fragment, zoom_params(level, at))

        context: dict[str, object] = {
            "day": day,
            "day_mode": chosen.day,
            "previous": day - timedelta(days=1),
            "following": day + timedelta(days=1),
            "tl": timeline(
                shown, window.pieces, _day_palette(paint, day, blocks), window.tick_minutes
            ),
            "day_hours": -(-sum(p.end_ms - p.start_ms for p in pieces) // HOUR_MS),
            "window": window,
            "zooms": ZOOM_LABELS,
            "zoom_params": zoomed,
            "zoom_url": zoom_url,
            "blocks": shown,
            "gaps": gaps,
            "live": {b for b in shown if reads.in_progress(agent.info.id, b.start_ms, b.end_ms)},
            "truncated": truncated,
            "day_active_ms": sum(b.duration_ms for b in blocks if not b.idle),
            "day_idle_ms": sum(b.duration_ms for b in blocks if b.idle),
            "page_url": path,
            "timeline_action": f"{path}/timeline",
            "day_hidden": {**keep, **zoomed},
            "hour_hidden": {**keep, "date": day.isoformat(), "zoom": "hour"},
            "day_url": url,
            "day_fragment_url": lambda d: url(d, True),
        }
        return context, zone_of


def _escape(exc: Exception) -> str:
    return str(escape(str(exc)))
