"""Protocol v3's run facts and ``facts`` messages through a real server: what an agent
tells of its sleeps and clock jumps reaches the person's page and GET /api/v1/gaps, told
again it is stored once, and what is malformed or out of turn is refused, naming why,
while agents of v1 and v2 go on as before."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from officepulse.builds import build_hash
from tests.support.processes import WAIT
from tests.support.servers import ServerProcess

NOW = datetime.now(UTC).replace(microsecond=0)


def hello(agent_id: str, v: int = 3, **extra: Any) -> str:
    run: dict[str, Any] = (
        {
            "started": (NOW - timedelta(hours=3)).isoformat(),
            "boot": (NOW - timedelta(hours=4)).isoformat(),
            "asleep": 12.5,
            "build": build_hash(),
        }
        if v >= 3
        else {}
    )
    return json.dumps(
        {
            "type": "hello",
            "v": v,
            "agent_id": agent_id,
            "name": "Ada",
            "host": "ada-laptop",
            "platform": "Linux",
            "agent_version": "0.1.0",
            "tz": "UTC",
            **run,
            **extra,
        }
    )


def facts(**extra: Any) -> str:
    return json.dumps({"type": "facts", "at": NOW.isoformat(), "asleep": 2412.5, **extra})


async def welcomed(ws: ClientConnection, message: str) -> dict[str, Any]:
    await ws.send(message)
    welcome: dict[str, Any] = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return welcome


async def settled(ws: ClientConnection) -> list[dict[str, Any]]:
    """What the server said until it answered a ping sent now (all before it is done)."""
    await ws.send(json.dumps({"type": "ping", "id": 7}))
    said = []
    async with asyncio.timeout(WAIT):
        while (reply := json.loads(await ws.recv()))["type"] != "pong":
            said.append(reply)
    return said


def day_gaps(server: ServerProcess, agent_id: str, day: datetime) -> list[dict[str, Any]]:
    query = urlencode({"agent": agent_id, "date": day.date().isoformat(), "tz": "UTC"})
    gaps: list[dict[str, Any]] = server.get(f"/api/v1/gaps?{query}")["gaps"]
    return gaps


async def test_sleeps_and_clock_jumps_reach_the_page_and_the_api_once(
    server: ServerProcess,
) -> None:
    jumped = NOW - timedelta(minutes=1)
    told = facts(
        sleeps=[[(jumped - timedelta(minutes=40)).isoformat(), jumped.isoformat()]],
        clock_jumps=[[jumped.isoformat(), 7200.0]],
    )
    for _ in range(2):  # a reconnecting agent tells them again
        async with connect(server.ws_url) as ws:
            welcome = await welcomed(ws, hello("ada"))
            assert welcome["v"] == 3
            await ws.send(told)
            assert await settled(ws) == []
    gaps = day_gaps(server, "ada", jumped)
    assert [(g["kind"], g["reason"]) for g in gaps if g["kind"] != "not-running"] == [
        ("asleep", "the computer was asleep 40 min"),
        ("clock-jump", "clock jumped 2 h forward"),
    ]
    jump = gaps[-1]
    assert jump["start"] == jump["end"] == jumped.isoformat().replace("+00:00", "Z")
    query = urlencode({"tz": "UTC", "date": jumped.date().isoformat()})
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/people/ada?{query}") as page,
    ):
        html = await page.text()
    assert "Not recorded, and why" in html
    assert "clock jumped 2 h forward" in html
    assert "the computer was asleep 40 min" in html
    assert "unknown build" not in html  # the server's own build


async def test_older_agents_are_welcomed_at_their_version_and_tell_nothing(
    server: ServerProcess,
) -> None:
    async with connect(server.ws_url) as ws:
        assert (await welcomed(ws, hello("old", v=2)))["v"] == 2
        await ws.send(facts())
        error = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert error["fatal"] is True
    assert (
        "'facts' needs protocol version 3; this connection said hello with v2" in error["message"]
    )
    assert ws.close_code == 4002
    async with connect(server.ws_url) as ws:
        assert (await welcomed(ws, hello("old", v=1)))["v"] == 1
    assert day_gaps(server, "old", NOW) == []


@pytest.mark.parametrize(
    ("message", "named"),
    [
        (hello("bad", build="not-a-hash"), "`$.build`"),
        (hello("bad", asleep=-1), "`$.asleep`"),
        (hello("bad", started="yesterday"), "`$.started`"),
    ],
)
async def test_a_malformed_hello_is_refused_naming_the_field(
    server: ServerProcess, message: str, named: str
) -> None:
    async with connect(server.ws_url) as ws:
        await ws.send(message)
        error = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert error["type"] == "error"
    assert error["fatal"] is True
    assert named in error["message"]
    assert ws.close_code == 4002


async def test_malformed_facts_close_and_impossible_ones_are_refused_alone(
    server: ServerProcess,
) -> None:
    async with connect(server.ws_url) as ws:
        await welcomed(ws, hello("careless"))
        backwards = [NOW.isoformat(), (NOW - timedelta(minutes=5)).isoformat()]
        await ws.send(facts(sleeps=[backwards]))
        (warning,) = await settled(ws)  # the connection stays
        assert warning["code"] == "facts-refused"
        assert warning["fatal"] is False
        assert "ends before it starts" in warning["message"]
        await ws.send(facts(clock_jumps=[[NOW.isoformat(), "far"]]))
        error = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert error["fatal"] is True
    assert "`$.clock_jumps[0][1]`" in error["message"]
    assert ws.close_code == 4002
