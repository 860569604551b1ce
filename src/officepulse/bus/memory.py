"""The in-process bus: each subscription has its own queue and task, so a slow
subscriber never holds up the publisher or the other subscribers."""

from __future__ import annotations

import asyncio
import logging

from officepulse.bus.base import Handler

log = logging.getLogger(__name__)


class _Subscription:
    def __init__(self, bus: MemoryBus, subject: str, handler: Handler, maxsize: int) -> None:
        self.bus = bus
        self.subject = subject
        self.handler = handler
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize)
        self.dropped = 0
        self.task = asyncio.create_task(self._run(), name=f"bus:{subject}")

    def deliver(self, payload: bytes) -> None:
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            # Like a networked bus under pressure: the subscriber lost a message.
            self.dropped += 1
            log.warning("bus subscriber on %r is too slow; message dropped", self.subject)

    async def _run(self) -> None:
        while True:
            payload = await self.queue.get()
            try:
                await self.handler(payload)
            except Exception:
                log.exception("bus handler on %r failed", self.subject)

    async def unsubscribe(self) -> None:
        self.bus._subs.get(self.subject, set()).discard(self)
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


class MemoryBus:
    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self._subs: dict[str, set[_Subscription]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                await sub.unsubscribe()

    async def publish(self, subject: str, payload: bytes) -> None:
        for sub in list(self._subs.get(subject, ())):
            sub.deliver(payload)

    async def subscribe(self, subject: str, handler: Handler) -> _Subscription:
        sub = _Subscription(self, subject, handler, self.maxsize)
        self._subs.setdefault(subject, set()).add(sub)
        return sub
