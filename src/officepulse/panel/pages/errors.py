"""Error pages in the dashboard's layout: a browser that opens an unknown page, one that
is not for its viewer, or one that fails is answered with the dashboard around the
message (and, when signed out, nothing but the way to sign in), not aiohttp's plain
text. API clients, scripts and htmx requests keep their JSON or text answers: only a
browser's GET for a page (``wants_html``) gets an HTML page."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from officepulse.logcontext import request_id
from officepulse.panel.pages.chrome import chrome
from officepulse.panel.views import Views
from officepulse.security.access import VIEWER, AccessControl, Viewer, wants_html

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class ErrorText:
    heading: str
    message: str


def sentence(words: str) -> str:
    said = words.strip().rstrip(".")
    return said[:1].upper() + said[1:] + "." if said else ""


def error_text(status: int, path: str, reason: str, request: str | None) -> ErrorText:
    """What the page says for ``status``: ``reason`` is the handler's own words (a
    refusal's, or what was not found), when it gave any."""
    if status == 404:
        own = reason if reason and not reason.startswith("404:") else ""  # aiohttp's own
        return ErrorText("Page not found", sentence(own) or f"There is no page at {unquote(path)}.")
    if status == 403:
        return ErrorText("Not for you", sentence(reason))
    where = f" (request id {request})" if request else ""
    return ErrorText(
        "Something went wrong",
        f"The server met an error it did not expect; it is in the server's log{where}.",
    )


class ErrorPages:
    """The middleware: between the Host guard and the access control, so that the access
    control's refusals (raised as HTTPForbidden for a browser) are pages too."""

    def __init__(self, views: Views, access: AccessControl) -> None:
        self.views = views
        self.access = access

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status not in (403, 404) or not wants_html(request):
                raise
            return await self.page(request, exc.status, exc.text or "")
        except Exception:
            if not wants_html(request):
                raise
            log.exception("%s %s failed", request.method, request.path)
            return await self.page(request, 500, "")

    async def _viewer(self, request: web.Request) -> Viewer:
        if VIEWER in request:
            return request[VIEWER]
        try:  # an unknown page: the access control did not look at it
            return await self.access.viewer(request)
        except Exception:  # the store is down: show nothing of anyone
            log.exception("reading the viewer of an error page")
            return Viewer(None, None, locked=True)

    async def page(self, request: web.Request, status: int, reason: str) -> web.Response:
        text = error_text(status, request.path, reason, request_id.get())
        html = self.views.template(
            "error.html",
            page="error",
            status=status,
            heading=text.heading,
            message=text.message,
            **chrome(await self._viewer(request)),
        )
        return web.Response(text=html, status=status, content_type="text/html")
