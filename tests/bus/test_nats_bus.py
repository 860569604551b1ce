"""What the NATS bus does beyond the contract (tests/test_bus_contract.py): it says
clearly when NATS cannot be reached, and it lives through NATS restarting."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from officepulse.bus.nats_bus import BusUnreachable, NatsBus
from tests.support.processes import WAIT

pytest_plugins = ["tests.support.nats_server"]

if TYPE_CHECKING:
    from tests.support.nats_server import NatsServer


async def test_a_nats_url_nobody_listens_on_stops_start_up_with_a_clear_error(
    unreachable_nats_url: str,
) -> None:
    url = unreachable_nats_url
    with pytest.raises(BusUnreachable, match=f"cannot reach NATS at {url}"):
        await NatsBus(url, start_timeout=1.0).start()


async def test_subscriptions_and_services_come_back_when_nats_restarts(
    nats_server: NatsServer,
) -> None:
    publisher, subscriber = NatsBus(nats_server.url), NatsBus(nats_server.url)
    await publisher.start()
    await subscriber.start()
    got: list[bytes] = []
    reconnected = asyncio.Event()

    async def on_message(payload: bytes) -> None:
        got.append(payload)

    async def on_reconnected() -> None:
        reconnected.set()

    async def echo(payload: bytes) -> bytes:
        return payload

    subscriber.on_reconnected(on_reconnected)
    await subscriber.subscribe("s", on_message)
    await subscriber.serve("ask", echo)
    try:
        await asyncio.to_thread(nats_server.stop)
        await asyncio.to_thread(nats_server.start)
        async with asyncio.timeout(WAIT):
            await reconnected.wait()
            # The publisher reconnects on its own schedule: publish until one arrives.
            while not got:
                await publisher.publish("s", b"after")
                await asyncio.sleep(0.05)
        assert set(got) == {b"after"}
        assert await publisher.request("ask", b"q", within=WAIT, replies=1) == [b"q"]
    finally:
        await publisher.close()
        await subscriber.close()
