"""Transport security over real connections: https/wss with --dev-tls and an
agent that trusts it through ca_file, certificates that are not trusted,
plain ws refused to another computer, and the Host and Origin checks."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support import paths
from tests.support.processes import OFFICEPULSE, WAIT, clean_env, stop
from tests.support.servers import ServerProcess, dev_ca, start_agent, start_server

DATA = paths.DATA
HELLO = {
    "type": "hello",
    "v": 2,
    "agent_id": "eve",
    "name": "Eve",
    "host": "h",
    "platform": "Linux",
    "agent_version": "test",
    "tz": "UTC",
}


def officepulse(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command to its end (an agent with a scripted timeline, or a refusal)."""
    return subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**env),
        check=False,
    )


def https_get(server: ServerProcess, path: str, context: ssl.SSLContext) -> Any:
    with urllib.request.urlopen(server.url + path, timeout=WAIT, context=context) as response:
        return json.loads(response.read())


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path, "--dev-tls", XDG_DATA_HOME=str(tmp_path / "data"))
    yield srv
    srv.stop()


def test_dev_tls_end_to_end_with_an_agent_trusting_it(
    tls_server: ServerProcess, tmp_path: Path
) -> None:
    assert tls_server.url.startswith("https://")
    ca = dev_ca(tls_server)
    assert ca == tmp_path / "data" / "officepulse" / "dev-tls" / "ca.pem"
    assert "made now" in tls_server.wait_for_log("--ca-file")
    out = officepulse(
        "agent",
        "--server-url",
        tls_server.ws_url,
        "--ca-file",
        str(ca),
        "--agent-id",
        "bob",
        "--source",
        "scripted",
        "--timeline",
        str(DATA / "bob-youtube.jsonl"),
        "--speed",
        "0",
        "--start",
        "2026-11-27T20:00:00+00:00",
        "--state-dir",
        str(tmp_path / "agent"),
    )
    assert out.returncode == 0, out.stderr
    assert tls_server.ws_url.startswith("wss://")
    assert "every span was acknowledged by the server" in out.stderr
    trusting = ssl.create_default_context(cafile=ca)
    rows = https_get(
        tls_server,
        "/api/v1/usage?start=2026-11-27T00:00:00Z&end=2026-11-29T00:00:00Z&group_by=app",
        trusting,
    )["rows"]
    # bob-youtube.jsonl: 24,300 s in Chrome, 2 h of it before the idle break.
    assert sum(r["seconds"] + r["idle_seconds"] for r in rows) == 24_300.0


def test_the_dev_pair_is_kept_and_reused(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    first = start_server(tmp_path, "--dev-tls", **env)
    first.stop()
    cert = tmp_path / "data" / "officepulse" / "dev-tls" / "cert.pem"
    made = cert.read_bytes()
    second = start_server(tmp_path, "--dev-tls", **env)
    try:
        assert "reused" in second.wait_for_log("--ca-file")
        assert cert.read_bytes() == made
        assert (cert.parent / "key.pem").stat().st_mode & 0o077 == 0  # the key is private
    finally:
        second.stop()


def test_a_certificate_nobody_vouched_for_is_refused(
    tls_server: ServerProcess, tmp_path: Path
) -> None:
    # Without ca_file the agent trusts only the system's authorities: it refuses the server.
    agent = start_agent(tls_server, tmp_path, "--source", "none")
    try:
        # It keeps trying in the background; its first attempt is what is looked at.
        agent.wait_for_log("is not trusted")
    finally:
        out = stop(agent)
    assert "is not trusted" in out
    assert "set ca_file" in out
    assert not [line for line in tls_server.log if "connected from" in line]
    # Another authority's certificate does not vouch for it either.
    other = tmp_path / "other"
    other_server = start_server(other, "--dev-tls", XDG_DATA_HOME=str(other / "data"))
    try:
        wrong = ssl.create_default_context(cafile=dev_ca(other_server))
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(tls_server.ws_url, ssl=wrong, open_timeout=WAIT)
        right = ssl.create_default_context(cafile=dev_ca(tls_server))
        with connect(tls_server.ws_url, ssl=right, open_timeout=WAIT) as ws:
            ws.send(json.dumps(HELLO))
            assert json.loads(ws.recv(timeout=WAIT))["type"] == "welcome"
    finally:
        other_server.stop()


def test_a_missing_certificate_file_is_named(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    for args, named in (
        (["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(key)], "OFFICEPULSE_TLS_CERT"),
        (["--tls-cert", str(tmp_path / "nope.pem")], "OFFICEPULSE_TLS_KEY is not set"),
    ):
        out = officepulse("server", "--port", "0", *args, XDG_DATA_HOME=str(tmp_path))
        assert out.returncode == 2
        assert named in out.stderr


def test_an_agent_refuses_plain_ws_to_another_computer(tmp_path: Path) -> None:
    def agent(*args: str) -> subprocess.CompletedProcess[str]:
        return officepulse("agent", "--source", "none", *args, OFFICEPULSE_STATE_DIR=str(tmp_path))

    out = agent("--server-url", "ws://192.0.2.10:8080/agent")
    assert out.returncode == 2
    assert "plain ws:// to another computer" in out.stderr
    assert "OFFICEPULSE_ALLOW_INSECURE" in out.stderr
    out = agent("--server-url", "wss://192.0.2.10:8080/agent", "--ca-file", str(tmp_path / "no"))
    assert out.returncode == 2
    assert "OFFICEPULSE_CA_FILE" in out.stderr


# -- Host and Origin ------------------------------------------------------------------


def request(server: ServerProcess, path: str, **headers: str) -> tuple[int, bytes]:
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_another_host_name_is_refused_dns_rebinding(server: ServerProcess) -> None:
    here = server.url.removeprefix("http://")
    status, body = request(server, "/api/v1/agents", Host="evil.example:" + here.split(":")[1])
    assert status == 403
    assert "does not answer to the name 'evil.example'" in json.loads(body)["error"]
    assert request(server, "/api/v1/agents", Host=here)[0] == 200
    assert request(server, "/", Host="localhost:" + here.split(":")[1])[0] == 200
    server.wait_for_log("refused GET /api/v1/agents from 127.0.0.1")


def test_allowed_hosts_names_the_server(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--allowed-hosts", "office.example.com")
    try:
        assert request(srv, "/", Host="office.example.com")[0] == 200
        assert request(srv, "/", Host=srv.url.removeprefix("http://"))[0] == 403
    finally:
        srv.stop()


def test_cross_site_websockets_are_refused(server: ServerProcess) -> None:
    for url in (server.browser_url, server.ws_url):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin="http://evil.example", open_timeout=WAIT)
        assert refused.value.response.status_code == 403
        assert b"cross-site request refused" in refused.value.response.body
    # The dashboard's own page, and clients that are not browsers, are let in.
    with connect(server.browser_url, origin=server.url, open_timeout=WAIT) as ws:
        assert "people" in ws.recv(timeout=WAIT)
    with connect(server.ws_url, open_timeout=WAIT) as ws:
        ws.send(json.dumps(HELLO))
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "welcome"
    # Same host, another port: another origin.
    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(InvalidStatus):
        connect(server.browser_url, origin=f"http://127.0.0.1:{port + 1}", open_timeout=WAIT)


def test_cross_site_form_posts_are_refused(server: ServerProcess) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    try:
        conn.request(
            "POST",
            "/api/0/buckets/x/heartbeat",
            body=b"{}",
            headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
        )
        response = conn.getresponse()
        assert response.status == 403
        assert b"cross-site request refused" in response.read()
    finally:
        conn.close()
