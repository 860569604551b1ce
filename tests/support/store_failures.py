"""Talking to a server whose store fails: the answers, the agent that is welcomed, and log
lines said once."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support.agent_messages import DAY, hello
from tests.support.servers import ServerProcess


def said_once(log: list[str]) -> list[str]:
    """A server log's "failing" lines: once per loop and episode however many attempts,
    never a traceback."""
    failing = [line for line in log if " failing: " in line]
    assert len(failing) == len({line.split(" failing: ")[0] for line in failing}), failing
    assert not [line for line in log if "Traceback" in line], log
    return failing


@contextmanager
def welcomed(server: ServerProcess, agent_id: str) -> Iterator[ClientConnection]:
    """A v2 agent's connection, past its welcome."""
    with connect(server.ws_url) as ws:
        ws.send(hello(agent_id))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        yield ws


def answer(ws: ClientConnection, message: str) -> Any:
    """What the server answers first to ``message``."""
    ws.send(message)
    return json.loads(ws.recv(timeout=30))


def usage(server: ServerProcess) -> dict[str, float]:
    """Seconds per app on the day tests/support/agent_messages.py's spans lie in."""
    query = urllib.parse.urlencode(
        {"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat(), "group_by": "app"}
    )
    return {r["app"]: r["seconds"] for r in server.get(f"/api/v1/usage?{query}")["rows"]}
