"""HTML for the dashboard: Jinja2 templates (autoescaped) and the small
formatting helpers they use. ``now_ms`` and the zone are parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from officepulse.bus.presence import AgentView
from officepulse.core.categories import FIELDS, CategoryNode, Rule, category_colour
from officepulse.core.charts import bar_width
from officepulse.core.office import GROUPS
from officepulse.core.reports import colour, is_web_url
from officepulse.core.spans import iso_utc
from officepulse.core.zone_names import wall_hours, zone_label
from officepulse.panel.audit_words import action_words
from officepulse.security.enrollment import NewToken, utc_minute
from officepulse.store.base import AgentStatus, Credential, EnrollmentToken


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


def _raw(app: str) -> str:
    return app


def _no_icon(app: str) -> str | None:
    return None


class Views:
    def __init__(
        self,
        assets_ok: bool,
        app_name: Callable[[str], str] = _raw,
        app_icon: Callable[[str], str | None] = _no_icon,
    ) -> None:
        self.app_name = app_name  # an app as people read it (panel/app_names.py)
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("officepulse.panel", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
            auto_reload=False,  # templates ship with the package; no stat() per render
        )
        self.env.globals.update(
            iso=iso_utc,
            hm=hm,
            utc=utc_minute,
            colour=colour,
            category_colour=category_colour,
            bar_width=bar_width,
            is_web_url=is_web_url,
            zone_label=zone_label,
            wall_hours=wall_hours,
            assets_ok=assets_ok,
            action_words=action_words,
            # An app as people read it (panel/app_names.py); the raw app stays in data-app.
            app_name=app_name,
            app_icon=app_icon,  # its icon's URL, None without one
            office_groups=GROUPS,
        )

    def _render(self, name: str, now_ms: int, zone: ZoneInfo, **context: object) -> str:
        return self.render(name, zone, ago=lambda ms: ago(ms, now_ms), now_ms=now_ms, **context)

    def render(
        self, name: str, zone: ZoneInfo | Callable[[int], ZoneInfo], **context: object
    ) -> str:
        """A template with times of day shown on the wall clock of ``zone``, or of the
        zone it gives for each instant (a traveller's day). ``clock(end, start)`` shows
        the end of a stretch on the clock of its start: a block that ends as a flight
        lands ends on the clock it began on."""
        zone_of = (lambda _ms: zone) if isinstance(zone, ZoneInfo) else zone

        def clock(ms: int, at: int | None = None) -> str:
            here = zone_of(ms if at is None else at)
            return datetime.fromtimestamp(ms / 1000, UTC).astimezone(here).strftime("%H:%M")

        return self.env.get_template(name).render(clock=clock, **context)

    def page(self, title: str, fragment: str, page: str, **chrome: object) -> str:
        """A whole page around an HTML fragment rendered by ``render``; ``chrome`` is
        what base.html needs to know of the viewer (people.chrome)."""
        return self.env.get_template("report_page.html").render(
            title=title, fragment=Markup(fragment), page=page, **chrome
        )

    # -- the office: panel/office_cards.py puts its cards together (its ``Group``s and
    # ``Card``s; not imported here, as that module renders with this one) -------------

    def office_page(
        self,
        groups: Sequence[object],
        counts: Mapping[str, int],
        now_ms: int,
        zone: ZoneInfo,
        **chrome: object,
    ) -> str:
        return self._render(
            "office.html",
            now_ms,
            zone,
            page="office",
            groups=groups,
            **self._count(counts),
            **chrome,
        )

    @staticmethod
    def _count(counts: Mapping[str, int]) -> dict[str, int]:
        total = sum(counts.values())
        return {"online": total - counts.get("offline", 0), "total": total}

    def people(
        self, groups: Sequence[object], now_ms: int, zone: ZoneInfo, *, manages: bool
    ) -> str:
        """The office's cards; ``manages``: the viewer may make tokens (the empty
        office's hint links the Agents page only then)."""
        return self._render("people.html", now_ms, zone, groups=groups, manages=manages)

    def person(self, view: AgentView, card: object, now_ms: int, zone: ZoneInfo) -> str:
        return self._render("person.html", now_ms, zone, view=view, card=card)

    def count(self, counts: Mapping[str, int]) -> str:
        """The office's count and each group's, each swapped by its id."""
        return self.env.get_template("office_counts.html").render(
            counts=counts, **self._count(counts)
        )

    def template(self, name: str, **context: object) -> str:
        """Any other page; ``context`` includes what base.html needs (people.chrome)."""
        return self.env.get_template(name).render(**context)

    def categories_page(
        self,
        rules: list[Rule],
        tree: list[CategoryNode],
        read_only: bool,
        *,
        job: str,
        unsorted: str,
        **chrome: object,
    ) -> str:
        """``job`` and ``unsorted``: the page's parts rendered apart (they are swapped on
        their own); ``chrome``: what base.html needs about who is looking (people.chrome)."""
        return self._editor(
            "categories.html",
            rules,
            tree,
            page="categories",
            read_only=read_only,
            job=Markup(job),
            unsorted=Markup(unsorted),
            **chrome,
        )

    def categories_editor(
        self,
        rules: list[Rule],
        tree: list[CategoryNode],
        *,
        message: str = "",
        error: str = "",
        error_index: int | None = None,
        draft: bool = False,
    ) -> str:
        return self._editor(
            "categories_editor.html",
            rules,
            tree,
            message=message,
            error=error,
            error_index=error_index,
            draft=draft,
        )

    def _editor(
        self, template: str, rules: list[Rule], tree: list[CategoryNode], **context: object
    ) -> str:
        state: dict[str, object] = {"message": "", "error": "", "error_index": None, "draft": False}
        return self.env.get_template(template).render(
            rules=rules, fields=FIELDS, tree=tree, **{**state, **context}
        )

    def admin_page(self, panel: str, **chrome: object) -> str:
        return self.env.get_template("agents.html").render(page="agents", panel=panel, **chrome)

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
