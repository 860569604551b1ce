"""The in-process bus: each subscription has its own queue and task, so a slow
subscriber never holds up the publisher or the other subscribers; each request runs its
responders in tasks of their own."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from officepulse.bus.base import Handler, Reconnected, Responder

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


class _Service:
    def __init__(self, bus: MemoryBus, subject: str, responder: Responder) -> None:
        self.bus = bus
        self.subject = subject
        self.responder = responder

    async def answer(self, payload: bytes) -> bytes | None:
        try:
            return await self.responder(payload)
        except Exception:
            log.exception("bus responder on %r failed", self.subject)
            return None

    async def unsubscribe(self) -> None:
        self.bus._services.get(self.subject, set()).discard(self)


class MemoryBus:
    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self._subs: dict[str, set[_Subscription]] = {}
        self._services: dict[str, set[_Service]] = {}
        # Answers still being worked on after their request stopped waiting: held here so
        # that they finish (a late gateway still disconnects its agent), as on NATS.
        self._answering: set[asyncio.Task[bytes | None]] = set()
        self._started = False

    @property
    def connected(self) -> bool:
        return self._started

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        self._started = False
        for subs in list(self._subs.values()):
            for sub in list(subs):
                await sub.unsubscribe()
        self._services.clear()

    async def publish(self, subject: str, payload: bytes) -> None:
        for sub in list(self._subs.get(subject, ())):
            sub.deliver(payload)

    async def subscribe(self, subject: str, handler: Handler) -> _Subscription:
        sub = _Subscription(self, subject, handler, self.maxsize)
        self._subs.setdefault(subject, set()).add(sub)
        return sub

    async def serve(self, subject: str, responder: Responder) -> _Service:
        service = _Service(self, subject, responder)
        self._services.setdefault(subject, set()).add(service)
        return service

    async def request(
        self, subject: str, payload: bytes, *, within: float, replies: int | None = None
    ) -> list[bytes]:
        tasks = []
        for service in list(self._services.get(subject, ())):
            task = asyncio.create_task(service.answer(payload), name=f"bus-answer:{subject}")
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
            tasks.append(task)
        got: list[bytes] = []
        if not tasks:
            return got
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                for answered in asyncio.as_completed(tasks):
                    reply = await answered
                    if reply is None:
                        continue
                    got.append(reply)
                    if replies is not None and len(got) >= replies:
                        break
        return got

    def on_reconnected(self, callback: Reconnected) -> None:
        """An in-process bus never loses its connection."""
