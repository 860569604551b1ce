"""GET /api/v1/gateways and the Gateways page on the embedded server (a real server
process, a real agent connection, people made with the real CLI, real sessions): the
server is its own one gateway, shown to an admin only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from officepulse import __version__
from tests.support.fake_agent import fake_agent
from tests.support.people_office import add_people, session, sign_in
from tests.support.servers import ServerProcess, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """ann (admin), bob and cat (members)."""
    server = start_server(Path(tmp_path_factory.mktemp("fleet")))
    add_people(server.database, assign=False)
    yield server
    server.stop()


async def get(server: ServerProcess, path: str, login: str | None) -> tuple[int, str, str]:
    """Status, body and Location of GET ``path`` as ``login`` (None: signed out), as a
    browser asks for a page."""
    async with session() as http:
        if login is not None:
            assert await sign_in(http, server.url, login) == 303
        headers = {"Accept": "text/html"} if not path.startswith("/api/") else {}
        async with http.get(server.url + path, headers=headers, allow_redirects=False) as r:
            return r.status, await r.text(), r.headers.get("Location", "")


async def test_an_admin_sees_the_embedded_server_as_its_one_gateway(
    server: ServerProcess,
) -> None:
    with fake_agent(server, "alice", "Alice"), fake_agent(server, "bert", "Bert"):
        async with session() as http:
            assert await sign_in(http, server.url, "ann") == 303
            async with http.get(server.url + "/api/v1/gateways") as r:
                assert r.status == 200
                body = await r.json()
            async with http.get(server.url + "/gateways") as r:
                assert r.status == 200
                page = await r.text()
            async with http.get(server.url + "/gateways/table") as r:
                assert r.status == 200
                table = await r.text()
            async with http.get(server.url + "/account") as r:
                assert 'href="/gateways"' in await r.text()  # in the admin's nav
    (gateway,) = body["gateways"]
    port = urlsplit(server.url).port
    assert (gateway["id"], gateway["address"], gateway["connections"]) == (
        "embedded",
        f"127.0.0.1:{port}",
        2,
    )
    assert (gateway["version"], gateway["answering"]) == (__version__, True)
    started = datetime.fromisoformat(gateway["started"])
    heard = datetime.fromisoformat(gateway["last_heard"])
    assert started <= heard
    assert gateway["uptime_seconds"] == int((heard - started).total_seconds())
    for html in (page, table):
        assert 'id="gateway-embedded"' in html
        assert f"127.0.0.1:{port}" in html
    assert 'hx-get="/gateways/table"' in table  # it reloads itself


async def test_members_get_403_and_the_signed_out_sign_in_first(server: ServerProcess) -> None:
    for path in ("/api/v1/gateways", "/gateways", "/gateways/table"):
        status, _, _ = await get(server, path, "bob")
        assert status == 403, path
    status, body, _ = await get(server, "/api/v1/gateways", None)
    assert (status, "sign in" in body) == (401, True)
    for path in ("/gateways", "/gateways/table"):
        status, _, location = await get(server, path, None)
        assert (status, location.split("?")[0]) == (303, "/signin"), path
    status, account, _ = await get(server, "/account", "bob")
    assert status == 200
    assert 'href="/gateways"' not in account  # not in a member's nav


async def test_the_openapi_document_describes_the_gateways(server: ServerProcess) -> None:
    async with session() as http:
        assert await sign_in(http, server.url, "bob") == 303
        async with http.get(server.url + "/api/v1/openapi.json") as r:
            doc = await r.json()
    operation = doc["paths"]["/api/v1/gateways"]["get"]
    assert set(operation["responses"]) == {"200", "401", "403"}
    schemas = doc["components"]["schemas"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GatewaysOut"
    }
    assert set(schemas["GatewayOut"]["properties"]) == {
        "id",
        "address",
        "connections",
        "started",
        "uptime_seconds",
        "version",
        "last_heard",
        "answering",
    }
