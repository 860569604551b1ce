"""The Bus contract, run against every implementation (in-process now; NATS
joins the parametrisation when it lands)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from officepulse.bus.base import Bus
from officepulse.bus.memory import MemoryBus
from tests.support.processes import WAIT


@pytest.fixture(params=["memory"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    impl = MemoryBus(maxsize=100)
    await impl.start()
    yield impl
    await impl.close()


async def collect(bus: Bus, subject: str) -> tuple[list[bytes], asyncio.Event]:
    got: list[bytes] = []
    arrived = asyncio.Event()

    async def handler(payload: bytes) -> None:
        got.append(payload)
        arrived.set()

    await bus.subscribe(subject, handler)
    return got, arrived


async def until(condition: Callable[[], object], what: str) -> None:
    """Delivery is asynchronous: wait until ``condition()`` holds."""
    try:
        async with asyncio.timeout(WAIT):
            while not condition():  # noqa: ASYNC110 - lists that handlers fill
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_every_subscriber_gets_every_message_in_order(bus: Bus) -> None:
    a, _ = await collect(bus, "s")
    b, _ = await collect(bus, "s")
    other, _ = await collect(bus, "t")
    for i in range(10):
        await bus.publish("s", bytes([i]))
    await bus.publish("t", b"end")  # after anything of "s" that reached "t" by mistake
    await until(lambda: len(a) >= 10 and len(b) >= 10 and other, "every message")
    assert a == b == [bytes([i]) for i in range(10)]
    assert other == [b"end"]


async def test_a_slow_subscriber_does_not_hold_up_the_publisher_or_others(bus: Bus) -> None:
    release = asyncio.Event()

    async def stuck(payload: bytes) -> None:
        await release.wait()

    await bus.subscribe("s", stuck)
    fast, arrived = await collect(bus, "s")
    async with asyncio.timeout(WAIT):
        for i in range(50):
            await bus.publish("s", bytes([i]))
        while len(fast) < 50:
            arrived.clear()
            await arrived.wait()
    release.set()
    assert fast == [bytes([i]) for i in range(50)]


async def test_a_failing_handler_does_not_end_the_subscription(bus: Bus) -> None:
    seen: list[bytes] = []

    async def flaky(payload: bytes) -> None:
        seen.append(payload)
        if payload == b"boom":
            raise RuntimeError("handler bug")

    await bus.subscribe("s", flaky)
    await bus.publish("s", b"boom")
    await bus.publish("s", b"after")
    await until(lambda: len(seen) >= 2, "both messages")
    assert seen == [b"boom", b"after"]


async def test_unsubscribe_stops_delivery(bus: Bus) -> None:
    got: list[bytes] = []

    async def handler(payload: bytes) -> None:
        got.append(payload)

    sub = await bus.subscribe("s", handler)
    await bus.publish("s", b"1")
    await until(lambda: got, "the first message")
    await sub.unsubscribe()
    witness, _ = await collect(bus, "s")
    await bus.publish("s", b"2")
    await until(lambda: witness, "the second message, to the subscriber still there")
    assert got == [b"1"]
