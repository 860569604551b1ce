"""The access control is one mechanism every route passes through: every route of the
app has a policy, a route without one is refused, and a member cannot read another
person's detail through any route (each route walked over a real server, with the other
person's agent id in every parameter)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from websockets.sync.client import connect

from officepulse.security.access import Access, Detail, policy_for
from officepulse.server.app import Server
from officepulse.settings import ServerSettings
from tests.support.people_office import (
    ANN_TITLE,
    ANN_URL,
    Office,
    around_now,
    cli_ok,
    csrf_of,
    office,
    session,
    session_cookie,
    sign_in,
)

__all__ = ["office"]  # the fixture, used by name

OTHER_AGENT = "a-ann"


def app_routes(tmp_path: Path) -> list[tuple[str, str]]:
    """(method, canonical path) of every route of the server's app, as built to run."""
    app = Server(ServerSettings(database=str(tmp_path / "routes.sqlite3"))).app()
    return sorted({(r.method, r.resource.canonical) for r in app.router.routes() if r.resource})


def test_every_route_has_an_access_policy(tmp_path: Path) -> None:
    routes = app_routes(tmp_path)
    assert len(routes) > 20
    missing = [f"{m} {p}" for m, p in routes if policy_for(m, p) is None]
    assert missing == [], "routes without a line in security/access.py's ROUTES: " + ", ".join(
        missing
    )
    # The detail of one agent is guarded wherever a route names one.
    for method, path in routes:
        if "{agent_id}" in path:
            assert isinstance(policy_for(method, path), Detail) or policy_for(method, path) in (
                Access.ADMIN,
                Access.MANAGE,
            ), path


async def test_a_route_missing_from_the_table_is_refused(tmp_path: Path) -> None:
    server = Server(ServerSettings(database=str(tmp_path / "o.sqlite3")))
    app = server.app()

    async def unlisted(request: web.Request) -> web.Response:
        return web.Response(text="should never be served")

    app.router.add_get("/unlisted/{agent_id}", unlisted)
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/unlisted/a1")
        assert r.status == 403
        assert (await r.json())["error"] == "no access policy for GET /unlisted/a1"
        ok = await client.get("/api/v1/agents")  # open mode: listed routes are served
        assert ok.status == 200


def _concrete(path: str) -> str:
    """A route's path with the other person's agent id in every parameter."""
    if path == "/static":
        return "/static/" + OTHER_AGENT
    return re.sub(r"\{[^}]+\}", OTHER_AGENT, path)


async def test_a_member_cannot_read_another_persons_detail_through_any_route(
    office: Office, tmp_path: Path
) -> None:
    common = f"{around_now()}&range=today&tz=UTC&group_by=agent,app&format=json"
    queries = (f"?agent={OTHER_AGENT}&agent_id={OTHER_AGENT}&{common}", f"?{common}")
    routes = app_routes(tmp_path)
    # Signing out is walked last: it ends the session the others use.
    routes.sort(key=lambda r: r[1] == "/signout")
    served: dict[str, int] = {}
    async with session() as http:
        assert await sign_in(http, office.url, "bob") == 303
        token = await csrf_of(http, office.url)
        for method, path in routes:
            # With the other's agent id as every parameter, and with none (a member's
            # export without an agent is their own).
            for query in queries:
                async with http.request(
                    method,
                    office.url + _concrete(path) + query,
                    data={"csrf": token, "agent": OTHER_AGENT, "agent_id": OTHER_AGENT},
                    headers={"X-CSRF-Token": token},
                    allow_redirects=False,
                ) as r:
                    body = await r.read()
                where = f"{method} {path}{query[:8]}… ({r.status})"
                assert ANN_TITLE.encode() not in body, where
                assert ANN_URL.encode() not in body, where
                served[f"{method} {path}"] = r.status
                policy = policy_for(method, path)
                guarded = isinstance(policy, Detail) or policy in (Access.ADMIN, Access.MANAGE)
                if guarded and query is queries[0]:
                    assert r.status == 403, where
    # Not vacuous: the office itself was served, with Ann in it at her level.
    for listed in ("GET /", "GET /api/v1/agents", "GET /time", "GET /api/v1/usage"):
        assert served[listed] == 200, listed


def test_the_live_office_shows_each_audience_its_level(office: Office) -> None:
    """Bob's dashboard gets Ann's card at her level (app, no title), live; Ann's own
    dashboard gets her title; one change, rendered once per level."""
    bob_cookie = session_cookie(office.url, "bob")
    ann_cookie = session_cookie(office.url, "ann")
    headers = {"Origin": office.url}
    with (
        connect(
            office.server.browser_url,
            additional_headers={**headers, "Cookie": bob_cookie},
            proxy=None,
        ) as bob_ws,
        connect(
            office.server.browser_url,
            additional_headers={**headers, "Cookie": ann_cookie},
            proxy=None,
        ) as ann_ws,
    ):
        first_bob = str(bob_ws.recv(timeout=10))
        first_ann = str(ann_ws.recv(timeout=10))
        assert "Code" in first_bob
        assert ANN_TITLE not in first_bob
        assert ANN_TITLE in first_ann
        office.agents[OTHER_AGENT].beat("Terminal", "Ann-second-secret")
        bob_update = _until(bob_ws, "Terminal")
        ann_update = _until(ann_ws, "Terminal")
        assert "Ann-second-secret" not in bob_update
        assert "Ann-second-secret" in ann_update


def test_the_live_office_shows_a_person_on_category_as_their_category(office: Office) -> None:
    """Ann shows others a category only: Bob's dashboard gets the top level of hers,
    live, never her app or title."""
    cli_ok(office.database, "people", "set-visibility", "ann", "category")
    with connect(
        office.server.browser_url,
        additional_headers={"Origin": office.url, "Cookie": session_cookie(office.url, "bob")},
        proxy=None,
    ) as bob_ws:
        first = str(bob_ws.recv(timeout=10))
        assert "Work" in first  # Code is "Work > Programming" by the default rules
        assert "Code" not in first
        assert ANN_TITLE not in first
        office.agents[OTHER_AGENT].beat("Slack", "Ann-chat-secret")
        update = _until(bob_ws, "Comms")  # Slack is "Comms > Chat"
        assert "Slack" not in update
        assert "Chat" not in update
        assert "Ann-chat-secret" not in update


def _until(ws: object, needle: str) -> str:
    from websockets.sync.client import ClientConnection

    assert isinstance(ws, ClientConnection)
    for _ in range(20):
        message = str(ws.recv(timeout=10))
        if needle in message:
            return message
    raise AssertionError(f"no message with {needle!r}")


async def test_api_clients_without_a_session_get_401_with_a_reason(office: Office) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/api/v1/agents", "/api/v1/usage", "/api/v1/spans", "/api/v1/openapi.json"):
            async with http.get(office.url + path) as r:
                assert r.status == 401, path
                assert "sign in" in json.loads(await r.text())["error"]


def test_another_site_cannot_open_the_live_office_with_the_cookie(office: Office) -> None:
    from websockets.exceptions import InvalidStatus

    cookie = session_cookie(office.url, "bob")
    try:
        connect(
            office.server.browser_url,
            additional_headers={"Origin": "http://evil.example", "Cookie": cookie},
            proxy=None,
        )
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
    else:
        raise AssertionError("a cross-site websocket was let in")
    with connect(
        office.server.browser_url,
        additional_headers={"Origin": office.url, "Cookie": cookie},
        proxy=None,
    ) as ws:
        assert "Code" in str(ws.recv(timeout=10))
