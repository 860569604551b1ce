"""The bus over NATS (core NATS, no JetStream: docs/architecture.md, "Scaled out", says
why): the same contract as the in-process bus, between processes.

Each subscription has its own task in nats-py, so a slow subscriber never holds up the
others; a handler's failure is logged and the subscription goes on. Each request a
responder answers runs in a task of its own, so a slow answer never delays the next.

The client reconnects for ever when the NATS server goes away (every second); what is
published meanwhile waits in the client's buffer (``pending_size``) and goes out once it
is back, and what does not fit is dropped with a warning: presence is state that is sent
whole again (bus/presence.py), and subscribers that keep state are told to ask for it
again (``on_reconnected``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.errors import Error as NatsError

from officepulse.bus.base import Handler, Reconnected, Responder
from officepulse.errors import OfficepulseError

log = logging.getLogger(__name__)

# What NATS sends to a request's inbox when nobody serves its subject.
_NO_RESPONDERS = "503"
# How long a reconnecting client waits between attempts, in seconds.
RECONNECT_WAIT = 1.0


class BusUnreachable(OfficepulseError):
    """The NATS server at the configured URL could not be reached at start."""


class _Subscription:
    def __init__(self, sub: NatsSubscription) -> None:
        self._sub = sub

    async def unsubscribe(self) -> None:
        with contextlib.suppress(NatsError):
            await self._sub.unsubscribe()


class NatsBus:
    def __init__(
        self,
        url: str,
        *,
        name: str = "officepulse",
        maxsize: int = 10_000,
        start_timeout: float = 10.0,
    ) -> None:
        self.url = url
        # How long start() keeps trying (NATS may be starting beside us, as in a cluster
        # started at once) before it gives up with BusUnreachable.
        self.start_timeout = start_timeout
        self.name = name
        self.maxsize = maxsize
        self._nc: Client | None = None
        self._reconnected: list[Reconnected] = []
        # Callbacks and answers in flight, held so that they are not collected mid-way.
        self._tasks: set[asyncio.Task[None]] = set()
        self._dropped = 0

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("the NATS bus is not started")
        return self._nc

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def start(self) -> None:
        try:
            async with asyncio.timeout(self.start_timeout):
                self._nc = await self._connect()
        except (OSError, NatsError, TimeoutError) as exc:
            said = str(exc) or f"nothing answered within {self.start_timeout:g} s"
            raise BusUnreachable(f"cannot reach NATS at {self.url}: {said}") from exc
        log.info("connected to NATS at %s", self.url)

    async def _connect(self) -> Client:
        return await nats.connect(
            self.url,
            name=self.name,
            connect_timeout=5,
            max_reconnect_attempts=-1,  # for ever: NATS restarting must not end us
            reconnect_time_wait=RECONNECT_WAIT,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )

    async def close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is None:
            return
        # What was published last (an agent going offline at shutdown) leaves first.
        with contextlib.suppress(NatsError, TimeoutError):
            if nc.is_connected:
                await nc.flush(timeout=2)
        with contextlib.suppress(NatsError):
            await nc.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def publish(self, subject: str, payload: bytes) -> None:
        if self._nc is None:  # closed: a connection's last words at shutdown go nowhere
            self._dropped += 1
            return
        try:
            await self._nc.publish(subject, payload)
        except NatsError as exc:
            # Never into ingest: presence is sent whole again with the next change.
            self._dropped += 1
            log.warning("NATS publish on %r dropped (%s)", subject, exc)

    async def subscribe(self, subject: str, handler: Handler) -> _Subscription:
        async def deliver(msg: Msg) -> None:
            try:
                await handler(msg.data)
            except Exception:
                log.exception("bus handler on %r failed", subject)

        sub = await self.nc.subscribe(subject, cb=deliver, pending_msgs_limit=self.maxsize)
        # Subscribed at the server before this returns: what is published next reaches it.
        await self.nc.flush()
        return _Subscription(sub)

    async def serve(self, subject: str, responder: Responder) -> _Subscription:
        async def answer(msg: Msg) -> None:
            try:
                reply = await responder(msg.data)
            except Exception:
                log.exception("bus responder on %r failed", subject)
                return
            if msg.reply:
                with contextlib.suppress(NatsError):
                    await msg.respond(reply)

        async def each(msg: Msg) -> None:
            self._spawn(answer(msg), f"bus-answer:{subject}")

        sub = await self.nc.subscribe(subject, cb=each, pending_msgs_limit=self.maxsize)
        await self.nc.flush()
        return _Subscription(sub)

    async def request(
        self, subject: str, payload: bytes, *, within: float, replies: int | None = None
    ) -> list[bytes]:
        nc = self.nc
        got: list[bytes] = []
        enough = asyncio.Event()

        async def on_reply(msg: Msg) -> None:
            if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
                enough.set()  # nobody serves the subject: no reply will come
                return
            got.append(msg.data)
            if replies is not None and len(got) >= replies:
                enough.set()

        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox, cb=on_reply)
        try:
            await nc.publish(subject, payload, reply=inbox)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(enough.wait(), within)
        except NatsError as exc:
            log.warning("NATS request on %r failed (%s)", subject, exc)
        finally:
            with contextlib.suppress(NatsError):
                await sub.unsubscribe()
        return list(got)

    def on_reconnected(self, callback: Reconnected) -> None:
        self._reconnected.append(callback)

    # -- the client's callbacks -----------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS at %s: %s", self.url, exc or type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if self._nc is not None:
            log.warning("lost the connection to NATS at %s; reconnecting", self.url)

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS at %s", self.url)
        # nats-py awaits this inside its reconnection: a callback that makes a request
        # must run after it, in a task of its own.
        for callback in self._reconnected:
            self._spawn(self._run_callback(callback), "bus-reconnected")

    async def _run_callback(self, callback: Reconnected) -> None:
        try:
            await callback()
        except Exception:
            log.exception("a NATS reconnection callback failed")
