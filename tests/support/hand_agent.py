"""An agent spoken by hand over a real server's /agent websocket (protocol v1 messages as
JSON text): its hello, a heartbeat, a connected and welcomed agent, and a ping that returns
once the server has taken everything sent before."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.support.servers import ServerProcess

NOW = datetime.now(UTC).replace(microsecond=0)


def hello(agent_id: str = "alice1", **extra: Any) -> str:
    return json.dumps(
        {
            "type": "hello",
            "v": 1,
            "agent_id": agent_id,
            "name": extra.pop("name", "Alice"),
            "host": "alice-laptop",
            "platform": "Linux",
            "agent_version": "test",
            "tz": extra.pop("tz", "Europe/Paris"),
            **extra,
        }
    )


def beat(app: str, title: str = "", *, at: datetime = NOW, idle: bool = False) -> str:
    return json.dumps(
        {
            "type": "heartbeat",
            "ts": at.isoformat(),
            "activity": {"app": app, "title": title, "idle": idle},
        }
    )


async def agent(server: ServerProcess, agent_id: str = "alice1", **extra: Any) -> ClientConnection:
    ws = await connect(server.ws_url)
    await ws.send(hello(agent_id, **extra))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return ws


async def ping(ws: ClientConnection, id_: int = 1) -> None:
    """Returns once the server has processed everything sent before."""
    await ws.send(json.dumps({"type": "ping", "id": id_}))
    while True:
        reply = json.loads(await ws.recv())
        if reply["type"] == "pong":
            assert reply["id"] == id_
            return
