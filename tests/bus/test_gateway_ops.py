"""The panel's requests to the gateways (bus/gateways.py, gateway/service.py), on every
bus: two real gateways (GatewayProcess, each on a real port, on one SQLite file) with
real agent websockets, and the panel's side asking them. Their own polling of the
database is turned off here, so only the request can have acted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.test_utils import TestServer
from websockets.asyncio.client import ClientConnection, connect

from officepulse.bus.base import Bus
from officepulse.bus.gateways import AgentPolicy, Disconnect, Gateways
from officepulse.bus.memory import MemoryBus
from officepulse.bus.nats_bus import NatsBus
from officepulse.protocol.errors import CloseCode
from officepulse.server.gateway_process import GatewayProcess
from officepulse.settings import ServerSettings
from tests.support.processes import WAIT

pytest_plugins = ["tests.support.nats_server"]

if TYPE_CHECKING:
    from tests.support.nats_server import NatsServer


@dataclass
class Office:
    gateways: list[tuple[GatewayProcess, TestServer]]
    panel: Gateways

    def url(self, index: int) -> str:
        site = self.gateways[index][1]
        return f"ws://127.0.0.1:{site.port}/agent"


@pytest.fixture(params=["memory", "nats"])
async def office(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Office]:
    shared = MemoryBus()

    def bus() -> Bus:
        if request.param == "memory":
            return shared
        server: NatsServer = request.getfixturevalue("nats_server")
        return NatsBus(server.url)

    database = str(tmp_path / "office.sqlite3")
    started = []
    for name in ("g1", "g2"):
        process = GatewayProcess(ServerSettings(database=database, gateway_id=name), bus=bus())
        process.parts.control.interval = 3600  # only the bus acts in these tests
        site = TestServer(process.app(), host="127.0.0.1")
        await site.start_server()
        assert site.port is not None
        await process.announce(site.port)
        started.append((process, site))
    panel_bus = bus()
    await panel_bus.start()
    panel = Gateways(panel_bus, asyncio.get_running_loop().time)
    await panel.start()
    try:
        # The panel called the roll: each gateway answers (an announcement).
        async with asyncio.timeout(WAIT):
            while len(panel.known()) < 2:  # noqa: ASYNC110 - filled by the bus's handler
                await asyncio.sleep(0.01)
        yield Office(started, panel)
    finally:
        for _, site in started:
            await site.close()
        await panel_bus.close()


async def agent(url: str, agent_id: str, version: str = "1.0") -> ClientConnection:
    ws = await connect(url)
    hello: dict[str, Any] = {
        "type": "hello",
        "v": 1,
        "agent_id": agent_id,
        "name": agent_id.title(),
        "host": f"{agent_id}-laptop",
        "platform": "Linux",
        "agent_version": version,
        "tz": "UTC",
    }
    await ws.send(json.dumps(hello))
    answer = json.loads(await ws.recv())
    assert answer["type"] == "welcome", answer
    return ws


async def closed_with(ws: ClientConnection) -> int | None:
    async with asyncio.timeout(WAIT):
        await ws.wait_closed()
    return ws.close_code


async def test_connections_gathers_the_agents_of_every_gateway(office: Office) -> None:
    alice = await agent(office.url(0), "alice")
    bob = await agent(office.url(1), "bob")
    answers = await office.panel.connections()
    held = {a.gateway.id: sorted(v.id for v in a.agents) for a in answers}
    assert held == {"g1": ["alice"], "g2": ["bob"]}
    assert all(a.gateway.connections == 1 and a.gateway.address for a in answers)
    assert all(v.online for a in answers for v in a.agents)
    # Each gateway is known to the panel (announced, and answered).
    assert sorted(info.id for info in office.panel.known()) == ["g1", "g2"]
    await alice.close()
    await bob.close()


async def test_block_disconnects_the_agent_on_whichever_gateway_holds_it(office: Office) -> None:
    alice = await agent(office.url(0), "alice")
    bob = await agent(office.url(1), "bob")
    store = office.gateways[0][0].store
    assert await store.block_agent("bob", "on leave", 0)
    assert await office.panel.disconnect(Disconnect(agent_id="bob", action="block")) == 1
    assert await closed_with(bob) == CloseCode.AGENT_BLOCKED
    # Nobody else was let go, and a second request finds nobody to disconnect.
    assert await office.panel.disconnect(Disconnect(agent_id="bob", action="block")) == 0
    assert not alice.close_code
    await alice.close()


async def test_remove_disconnects_the_agent_and_its_row_stays_gone(office: Office) -> None:
    alice = await agent(office.url(1), "alice")
    store = office.gateways[1][0].store
    assert await store.remove_agent("alice", False, 0)
    order = Disconnect(agent_id="alice", action="remove")
    assert await office.panel.disconnect(order) == 1
    assert await closed_with(alice) == CloseCode.UNAUTHORIZED
    await store.flush()
    assert await store.agent("alice") is None  # its disconnection did not write it back


async def test_pushed_policy_applies_on_every_gateway(office: Office) -> None:
    applied = await office.panel.push_policy(AgentPolicy(min_version="2.0"))
    assert sorted((a.gateway, a.error) for a in applied) == [("g1", None), ("g2", None)]
    for index in (0, 1):
        ws = await connect(office.url(index))
        hello = {
            "type": "hello",
            "v": 1,
            "agent_id": f"old{index}",
            "name": "Old",
            "host": "old-laptop",
            "platform": "Linux",
            "agent_version": "1.0",
            "tz": "UTC",
        }
        await ws.send(json.dumps(hello))
        assert await closed_with(ws) == CloseCode.UPDATE_REQUIRED
    # A version that is none is refused by each, and changes nothing.
    applied = await office.panel.push_policy(AgentPolicy(min_version="soon"))
    assert [a.error is not None and "soon" in a.error for a in applied] == [True, True]
    newer = await agent(office.url(0), "new", version="2.1")
    await newer.close()
