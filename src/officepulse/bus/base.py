"""The Bus seam: publish/subscribe of bytes on subjects, between ingest and hub, and
request/reply between the panel and the gateways.

Payloads are bytes so that an in-process bus and a networked one (NATS) carry
exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

Handler = Callable[[bytes], Awaitable[None]]
# Answers one request: the reply's payload.
Responder = Callable[[bytes], Awaitable[bytes]]
# Called once the bus is connected again after losing its connection: what was published
# meanwhile may be lost, so a subscriber that keeps state asks for it again.
Reconnected = Callable[[], Awaitable[None]]


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, subject: str, payload: bytes) -> None: ...

    async def subscribe(self, subject: str, handler: Handler) -> Subscription: ...

    async def serve(self, subject: str, responder: Responder) -> Subscription:
        """Answer every request on ``subject``; a responder that raises sends no reply."""
        ...

    async def request(
        self, subject: str, payload: bytes, *, within: float, replies: int | None = None
    ) -> list[bytes]:
        """Ask every responder on ``subject``: their replies, in the order they came,
        once ``replies`` have come or ``within`` seconds have passed (scatter-gather:
        every gateway answers, not only the first)."""
        ...

    def on_reconnected(self, callback: Reconnected) -> None: ...

    @property
    def connected(self) -> bool:
        """Whether a message published now would go out (started, not closed, and for a
        networked bus its connection up): what /readyz asks (ops/health.py)."""
        ...
