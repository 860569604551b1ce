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
