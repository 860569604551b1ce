"""A small agent for dashboard tests: a real websocket connection that says hello and sends
spans as a real agent would."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support.processes import WAIT
from tests.support.servers import ServerProcess


class FakeAgent:
    """A real agent connection speaking JSON text frames, driven step by step."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pings = 0

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def recv(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=WAIT))
        if message["type"] == "error":
            raise AssertionError(f"the server refused a message: {message}")
        return message

    def sync(self) -> None:
        """Returns once the server has processed everything sent so far."""
        self.pings += 1
        self.send({"type": "ping", "id": self.pings})
        assert self.recv() == {"type": "pong", "id": self.pings}

    def beat(self, app: str, title: str = "", idle: bool = False) -> float:
        """Sends one heartbeat stamped now; returns when it was sent (time.time())."""
        sent = time.time()
        ts = datetime.fromtimestamp(sent, UTC).isoformat()
        self.send(
            {"type": "heartbeat", "ts": ts, "activity": {"app": app, "title": title, "idle": idle}}
        )
        self.sync()
        return sent


@contextmanager
def fake_agent(
    server: ServerProcess, agent_id: str, name: str, host: str = "laptop"
) -> Iterator[FakeAgent]:
    """Connected and welcomed inside the block; disconnected when it ends."""
    with connect(server.ws_url, open_timeout=WAIT, proxy=None) as ws:
        agent = FakeAgent(ws)
        agent.send(
            {
                "type": "hello",
                "v": 1,
                "agent_id": agent_id,
                "name": name,
                "host": host,
                "platform": "linux",
                "agent_version": "test",
                "tz": "UTC",
            }
        )
        assert agent.recv()["type"] == "welcome"
        yield agent
