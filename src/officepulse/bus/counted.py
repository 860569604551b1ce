"""Any bus, counted for /metrics: messages published and delivered, and errors (a publish
that raised, a subscriber's handler that raised), as plain ints (ops/counts.py).

A wrapper rather than counts in each bus: the in-process bus and a networked one are
counted the same way; a networked bus adds its own connection errors with ``error``."""

from __future__ import annotations

from officepulse.bus.base import Bus, Handler, Reconnected, Responder, Subscription
from officepulse.ops.counts import BusCounts


class CountedBus:
    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self.published = 0
        self.delivered = 0
        self.errors = 0
        # Started and not closed: what /readyz asks of the in-process bus.
        self.running = False

    def counts(self) -> BusCounts:
        return BusCounts(self.published, self.delivered, self.errors)

    @property
    def connected(self) -> bool:
        return self.running and self.inner.connected

    def error(self) -> None:
        """One more error, seen by the bus itself (a lost connection)."""
        self.errors += 1

    async def start(self) -> None:
        await self.inner.start()
        self.running = True

    async def close(self) -> None:
        self.running = False
        await self.inner.close()

    async def publish(self, subject: str, payload: bytes) -> None:
        try:
            await self.inner.publish(subject, payload)
        except Exception:
            self.errors += 1
            raise
        self.published += 1

    async def subscribe(self, subject: str, handler: Handler) -> Subscription:
        async def counted(payload: bytes) -> None:
            try:
                await handler(payload)
            except Exception:
                self.errors += 1
                raise
            self.delivered += 1

        return await self.inner.subscribe(subject, counted)

    async def serve(self, subject: str, responder: Responder) -> Subscription:
        async def counted(payload: bytes) -> bytes:
            try:
                reply = await responder(payload)
            except Exception:
                self.errors += 1
                raise
            self.delivered += 1
            return reply

        return await self.inner.serve(subject, counted)

    async def request(
        self, subject: str, payload: bytes, *, within: float, replies: int | None = None
    ) -> list[bytes]:
        try:
            answers = await self.inner.request(subject, payload, within=within, replies=replies)
        except Exception:
            self.errors += 1
            raise
        self.published += 1
        return answers

    def on_reconnected(self, callback: Reconnected) -> None:
        self.inner.on_reconnected(callback)
