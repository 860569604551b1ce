"""The panel's view of the fleet (panel/fleet.py, bus/gateways.py): on the real in-process
bus, gateways as the bus carries them (their announcements and their answers to the info
request), and the clock a parameter, so that "not heard for 15 s" is a step, not a wait.
The same, end to end with gateway processes on NATS: tests/panel/test_fleet_scaled_out.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest

from officepulse.bus.base import Subscription
from officepulse.bus.gateways import ANNOUNCE, FORGET_AFTER, GONE, INFO, GatewayInfo, Gateways
from officepulse.bus.memory import MemoryBus
from officepulse.panel.fleet import Fleet, rows
from tests.support.processes import WAIT

STARTED_MS = 1_700_000_000_000


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def info(gateway_id: str, connections: int) -> GatewayInfo:
    return GatewayInfo(
        id=gateway_id,
        address=f"10.0.0.{connections}:8080",
        version="1.2.3",
        started_ms=STARTED_MS,
        connections=connections,
    )


class FakeGateway:
    """A gateway as the bus sees it: announces itself and answers the info request with
    its connection count, until it is killed (no goodbye: it just stops answering)."""

    def __init__(self, bus: MemoryBus, gateway_id: str) -> None:
        self.bus = bus
        self.id = gateway_id
        self.connections = 0
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.bus.serve(INFO, self._answer)
        await self.announce()

    async def announce(self) -> None:
        await self.bus.publish(ANNOUNCE, msgspec.msgpack.encode(info(self.id, self.connections)))

    async def _answer(self, payload: bytes) -> bytes:
        return msgspec.msgpack.encode(info(self.id, self.connections))

    async def kill(self) -> None:
        assert self._sub is not None
        await self._sub.unsubscribe()


async def until(condition: Callable[[], bool], what: str) -> None:
    """The bus delivers in its subscribers' own tasks: wait for it to have."""
    try:
        async with asyncio.timeout(WAIT):
            while not condition():  # noqa: ASYNC110 - set by the bus's handler
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {WAIT:g} s") from None


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    await bus.start()
    yield bus
    await bus.close()


async def test_silent_gateways_are_marked_then_forgotten(bus: MemoryBus) -> None:
    monotonic = Clock(100.0)
    wall = Clock(STARTED_MS / 1000 + 60)  # a minute after the gateways started
    gateways = Gateways(bus, monotonic)
    await gateways.start()
    fleet = Fleet(gateways, wall)
    g1, g2 = FakeGateway(bus, "g1"), FakeGateway(bus, "g2")
    for g in (g2, g1):
        await g.start()
    g1.connections, g2.connections = 3, 1

    looked = await fleet.look()
    assert [(r.info.id, r.info.connections, r.answering) for r in looked] == [
        ("g1", 3, True),
        ("g2", 1, True),
    ]
    assert [r.uptime_ms for r in looked] == [60_000, 60_000]

    # g2 is killed: it does not answer, and shows what it said last, since when.
    await g2.kill()
    monotonic.now += 4
    wall.now += 4
    g1.connections = 4
    looked = await fleet.look()
    assert [(r.info.id, r.info.connections, r.answering) for r in looked] == [
        ("g1", 4, True),
        ("g2", 1, False),
    ]
    silent = looked[1]
    assert silent.heard_ms == (STARTED_MS + 60_000)
    assert silent.uptime_ms == 60_000  # up until it was last heard from

    # Not heard for FORGET_AFTER: it is left out; g1, answering each look, stays.
    monotonic.now += FORGET_AFTER
    wall.now += FORGET_AFTER
    assert [(r.info.id, r.answering) for r in await fleet.look()] == [("g1", True)]


async def test_a_gateway_that_says_goodbye_is_gone_at_once(bus: MemoryBus) -> None:
    gateways = Gateways(bus, Clock(0.0))
    await gateways.start()
    g1 = FakeGateway(bus, "g1")
    await g1.start()
    await until(lambda: [i.id for i in gateways.known()] == ["g1"], "g1 announced")
    await g1.kill()
    await bus.publish(GONE, b"g1")
    await until(lambda: gateways.known() == [], "g1's goodbye heard")
    assert await Fleet(gateways, Clock(0.0)).look() == []


def test_rows_are_by_id_and_time_runs_on_the_panels_clock() -> None:
    now_ms = STARTED_MS + 3_600_000
    heard = [(info("b", 2), 0.0), (info("a", 5), 7.5)]
    out = rows(heard, {"b"}, now_ms)
    assert [(r.info.id, r.answering, r.heard_ms, r.uptime_ms) for r in out] == [
        ("a", False, now_ms - 7_500, 3_600_000 - 7_500),
        ("b", True, now_ms, 3_600_000),
    ]
    # A gateway whose clock is ahead of the panel's: no negative uptime.
    ahead = GatewayInfo(id="c", address="", version="1", started_ms=now_ms + 5_000, connections=0)
    assert rows([(ahead, 0.0)], {"c"}, now_ms)[0].uptime_ms == 0
