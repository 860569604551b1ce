"""A protocol v3 agent for the office's tests: a real websocket connection that says
hello, then presence ("since when" is the test's to choose: time is driven by the
agent's timestamps, never by waiting) and span batches, as a real agent would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support.processes import WAIT
from tests.support.servers import ServerProcess

Activity = dict[str, Any]


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


class PresenceAgent:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pings = 0
        self.seq = 0

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def sync(self) -> None:
        """Returns once the server has processed everything sent so far (acks of span
        batches come first; an error fails the test)."""
        self.pings += 1
        self.send({"type": "ping", "id": self.pings})
        while True:
            message = json.loads(self.ws.recv(timeout=WAIT))
            if message["type"] == "error":
                raise AssertionError(f"the server refused a message: {message}")
            if message["type"] == "pong":
                assert message["id"] == self.pings
                return

    def presence(self, since: datetime, activity: Activity | None, reason: str = "") -> None:
        message: dict[str, Any] = {"type": "presence", "since": since.isoformat()}
        message["activity"] = activity
        if reason:
            message["reason"] = reason
        self.send(message)
        self.sync()

    def spans(self, *spans: tuple[datetime, datetime, Activity]) -> None:
        rows = [[start.isoformat(), end.isoformat(), activity] for start, end, activity in spans]
        self.send({"type": "spans", "first_seq": self.seq + 1, "spans": rows})
        self.seq += len(rows)
        self.sync()


def app(name: str, title: str = "", **more: Any) -> Activity:
    return {"app": name, "title": title, **more}


@contextmanager
def presence_agent(
    server: ServerProcess, agent_id: str, name: str, *, tz: str = "UTC"
) -> Iterator[PresenceAgent]:
    """Connected and welcomed inside the block; disconnected when it ends."""
    with connect(server.ws_url, open_timeout=WAIT, proxy=None) as ws:
        agent = PresenceAgent(ws)
        agent.send(
            {
                "type": "hello",
                "v": 3,
                "agent_id": agent_id,
                "name": name,
                "host": f"{agent_id}-laptop",
                "platform": "linux",
                "agent_version": "test",
                "tz": tz,
            }
        )
        welcome = json.loads(ws.recv(timeout=WAIT))
        assert welcome["type"] == "welcome", welcome
        yield agent
