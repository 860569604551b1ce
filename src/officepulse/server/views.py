"""HTML for the dashboard: Jinja2 templates (autoescaped) and the small
formatting helpers they use. ``now_ms`` and the zone are parameters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import jinja2

from officepulse.core.periods import Period
from officepulse.core.spans import iso_utc
from officepulse.enrollment import NewToken, utc_minute
from officepulse.server.presence import AgentView
from officepulse.store.base import AgentStatus, Credential, EnrollmentToken, UsageRow

RANGE_LABELS = (("today", "Today"), ("yesterday", "Yesterday"), ("7d", "Last 7 days"))


def hm(ms: int) -> str:
    """Milliseconds as "2 h 05 min" / "40 min" / "35 s"."""
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def ago(ms: int, now_ms: int) -> str:
    minutes = max(0, now_ms - ms) // 60_000
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    rest = minutes % 60
    return f"{minutes // 60} h" + (f" {rest} min" if rest else "")


@dataclass
class AppUsage:
    app: str
    active_ms: int
    idle_ms: int


@dataclass
class PersonUsage:
    id: str
    name: str
    host: str
    active_ms: int = 0
    idle_ms: int = 0
    apps: list[AppUsage] = field(default_factory=list)

    @property
    def max_ms(self) -> int:
        return max((a.active_ms for a in self.apps), default=0)


def usage_by_person(rows: Iterable[UsageRow], agents: Iterable[AgentStatus]) -> list[PersonUsage]:
    known = {a.info.id: a.info for a in agents}
    people: dict[str, PersonUsage] = {}
    for row in rows:
        agent_id = row.agent_id or "?"
        info = known.get(agent_id)
        person = people.get(agent_id)
        if person is None:
            person = PersonUsage(
                agent_id, info.name if info else agent_id, info.host if info else ""
            )
            people[agent_id] = person
        person.apps.append(AppUsage(row.app or "?", row.active_ms, row.idle_ms))
        person.active_ms += row.active_ms
        person.idle_ms += row.idle_ms
    for person in people.values():
        person.apps.sort(key=lambda a: (-a.active_ms, -a.idle_ms, a.app))
    return sorted(people.values(), key=lambda p: (-p.active_ms, p.name.lower()))


class Views:
    def __init__(self, assets_ok: bool) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("officepulse.server", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
            auto_reload=False,  # templates ship with the package; no stat() per render
        )
        self.env.globals.update(iso=iso_utc, hm=hm, utc=utc_minute, assets_ok=assets_ok)

    def _render(self, name: str, now_ms: int, zone: ZoneInfo, **context: object) -> str:
        def clock(ms: int) -> str:
            return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).strftime("%H:%M")

        return self.env.get_template(name).render(
            ago=lambda ms: ago(ms, now_ms), clock=clock, **context
        )

    @staticmethod
    def sort(views: Iterable[AgentView]) -> list[AgentView]:
        return sorted(views, key=lambda v: (not v.online, v.name.lower(), v.host, v.id))

    def office_page(self, views: list[AgentView], now_ms: int, zone: ZoneInfo) -> str:
        return self._render(
            "office.html", now_ms, zone, page="office", views=self.sort(views), **self._count(views)
        )

    @staticmethod
    def _count(views: Iterable[AgentView]) -> dict[str, int]:
        listed = list(views)
        return {"online": sum(v.online for v in listed), "total": len(listed)}

    def people(self, views: list[AgentView], now_ms: int, zone: ZoneInfo) -> str:
        return self._render("people.html", now_ms, zone, views=self.sort(views))

    def person(self, view: AgentView, now_ms: int, zone: ZoneInfo) -> str:
        return self._render("person.html", now_ms, zone, view=view)

    def count(self, views: Iterable[AgentView]) -> str:
        inner = self.env.get_template("office_count.html").render(**self._count(views)).strip()
        return f'<span id="office-count">{inner}</span>'

    def admin_page(self, panel: str) -> str:
        return self.env.get_template("agents.html").render(page="agents", panel=panel)

    def admin_panel(
        self,
        statuses: list[AgentStatus],
        credentials: Mapping[str, Credential | None],
        tokens: list[tuple[EnrollmentToken, str]],
        new: NewToken | None,
        auth_mode: str,
        now_ms: int,
    ) -> str:
        return self._render(
            "agents_panel.html",
            now_ms,
            ZoneInfo("UTC"),
            statuses=statuses,
            credentials=credentials,
            tokens=tokens,
            new=new,
            auth_mode=auth_mode,
        )

    def time_page(self) -> str:
        return self.env.get_template("time.html").render(page="time", ranges=RANGE_LABELS)

    def usage(self, people: list[PersonUsage], period: Period, range_name: str, tz: str) -> str:
        return self.env.get_template("usage.html").render(
            people=people, period=period, range=range_name, tz=tz
        )
