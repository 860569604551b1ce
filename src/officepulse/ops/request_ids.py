"""A request id for every HTTP request: the client's ``X-Request-ID`` when it sent a sane
one (a proxy's, so one id follows the request through both logs), else a new random one;
set for the request's log lines (logcontext.py) and sent back in the answer's header."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from officepulse.logcontext import request_id

HEADER = "X-Request-ID"
# What a proxy's id looks like (nginx's $request_id, a UUID...): nothing that could
# carry markup or a line break into a log or a header.
_SANE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_of(sent: str | None) -> str:
    """The id a request is logged under: ``sent`` (its header) when sane, else a new one."""
    return sent if sent is not None and _SANE.match(sent) else secrets.token_hex(8)


@web.middleware
async def request_ids(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    # aiohttp serves each request in a task of its own, so the value is this request's.
    rid = request_id_of(request.headers.get(HEADER))
    request_id.set(rid)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[HEADER] = rid
        raise
    if not response.prepared:  # a websocket's or a stream's headers are gone already
        response.headers[HEADER] = rid
    return response
