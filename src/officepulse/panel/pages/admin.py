"""The Agents admin page: block, unblock, remove agents, revoke credentials, and make
enrollment tokens (each shown once).

Every route is wrapped by ``admin_only``: admins only once people have accounts (the
access control's Access.MANAGE, checked again here). Until then the page is open like the
rest of the dashboard; it only insists on htmx's ``HX-Request`` header on changes, which
a form or script on another site cannot send without the browser asking this server
first (no CORS here), so a page elsewhere cannot block agents behind the visitor's back.
Every change goes in the audit log with the signed-in actor.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from officepulse.panel.pages.chrome import chrome
from officepulse.panel.views import Views
from officepulse.security.access import VIEWER, AccessControl
from officepulse.security.enrollment import (
    DEFAULT_EXPIRES_HOURS,
    NewToken,
    TokenOptionError,
    create_token,
    token_state,
)
from officepulse.store.accounts import agent_action
from officepulse.store.enrollment import AgentAdmin

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_AGENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def authorize(request: web.Request) -> web.Response | None:
    """None when the request may act as an admin; else the refusal. The access control
    (security/access.py, Access.MANAGE) has refused everyone else before this runs."""
    if not request[VIEWER].may_manage:
        return _error(403, "only an admin may do this")
    if request.method != "GET" and request.headers.get("HX-Request") != "true":
        return _error(403, "changes to agents are made from the Agents page (HX-Request header)")
    return None


def admin_only(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        refusal = authorize(request)
        if refusal is not None:
            return refusal
        return await handler(request)

    return guarded


class AdminPages:
    def __init__(
        self,
        store: AgentAdmin,
        access: AccessControl,
        views: Views,
        auth_mode: str,
        now_ms: Callable[[], int],
        agents_changed: Callable[[], Awaitable[None]],
    ) -> None:
        self.store = store
        self.access = access
        self.views = views
        self.auth_mode = auth_mode  # agent_auth, shown on the page
        self.now_ms = now_ms
        # Acts on a change at once in this process (the others at their next poll).
        self.agents_changed = agents_changed

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/agents", admin_only(self.page)),
            web.post("/agents/{agent_id}/{action}", admin_only(self.act)),
            web.post("/tokens", admin_only(self.new_token)),
            web.post("/tokens/{token_id}/revoke", admin_only(self.revoke_token)),
        ]

    async def _audit(
        self, request: web.Request, action: str, target: str, detail: str = ""
    ) -> None:
        await self.access.audit(request[VIEWER].person, action, target, detail)

    async def _panel(self, new: NewToken | None = None) -> str:
        store = self.store
        now = self.now_ms()
        statuses = await store.agents()
        credentials = {s.info.id: await store.credential(s.info.id) for s in statuses}
        tokens = [(t, token_state(t, now)) for t in await store.tokens()]
        return self.views.admin_panel(statuses, credentials, tokens, new, self.auth_mode, now)

    async def page(self, request: web.Request) -> web.Response:
        html = self.views.admin_page(await self._panel(), **chrome(request[VIEWER]))
        return web.Response(text=html, content_type="text/html")

    async def act(self, request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        action = request.match_info["action"]
        if not _AGENT_ID.match(agent_id):
            return _error(400, f"agent id {agent_id!r} is not valid ([A-Za-z0-9_-]{{1,64}})")
        form = await request.post()
        store = self.store
        now = self.now_ms()
        if action == "block":
            reason = str(form.get("reason", "")).strip()
            if len(reason) > 256:
                return _error(400, f"reason is {len(reason)} characters long; at most 256")
            ok = await store.block_agent(agent_id, reason, now)
        elif action == "unblock":
            ok = await store.unblock_agent(agent_id, now)
        elif action == "remove":
            ok = await store.remove_agent(agent_id, form.get("erase") == "1", now)
        elif action == "revoke":
            ok = await store.revoke_credential(agent_id, now)
        else:
            return _error(400, f"unknown action {action!r}: block, unblock, remove or revoke")
        if not ok:
            return _error(404, f"no agent {agent_id!r} to {action}")
        detail = reason if action == "block" else ""
        erase = action == "remove" and form.get("erase") == "1"
        await self._audit(request, agent_action(action, erase), agent_id, detail)
        await self.agents_changed()
        return web.Response(text=await self._panel(), content_type="text/html")

    async def new_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        label = str(form.get("label", "")).strip()
        try:
            expires = _hours(form)
            uses = _uses(form)
            made = await create_token(self.store, label, self.now_ms(), expires, uses)
        except TokenOptionError as exc:
            return _error(400, str(exc))
        await self._audit(request, "token.create", made.token.id, made.token.label)
        return web.Response(text=await self._panel(made), content_type="text/html")

    async def revoke_token(self, request: web.Request) -> web.Response:
        token_id = request.match_info["token_id"]
        if not await self.store.revoke_token(token_id, self.now_ms()):
            return _error(404, f"no token {token_id!r}")
        await self._audit(request, "token.revoke", token_id)
        return web.Response(text=await self._panel(), content_type="text/html")


def _field(form: Mapping[str, object], key: str) -> str:
    return str(form.get(key, "")).strip()


def _hours(form: Mapping[str, object]) -> float:
    raw = _field(form, "expires_in_hours")
    if raw == "":
        return DEFAULT_EXPIRES_HOURS
    try:
        return float(raw)
    except ValueError:
        raise TokenOptionError(f"expires_in_hours must be a number, not {raw!r}") from None


def _uses(form: Mapping[str, object]) -> int | None:
    raw = _field(form, "uses")
    if raw == "":
        return None  # unlimited
    try:
        return int(raw)
    except ValueError:
        raise TokenOptionError(f"uses must be a whole number, not {raw!r}") from None
