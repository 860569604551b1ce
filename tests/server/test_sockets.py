"""Sockets against a real server on a real port: idle ones and byte-a-second senders are
closed after ``header_timeout`` while everyone else is served; at ``max_sockets`` the
longest-idle socket makes room, or a new one gets a 503 that says why; a server with few
file descriptors is not locked out by a flood of idle sockets."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import signal
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest
from aiohttp import web
from websockets.sync.client import ClientConnection, connect

from officepulse.server.proxies import TrustedProxies
from officepulse.server.sockets import GatedSite, SocketGate
from tests.support.processes import wait_until
from tests.support.raw_sockets import ask, port_of, welcomed
from tests.support.servers import ServerProcess, start_server

PADDING = b"X-Padding: " + b"a" * 200
HEADS = (  # a request and a websocket upgrade
    b"GET /api/v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\n" + PADDING,
    b"GET /agent HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + PADDING,
)


def pong(ws: ClientConnection, n: int) -> None:
    ws.send(json.dumps({"type": "ping", "id": n}))
    assert json.loads(ws.recv(timeout=10)) == {"type": "pong", "id": n}


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed ``sock`` (EOF or reset), reading any answer."""
    sock.setblocking(False)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.fixture
def sockets() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def open_idle(server: ServerProcess, count: int, stack: ExitStack) -> list[socket.socket]:
    return [
        stack.enter_context(socket.create_connection(("127.0.0.1", port_of(server))))
        for _ in range(count)
    ]


def test_idle_and_slow_sockets_are_closed_after_the_header_timeout(
    tmp_path: Path, sockets: ExitStack
) -> None:
    server = start_server(tmp_path, "--header-timeout", "1", "--handshake-timeout", "60")
    try:
        quiet = sockets.enter_context(connect(server.ws_url))
        welcomed(quiet, "quiet")
        idle = open_idle(server, 500, sockets)
        slow = open_idle(server, 20, sockets)
        # With all of them open, a normal client is served.
        status, body = ask(server)
        assert status == 200
        assert json.loads(body)["agents"][0]["id"] == "quiet"
        sent = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for i, sock in enumerate(slow):  # request heads, a byte at a time
                with suppress(OSError):
                    sock.send(HEADS[i % 2][sent : sent + 1])
            sent += 1
            open_idle_left = [s for s in idle if not closed_by_server(s)]
            open_slow_left = [s for s in slow if not closed_by_server(s)]
            if not open_idle_left and not open_slow_left:
                break
            time.sleep(0.1)
        assert not open_idle_left, f"{len(open_idle_left)} idle sockets still open"
        assert not open_slow_left, f"{len(open_slow_left)} slow senders still open"
        assert sent < min(map(len, HEADS))  # closed before their heads could end
        # A welcomed agent quiet for longer than header_timeout is not touched by it.
        pong(quiet, 1)
        assert ask(server)[0] == 200
    finally:
        server.stop()


def test_a_tls_handshake_that_never_comes_is_cut_off_and_frees_its_place(
    tmp_path: Path, sockets: ExitStack
) -> None:
    # One socket at most: the silent one holds it until its handshake times out.
    data = tmp_path / "data"
    server = start_server(
        tmp_path,
        "--dev-tls",
        "--header-timeout",
        "1",
        "--max-sockets",
        "1",
        XDG_DATA_HOME=str(data),
    )
    try:
        (silent,) = open_idle(server, 1, sockets)
        wait_until(lambda: closed_by_server(silent), 20, "the silent TLS socket closed")
        context = ssl.create_default_context(cafile=data / "officepulse" / "dev-tls" / "ca.pem")
        context.check_hostname = False

        def served() -> bool:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", port_of(server), timeout=10, context=context
            )
            try:
                conn.request("GET", "/api/v1/agents")
                return conn.getresponse().status == 200
            finally:
                conn.close()

        wait_until(served, 20, "a TLS client served once the silent socket's place is free")
    finally:
        server.stop()


def test_at_the_cap_the_longest_idle_socket_makes_room(tmp_path: Path, sockets: ExitStack) -> None:
    server = start_server(
        tmp_path, "--max-sockets", "20", "--header-timeout", "60", "--handshake-timeout", "60"
    )
    try:
        busy = welcomed(sockets.enter_context(connect(server.ws_url)), "busy")
        # Stopped, the server finds all of these waiting at once when it goes on, and
        # accepts them in order: the request comes 21st and finds no room.
        server.proc.send_signal(signal.SIGSTOP)
        try:
            idle = open_idle(server, 19, sockets)
            newcomer = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=10)
            sockets.callback(newcomer.close)
            newcomer.request("GET", "/api/v1/agents")
        finally:
            server.proc.send_signal(signal.SIGCONT)
        assert newcomer.getresponse().status == 200
        wait_until(lambda: closed_by_server(idle[0]), 10, "the oldest idle socket closed")
        assert not any(closed_by_server(s) for s in idle[1:])
        pong(busy, 1)  # older than any idle one, but it has asked for something
        server.wait_for_log("at the connection limit: 20 sockets open")
    finally:
        server.stop()


def test_with_every_socket_busy_a_new_one_is_refused_and_the_rest_served(
    tmp_path: Path, sockets: ExitStack
) -> None:
    server = start_server(tmp_path, "--max-sockets", "5", "--handshake-timeout", "60")
    try:
        agents = [
            welcomed(sockets.enter_context(connect(server.ws_url)), f"a{i}") for i in range(5)
        ]
        status, text = ask(server)
        assert status == 503
        assert text == (
            "officepulse is at its connection limit (5 open connections); try again in a moment\n"
        )
        assert ask(server)[0] == 503
        for i, ws in enumerate(agents):  # everyone connected is served on
            pong(ws, i)
        agents[0].close()
        wait_until(lambda: ask(server)[0] == 200, 10, "a place once an agent left")
        server.wait_for_log("below the connection limit again after")
        (line,) = [line for line in server.log if "below the connection limit" in line]
        counts = re.search(r"(\d+) idle connection\(s\) closed to make room, (\d+) refused", line)
        assert counts is not None, line
        assert counts[1] == "0"
        assert int(counts[2]) >= 2  # and any the wait above was refused
        assert len([line for line in server.log if "at the connection limit" in line]) == 1
    finally:
        server.stop()


def test_few_descriptors_and_a_flood_of_idle_sockets_lock_nobody_out(
    tmp_path: Path, sockets: ExitStack
) -> None:
    # Before the cap this server stopped answering at about 250 idle sockets.
    server = start_server(tmp_path, "--header-timeout", "60", prefix=("prlimit", "--nofile=256"))
    try:
        server.wait_for_log("serving at most 156 sockets at once (file descriptor limit: 256)")
        open_idle(server, 600, sockets)
        status, _ = ask(server)
        assert status == 200
        with connect(server.ws_url) as ws:
            pong(welcomed(ws, "late"), 1)
    finally:
        server.stop()


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one(tmp_path: Path) -> None:
    server = start_server(tmp_path, prefix=("prlimit", "--nofile=256:1024"))
    try:
        server.wait_for_log("serving at most 922 sockets at once (file descriptor limit: 1024)")
    finally:
        server.stop()


async def test_sockets_accepted_in_one_go_still_make_room(sockets: ExitStack) -> None:
    # asyncio (unlike uvloop) makes every socket it accepts in one go before it hands any
    # over: the cap must count them, and room is made with the oldest all the same.
    async def hello_page(request: web.Request) -> web.Response:
        return web.Response(text="served")

    app = web.Application()
    app.router.add_get("/", hello_page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    assert runner.server is not None
    gate = SocketGate(3, TrustedProxies.of([]))
    await GatedSite(runner, gate.factory(runner.server), "127.0.0.1", 0).start()
    try:
        port = runner.addresses[0][1]
        # The loop does not run while these connect: all four wait to be accepted together.
        idle = [sockets.enter_context(socket.create_connection(("127.0.0.1", port))) for _ in "abc"]
        newcomer = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        sockets.callback(newcomer.close)
        newcomer.request("GET", "/")
        response = await asyncio.to_thread(newcomer.getresponse)
        assert (response.status, response.read()) == (200, b"served")
        await asyncio.to_thread(
            wait_until, lambda: closed_by_server(idle[0]), 10, "the oldest idle socket closed"
        )
        assert not any(closed_by_server(s) for s in idle[1:])
        assert gate.open <= 3
    finally:
        await runner.cleanup()
