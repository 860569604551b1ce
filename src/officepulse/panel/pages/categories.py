"""The Categories page (/categories): what no rule categorises (apps and web sites with
their time, a category chosen beside one in two clicks), how re-categorising history is
getting on, the rules and the last week's time by category. Anyone signed in reads it;
admins change the rules (security/access.py; open mode: anyone), through an editor whose
drafts are checked only when saved, or by choosing a category beside an uncategorised
app or site. Each change returns at once; history is re-categorised in the background
(panel/recategorising.py) and the page shows how far it has got, polling while it runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from officepulse.core.categories import UNCATEGORIZED, CategoryError, CategoryNode, category_tree
from officepulse.core.uncategorized import KINDS, Kind, category_choices
from officepulse.errors import FormError
from officepulse.panel.category_rules import CategoryRules
from officepulse.panel.pages.category_editor import apply_edit, rules_from_form
from officepulse.panel.pages.chrome import chrome, html_response
from officepulse.panel.uncategorized import PERIODS, Uncategorized, parse_days
from officepulse.panel.views import Views
from officepulse.panel.visible_reads import VisibleReads
from officepulse.security.access import DIRECTORY, VIEWER
from officepulse.store.base import DAY_MS
from officepulse.store.categorising import CategoryJob

# Shown beside a category chosen for an app or site, and after saving the rules.
IN_THE_BACKGROUND = "History is being re-categorised in the background."
# The polled progress says so once the job it watched ends: the lists on the page that
# count by category read again.
JOB_DONE_EVENT = "category-job-done"


async def _form(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


def _rules_changed(request: web.Request) -> None:
    """The rules the request's directory was read with (before its handler ran) are no
    longer in force: what it reads next reads the directory again, so an app or a site
    just given a category leaves the list at once (not when its job ends), and the
    viewers' directory is not put back to the old rules."""
    request.pop(DIRECTORY, None)


class CategoriesPage:
    def __init__(
        self,
        views: Views,
        rules: CategoryRules,
        reads: Callable[[web.Request], Awaitable[VisibleReads]],
        uncategorized: Uncategorized,
        now_ms: Callable[[], int],
    ) -> None:
        self.views = views
        self.rules = rules
        self.reads = reads  # the store as the request's viewer may see it
        self.uncategorized = uncategorized
        self.now_ms = now_ms

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/categories", self.page),
            web.get("/categories/job", self.job),
            web.get("/categories/uncategorized", self.unsorted),
            web.post("/categories/choose", self.choose),
            web.post("/categories/edit", self.edit),
            web.post("/categories/save", self.save),
            web.post("/categories/reset", self.reset),
        ]

    async def _tree(self, request: web.Request) -> list[CategoryNode]:
        end = self.now_ms()
        reads = await self.reads(request)  # a person on "category" counts in its top level
        rows = await reads.usage(end - 7 * DAY_MS, end, ["category"])
        return category_tree((r.category or UNCATEGORIZED, r.active_ms, r.idle_ms) for r in rows)

    async def _unsorted(
        self, request: web.Request, days: int, message: str = "", error: str = ""
    ) -> str:
        """The "Uncategorized" section over the last ``days``."""
        end = self.now_ms()
        reads = await self.reads(request)
        apps, domains = await self.uncategorized.listed(reads, end - days * DAY_MS, end)
        return self.views.template(
            "categories_uncategorized.html",
            apps=apps,
            domains=domains,
            days=days,
            periods=PERIODS,
            choices=category_choices(await self.rules.current()),
            read_only=not request[VIEWER].may_manage,
            message=message,
            error=error,
        )

    def _job(self, job: CategoryJob | None, *, oob: bool = False) -> str:
        return self.views.template("categories_job.html", job=job, oob=oob)

    async def page(self, request: web.Request) -> web.Response:
        days = parse_days(request.query.get("days"))
        rules = await self.rules.current()
        tree = await self._tree(request)
        viewer = request[VIEWER]
        page = self.views.categories_page(
            rules,
            tree,
            not viewer.may_manage,
            job=self._job(await self.rules.job()),
            unsorted=await self._unsorted(request, days),
            **chrome(viewer),
        )
        return html_response(page)

    async def job(self, request: web.Request) -> web.Response:
        """The progress of re-categorising (polled while it runs); once the job ends, the
        page is told to read its lists again."""
        job = await self.rules.job()
        response = html_response(self._job(job))
        if job is None or job.state != "running":
            response.headers["HX-Trigger"] = JOB_DONE_EVENT
        return response

    async def unsorted(self, request: web.Request) -> web.Response:
        return html_response(await self._unsorted(request, parse_days(request.query.get("days"))))

    async def choose(self, request: web.Request) -> web.Response:
        """A category chosen beside an uncategorised app or site: its rule is made and the
        section comes back without it, with the job's progress."""
        form = await _form(request)
        days = parse_days(form.get("days"))
        value, category = form.get("value", ""), form.get("category")
        kind: Kind = "app" if form.get("kind") == "app" else "domain"
        if form.get("kind") not in KINDS or not value:
            return web.Response(status=400, text="choose an app or a domain, and name it")
        if not category:
            text = await self._unsorted(request, days, error="Choose a category first.")
            return html_response(text)
        try:
            job = await self.rules.choose(request[VIEWER].person, kind, value, category)
        except CategoryError as exc:
            text = await self._unsorted(request, days, error=f"Not saved: {exc.reason}")
            return html_response(text)
        _rules_changed(request)
        shown = self.views.app_name(value) if kind == "app" else value
        message = f"{shown} is now in {category}. {IN_THE_BACKGROUND}"
        text = await self._unsorted(request, days, message=message)
        return html_response(text + self._job(job, oob=True))

    async def edit(self, request: web.Request) -> web.Response:
        form = await _form(request)
        try:
            rules = apply_edit(rules_from_form(form), form.get("op", ""))
        except FormError as exc:
            return web.Response(status=400, text=str(exc))
        tree = await self._tree(request)
        return html_response(self.views.categories_editor(rules, tree, draft=True))

    async def save(self, request: web.Request) -> web.Response:
        try:
            rules = rules_from_form(await _form(request))
        except FormError as exc:
            return web.Response(status=400, text=str(exc))
        try:
            job = await self.rules.replace(request[VIEWER].person, rules)
        except CategoryError as exc:
            # Shown in the page (htmx swaps only 2xx answers), numbered as the page does.
            where = f"rule {exc.index + 1}: " if exc.index is not None else ""
            tree = await self._tree(request)
            return html_response(
                self.views.categories_editor(
                    rules,
                    tree,
                    error=f"Not saved: {where}{exc.reason}",
                    error_index=exc.index,
                    draft=True,
                )
            )
        return await self._saved(request, job)

    async def reset(self, request: web.Request) -> web.Response:
        return await self._saved(request, await self.rules.reset(request[VIEWER].person))

    async def _saved(self, request: web.Request, job: CategoryJob) -> web.Response:
        _rules_changed(request)
        rules = await self.rules.current()
        tree = await self._tree(request)
        editor = self.views.categories_editor(rules, tree, message=f"Saved. {IN_THE_BACKGROUND}")
        return html_response(editor + self._job(job, oob=True))
