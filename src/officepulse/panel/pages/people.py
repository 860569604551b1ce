"""People's pages: sign-in and sign-out, "My account" (password, what others see, who
looked at my detail), and the admins' People and Audit pages. Who may reach each route
is security/access.py's table; what is here checks the input and does the work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import cast

from aiohttp import web

from officepulse.errors import FormError
from officepulse.panel.pages.chrome import chrome
from officepulse.security.access import VIEWER, AccessControl, Viewer, safe_next
from officepulse.security.passwords import (
    PasswordError,
    check_new,
    dummy_hash,
    hash_in_thread,
    verify_in_thread,
)
from officepulse.store.accounts import (
    DEFAULT_VISIBILITY,
    ROLES,
    VISIBILITIES,
    AccountError,
    NewPerson,
    PeopleAdmin,
    Person,
    PersonChange,
    Role,
    Visibility,
)

# Wrong passwords: after this many for one login within the window, that login cannot
# sign in until the window has passed. Counted in the store (the audit log's failed
# sign-ins), so every server process sees the same count and a restart does not reset it.
MAX_FAILURES = 5
FAILURE_WINDOW_MS = 15 * 60_000
VISIBILITY_LABELS: tuple[tuple[Visibility, str], ...] = (
    ("full", "Everything: app and window title"),
    ("app", "The app only"),
    ("category", 'A category only (its top level, such as "Work")'),
)
assert tuple(v for v, _ in VISIBILITY_LABELS) == VISIBILITIES

Render = Callable[..., str]
Form = Mapping[str, object]
Handler = Callable[[web.Request], Awaitable[web.Response]]
AdminWork = Callable[[web.Request, Form, Person], Awaitable[str]]


def field(form: Mapping[str, object], name: str, *, required: bool = True) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise FormError(f"{name} is missing")
    return text


def choice(form: Mapping[str, object], name: str, allowed: tuple[str, ...]) -> str:
    value = field(form, name)
    if value not in allowed:
        raise FormError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


class PeoplePages:
    def __init__(
        self,
        store: PeopleAdmin,
        access: AccessControl,
        render: Render,
        on_change: Callable[[], Awaitable[None]],
        on_sessions_ended: Callable[[], Awaitable[None]],
    ) -> None:
        self.store = store
        self.access = access
        self.render = render
        self.on_change = on_change  # who owns what, or what someone shows, changed
        self.on_sessions_ended = on_sessions_ended  # their open dashboards close

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/signin", self.signin_page),
            web.post("/signin", self.signin),
            web.post("/signout", self.signout),
            web.get("/account", self.account),
            web.post("/account/password", self.change_password),
            web.post("/account/visibility", self.change_visibility),
            web.get("/admin/people", self.people_page),
            web.post("/admin/people", self._admin(self._add_person)),
            web.post("/admin/people/{person_id}/role", self._admin(self._set_role)),
            web.post("/admin/people/{person_id}/password", self._admin(self._reset_password)),
            web.post("/admin/people/{person_id}/remove", self._admin(self._remove_person)),
            web.post("/admin/agents/{agent_id}/owner", self._admin(self._assign_agent)),
            web.get("/admin/audit", self.audit_page),
        ]

    def _html(
        self, name: str, viewer: Viewer, status: int = 200, **context: object
    ) -> web.Response:
        text = self.render(name, **chrome(viewer), **context)
        return web.Response(text=text, status=status, content_type="text/html")

    # -- signing in and out --------------------------------------------------------

    async def signin_page(self, request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        return self._html(
            "signin.html",
            viewer,
            page="signin",
            message="",
            login="",
            next=safe_next(request.query.get("next")),
        )

    async def signin(self, request: web.Request) -> web.StreamResponse:
        viewer = request[VIEWER]
        form = await request.post()
        login = field(form, "login", required=False)
        password = form.get("password")
        target = safe_next(field(form, "next", required=False))

        def again(message: str, status: int) -> web.Response:
            return self._html(
                "signin.html",
                viewer,
                status,
                page="signin",
                message=message,
                login=login,
                next=target,
            )

        if not login or not isinstance(password, str) or not password:
            return again("Give your login and password.", 400)
        since = self.access.now_ms() - FAILURE_WINDOW_MS
        if await self.store.count_audit(login, "sign-in.failed", since) >= MAX_FAILURES:
            await self.access.audit(None, "sign-in.refused", login, "too many wrong passwords")
            return again(
                f"Too many wrong passwords for {login}; try again in "
                f"{FAILURE_WINDOW_MS // 60_000} minutes.",
                429,
            )
        person = await self.store.person_by_login(login)
        ok, new_hash = await verify_in_thread(
            person.password_hash if person else dummy_hash(), password
        )
        if person is None or not ok:
            await self.access.audit(None, "sign-in.failed", login, "wrong login or password")
            return again("Wrong login or password.", 401)
        if new_hash is not None:
            await self.store.update_person(person.id, PersonChange(password_hash=new_hash))
        response = web.HTTPSeeOther(target)
        self.access.set_cookie(response, request, await self.access.new_session(person))
        await self.access.audit(person, "sign-in", person.login)
        return response

    async def signout(self, request: web.Request) -> web.StreamResponse:
        viewer = request[VIEWER]
        response = web.HTTPSeeOther("/signin")
        await self.access.end_session(response, viewer)
        if viewer.person is not None:
            await self.access.audit(viewer.person, "sign-out", viewer.person.login)
        await self.on_sessions_ended()
        return response

    # -- my account ------------------------------------------------------------------

    async def _account(self, viewer: Viewer, message: str = "", status: int = 200) -> web.Response:
        me = viewer.person
        if me is None:  # open mode: there is no account to show
            raise web.HTTPSeeOther("/")
        entries = await self.store.audit_log(target=me.login, action="detail.view")
        return self._html(
            "account.html",
            viewer,
            status,
            page="account",
            message=message,
            visibilities=VISIBILITY_LABELS,
            entries=entries,
        )

    async def account(self, request: web.Request) -> web.Response:
        return await self._account(request[VIEWER])

    async def change_password(self, request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        me = viewer.person
        if me is None:
            raise web.HTTPSeeOther("/")
        form = await request.post()
        current, new = form.get("current"), form.get("new")
        if not isinstance(current, str) or not isinstance(new, str):
            return await self._account(viewer, "Give your current and your new password.", 400)
        ok, _ = await verify_in_thread(me.password_hash, current)
        if not ok:
            await self.access.audit(me, "password.failed", me.login, "wrong current password")
            return await self._account(viewer, "Your current password is not right.", 400)
        try:
            new_hash = await hash_in_thread(new)
        except PasswordError as exc:
            return await self._account(viewer, f"Not changed: {exc}.", 400)
        await self.store.update_person(me.id, PersonChange(password_hash=new_hash))
        # Every session made with the old password ends; this browser gets a new one.
        await self.store.revoke_sessions(me.id)
        await self.on_sessions_ended()
        session_id = await self.access.new_session(me)
        await self.access.audit(me, "person.password", me.login, "changed by themself")
        response = await self._account(
            Viewer(me, session_id, viewer.locked),
            "Password changed; other sessions are signed out.",
        )
        self.access.set_cookie(response, request, session_id)
        return response

    async def change_visibility(self, request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        me = viewer.person
        if me is None:
            raise web.HTTPSeeOther("/")
        try:
            level = cast(Visibility, choice(await request.post(), "visibility", VISIBILITIES))
        except FormError as exc:
            return await self._account(viewer, f"Not changed: {exc}.", 400)
        await self.store.update_person(me.id, PersonChange(visibility=level))
        await self.access.audit(me, "person.visibility", me.login, level)
        await self.on_change()
        updated = await self.store.person(me.id)
        return await self._account(
            Viewer(updated, viewer.session_id, viewer.locked), "Saved: others now see " + level
        )

    # -- people (admins) ---------------------------------------------------------------

    async def _people(self, viewer: Viewer, message: str = "", status: int = 200) -> web.Response:
        directory = await self.access.directory()
        agents = [s.info for s in await self.store.agents()]
        agents_of = {p.id: sorted(directory.agents_of(p)) for p in directory.people.values()}
        return self._html(
            "people_admin.html",
            viewer,
            status,
            page="people-admin",
            message=message,
            people=sorted(directory.people.values(), key=lambda p: p.login),
            roles=ROLES,
            agents=agents,
            owners=directory.owners,
            agents_of=agents_of,
        )

    async def people_page(self, request: web.Request) -> web.Response:
        return await self._people(request[VIEWER])

    def _admin(self, work: AdminWork) -> Handler:
        """A handler for one change from the People page: the page again, with what
        happened (or, with 400, what was wrong)."""

        async def handler(request: web.Request) -> web.Response:
            viewer = request[VIEWER]
            assert viewer.person is not None  # access.py: admins only
            try:
                message = await work(request, await request.post(), viewer.person)
            except (FormError, AccountError, PasswordError) as exc:
                return await self._people(viewer, f"Not done: {exc}.", 400)
            await self.on_change()
            return await self._people(viewer, message)

        return handler

    async def _target(self, request: web.Request) -> Person:
        raw = request.match_info["person_id"]
        person = await self.store.person(int(raw)) if raw.isdigit() else None
        if person is None:
            raise FormError(f"no person with id {raw}")
        return person

    async def _add_person(self, request: web.Request, form: Form, admin: Person) -> str:
        login = field(form, "login")
        name = field(form, "name", required=False) or login
        role = cast(Role, choice(form, "role", ROLES))
        password_hash = await hash_in_thread(check_new(field(form, "password")))
        new = NewPerson(login, name, role, password_hash, DEFAULT_VISIBILITY, self.access.now_ms())
        await self.store.add_person(new)
        await self.access.audit(admin, "person.add", login, role)
        return f"Added {login} ({role})."

    async def _set_role(self, request: web.Request, form: Form, admin: Person) -> str:
        person = await self._target(request)
        role = cast(Role, choice(form, "role", ROLES))
        await self.store.update_person(person.id, PersonChange(role=role))
        await self.access.audit(admin, "person.role", person.login, role)
        return f"{person.login} is now {role}."

    async def _reset_password(self, request: web.Request, form: Form, admin: Person) -> str:
        person = await self._target(request)
        password_hash = await hash_in_thread(check_new(field(form, "password")))
        await self.store.update_person(person.id, PersonChange(password_hash=password_hash))
        await self.store.revoke_sessions(person.id)
        await self.access.audit(admin, "person.password", person.login, "reset by an admin")
        return f"New password set for {person.login}; their sessions are signed out."

    async def _remove_person(self, request: web.Request, form: Form, admin: Person) -> str:
        person = await self._target(request)
        await self.store.remove_person(person.id)
        await self.access.audit(admin, "person.remove", person.login)
        return f"Removed {person.login}; their agents now belong to nobody."

    async def _assign_agent(self, request: web.Request, form: Form, admin: Person) -> str:
        agent_id = request.match_info["agent_id"]
        if await self.store.agent(agent_id) is None:
            raise FormError(f"no agent {agent_id!r}")
        raw = field(form, "person", required=False)
        if raw and not raw.isdigit():
            raise FormError(f"person must be a person's id, not {raw!r}")
        person = await self.store.person(int(raw)) if raw else None
        if raw and person is None:
            raise FormError(f"no person with id {raw}")
        await self.store.assign_agent(agent_id, person.id if person else None)
        owner = person.login if person else "nobody"
        await self.access.audit(admin, "agent.assign", agent_id, owner)
        return f"Agent {agent_id} now belongs to {owner}."

    async def audit_page(self, request: web.Request) -> web.Response:
        entries = await self.store.audit_log()
        return self._html("audit.html", request[VIEWER], page="audit", entries=entries)
