"""Fake D-Bus services for tests: a dbus-fast connection in its own thread and event loop
(a different D-Bus implementation from the jeepney the agent's sources use), owning some
names and exporting some objects, as a desktop's services would from their own process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface


class ServiceThread:
    """One connection to the bus at ``address`` (``unix_fds``: it may pass file
    descriptors), served from a thread of its own; ``close()`` disconnects and ends it."""

    def __init__(self, address: str, *, unix_fds: bool = False) -> None:
        self.address = address
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def connect() -> MessageBus:
            return await MessageBus(bus_address=address, negotiate_unix_fd=unix_fds).connect()

        self.bus: MessageBus = self.run(connect())

    def run(self, coro: Awaitable[Any]) -> Any:
        """Run ``coro`` on the service's loop and return its result (10 s at most)."""

        async def wrapped() -> Any:
            return await coro

        future: Future[Any] = asyncio.run_coroutine_threadsafe(wrapped(), self.loop)
        return future.result(10)

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """Call ``fn`` on the service's loop (emit a signal, say), without waiting."""
        self.loop.call_soon_threadsafe(fn)

    def serve(self, path: str, interface: ServiceInterface, *names: str) -> None:
        async def go() -> None:
            self.bus.export(path, interface)
            for name in names:
                await self.bus.request_name(name)

        self.run(go())

    def close(self) -> None:
        async def stop() -> None:
            self.bus.disconnect()
            with contextlib.suppress(Exception):
                await self.bus.wait_for_disconnect()

        with contextlib.suppress(Exception):
            self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
