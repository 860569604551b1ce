"""The agents' websocket on picows: frames read in the socket's data callback.

Paced, each heartbeat arrives on its own, and under aiohttp every one of them is a read, a
parse, a future's result, a task woken and three coroutines resumed before the gateway
sees it (docs/performance.md). Here picows (a Cython websocket implementation) parses the
frames in the data callback and hands each message to the gateway's ``take``
(gateway.py, ``Gateway._take_now``), which does all of a heartbeat there: no task is woken
for it. What must be awaited (the hello, spans, facts, a switch to publish, a close) comes
back as a job; the jobs, and every message after one, run in order in a task of the
connection's, and the socket is not read while too many wait.

aiohttp still reads the request and passes it through every middleware (the Host/Origin
guard, the real client, access control) and the gateway's checks; the socket gate
(server/sockets.py) then hands the socket, with the request head, to ``AgentProtocol``,
which answers the upgrade itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import picows

# Not in picows's __all__: the protocol its own ``ws_create_server`` builds, constructed
# the same way below. picows is pinned in pyproject.toml; tests/gateway/test_wire.py
# serves agents through it, so an upgrade that moves it fails there.
from picows.picows import WSProtocol  # type: ignore[attr-defined]

from officepulse.protocol.codec import Encoding, Frame, encode
from officepulse.protocol.messages import Error

_buffer_updated = WSProtocol.buffer_updated  # called as is: no super() per read

log = logging.getLogger(__name__)

Job = Coroutine[Any, Any, bool]
"""The rest of a message, awaited in order before the next: False ends the connection."""
Take = Callable[[Frame], Job | None]

# Messages queued behind a job (a hello being admitted, a batch waiting for a commit slot)
# past which the socket is not read, until half of them are done: TCP slows the agent.
QUEUED_MAX = 16
# How long a close waits for the agent's own close frame (aiohttp's default too).
CLOSE_TIMEOUT = 10.0
# A single frame larger than this many times the message limit is refused by picows itself
# (1009, its reason names the sizes) before it is read; up to it, by the gateway, with an
# Error first as for any message over the limit. It bounds what one socket can make the
# server buffer.
FRAME_ALLOWANCE = 4

_TEXT, _BINARY = picows.WSMsgType.TEXT, picows.WSMsgType.BINARY
_CONTINUATION = picows.WSMsgType.CONTINUATION
_PING, _PONG, _CLOSE = picows.WSMsgType.PING, picows.WSMsgType.PONG, picows.WSMsgType.CLOSE
# picows's own log, for these sockets: its warnings and errors only (it says INFO at every
# connection and disconnection). Not registered with logging: picows makes one child of it
# per socket, which a registered logger would keep for ever.
_picows_log = logging.Logger("picows.agents", logging.WARNING)
_picows_log.parent = log


def _nothing() -> None:
    pass


def too_big(limit: int, encoding: Encoding) -> tuple[Frame, bytes]:
    """What an agent is told of a message over the limit: an Error in its encoding, and
    the close's reason (aiohttp's close would be a bare 1009)."""
    text = f"message too big: the limit is {limit} bytes"
    return encode(Error(code="message-too-big", message=text, fatal=True), encoding), text.encode()


class AgentWire(picows.WSListener):
    """One agent's websocket on picows, as the gateway sends through it (the
    ``AgentWebSocket`` of gateway.py) and as picows hands it frames."""

    sends_now = True

    def __init__(
        self,
        peer: str,
        max_message: int,
        opened: Callable[[AgentWire], None],
        context: contextvars.Context,
    ) -> None:
        self.peer = peer
        self.max_message = max_message
        # Told once the upgrade is answered: the gateway admits the connection then and
        # sets ``take``, ``heard`` and ``ended`` (or closes it).
        self.opened = opened
        # The log context of the request that asked for the upgrade (its id, and the
        # agent's once it said hello): every task of the connection runs in it.
        self.context = context
        self.encoding: Encoding = "json"
        self.transport: picows.WSTransport | None = None
        self.socket: AgentProtocol | None = None  # set as it is made
        self.take: Take | None = None
        self.heard: Callable[[], None] = _nothing
        self.ended: Callable[[], Coroutine[Any, Any, None]] | None = None
        self.queue: deque[Frame | Callable[[], Job]] = deque()
        self.worker: asyncio.Task[None] | None = None
        # The task that closes or ends the connection, kept (the loop keeps only a weak
        # reference to tasks).
        self.ending: asyncio.Task[Any] | None = None
        self.paused = False
        self.gone = False  # the socket is closed
        self.close_sent = False
        self.peer_closed: asyncio.Future[None] | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        # A message in fragments: its parts so far, whether it is text, its size.
        self.parts: list[bytes] | None = None
        self.parts_text = False
        self.parts_size = 0

    # What picows calls.

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport
        self.context.run(self.opened, self)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        data: Frame
        if kind == _BINARY and frame.fin:
            if frame.payload_size > self.max_message:
                self._too_big()
                return
            data = frame.get_payload_as_bytes()
        elif kind == _TEXT and frame.fin:
            if frame.payload_size > self.max_message:
                self._too_big()
                return
            try:
                data = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                self._not_utf8()
                return
        elif kind == _PING:
            self.heard()
            transport.send_pong(frame.get_payload_as_bytes())
            return
        elif kind == _PONG:
            self.heard()
            return
        elif kind == _CLOSE:
            self._peer_closes()
            return
        else:
            whole = self._fragment(frame)
            if whole is None:
                return
            data = whole
        if self.worker is not None or self.queue:
            self._queue(data)
            return
        take = self.take
        if take is None:
            return  # refused, or ending: nothing more is read
        job = self.context.run(take, data)
        if job is not None:
            self._start(job)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.gone = True
        self.writable.set()
        if self.peer_closed is not None and not self.peer_closed.done():
            self.peer_closed.set_result(None)
        if self.worker is None:
            self._end()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # Messages that wait.

    def push(self, job: Callable[[], Job]) -> None:
        """Run ``job`` after everything already received (the hello's deadline)."""
        if self.take is None:
            return
        if self.worker is not None or self.queue:
            self._queue(job)
        else:
            self._start(job())

    def _queue(self, item: Frame | Callable[[], Job]) -> None:
        if self.take is None:
            return
        self.queue.append(item)
        if len(self.queue) >= QUEUED_MAX and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.underlying_transport.pause_reading()

    def _start(self, job: Job) -> None:
        self.worker = asyncio.get_running_loop().create_task(self._work(job), context=self.context)

    async def _work(self, job: Job) -> None:
        try:
            go = await job
            queue = self.queue
            while go and queue:
                item = queue.popleft()
                if self.paused and len(queue) <= QUEUED_MAX // 2:
                    self._resume_reading()
                take = self.take
                if take is None:
                    break
                next_job = take(item) if isinstance(item, (str, bytes)) else item()
                if next_job is not None:
                    go = await next_job
            if not go:
                self.take = None  # let go: nothing after this message is read
                queue.clear()
        except ConnectionResetError:
            self._let_go(None)  # closed under it: nothing more to say
        except Exception:
            # As aiohttp does for its handler: logged, and the connection closed.
            log.exception("agent connection from %s failed", self.peer)
            self._let_go(1011)
        finally:
            self.worker = None
            if self.gone:
                self._end()

    def _let_go(self, code: int | None) -> None:
        self.take = None
        self.queue.clear()
        transport = self.transport
        if transport is None or self.gone:
            return
        if code is not None and not self.close_sent:
            self.close_sent = True
            transport.send_close(code)  # type: ignore[arg-type]
        transport.disconnect()

    def _resume_reading(self) -> None:
        self.paused = False
        if self.transport is not None and not self.gone:
            self.transport.underlying_transport.resume_reading()

    def _end(self) -> None:
        ended, self.ended = self.ended, None
        self.take = None
        self.queue.clear()
        if ended is not None:
            self.run_out(ended())

    def run_out(self, ending: Coroutine[Any, Any, Any]) -> None:
        """Run what closes or ends the connection, outside the order of its messages."""
        self.ending = asyncio.get_running_loop().create_task(ending, context=self.context)

    # Frames that are not one whole message.

    def _fragment(self, frame: picows.WSFrame) -> Frame | None:
        """A message sent in fragments, once its last has come."""
        kind = frame.msg_type
        if kind == _CONTINUATION:
            if self.parts is None:
                self._fail(1002, "a continuation frame without a message to continue")
                return None
        elif kind in (_TEXT, _BINARY):
            if self.parts is not None:
                self._fail(1002, "a new message before the last one's final fragment")
                return None
            self.parts, self.parts_text, self.parts_size = [], kind == _TEXT, 0
        else:
            return None
        self.parts_size += frame.payload_size
        if self.parts_size > self.max_message:
            self.parts = None
            self._too_big()
            return None
        assert self.parts is not None
        self.parts.append(frame.get_payload_as_bytes())
        if not frame.fin:
            return None
        whole = b"".join(self.parts)
        self.parts = None
        if not self.parts_text:
            return whole
        try:
            return whole.decode()
        except UnicodeDecodeError:
            self._not_utf8()
            return None

    def _too_big(self) -> None:
        # The close names the limit, first in an Error (``close``).
        self._fail(1009, f"a message over {self.max_message} bytes")

    def _not_utf8(self) -> None:
        self._fail(1007, "a text message that is not valid UTF-8")

    def _fail(self, code: int, reason: str) -> None:
        self.heard()

        async def close() -> bool:
            log.info("agent connection from %s: %s; closing with %d", self.peer, reason, code)
            await self.close(code=code, message=reason.encode())
            return False

        self.push(close)  # after the messages before it

    def _peer_closes(self) -> None:
        if self.peer_closed is not None:
            if not self.peer_closed.done():
                self.peer_closed.set_result(None)
            return
        # Closed by the agent: answered, and the socket closed once the messages received
        # before are done (``_work``), as aiohttp's reader ends its queue with the close.
        assert self.transport is not None
        if not self.close_sent:
            self.close_sent = True
            self.transport.send_close(picows.WSCloseCode.OK)
        self.transport.disconnect()

    # What the gateway sends (gateway.py, ``AgentWebSocket``).

    @property
    def closed(self) -> bool:
        return self.close_sent or self.gone

    def send_now(self, data: str | bytes) -> None:
        assert self.transport is not None
        if isinstance(data, str):
            self.transport.send(_TEXT, data.encode())
        else:
            self.transport.send(_BINARY, data)

    async def send_str(self, data: str) -> None:
        await self._writable()
        self.send_now(data)

    async def send_bytes(self, data: bytes) -> None:
        await self._writable()
        self.send_now(data)

    async def _writable(self) -> None:
        if self.closed:
            raise ConnectionResetError("the agent's websocket is closed")
        await self.writable.wait()
        if self.closed:
            raise ConnectionResetError("the agent's websocket is closed")

    async def ping(self, message: bytes = b"") -> None:
        if self.closed:
            raise ConnectionResetError("the agent's websocket is closed")
        assert self.transport is not None
        self.transport.send_ping(message)

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        """Send a close frame, wait (``drain``) for the agent's, then close the socket:
        closing it with the agent's bytes unread would reset it, and the reset can
        overtake the close frame."""
        if self.closed or self.transport is None:
            return False
        if code == 1009:
            notice, message = too_big(self.max_message, self.encoding)
            self.send_now(notice)
        self.close_sent = True
        self.take = None
        transport = self.transport
        # Typed as picows's enum; it sends any code, as a uint16 (the protocol's 4xxx).
        transport.send_close(code, message)  # type: ignore[arg-type]
        if drain:
            self.peer_closed = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await asyncio.shield(self.peer_closed)
            except TimeoutError:
                pass
        transport.disconnect(graceful=drain)
        return True


class AgentProtocol(WSProtocol):  # type: ignore[misc]
    """picows's server protocol for one handed-over socket (server/sockets.py,
    ``Connection.hand_over``): tells the socket gate when it closes, and counts the pieces
    of data that arrive, as ``Connection`` does, for the gateway's keep-alive."""

    def __init__(self, wire: AgentWire, closed: Callable[[], None], handshake_timeout: float):
        # As picows's ws_create_server builds it (picows/api.py), for this one listener.
        super().__init__(
            None,  # host and port: a client's
            None,  # path: a client's
            False,  # the server's side
            lambda request: wire,
            _picows_log,
            True,  # an exception in on_ws_frame closes the connection (1011), logged
            handshake_timeout,
            False,  # no automatic ping: the gateway's keep-alive pings
            20.0,
            20.0,
            picows.WSAutoPingStrategy.PING_WHEN_IDLE,
            False,  # no automatic pong: the gateway hears the ping (``heard``)
            wire.max_message * FRAME_ALLOWANCE,
            None,  # extra headers: a client's
            16 * 1024,  # the first read buffer, grown as messages need
        )
        self.closed = closed
        self.arrivals = 0
        wire.socket = self

    def buffer_updated(self, nbytes: int) -> None:
        self.arrivals += 1
        _buffer_updated(self, nbytes)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.closed()
