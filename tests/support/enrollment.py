"""Enrollment helpers over a real server's database: tokens made with the real CLI, agents
enrolled with them, and the desktop keyring the agent keeps its secret in."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.processes import OFFICEPULSE, clean_env
from tests.support.servers import ServerProcess, admin, start_server
from tests.support.session_bus import Bus


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server that admits enrolled agents only."""
    srv = start_server(tmp_path, "--agent-auth", "required")
    yield srv
    srv.stop()


def cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`officepulse agents|tokens ...` on the server's database."""
    return admin(server.database, *args)


def new_token(server: ServerProcess, *args: str) -> str:
    result = cli(server, "tokens", "create", *args)
    assert result.returncode == 0, result.stderr
    secret = result.stdout.splitlines()[1]
    assert secret.startswith("opet_")
    return secret


def hello(agent_id: str, **extra: str) -> dict[str, Any]:
    return {
        "type": "hello",
        "v": 2,
        "agent_id": agent_id,
        "name": agent_id.title(),
        "host": "laptop",
        "platform": "linux",
        "agent_version": "test",
        "tz": "UTC",
        **extra,
    }


@contextmanager
def say_hello(
    server: ServerProcess, agent_id: str, **extra: str
) -> Iterator[tuple[ClientConnection, Any]]:
    """Connected inside the block, with the server's first reply to the hello."""
    with connect(server.ws_url, open_timeout=10, proxy=None) as ws:
        ws.send(json.dumps(hello(agent_id, **extra)))
        yield ws, json.loads(ws.recv(timeout=10))


def enroll(server: ServerProcess, agent_id: str, token: str) -> str:
    with say_hello(server, agent_id, enroll=token) as (ws, reply):
        assert reply["type"] == "enrolled", reply
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
    credential: str = reply["credential"]
    assert credential.startswith("opac_")
    return credential


def db(server: ServerProcess, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(server.database) as conn:
        rows = conn.execute(sql, params).fetchall()
    conn.close()
    return rows


@pytest.fixture
def secret_service(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real Secret Service: gnome-keyring on a private session bus, unlocked; the
    environment an agent needs to find it."""
    bus = Bus(tmp_path)  # a private session bus of its own
    env = {
        "DBUS_SESSION_BUS_ADDRESS": bus.address,
        "HOME": str(tmp_path / "home"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
    }
    (tmp_path / "home").mkdir()
    (tmp_path / "run").mkdir(mode=0o700)
    keyring = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(**env),
    )
    assert keyring.stdin is not None
    keyring.stdin.write("test-password")  # the login keyring's password, then EOF
    keyring.stdin.close()
    try:
        yield env
    finally:
        keyring.terminate()
        try:
            keyring.wait(5)
        except subprocess.TimeoutExpired:
            keyring.kill()
            keyring.wait()
        bus.stop()


def keyring_password(env: dict[str, str], agent_id: str) -> str | None:
    found = subprocess.run(
        [str(Path(OFFICEPULSE).parent / "python"), "-c", KEYRING_GET, agent_id],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(**env),
        check=True,
    ).stdout.strip()
    return found or None


KEYRING_GET = """
import sys, keyring
print(keyring.get_password("officepulse-agent", sys.argv[1]) or "")
"""
