"""The agents' websocket on picows (gateway/wire.py), through a real `officepulse server`
process: a real agent's connection is served by picows, on the same port as the pages and
dashboards that aiohttp still serves, and what aiohttp's websocket did for the gateway
(messages in fragments, text that is not UTF-8, refusals) it does too."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from tests.support.agent_messages import served
from tests.support.hand_agent import agent, beat, hello, ping
from tests.support.processes import WAIT, stop, wait_until
from tests.support.scrape import scrape
from tests.support.servers import ServerProcess, dev_ca, start_agent, start_server

PICOWS = 'officepulse_agent_websockets_total{transport="picows"}'
AIOHTTP = 'officepulse_agent_websockets_total{transport="aiohttp"}'


def _server_header(server: ServerProcess, path: str) -> str:
    with urllib.request.urlopen(server.url + path, timeout=WAIT) as response:
        return str(response.headers.get("Server", ""))


def _read(url: str, context: ssl.SSLContext) -> tuple[str, str]:
    """A page's Server header and text, over https."""
    with urllib.request.urlopen(url, timeout=WAIT, context=context) as response:
        return str(response.headers.get("Server", "")), response.read().decode()


async def test_a_real_agent_is_served_by_picows_and_pages_by_aiohttp_on_one_port(
    server: ServerProcess, tmp_path: Path
) -> None:
    # A real agent process, as it ships.
    process = start_agent(server, tmp_path / "ann", "--source", "none", "--agent-id", "ann")
    try:

        def connected() -> bool:
            return scrape(server).get("officepulse_agents_connected") == 1

        wait_until(connected, WAIT, "the agent connected", lambda: str(scrape(server)))
        counts = scrape(server)
        assert counts.get(PICOWS) == 1, counts
        assert AIOHTTP not in counts, counts
    finally:
        stop(process)
    # Pages and /metrics on the same port are aiohttp's answers (its Server header)...
    assert "aiohttp" in _server_header(server, "/healthz")
    # ... and so is a dashboard's websocket; an agent's upgrade is answered by picows,
    # which sends no Server header.
    async with connect(server.browser_url) as browser:
        assert "aiohttp" in browser.response.headers.get("Server", "")
        await browser.recv()
    async with connect(server.ws_url) as ws:
        assert ws.response.headers.get("Server") is None
        await served(ws, "bob")
    assert scrape(server).get(PICOWS) == 2


async def test_over_tls_agents_are_served_by_picows_too(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--dev-tls", XDG_DATA_HOME=str(tmp_path / "data"))
    try:
        trusting = ssl.create_default_context(cafile=dev_ca(server))
        async with connect(server.ws_url, ssl=trusting) as ws:
            assert ws.response.headers.get("Server") is None
            await served(ws, "sealed")
        said, text = _read(server.url + "/metrics", trusting)
        assert "aiohttp" in said
        assert f"{PICOWS} 1.0" in text.splitlines(), text
    finally:
        server.stop()


async def test_with_agent_deflate_agents_stay_on_aiohttp(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--agent-deflate", "true")
    try:
        async with connect(server.ws_url, compression="deflate") as ws:
            assert "aiohttp" in ws.response.headers.get("Server", "")
            await served(ws, "zipped")
        counts = scrape(server)
        assert counts.get(AIOHTTP) == 1, counts
        assert PICOWS not in counts, counts
    finally:
        server.stop()


def _answer_head(sock: socket.socket) -> bytes:
    """One HTTP answer's head and its body (by Content-Length), as the server sent it."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(4096)
        assert piece, f"the server closed the connection after {data!r}"
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head


def test_an_upgrade_after_another_request_on_the_socket_stays_on_aiohttp(
    server: ServerProcess,
) -> None:
    parts = urlsplit(server.url)
    host = f"{parts.hostname}:{parts.port}"
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((parts.hostname, parts.port), timeout=WAIT) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert _answer_head(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(
            (
                f"GET /agent HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = _answer_head(sock)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"aiohttp" in head, head  # aiohttp's answer, its Server header
        counts = scrape(server)
        assert counts.get(AIOHTTP) == 1, counts
        assert PICOWS not in counts, counts


async def test_fragmented_messages_are_put_together(server: ServerProcess) -> None:
    async with connect(server.ws_url) as ws:
        text = hello("frag1")
        # websockets sends an iterable as one message in several frames.
        await ws.send(iter([text[:10], text[10:30], text[30:]]))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        await ws.send(beat("Code", "one piece"))
        second = beat("Code", "in pieces")
        await ws.send(iter([second[:5], second[5:]]))
        await ping(ws)
    (listed,) = [a for a in server.get("/api/v1/agents")["agents"] if a["id"] == "frag1"]
    assert listed["current"]["title"] == "in pieces"


async def test_a_message_too_big_in_fragments_is_named_and_closed(server: ServerProcess) -> None:
    async with connect(server.ws_url, max_size=None) as ws:
        await ws.send(hello("pieces"))
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(iter(["x" * 40_000, "x" * 40_000]))  # 80,000 bytes: the limit is 65,536
        error = json.loads(await ws.recv())
        assert error["code"] == "message-too-big", error
        await ws.wait_closed()
    assert ws.close_code == 1009
    assert ws.close_reason == "message too big: the limit is 65536 bytes"


async def test_text_that_is_not_utf8_closes_with_1007(server: ServerProcess) -> None:
    good = await agent(server, "steady")
    async with connect(server.ws_url) as bad:
        await bad.send(hello("garbled"))
        assert json.loads(await bad.recv())["type"] == "welcome"
        # A text frame whose bytes are not UTF-8, past the client's own checks.
        bad.protocol.send_frame(Frame(Opcode.TEXT, b"\xff\xfe"))
        bad.send_data()
        await bad.wait_closed()
    assert bad.close_code == 1007
    await good.send(beat("Code", "still here"))
    await ping(good)
    await good.close()
