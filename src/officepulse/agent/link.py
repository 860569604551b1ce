"""The agent's websocket link to the server: connects, says hello, sends what
the driver produces, and reconnects with exponential back-off and jitter when
the server goes away. It never raises on a lost connection.

Heartbeats wait in a bounded in-memory outbox while the server is away. (The
durable, acknowledged journal is a later step; see docs/protocol.md.)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Callable

import aiohttp

from officepulse.protocol.codec import Encoding, Frame
from officepulse.protocol.errors import ProtocolError
from officepulse.protocol.messages import Heartbeat, Hello, Ping, Welcome
from officepulse.protocol.session import (
    AgentConversation,
    ErrorReceived,
    PongReceived,
    WelcomeReceived,
)

log = logging.getLogger(__name__)


class Rejected(Exception):
    """The server refused this agent; the message says why."""


def backoff(attempt: int, first: float, ceiling: float, rand: Callable[[], float]) -> float:
    """Seconds to wait before reconnection ``attempt`` (1, 2, ...): doubling from
    ``first`` up to ``ceiling``, each drawn from the upper half of its range so
    that agents cut off together do not all come back at the same instant."""
    top: float = min(ceiling, first * 2.0 ** min(attempt - 1, 32))
    return top * (0.5 + rand() / 2)


class Link:
    def __init__(
        self,
        url: str,
        hello: Hello,
        *,
        encoding: Encoding = "msgpack",
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        outbox_limit: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.hello = hello
        self.encoding = encoding
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.clock = clock
        self.outbox: deque[Heartbeat | Ping] = deque()
        self.outbox_limit = outbox_limit
        self.dropped = 0
        self.refused = 0
        self.last_heartbeat: Heartbeat | None = None
        self.welcome: Welcome | None = None
        self.connected = asyncio.Event()
        self.offline_since: float | None = clock()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room_below = 0
        self._pongs: dict[int, asyncio.Future[None]] = {}
        self._ping_ids = itertools.count(1)
        self._last_error: str | None = None

    # -- what the agent calls --------------------------------------------------------

    def push(self, heartbeat: Heartbeat) -> None:
        if len(self.outbox) >= self.outbox_limit:
            self.outbox.popleft()
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warning("offline too long: %d oldest heartbeats dropped", self.dropped)
        self.outbox.append(heartbeat)
        self.last_heartbeat = heartbeat
        self._wake.set()

    async def room(self, high: int) -> None:
        """Wait while more than ``high`` items are waiting to be sent."""
        while len(self.outbox) > high:
            self._room_below = high // 2
            self._room.clear()
            await self._room.wait()

    async def flush(self) -> None:
        """Return once the server has processed everything pushed so far."""
        while True:
            await self.connected.wait()
            ping_id = next(self._ping_ids)
            done = asyncio.get_running_loop().create_future()
            self._pongs[ping_id] = done
            self.outbox.append(Ping(id=ping_id))
            self._wake.set()
            try:
                await done
                return
            except ConnectionError:
                continue
            finally:
                self._pongs.pop(ping_id, None)

    def status(self) -> str:
        waiting = sum(isinstance(item, Heartbeat) for item in self.outbox)
        if self.connected.is_set():
            return f"connected to {self.url}, {waiting} heartbeats waiting"
        since = time.strftime("%H:%M:%S", time.localtime(self.offline_since or self.clock()))
        return f"offline since {since}, {waiting} heartbeats waiting"

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        attempt = 0
        async with aiohttp.ClientSession() as session:
            while True:
                attempt += 1
                refused = False
                try:
                    await self._session(session)
                except Rejected as exc:
                    self._log_once(logging.ERROR, f"the server refused this agent: {exc}")
                    refused = True
                except (aiohttp.ClientError, OSError, TimeoutError, ProtocolError) as exc:
                    self._log_once(logging.WARNING, f"cannot reach {self.url}: {exc or type(exc)}")
                finally:
                    was_up = self.connected.is_set()
                    task = asyncio.current_task()
                    self._lost(quietly=task is not None and task.cancelling() > 0)
                if refused:
                    attempt = 64  # it will refuse again: wait the longest
                elif was_up:
                    attempt = 1  # it was up: start the back-off over
                delay = backoff(attempt, self.first_delay, self.max_delay, random.random)
                log.debug("reconnecting in %.1f s", delay)
                await asyncio.sleep(delay)

    def _log_once(self, level: int, text: str) -> None:
        if text != self._last_error:
            log.log(level, "%s (retrying in the background)", text)
            self._last_error = text

    def _lost(self, quietly: bool = False) -> None:
        if self.connected.is_set() and not quietly:
            log.warning("connection to %s lost; reconnecting", self.url)
            self.offline_since = self.clock()
        self.connected.clear()
        for future in self._pongs.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost before the pong"))
        # Pings still waiting are resent by flush() on the next connection.
        self.outbox = deque(item for item in self.outbox if isinstance(item, Heartbeat))

    async def _session(self, session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(
            self.url, heartbeat=30, timeout=aiohttp.ClientWSTimeout(ws_close=5)
        ) as ws:
            conv = AgentConversation(self.hello, self.encoding)
            await self._send_all(ws, conv.data_to_send())
            msg = await ws.receive(timeout=15)
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                raise Rejected(f"closed during the handshake ({ws.close_code}: {msg.extra or ''})")
            for event in conv.receive(msg.data):
                if isinstance(event, ErrorReceived):
                    raise Rejected(event.error.message)
                if isinstance(event, WelcomeReceived):
                    self.welcome = event.welcome
            if self.welcome is None:
                raise Rejected("no welcome from the server")
            self._last_error = None
            self.offline_since = None
            if not self.outbox and self.last_heartbeat is not None:
                # Show the person at once rather than at the next periodic heartbeat.
                self.outbox.append(self.last_heartbeat)
            self.connected.set()
            log.info("connected to %s", self.url)
            sender = asyncio.create_task(self._sender(ws, conv))
            try:
                await self._receiver(ws, conv)
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)

    async def _sender(self, ws: aiohttp.ClientWebSocketResponse, conv: AgentConversation) -> None:
        while True:
            while not self.outbox:
                self._wake.clear()
                await self._wake.wait()
            item = self.outbox[0]
            conv.send(item)
            await self._send_all(ws, conv.data_to_send())
            # Removed only once written to the socket, so a send cut short is resent.
            if self.outbox and self.outbox[0] is item:
                self.outbox.popleft()
                if len(self.outbox) <= self._room_below:
                    self._room.set()

    async def _receiver(self, ws: aiohttp.ClientWebSocketResponse, conv: AgentConversation) -> None:
        async for msg in ws:
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            for event in conv.receive(msg.data):
                if isinstance(event, PongReceived):
                    future = self._pongs.get(event.id)
                    if future is not None and not future.done():
                        future.set_result(None)
                elif isinstance(event, ErrorReceived):
                    if event.error.fatal:
                        raise Rejected(event.error.message)
                    self.refused += 1
                    if self.refused <= 3 or self.refused % 1000 == 0:
                        log.warning(
                            "the server refused a message (%d so far): %s",
                            self.refused,
                            event.error.message,
                        )
        if ws.close_code not in (None, 1000, 1001):
            log.warning("the server closed the connection with code %s", ws.close_code)

    @staticmethod
    async def _send_all(ws: aiohttp.ClientWebSocketResponse, frames: list[Frame]) -> None:
        for frame in frames:
            if isinstance(frame, str):
                await ws.send_str(frame)
            else:
                await ws.send_bytes(frame)
