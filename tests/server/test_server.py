"""The server over real sockets: a real `officepulse server` process, agents and
dashboards connected with the `websockets` client library."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from tests.support.hand_agent import NOW, agent, beat, hello, ping
from tests.support.processes import WAIT
from tests.support.servers import ServerProcess, start_server


async def until_html(ws: ClientConnection, *needles: str, within: float = WAIT) -> str:
    """Read dashboard messages until one contains every needle."""
    async with asyncio.timeout(within):
        while True:
            message = str(await ws.recv())
            if all(n in message for n in needles):
                return message


async def test_welcome_tells_the_agent_the_rules(server: ServerProcess) -> None:
    async with connect(server.ws_url) as ws:
        await ws.send(hello())
        welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome"
    assert welcome["v"] == 1
    assert welcome["heartbeat_interval"] < welcome["pulsetime"]
    assert welcome["max_frame_bytes"] == 65536


async def test_messagepack_agents_get_messagepack_replies(server: ServerProcess) -> None:
    async with connect(server.ws_url) as ws:
        await ws.send(msgspec.msgpack.encode(json.loads(hello())))
        reply = await ws.recv()
    assert isinstance(reply, bytes)
    assert msgspec.msgpack.decode(reply)["type"] == "welcome"


async def test_dashboards_see_agents_come_change_and_go(server: ServerProcess) -> None:
    async with connect(server.browser_url) as browser:
        first = str(await browser.recv())
        assert '<div id="people"' in first
        assert "Nobody has connected yet" in first
        ws = await agent(server)
        appeared = await until_html(browser, 'id="agent-alice1"')
        # Put in its group (it is online with nothing in front yet: not seen).
        assert 'hx-swap-oob="beforeend:#cards-unseen"' in appeared
        assert "1 online · 1 person" in appeared
        await ws.send(beat("Google-chrome", "YouTube — cat video"))
        moved = await until_html(browser, "YouTube — cat video")
        # Active now: taken out of the group this browser has her in, put in Active.
        assert moved.index('hx-swap-oob="delete"') < moved.index("beforeend:#cards-active")
        await ws.send(beat("Google-chrome", "Docs", at=NOW + timedelta(seconds=2)))
        changed = await until_html(browser, "Docs")
        assert "beforeend" not in changed  # in the group this browser has her in: by id
        await ws.send(beat("Code", "main.py", at=NOW + timedelta(seconds=5), idle=True))
        await until_html(browser, "main.py", 'class="badge">idle')
        listed = server.get("/api/v1/agents")["agents"]
        assert [
            (a["id"], a["online"], a["current"]["app"], a["current"]["idle"]) for a in listed
        ] == [("alice1", True, "Code", True)]
        await ws.close()
        gone = await until_html(browser, 'id="agent-alice1"', "offline")
        assert "last seen" in gone
        assert "0 online · 1 person" in gone
    (listed,) = server.get("/api/v1/agents")["agents"]
    assert listed["online"] is False
    assert listed["current"]["app"] == "Code"  # what they were last doing is kept


async def test_a_new_dashboard_gets_the_whole_office_at_once(server: ServerProcess) -> None:
    ws = await agent(server, "bob1", name="Bob")
    await ws.send(beat("Spotify", "Queen — Bohemian Rhapsody"))
    await ping(ws)
    async with connect(server.browser_url) as browser:
        first = str(await browser.recv())
    assert 'id="agent-bob1"' in first
    assert "Bohemian Rhapsody" in first
    await ws.close()


BAD_INPUT = [
    ("{oops", 4000, "malformed JSON"),
    (b"\xc1", 4000, "malformed MessagePack"),
    ('{"type": "teleport"}', 4001, "unknown message type"),
    ('{"type": "hello", "v": 1}', 4002, "missing required field"),
    (hello(v=4), 4003, "protocol version 4 is not supported; this server speaks 1, 2, 3"),
    ('{"type": "ping", "id": 1}', 4004, "first message must be 'hello'"),
    (hello(tz="Mars/Olympus_Mons"), 4002, "unknown time zone 'Mars/Olympus_Mons'"),
    ("x" * 70_000, 1009, "message too big: the limit is 65536 bytes"),
]


@pytest.mark.parametrize(("frame", "code", "reason"), BAD_INPUT)
async def test_bad_input_is_named_and_closed_while_others_keep_working(
    server: ServerProcess, frame: str | bytes, code: int, reason: str
) -> None:
    good = await agent(server, "steady")
    async with connect(server.ws_url, max_size=None) as bad:
        await bad.send(frame)
        error = await bad.recv()
        decoded = json.loads(error) if isinstance(error, str) else msgspec.msgpack.decode(error)
        assert decoded["type"] == "error"
        assert decoded["fatal"] is True
        assert reason in decoded["message"]
        with pytest.raises(ConnectionClosed):
            await bad.recv()
    assert bad.close_code == code
    assert bad.close_reason is not None
    assert reason in bad.close_reason
    # Everyone else is served as before.
    await good.send(beat("Code", "still here"))
    await ping(good)
    (steady,) = [a for a in server.get("/api/v1/agents")["agents"] if a["id"] == "steady"]
    assert steady["current"]["title"] == "still here"
    await good.close()


async def test_stale_and_future_heartbeats_are_refused_but_the_connection_stays(
    server: ServerProcess,
) -> None:
    ws = await agent(server)
    await ws.send(beat("Code", "a", at=NOW))
    await ws.send(beat("Code", "b", at=NOW - timedelta(minutes=1)))
    stale = json.loads(await ws.recv())
    assert stale == {
        "type": "error",
        "code": "heartbeat-refused",
        "message": stale["message"],
        "fatal": False,
    }
    assert "older than the current span" in stale["message"]
    await ws.send(beat("Code", "c", at=NOW + timedelta(hours=2)))
    ahead = json.loads(await ws.recv())
    assert "ahead of the server's clock" in ahead["message"]
    await ping(ws)
    (listed,) = server.get("/api/v1/agents")["agents"]
    assert listed["current"]["title"] == "a"
    await ws.close()


async def test_a_reconnecting_agent_replaces_its_old_connection(server: ServerProcess) -> None:
    old = await agent(server)
    new = await agent(server)
    with pytest.raises(ConnectionClosed):
        await old.recv()
    assert old.close_code == 4009
    await new.send(beat("Code"))
    await ping(new)
    (listed,) = server.get("/api/v1/agents")["agents"]
    assert listed["online"] is True
    await new.close()


async def test_one_slow_dashboard_does_not_hold_up_the_others(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--browser-send-timeout", "1")
    try:
        # A dashboard that stops reading, as a stuck browser tab would: a tiny receive
        # buffer, and a client that takes one message and then leaves the rest unread.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(_addr(server))
        slow = await connect(server.browser_url, sock=sock, max_queue=1, max_size=None)
        fast = await connect(server.browser_url, max_size=None)
        await fast.recv()
        agents = [await agent(server, f"p{i}") for i in range(30)]
        # Random text: compression would shrink a repeated one to nothing.
        long_title = random.Random(7).randbytes(1990).hex()
        for round_ in range(100):
            at = NOW + timedelta(seconds=round_)
            for i, ws in enumerate(agents):
                await ws.send(beat(f"app{round_ % 2}", f"{long_title}{round_}-{i}", at=at))
            if round_ % 10 == 9:
                # The fast dashboard keeps up: it sees this round's last change.
                await until_html(fast, f"{long_title}{round_}-29")
        for ws in agents:
            await ping(ws)
        # The stuck one is cut off rather than allowed to pile up.
        await asyncio.to_thread(server.wait_for_log, "a dashboard fell behind")
        async with asyncio.timeout(WAIT):
            while True:
                try:
                    await slow.recv()
                except ConnectionClosed:
                    break
        for ws in agents:
            await ws.close()
        await fast.close()
    finally:
        server.stop()


def _addr(server: ServerProcess) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def test_usage_api_validates_its_parameters(server: ServerProcess) -> None:
    day = "start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"
    cases = {
        "/api/v1/usage": "missing query parameter 'start'",
        "/api/v1/usage?start=2026-01-01T00:00:00Z": "missing query parameter 'end'",
        "/api/v1/usage?start=yesterday&end=2026-01-02T00:00:00Z": "'start' is not an ISO 8601",
        "/api/v1/usage?start=2026-01-01T00:00:00&end=2026-01-02T00:00:00Z": "which time zone",
        "/api/v1/usage?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z": "'end' must be after",
        f"/api/v1/usage?{day}&group_by=title": "cannot contain 'title'",
        f"/api/v1/usage?{day}&group_by=app,app": "names 'app' twice",
        f"/api/v1/usage?{day}&format=xml": "'format' must be one of json, csv",
        "/api/v1/spans?start=2026-01-01T00:00:00Z": "missing query parameter 'end'",
    }
    for path, message in cases.items():
        status, body = server.get_status(path)
        assert status == 400, path
        assert message in body["error"], (path, body)


def test_openapi_document_describes_the_api(server: ServerProcess) -> None:
    doc = server.get("/api/v1/openapi.json")
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/api/v1/agents",
        "/api/v1/usage",
        "/api/v1/usage/days",
        "/api/v1/usage/hours",
        "/api/v1/spans",
        "/api/v1/timeline",
        "/api/v1/gaps",
        "/api/v1/gateways",
        "/api/v1/titles",
        "/api/v1/categories",
        "/api/v1/categories/reset",
        "/api/v1/categories/jobs/{job_id}",
        "/api/v1/categories/uncategorized",
        "/api/v1/app-names",
    }
    schemas = doc["components"]["schemas"]
    assert {"AgentsOut", "AgentOut", "UsageOut", "UsageRowOut", "ErrorOut"} <= set(schemas)
    assert {"CategoriesIn", "CategoriesOut", "CategoriesSaved", "JobOut", "Rule"} <= set(schemas)
    assert {"GapsOut", "GapOut"} <= set(schemas)
    assert {"UsageHoursOut", "HourRowOut"} <= set(schemas)
    assert {"AppNamesOut", "AppNameIn", "AppNameOut"} <= set(schemas)
    assert set(doc["paths"]["/api/v1/categories"]) == {"get", "put"}
    assert "category" in schemas["UsageRowOut"]["properties"]
    assert "seconds" in schemas["UsageRowOut"]["properties"]


def test_pages_are_served(server: ServerProcess) -> None:
    import urllib.request

    for path, needle in [
        ("/", b'ws-connect="/browser"'),
        ("/time", b"officepulse.timeZone()"),  # asks the browser for its zone
        ("/time?tz=UTC", b"Last 7 days"),
        ("/categories", b"Save and re-categorise"),
        ("/static/vendor/htmx.min.js", b"htmx"),
        ("/static/vendor/ws.js", b"ws"),
        ("/static/officepulse.js", b"timeZone"),
    ]:
        with urllib.request.urlopen(server.url + path) as response:
            assert needle in response.read(), path


async def test_spans_without_a_zone_take_the_hellos_and_bad_zones_are_named(
    server: ServerProcess,
) -> None:
    """A third-party v2 agent: spans that name no zone were recorded in the hello's; one
    that names an unknown zone is counted there too, and the agent is told."""
    ws = await agent(server, "third", v=2, tz="Europe/Berlin")
    spans = [
        ["2026-01-10T22:00:00Z", "2026-01-10T23:30:00Z", {"app": "Code"}],
        ["2026-01-10T23:30:00Z", "2026-01-11T00:00:00Z", {"app": "Code"}, "Mars/Olympus"],
        ["2026-01-11T00:00:00Z", "2026-01-11T01:00:00Z", {"app": "Code"}, "Asia/Tokyo"],
    ]
    await ws.send(json.dumps({"type": "spans", "first_seq": 1, "spans": spans}))
    note = json.loads(await ws.recv())
    assert note["code"] == "span-adjusted"
    assert "span 2: unknown time zone 'Mars/Olympus'" in note["message"]
    assert json.loads(await ws.recv()) == {"type": "ack", "seq": 3}
    query = "/api/v1/usage/days?from=2026-01-09&to=2026-01-12&group_by=agent"

    def per_day(path: str) -> dict[str, float]:
        return {r["day"]: r["seconds"] for r in server.get(path)["rows"]}

    # Berlin's Jan 10 ends at 23:00 UTC; 09:00-10:00 in Tokyo is on Jan 11 too.
    assert per_day(query + "&day=person") == {"2026-01-10": 3600, "2026-01-11": 7200}
    assert per_day(query + "&day=viewer&tz=UTC") == {"2026-01-10": 7200, "2026-01-11": 3600}
    (listed,) = server.get("/api/v1/agents")["agents"]
    assert listed["tz"] == "Asia/Tokyo"  # where the newest span was recorded
    await ws.close()


async def test_an_agent_gone_without_a_close_is_found_by_pings_and_shown_offline(
    tmp_path: Path,
) -> None:
    """A laptop shut mid-connection sends no close: the server's pings find it, while an
    agent that answers them (the websockets library does, as every client should) stays."""
    import aiohttp

    from tests.support.processes import wait_until

    proc = start_server(tmp_path, "--ping-interval", "1")
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(proc.ws_url, autoping=False) as silent,
            connect(proc.ws_url) as answering,
        ):
            await silent.send_str(hello("ghost1", name="Ghost"))
            assert json.loads((await silent.receive()).data)["type"] == "welcome"
            await answering.send(hello("bob1", name="Bob"))
            assert json.loads(await answering.recv())["type"] == "welcome"

            def online() -> dict[str, bool]:
                return {a["id"]: a["online"] for a in proc.get("/api/v1/agents")["agents"]}

            # The silent one never reads its pings, so it never answers them.
            await asyncio.to_thread(
                wait_until,
                lambda: online() == {"ghost1": False, "bob1": True},
                30,
                "the ghost shown offline by the server's pings",
            )
            await ping(answering)  # and the answering one is still served
    finally:
        proc.stop()


def test_a_big_message_still_arriving_answers_the_servers_ping(tmp_path: Path) -> None:
    """On a slow link a big message can take longer to arrive than a ping waits for its
    answer, and the agent's pong waits behind it: data still arriving counts as an answer
    (as it does for aiohttp's own keep-alive), so the connection is kept."""
    proc = start_server(tmp_path, "--ping-interval", "2")
    try:
        host, port = proc.ws_url.removeprefix("ws://").split("/")[0].split(":")
        client = ClientProtocol(parse_uri(proc.ws_url))
        with socket.create_connection((host, int(port)), timeout=WAIT) as sock:

            def send() -> None:
                sock.sendall(b"".join(client.data_to_send()))

            def receive_text() -> dict[str, Any]:
                while True:
                    for event in client.events_received():
                        if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                            return dict(json.loads(event.data))
                    data = sock.recv(65536)
                    assert data, f"the server closed the connection ({client.close_code})"
                    client.receive_data(data)

            client.send_request(client.connect())
            send()
            while client.state is not State.OPEN:  # the handshake's answer
                client.receive_data(sock.recv(65536))
            client.send_text(hello("slow1").encode())
            send()
            assert receive_text()["type"] == "welcome"
            big = beat("Code", "x" * 4096, at=NOW)
            client.send_text(big.encode())
            frame = b"".join(client.data_to_send())
            # A byte every 20 ms for three ping intervals (the server pings after 2 s of
            # quiet and waits 1 s for an answer), then the rest; the pings it sends
            # meanwhile are not answered (nothing is read).
            sent, until = 0, time.monotonic() + 6
            try:
                while time.monotonic() < until:
                    sock.sendall(frame[sent : sent + 1])
                    sent += 1
                    time.sleep(0.02)
                assert sent < len(frame)
                sock.sendall(frame[sent:])
            except ConnectionError as exc:
                pytest.fail(f"the server let the agent go while its message arrived: {exc!r}")
            client.send_text(json.dumps({"type": "ping", "id": 1}).encode())
            send()
            while (reply := receive_text())["type"] != "pong":
                assert reply["type"] == "error", reply
            assert reply == {"type": "pong", "id": 1}
    finally:
        proc.stop()
