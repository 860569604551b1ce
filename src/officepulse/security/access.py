"""Access control: one middleware that every request passes through, and one table that
says, for each route, who may use it. A route missing from the table is refused (deny
by default; tests/security/test_access.py walks the router and fails for a route without a line).

Modes. While no person account exists the server is *open* (embedded mode: `make run`
shows the dashboard with no sign-in, and says so at start-up and on every page). Once
one exists it is *locked*, for good: every page, websocket and API needs a signed-in
person, except public routes (sign-in, static assets), the agents' websocket (agents
have their own credential, not a person's) and the ActivityWatch API, which watchers
call without cookies and which is then reachable from loopback only.

Sessions: a random id in an HttpOnly, SameSite=Lax cookie (Secure over https); the store
keeps only its SHA-256. CSRF: every POST/PUT/PATCH/DELETE that comes with a session
cookie carries a token tied to the session (hidden field ``csrf`` or header
``X-CSRF-Token``, which htmx sends from ``hx-headers`` on <body>), and any request a
browser marks as cross-site (``Sec-Fetch-Site``, or an ``Origin`` of another host) is
refused whatever it carries.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import quote, urlsplit

import msgspec
from aiohttp import web
from aiohttp.abc import AbstractMatchInfo

from officepulse.core.categories import Rule, RuleSet, compile_rules
from officepulse.security.visibility import Directory
from officepulse.store.accounts import Accounts, AuditEntry, Person
from officepulse.store.spans import CategoryStore

log = logging.getLogger(__name__)

COOKIE = "officepulse_session"
SESSION_MS = 14 * 86_400_000
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Access(enum.Enum):
    PUBLIC = "public"  # anyone: sign-in, static assets
    AGENT = "agent"  # agents' websocket: the agent's own credential, checked by the gateway
    AW_LOOPBACK = "aw"  # ActivityWatch watchers: loopback only once accounts exist
    SIGNED_IN = "signed-in"  # any signed-in person (open mode: anyone)
    ADMIN = "admin"  # admins only (open mode: nobody; create the first admin)
    # Admins only; open mode: anyone, as the whole dashboard is until accounts exist
    # (the agents page and the category rules: what a single-user install needs).
    MANAGE = "manage"
    # Health checks (ops/health.py): anyone, always, and no session is looked up: they
    # answer while the store is down, and say nothing of people.
    PROBE = "probe"
    # /metrics (ops/metrics.py): loopback, or anyone sending the metrics_token as a
    # Bearer token. Not a person's session: Prometheus has none, and the counts name no
    # one but say how busy the office is.
    METRICS = "metrics"


@dataclass(frozen=True, slots=True)
class Detail:
    """The detail of the agent named by a path or query parameter: its own person or an
    admin only, and an admin's look at someone else's detail goes in the audit log.
    Without the parameter the handler answers as for any signed-in person: a missing
    required parameter is its 400, and the spans export then gives a member only their
    own agents' spans."""

    param: str
    where: Literal["path", "query"] = "path"


Policy = Access | Detail

# Every route: (method, the route's canonical path) -> policy. HEAD is GET's. Other
# branches add their routes here, one line each.
ROUTES: dict[tuple[str, str], Policy] = {
    ("GET", "/"): Access.SIGNED_IN,
    ("GET", "/time"): Access.SIGNED_IN,
    ("GET", "/people/{agent_id}"): Detail("agent_id"),
    ("GET", "/people/{agent_id}/titles"): Detail("agent_id"),
    ("GET", "/people/{agent_id}/timeline"): Detail("agent_id"),
    ("GET", "/browser"): Access.SIGNED_IN,
    ("GET", "/agent"): Access.AGENT,
    ("GET", "/api/v1/agents"): Access.SIGNED_IN,
    ("GET", "/api/v1/usage"): Access.SIGNED_IN,
    ("GET", "/api/v1/usage/days"): Access.SIGNED_IN,
    # Per hour of the week: totals as /usage gives them (any range), at each person's level.
    ("GET", "/api/v1/usage/hours"): Access.SIGNED_IN,
    ("GET", "/api/v1/spans"): Detail("agent", "query"),
    ("GET", "/api/v1/timeline"): Detail("agent", "query"),
    ("GET", "/api/v1/gaps"): Detail("agent", "query"),
    ("GET", "/api/v1/titles"): Detail("agent", "query"),
    ("GET", "/api/v1/openapi.json"): Access.SIGNED_IN,
    ("GET", "/static/vendor/{name}"): Access.PUBLIC,
    ("GET", "/static"): Access.PUBLIC,
    ("GET", "/signin"): Access.PUBLIC,
    ("POST", "/signin"): Access.PUBLIC,
    ("POST", "/signout"): Access.SIGNED_IN,
    ("GET", "/account"): Access.SIGNED_IN,
    ("POST", "/account/password"): Access.SIGNED_IN,
    ("POST", "/account/visibility"): Access.SIGNED_IN,
    ("GET", "/admin/people"): Access.ADMIN,
    ("POST", "/admin/people"): Access.ADMIN,
    ("POST", "/admin/people/{person_id}/role"): Access.ADMIN,
    ("POST", "/admin/people/{person_id}/password"): Access.ADMIN,
    ("POST", "/admin/people/{person_id}/remove"): Access.ADMIN,
    ("POST", "/admin/agents/{agent_id}/owner"): Access.ADMIN,
    ("GET", "/admin/audit"): Access.ADMIN,
    # Category rules: anyone signed in reads them (they name no one); admins change them.
    ("GET", "/categories"): Access.SIGNED_IN,
    ("POST", "/categories/edit"): Access.MANAGE,
    ("POST", "/categories/save"): Access.MANAGE,
    ("POST", "/categories/reset"): Access.MANAGE,
    ("POST", "/categories/choose"): Access.MANAGE,
    ("GET", "/categories/job"): Access.SIGNED_IN,
    # What no rule categorises: each person's part as they let the viewer see it.
    ("GET", "/categories/uncategorized"): Access.SIGNED_IN,
    ("GET", "/api/v1/categories"): Access.SIGNED_IN,
    ("PUT", "/api/v1/categories"): Access.MANAGE,
    ("POST", "/api/v1/categories/reset"): Access.MANAGE,
    ("GET", "/api/v1/categories/jobs/{job_id}"): Access.SIGNED_IN,
    ("GET", "/api/v1/categories/uncategorized"): Access.SIGNED_IN,
    ("GET", "/apps"): Access.SIGNED_IN,
    ("GET", "/app-icon"): Access.SIGNED_IN,
    ("POST", "/apps/name"): Access.MANAGE,
    # Every app any agent named, whoever used it: for admins, as others' spans are.
    ("GET", "/api/v1/app-names"): Access.MANAGE,
    ("PUT", "/api/v1/app-names"): Access.MANAGE,
    # Agents and enrollment tokens (server/admin.py).
    ("GET", "/agents"): Access.MANAGE,
    ("POST", "/agents/{agent_id}/{action}"): Access.MANAGE,
    ("POST", "/tokens"): Access.MANAGE,
    ("POST", "/tokens/{token_id}/revoke"): Access.MANAGE,
    # The fleet (panel/fleet.py): the gateways, their addresses and load.
    ("GET", "/api/v1/gateways"): Access.MANAGE,
    ("GET", "/gateways"): Access.MANAGE,
    ("GET", "/gateways/table"): Access.MANAGE,
    # Running it as a service (ops/).
    ("GET", "/healthz"): Access.PROBE,
    ("GET", "/readyz"): Access.PROBE,
    ("GET", "/metrics"): Access.METRICS,
}
# Whole namespaces that belong to one policy.
PREFIXES: tuple[tuple[str, Policy], ...] = (("/api/0/", Access.AW_LOOPBACK),)


def policy_for(method: str, canonical: str) -> Policy | None:
    method = "GET" if method == "HEAD" else method
    policy = ROUTES.get((method, canonical))
    if policy is not None:
        return policy
    return next((p for prefix, p in PREFIXES if canonical.startswith(prefix)), None)


def token_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """Tied to the session; not derivable from what the store keeps (its hash)."""
    return hashlib.sha256(b"officepulse csrf\0" + session_id.encode()).hexdigest()


def is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


# Headers a reverse proxy adds: a request that carries one came through a proxy, so its
# loopback address is the proxy's, not the client's (trusted_proxies, when set, has
# already put the client's own address in request.remote).
_RELAYED = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def metrics_refusal(request: web.Request, token: str | None) -> web.Response | None:
    """Why this request may not read /metrics (Access.METRICS), or None."""
    sent = request.headers.get("Authorization", "")
    if token is not None and sent.startswith("Bearer "):
        if hmac.compare_digest(sent[7:].strip().encode(), token.encode()):
            return None
        return error(401, "wrong metrics token")
    if is_loopback(request.remote) and not any(h in request.headers for h in _RELAYED):
        return None
    if token is None:
        return error(
            403,
            "metrics answer on this machine (loopback) only; set metrics_token "
            "to read them from elsewhere with a Bearer token",
        )
    return error(401, "send the metrics_token as `Authorization: Bearer TOKEN`")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no //host, no scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking. ``person`` None: nobody signed in (open mode, or a public route)."""

    person: Person | None
    session_id: str | None
    locked: bool  # accounts exist

    @property
    def csrf(self) -> str:
        return csrf_token(self.session_id) if self.session_id else ""

    @property
    def is_admin(self) -> bool:
        return self.person is not None and self.person.is_admin

    @property
    def may_manage(self) -> bool:
        """Access.MANAGE: admins; anyone in open mode."""
        return not self.locked or self.is_admin

    @property
    def sees_all(self) -> bool:
        """Open mode: everyone sees everything, as before accounts existed."""
        return not self.locked


VIEWER = web.RequestKey("viewer", Viewer)
# The directory as read with the viewer (AccessControl.viewer_and_directory), for requests
# whose policy is not one of these: agents, ActivityWatch's watchers and the sign-in
# page's like never read it, so they read only what decides their access.
DIRECTORY = web.RequestKey("directory", Directory)
_WITHOUT_DIRECTORY: frozenset[Policy] = frozenset({Access.PUBLIC, Access.AGENT, Access.AW_LOOPBACK})
_json = msgspec.json.Encoder()


def error(status: int, message: str) -> web.Response:
    return web.Response(
        body=_json.encode({"error": message}), status=status, content_type="application/json"
    )


def wants_html(request: web.Request) -> bool:
    """A browser's GET for a page (not htmx's request for a piece of one)."""
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("Accept", "")
        and request.headers.get("HX-Request") != "true"
    )


def refuse(request: web.Request, status: int, message: str) -> web.Response:
    """A refusal: JSON for API clients; for a browser that followed a link (a name on
    the office page is a link to that person's page) an HTTPForbidden carrying
    ``message``, which the panel's error pages (panel/pages/errors.py) show in the
    dashboard's layout."""
    if not wants_html(request):
        return error(status, message)
    raise web.HTTPForbidden(text=message)


def _cross_site(request: web.Request) -> bool:
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc != request.host


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _agent_param(request: web.Request, detail: Detail) -> str | None:
    source = request.match_info if detail.where == "path" else request.query
    return source.get(detail.param) or None


class AccessStore(Accounts, CategoryStore, Protocol):
    """What access control reads and writes: people, sessions, owners, the audit log, and
    the category rules (what a category-level viewer sees)."""


class AccessControl:
    """The middleware, and what handlers ask of it (the viewer, the directory, audit)."""

    def __init__(
        self, store: AccessStore, clock: Callable[[], float], *, metrics_token: str | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.metrics_token = metrics_token
        self._locked = False
        self._rules: RuleSet | None = None

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def locked(self) -> bool:
        # Once a person exists the server stays locked (the last admin cannot be removed),
        # so only the open state is read again, on each request: an admin created by the
        # CLI while the server runs locks it at once.
        if not self._locked:
            self._locked = await self.store.count_people() > 0
        return self._locked

    async def directory(self) -> Directory:
        # Read on every page and API request: owners, people and rules in one statement.
        owners, people, rules, _ = await self.store.directory_rows()
        return Directory(owners, {p.id: p for p in people}, self._compiled(rules))

    async def rules(self) -> RuleSet:
        """The category rules in force, compiled again only when they changed (another
        server process may change them: they are read each time)."""
        return self._compiled(await self.store.categories())

    def _compiled(self, rules: list[Rule]) -> RuleSet:
        if self._rules is None or self._rules.rules != tuple(rules):
            self._rules = compile_rules(rules)
        return self._rules

    async def audit(
        self, actor: Person | str | None, action: str, target: str, detail: str = ""
    ) -> None:
        """One line in the audit log: who (a person, or a name such as "cli"; None for
        nobody signed in), did what, to what. Other parts of the server call this too."""
        name = actor.login if isinstance(actor, Person) else (actor or "")
        await self.store.add_audit(AuditEntry(self.now_ms(), name, action, target, detail))

    async def viewer(self, request: web.Request) -> Viewer:
        locked = await self.locked()
        session_id = request.cookies.get(COOKIE)
        if not locked or not session_id:
            return Viewer(None, None, locked)
        person = await self.store.session_person(token_hash(session_id), self.now_ms())
        return Viewer(person, session_id if person else None, locked)

    async def viewer_and_directory(self, request: web.Request) -> Viewer:
        """The viewer as ``viewer`` finds it, read in one statement with the directory
        (``directory_rows``), which is kept on the request (DIRECTORY) for its handler:
        pages and the API read both, and on PostgreSQL that is one round trip, not two."""
        session_id = request.cookies.get(COOKIE)
        hashed = token_hash(session_id) if session_id else None
        owners, people, rules, person_id = await self.store.directory_rows(hashed, self.now_ms())
        directory = Directory(owners, {p.id: p for p in people}, self._compiled(rules))
        request[DIRECTORY] = directory
        # As locked(): once a person exists the server stays locked.
        self._locked = locked = self._locked or bool(people)
        if not locked or not session_id:
            return Viewer(None, None, locked)
        person = directory.people.get(person_id) if person_id is not None else None
        return Viewer(person, session_id if person else None, locked)

    async def new_session(self, person: Person) -> str:
        """A new session of the person: its id, for set_cookie."""
        session_id = secrets.token_urlsafe(32)
        now = self.now_ms()
        await self.store.create_session(token_hash(session_id), person.id, now, now + SESSION_MS)
        return session_id

    @staticmethod
    def set_cookie(response: web.StreamResponse, request: web.Request, session_id: str) -> None:
        response.set_cookie(
            COOKIE,
            session_id,
            max_age=SESSION_MS // 1000,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=request.secure,
        )

    async def end_session(self, response: web.StreamResponse, viewer: Viewer) -> None:
        if viewer.session_id:
            await self.store.revoke_session(token_hash(viewer.session_id))
        response.del_cookie(COOKIE, path="/")

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        match: AbstractMatchInfo = request.match_info
        if match.http_exception is not None:
            return await handler(request)  # 404 / 405: nothing is served
        route = request.match_info.route
        policy = policy_for(request.method, route.resource.canonical if route.resource else "")
        if policy is None:
            log.error("no access policy for %s %s: refused", request.method, request.path)
            return error(403, f"no access policy for {request.method} {request.path}")
        # Before the viewer is read: these two answer without the store.
        if policy is Access.PROBE:
            return await handler(request)
        if policy is Access.METRICS:
            denied = metrics_refusal(request, self.metrics_token)
            return denied if denied is not None else await handler(request)
        # Pages and the API read the directory: with the viewer, in one statement.
        reads_directory = policy not in _WITHOUT_DIRECTORY
        viewer = await (self.viewer_and_directory if reads_directory else self.viewer)(request)
        request[VIEWER] = viewer
        refusal = await self._check(request, policy, viewer)
        if refusal is not None:
            return refusal
        if policy not in (Access.AW_LOOPBACK, Access.AGENT):
            if request.method in UNSAFE:
                refusal = await self._check_csrf(request, viewer)
            elif viewer.session_id and _is_websocket(request) and _cross_site(request):
                # A websocket handshake is a GET that carries the cookie: another site's
                # page must not open the live office with it.
                refusal = error(403, "cross-site request refused")
            if refusal is not None:
                return refusal
        return await handler(request)

    async def _check(
        self, request: web.Request, policy: Policy, viewer: Viewer
    ) -> web.StreamResponse | None:
        if policy is Access.PUBLIC or policy is Access.AGENT:
            return None
        if policy is Access.AW_LOOPBACK:
            if viewer.locked and not is_loopback(request.remote):
                return error(
                    403,
                    "the ActivityWatch API answers only on this machine (loopback) once "
                    "people have accounts",
                )
            return None
        if not viewer.locked:
            if policy is Access.ADMIN:
                return error(
                    403,
                    "no accounts exist yet; create the first admin with "
                    "`officepulse admin create --login NAME`",
                )
            return None
        if viewer.person is None:
            if wants_html(request):
                raise web.HTTPSeeOther("/signin?next=" + quote(request.path_qs, safe=""))
            return error(401, "sign in first (POST /signin), then send the session cookie")
        if (policy is Access.ADMIN and not viewer.is_admin) or (
            policy is Access.MANAGE and not viewer.may_manage
        ):
            return refuse(request, 403, "only an admin may do this")
        if isinstance(policy, Detail):
            return await self._check_detail(request, policy, viewer)
        return None

    async def _check_detail(
        self, request: web.Request, policy: Detail, viewer: Viewer
    ) -> web.StreamResponse | None:
        assert viewer.person is not None
        agent_id = _agent_param(request, policy)
        if agent_id is None:
            return None
        owner = (await self.directory()).owner(agent_id)
        if owner is not None and owner.id == viewer.person.id:
            return None
        if not viewer.is_admin:
            return refuse(request, 403, "you may see your own detail only")
        target = owner.login if owner is not None else f"agent {agent_id}"
        await self.audit(
            viewer.person, "detail.view", target, f"{request.method} {request.path_qs}"
        )
        return None

    async def _check_csrf(self, request: web.Request, viewer: Viewer) -> web.StreamResponse | None:
        if _cross_site(request):
            return error(403, "cross-site request refused")
        if viewer.session_id is None:
            return None  # no session to ride on (sign-in itself, open mode)
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            value = (await request.post()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        if not sent or not hmac.compare_digest(sent, viewer.csrf):
            return error(403, "missing or wrong CSRF token; reload the page and try again")
        return None
