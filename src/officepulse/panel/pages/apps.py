"""The Apps page (/apps): every app by the name it is shown as, and for admins a form to
show one by a name of their own ("XTerm" -> "Terminal"), or by its reported name again.
The same change as PUT /api/v1/app-names (panel/app_names.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from officepulse.panel.api.app_names import check_name
from officepulse.panel.api.params import ApiError
from officepulse.panel.app_names import AppNames
from officepulse.panel.pages.chrome import chrome, html_response
from officepulse.panel.reads import Reads
from officepulse.panel.views import Views
from officepulse.security.access import VIEWER
from officepulse.store.base import DAY_MS

# Apps without a row of names are listed when they were used this recently.
RECENT_DAYS = 7


@dataclass(frozen=True, slots=True)
class AppListed:
    app: str
    name: str
    reported: str | None
    override: str | None
    active_ms: int


class AppsPage:
    def __init__(
        self,
        views: Views,
        names: AppNames,
        reads: Callable[[web.Request], Awaitable[Reads]],
        now_ms: Callable[[], int],
    ) -> None:
        self.views = views
        self.names = names
        self.reads = reads
        self.now_ms = now_ms

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/apps", self.page),
            web.post("/apps/name", self.rename),
            web.get("/app-icon", self.icon),
        ]

    async def icon(self, request: web.Request) -> web.Response:
        """An app's icon, as its agent sent it: a PNG (checked when it came) of at most
        16 KB, kept in the store. Served as nothing but an image."""
        app = request.query.get("app", "")
        png = await self.names.store.app_icon(app) if app else None
        if png is None:
            raise web.HTTPNotFound(text=f"no icon for the app {app!r}")
        return web.Response(
            body=png,
            content_type="image/png",
            headers={
                "Cache-Control": "private, max-age=300",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'",
            },
        )

    async def listed(self, request: web.Request, everything: bool) -> list[AppListed]:
        """The apps used lately as the viewer may see them, the most used first; and,
        ``everything`` (admins), every app with a name too (whoever used it)."""
        end = self.now_ms()
        reads = await self.reads(request)
        rows = await reads.usage(end - RECENT_DAYS * DAY_MS, end, ["app"])
        used = {r.app: r.active_ms for r in rows if r.app and r.app not in ("private", "paused")}
        names = await self.names.fresh()
        by_app = {r.app: r for r in names.rows}
        out = []
        for app in used.keys() | (by_app.keys() if everything else set()):
            row = by_app.get(app)
            out.append(
                AppListed(
                    app,
                    names.name(app),
                    row.reported if row else None,
                    row.override if row else None,
                    used.get(app, 0),
                )
            )
        return sorted(out, key=lambda a: (-a.active_ms, a.name.lower(), a.app))

    async def page(self, request: web.Request, error: str | None = None) -> web.Response:
        viewer = request[VIEWER]
        html = self.views.template(
            "apps.html",
            page="categories",
            apps=await self.listed(request, viewer.may_manage),
            read_only=not viewer.may_manage,
            saved=request.query.get("saved"),
            error=error,
            **chrome(viewer),
        )
        response = html_response(html)
        response.set_status(400 if error else 200)
        return response

    async def rename(self, request: web.Request) -> web.Response:
        form = await request.post()
        app, name = form.get("app"), form.get("name")
        try:
            if not isinstance(app, str) or not isinstance(name, str | None):
                raise ApiError("app: missing; send the form of the Apps page")
            app, name = check_name(app, name)
        except ApiError as exc:
            return await self.page(request, str(exc))
        await self.names.rename(request[VIEWER].person, app, name)
        raise web.HTTPSeeOther("/apps?" + urlencode({"saved": app}))
