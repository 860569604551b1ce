"""The Host and Origin checks in front of every route (rules in hosts.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from officepulse.security.hosts import HostRules

# ActivityWatch's browser watcher posts from its extension's pages: the guard lets these
# origins through, and the ActivityWatch API answers them with CORS headers.
EXTENSION_ORIGINS = ("moz-extension://", "chrome-extension://", "safari-web-extension://")

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_json = msgspec.json.Encoder()


def refusal(request: web.Request, reason: str) -> web.Response:
    log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote, reason)
    return web.Response(
        body=_json.encode({"error": reason}), status=403, content_type="application/json"
    )


def browser_origin(request: web.Request) -> str | None:
    """The page a browser says this request comes from: Origin, else Referer."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        origin = request.headers.get(hdrs.REFERER)
    return origin


def needs_origin_check(request: web.Request) -> bool:
    """Requests a hostile page could make with the visitor's access: websockets
    (not covered by CORS) and anything that changes state."""
    upgrade = request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
    return upgrade or request.method in UNSAFE_METHODS


def guard(rules: HostRules) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get(hdrs.HOST)
        wrong_host = rules.host_allowed(host, request.scheme)
        if wrong_host is not None:
            return refusal(request, wrong_host)
        if needs_origin_check(request):
            origin = browser_origin(request)
            extension = request.path.startswith("/api/0/") and (
                origin is not None and origin.startswith(EXTENSION_ORIGINS)
            )
            if origin is not None and not extension:
                wrong_origin = rules.origin_allowed(origin, host, request.scheme)
                if wrong_origin is not None:
                    return refusal(request, wrong_origin)
        return await handler(request)

    return check
