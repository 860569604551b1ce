"""The Bus contract, run against every implementation: the in-process bus and the bus
over a real NATS server (one per module, tests/nats_server.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

from officepulse.bus.base import Bus
from officepulse.bus.memory import MemoryBus
from officepulse.bus.nats_bus import NatsBus
from tests.support.processes import WAIT

pytest_plugins = ["tests.support.nats_server"]

if TYPE_CHECKING:
    from tests.support.nats_server import NatsServer


@pytest.fixture(params=["memory", "nats"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    impl: Bus
    if request.param == "memory":
        impl = MemoryBus(maxsize=100)
    else:
        server: NatsServer = request.getfixturevalue("nats_server")
        impl = NatsBus(server.url, maxsize=100)
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


# -- request/reply: every responder answers (scatter-gather) -------------------------------


def answering(name: bytes) -> Callable[[bytes], Awaitable[bytes]]:
    async def respond(payload: bytes) -> bytes:
        return name + b":" + payload

    return respond


async def test_a_request_gathers_the_reply_of_every_responder(bus: Bus) -> None:
    await bus.serve("ask", answering(b"a"))
    await bus.serve("ask", answering(b"b"))
    await bus.serve("other", answering(b"c"))
    replies = await bus.request("ask", b"q", within=WAIT, replies=2)
    assert sorted(replies) == [b"a:q", b"b:q"]


async def test_a_request_nobody_serves_gets_no_reply(bus: Bus) -> None:
    assert await bus.request("nobody", b"q", within=WAIT, replies=1) == []


async def test_a_failing_responder_sends_nothing_and_the_others_still_answer(bus: Bus) -> None:
    async def broken(payload: bytes) -> bytes:
        raise RuntimeError("responder bug")

    await bus.serve("ask", broken)
    await bus.serve("ask", answering(b"a"))
    assert await bus.request("ask", b"q", within=WAIT, replies=1) == [b"a:q"]
    # And it goes on serving.
    assert await bus.request("ask", b"r", within=WAIT, replies=1) == [b"a:r"]


async def test_a_request_stops_waiting_at_its_timeout_with_the_replies_it_has(bus: Bus) -> None:
    release = asyncio.Event()
    late: list[bytes] = []

    async def stuck(payload: bytes) -> bytes:
        await release.wait()
        late.append(payload)
        return b"late"

    await bus.serve("ask", stuck)
    await bus.serve("ask", answering(b"a"))
    # Two replies are asked for; one never comes in time.
    assert await bus.request("ask", b"q", within=0.5, replies=2) == [b"a:q"]
    # A slow answer delays no later request, and still finishes its work.
    assert await bus.request("ask", b"r", within=0.5, replies=2) == [b"a:r"]
    release.set()
    await until(lambda: len(late) == 2, "the slow responder finishing both")


async def test_a_responder_that_stopped_serving_answers_no_more(bus: Bus) -> None:
    service = await bus.serve("ask", answering(b"a"))
    await bus.serve("ask", answering(b"b"))
    await service.unsubscribe()
    assert await bus.request("ask", b"q", within=0.5, replies=2) == [b"b:q"]
