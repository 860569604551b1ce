"""Agent protocol messages as JSON text, for tests that talk to a server's /agent websocket
by hand."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from websockets.asyncio.client import ClientConnection

from tests.support.processes import WAIT

DAY = datetime(2026, 11, 27, tzinfo=UTC)


def hello(agent_id: str) -> str:
    return json.dumps(
        {
            "type": "hello",
            "v": 2,
            "agent_id": agent_id,
            "name": agent_id,
            "host": "h",
            "platform": "Linux",
            "agent_version": "test",
            "tz": "UTC",
        }
    )


def spans(first_seq: int, count: int, app: str = "Code") -> str:
    rows = []
    for i in range(count):
        start = DAY + timedelta(minutes=first_seq + i)
        rows.append([start.isoformat(), (start + timedelta(seconds=30)).isoformat(), {"app": app}])
    return json.dumps({"type": "spans", "first_seq": first_seq, "spans": rows})


async def recv(ws: ClientConnection, within: float = WAIT) -> str | bytes:
    async with asyncio.timeout(within):
        return await ws.recv()


async def served(ws: ClientConnection, agent_id: str) -> None:
    """Welcomed, and a batch acknowledged: the connection works both ways."""
    await ws.send(hello(agent_id))
    assert json.loads(await recv(ws))["type"] == "welcome"
    await ws.send(spans(1, 2))
    assert json.loads(await recv(ws)) == {"type": "ack", "seq": 2}
