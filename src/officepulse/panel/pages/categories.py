"""The Categories page (/categories): the rules and the last week's time by category.
Anyone signed in reads it; admins change the rules (security/access.py; open mode:
anyone), through an editor whose drafts are checked only when saved."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from officepulse.core.categories import UNCATEGORIZED, CategoryError, CategoryNode, category_tree
from officepulse.errors import FormError
from officepulse.panel.category_rules import CategoryRules
from officepulse.panel.pages.category_editor import apply_edit, rules_from_form
from officepulse.panel.pages.chrome import chrome, html_response
from officepulse.panel.reads import Reads
from officepulse.panel.views import Views
from officepulse.security.access import VIEWER
from officepulse.store.base import DAY_MS


def spans_changed(changed: int) -> str:
    return f"Saved. {changed} span{'' if changed == 1 else 's'} re-categorised."


async def _form(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


class CategoriesPage:
    def __init__(
        self,
        views: Views,
        rules: CategoryRules,
        reads: Callable[[web.Request], Awaitable[Reads]],
        now_ms: Callable[[], int],
    ) -> None:
        self.views = views
        self.rules = rules
        self.reads = reads  # the store as the request's viewer may see it
        self.now_ms = now_ms

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/categories", self.page),
            web.post("/categories/edit", self.edit),
            web.post("/categories/save", self.save),
            web.post("/categories/reset", self.reset),
        ]

    async def _tree(self, request: web.Request) -> list[CategoryNode]:
        end = self.now_ms()
        reads = await self.reads(request)  # a person on "category" counts in its top level
        rows = await reads.usage(end - 7 * DAY_MS, end, ["category"])
        return category_tree((r.category or UNCATEGORIZED, r.active_ms, r.idle_ms) for r in rows)

    async def page(self, request: web.Request) -> web.Response:
        rules = await self.rules.current()
        tree = await self._tree(request)
        viewer = request[VIEWER]
        page = self.views.categories_page(rules, tree, not viewer.may_manage, **chrome(viewer))
        return html_response(page)

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
            changed = await self.rules.replace(request[VIEWER].person, rules)
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
        return await self._saved(request, changed)

    async def reset(self, request: web.Request) -> web.Response:
        return await self._saved(request, await self.rules.reset(request[VIEWER].person))

    async def _saved(self, request: web.Request, changed: int) -> web.Response:
        rules = await self.rules.current()
        tree = await self._tree(request)
        return html_response(
            self.views.categories_editor(rules, tree, message=spans_changed(changed))
        )
