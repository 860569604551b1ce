"""Clients behind a trusted proxy, over real sockets to a real server: X-Forwarded-For
and PROXY protocol v1/v2 headers from a trusted peer give each client its own per-IP
count (two clients behind one proxy, two counts), and are ignored (X-Forwarded-For) or
refused (PROXY) from anyone else; then the same through a real HAProxy with
``send-proxy-v2``. Loopback addresses stand for the machines: 127.0.0.1 is the proxy,
127.0.0.2 a client that is no proxy."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from officepulse.protocol.errors import CloseCode
from tests.support.people_office import create_admin
from tests.support.ports import free_port
from tests.support.processes import wait_until
from tests.support.proxy_headers import v1, v2
from tests.support.raw_sockets import ask, port_of, welcomed
from tests.support.servers import ServerProcess, start_server


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(
        tmp_path,
        "--trusted-proxies",
        "127.0.0.1",
        "--max-connections-per-ip",
        "1",
        "--handshake-timeout",
        "60",
    )
    yield srv
    srv.stop()


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as opened:
        yield opened


def via(
    server: ServerProcess,
    stack: ExitStack,
    *,
    source: str = "127.0.0.1",
    forwarded_for: str | None = None,
    header: bytes = b"",
    url: str | None = None,
) -> ClientConnection:
    """A websocket to /agent from ``source``, after a PROXY ``header`` if given."""
    sock = socket.create_connection(
        ("127.0.0.1", port_of(server)) if url is None else _host_port(url),
        source_address=(source, 0),
    )
    sock.sendall(header)
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    return stack.enter_context(connect(url or server.ws_url, sock=sock, additional_headers=headers))


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return host, int(port)


def refused(ws: ClientConnection) -> str:
    """The reason ``ws`` is closed with, over its address's limit, as it opens."""
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    rcvd = closed.value.rcvd
    assert rcvd is not None
    assert rcvd.code == CloseCode.TOO_MANY_CONNECTIONS
    return rcvd.reason


def test_forwarded_for_from_the_trusted_proxy_counts_each_client(
    behind_proxy: ServerProcess, stack: ExitStack
) -> None:
    welcomed(via(behind_proxy, stack, forwarded_for="203.0.113.1"), "one")
    welcomed(via(behind_proxy, stack, forwarded_for="203.0.113.2"), "two")
    again = via(behind_proxy, stack, forwarded_for="203.0.113.1")
    assert refused(again) == ("too many connections from 203.0.113.1: 1 at most; retry later")
    # What a client writes before the address its proxy appended changes nothing.
    spoofed = via(behind_proxy, stack, forwarded_for="198.51.100.9, 203.0.113.2")
    assert "from 203.0.113.2:" in refused(spoofed)
    behind_proxy.wait_for_log("agent one (one on h) connected from 203.0.113.1")
    behind_proxy.wait_for_log("agent two (two on h) connected from 203.0.113.2")


def test_forwarded_for_from_anyone_else_is_ignored(
    behind_proxy: ServerProcess, stack: ExitStack
) -> None:
    welcomed(via(behind_proxy, stack, source="127.0.0.2", forwarded_for="203.0.113.3"), "a")
    other = via(behind_proxy, stack, source="127.0.0.2", forwarded_for="203.0.113.4")
    assert "from 127.0.0.2:" in refused(other)
    behind_proxy.wait_for_log("agent a (a on h) connected from 127.0.0.2")


def test_proxy_headers_v1_and_v2_from_the_trusted_proxy_count_each_client(
    behind_proxy: ServerProcess, stack: ExitStack
) -> None:
    welcomed(via(behind_proxy, stack, header=v1("203.0.113.5")), "v1")
    welcomed(via(behind_proxy, stack, header=v2("203.0.113.6")), "v2")
    welcomed(via(behind_proxy, stack, header=v2("2001:db8::6")), "v2-ipv6")
    # A LOCAL header (HAProxy's health check) is the proxy's own connection.
    welcomed(via(behind_proxy, stack, header=v2("203.0.113.7", local=True)), "local")
    assert "from 203.0.113.5:" in refused(via(behind_proxy, stack, header=v2("203.0.113.5")))
    assert "from 127.0.0.1:" in refused(via(behind_proxy, stack))
    for line in (
        "agent v1 (v1 on h) connected from 203.0.113.5",
        "agent v2 (v2 on h) connected from 203.0.113.6",
        "agent v2-ipv6 (v2-ipv6 on h) connected from 2001:db8::6",
        "agent local (local on h) connected from 127.0.0.1",
    ):
        behind_proxy.wait_for_log(line)


def test_a_proxy_header_from_anyone_else_is_refused_with_a_reason(
    behind_proxy: ServerProcess,
) -> None:
    for header in (v1("203.0.113.8"), v2("203.0.113.8")):
        with socket.create_connection(
            ("127.0.0.1", port_of(behind_proxy)), source_address=("127.0.0.2", 0)
        ) as sock:
            sock.sendall(header + b"GET /api/v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = sock.makefile("rb").read()
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert answer.endswith(
            b"\r\n\r\nrefused: a PROXY protocol header from 127.0.0.2, which is not in "
            b"trusted_proxies; add the proxy's address there\n"
        )
    behind_proxy.wait_for_log("connection from 127.0.0.2 refused: a PROXY protocol header")
    # A trusted proxy's malformed header is refused too, and plain requests go on.
    with socket.create_connection(("127.0.0.1", port_of(behind_proxy))) as sock:
        sock.sendall(b"PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n")
        assert b"malformed PROXY header" in sock.makefile("rb").read()
    assert ask(behind_proxy)[0] == 200


def test_the_activitywatch_api_sees_the_client_behind_the_proxy(
    behind_proxy: ServerProcess,
) -> None:
    # Once accounts exist /api/0/ answers only on this machine: a client of the proxy
    # on this machine is no longer taken for it.
    create_admin(behind_proxy.database)
    status, text = ask(behind_proxy, "/api/0/info", {"X-Forwarded-For": "203.0.113.20"})
    assert status == 403
    assert "answers only on this machine" in text
    assert ask(behind_proxy, "/api/0/info")[0] == 200


def test_dashboards_behind_the_proxy_are_counted_per_client(
    tmp_path: Path, stack: ExitStack
) -> None:
    server = start_server(
        tmp_path, "--trusted-proxies", "127.0.0.0/8", "--max-browsers-per-ip", "1"
    )
    try:

        def dashboard(client: str) -> ClientConnection:
            headers = {"X-Forwarded-For": client}
            return stack.enter_context(connect(server.browser_url, additional_headers=headers))

        dashboard("203.0.113.30").recv(timeout=10)  # the office, as it opens
        dashboard("203.0.113.31").recv(timeout=10)
        with pytest.raises(InvalidStatus) as refused_one:
            dashboard("203.0.113.30")
        assert refused_one.value.response.status_code == 503
        assert b"too many dashboards open from 203.0.113.30 (1)" in refused_one.value.response.body
    finally:
        server.stop()


# -- a real HAProxy in front ------------------------------------------------------------


@pytest.fixture
def haproxy(behind_proxy: ServerProcess, tmp_path: Path) -> Iterator[str]:
    """HAProxy in TCP mode in front of the server, with send-proxy-v2: its URL."""
    binary = shutil.which("haproxy")
    assert binary, "haproxy is missing: run `make system-deps`"
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        f"""\
global
    maxconn 256
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend agents
    bind 127.0.0.1:{port}
    default_backend officepulse
backend officepulse
    server s1 127.0.0.1:{port_of(behind_proxy)} send-proxy-v2
"""
    )
    proc = subprocess.Popen(
        [binary, "-db", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return True

        wait_until(listening, 20, "haproxy listening")
        yield f"ws://127.0.0.1:{port}/agent"
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_behind_haproxy_with_send_proxy_v2_each_client_has_its_own_count(
    behind_proxy: ServerProcess, haproxy: str, stack: ExitStack
) -> None:
    welcomed(via(behind_proxy, stack, source="127.0.0.11", url=haproxy), "eleven")
    welcomed(via(behind_proxy, stack, source="127.0.0.12", url=haproxy), "twelve")
    again = via(behind_proxy, stack, source="127.0.0.11", url=haproxy)
    assert refused(again) == ("too many connections from 127.0.0.11: 1 at most; retry later")
    behind_proxy.wait_for_log("agent eleven (eleven on h) connected from 127.0.0.11")
    behind_proxy.wait_for_log("agent twelve (twelve on h) connected from 127.0.0.12")
    agents = {a["id"] for a in json.loads(ask(behind_proxy)[1])["agents"]}
    assert {"eleven", "twelve"} <= agents
