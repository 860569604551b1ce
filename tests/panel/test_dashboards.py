"""Open dashboards (/browser) over real connections: a real server process, real agents,
people made with the real CLI, signed-in aiohttp clients. A dashboard closes when the
session it was opened with ends, here or in another process; too many are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.support.fake_agent import FakeAgent, fake_agent
from tests.support.people_office import (
    PASSWORDS,
    add_people,
    cli_ok,
    create_admin,
    csrf_of,
    heartbeat,
    session,
    sign_in,
)
from tests.support.servers import ServerProcess, start_server

# Seconds a test waits for what must come (never an assertion on time); less than the
# default re-check period of 30 s.
WAIT = 15


@contextmanager
def _office(tmp_path: Path, **env: str) -> Iterator[tuple[ServerProcess, FakeAgent]]:
    server = start_server(tmp_path, **env)
    with ExitStack() as stack:
        agent = stack.enter_context(fake_agent(server, "a-bob", "Bob"))
        agent.send(heartbeat("Firefox", "reading", 0))
        agent.sync()
        add_people(server.database, assign=False)
        yield server, agent
    server.stop()


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[ServerProcess, FakeAgent]]:
    """Sessions re-read every 30 s (the default), longer than the tests wait: what
    closes a dashboard here is the end made in this process."""
    with _office(tmp_path) as made:
        yield made


@pytest.fixture
def rechecking_office(tmp_path: Path) -> Iterator[tuple[ServerProcess, FakeAgent]]:
    with _office(tmp_path, OFFICEPULSE_BROWSER_SESSION_RECHECK="1") as made:
        yield made


@asynccontextmanager
async def _signed_in(url: str, *logins: str) -> AsyncIterator[list[aiohttp.ClientSession]]:
    """A signed-in client per login (a login twice: two sessions of that person)."""
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(session()) for _ in logins]
        for http, login in zip(clients, logins, strict=True):
            assert await sign_in(http, url, login) == 303
        yield clients


async def _dashboard(
    http: aiohttp.ClientSession, server: ServerProcess
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(server.browser_url)
    first = await ws.receive(timeout=WAIT)
    assert first.type == aiohttp.WSMsgType.TEXT  # the office as it is
    return ws


async def _dashboard_once_room(
    http: aiohttp.ClientSession, server: ServerProcess
) -> aiohttp.ClientWebSocketResponse:
    """A dashboard, once there is room: the server counts a closed one out just after
    the close handshake that ends the client's close()."""
    async with asyncio.timeout(WAIT):
        while True:
            try:
                return await _dashboard(http, server)
            except aiohttp.WSServerHandshakeError as refused:
                if refused.status != 503:
                    raise
            await asyncio.sleep(0.05)


async def _closed_with(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
    """The close code and reason, skipping any live card sent before it."""
    while True:
        msg = await ws.receive(timeout=WAIT)
        if msg.type == aiohttp.WSMsgType.TEXT:
            continue
        assert msg.type == aiohttp.WSMsgType.CLOSE, msg
        return ws.close_code, str(msg.extra or "")


async def test_signing_out_closes_that_sessions_dashboard_only(
    office: tuple[ServerProcess, FakeAgent],
) -> None:
    server, agent = office
    async with _signed_in(server.url, "ann", "bob") as (ann, bob):
        ann_ws, bob_ws = await _dashboard(ann, server), await _dashboard(bob, server)
        token = await csrf_of(ann, server.url)
        async with ann.post(server.url + "/signout", data={"csrf": token}) as r:
            assert r.status == 200  # redirected to the sign-in page
        assert await _closed_with(ann_ws) == (4401, "signed out")
        # Bob's session did not end: his dashboard goes on receiving live cards.
        agent.send(heartbeat("Terminal", "building", 0))
        while "Terminal" not in (text := str((await bob_ws.receive(timeout=WAIT)).data)):
            assert text  # a card of another change; wait for this one
        assert not bob_ws.closed
        # A new dashboard on the ended session is refused like any request.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await ann.ws_connect(server.browser_url)
        assert refused.value.status == 401
        await bob_ws.close()


async def test_a_password_change_closes_the_persons_other_dashboards(
    office: tuple[ServerProcess, FakeAgent],
) -> None:
    server, _ = office
    async with _signed_in(server.url, "bob", "bob") as (other, http):
        other_ws = await _dashboard(other, server)
        token = await csrf_of(http, server.url)
        async with http.post(
            server.url + "/account/password",
            data={"csrf": token, "current": PASSWORDS["bob"], "new": "bob-new-password"},
        ) as r:
            assert r.status == 200
        assert await _closed_with(other_ws) == (4401, "signed out")


async def test_ends_made_by_the_cli_close_dashboards_at_the_next_recheck(
    rechecking_office: tuple[ServerProcess, FakeAgent],
) -> None:
    server, _ = rechecking_office
    async with _signed_in(server.url, "ann", "bob", "cat") as (ann, bob, cat):
        ann_ws, bob_ws, cat_ws = [await _dashboard(h, server) for h in (ann, bob, cat)]
        cli_ok(server.database, "people", "remove", "bob")  # another process: only the store
        cli_ok(server.database, "people", "set-role", "cat", "admin")
        assert await _closed_with(bob_ws) == (4401, "signed out")
        assert await _closed_with(cat_ws) == (4403, "role changed; reload")
        assert not ann_ws.closed  # nothing changed for Ann
        await ann_ws.close()


async def test_open_mode_dashboards_close_once_the_first_admin_exists(tmp_path: Path) -> None:
    server = start_server(tmp_path, OFFICEPULSE_BROWSER_SESSION_RECHECK="1")
    try:
        async with aiohttp.ClientSession() as http:
            ws = await _dashboard(http, server)  # open mode: no session needed
            create_admin(server.database)  # by the CLI, another process
            assert await _closed_with(ws) == (4401, "sign-in required")
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(server.browser_url)
            assert refused.value.status == 401
    finally:
        server.stop()


@pytest.mark.parametrize("setting", ["MAX_BROWSERS", "MAX_BROWSERS_PER_IP"])
async def test_the_dashboard_limits_refuse_one_more_only(tmp_path: Path, setting: str) -> None:
    server = start_server(tmp_path, **{"OFFICEPULSE_" + setting: "2"})
    try:
        async with aiohttp.ClientSession() as http:
            first, second = await _dashboard(http, server), await _dashboard(http, server)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(server.browser_url)
            assert refused.value.status == 503
            server.wait_for_log("dashboard refused: too many dashboards open")
            assert not first.closed  # the open ones are unaffected
            assert not second.closed
            await first.close()
            third = await _dashboard_once_room(http, server)  # room again
            assert not third.closed
            for ws in (second, third):
                await ws.close()
    finally:
        server.stop()
