"""The server's sockets: how many, from whom, and the ones that never ask for anything.

Every connection passes through a ``Connection`` wrapped around aiohttp's own protocol:

- **Slow and idle connections end.** aiohttp closes a connection that has not sent a
  complete request head within its keep-alive timeout, counted from when the connection
  opens and from each answer on: serve() sets that to ``header_timeout``, so a socket that
  sends nothing, or its headers a byte at a time, is closed then (the TLS handshake has the
  same time). Nothing is needed here for it but to let aiohttp see the bytes.
- **A cap on open sockets** (``max_sockets``), below the file descriptor limit
  (fdlimit.py), counted as they are accepted (TLS ones still in their handshake too).
  At the cap, the connection that has waited longest without sending a request head is
  closed to make room: a flood of idle sockets cannot lock anyone out.
  When every socket is busy, a new one is answered ``503`` with a sentence that says why
  and closed; everyone already connected is served on. Each episode at the cap is logged
  twice: when it starts and, with counts, when it ends.
- **PROXY protocol** (HAProxy's ``send-proxy``/``send-proxy-v2``): from a peer in
  ``trusted_proxies`` a PROXY header at the start of the stream is read and taken off, and
  the client address it gives is kept for the request (``real_client`` below). From any
  other peer it is refused with 400: anyone could write one.
- **Handed over after an upgrade.** The first request head of a connection that asks
  for ``GET /agent`` is kept, and once aiohttp has passed the request through every
  middleware the agent gateway may take the socket over (``hand_over``): another protocol
  (picows, gateway/wire.py) then answers that head's upgrade itself and reads the socket
  directly, with no aiohttp and no Python of this module per read.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from aiohttp import hdrs, web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.typedefs import Middleware

from officepulse.server import proxy_header
from officepulse.server.proxies import TrustedProxies, forwarded_for

log = logging.getLogger(__name__)

ProtocolFactory = Callable[[], asyncio.Protocol]
# Makes the protocol a socket is handed over to, given what to call once it is closed.
Handover = Callable[[Callable[[], None]], asyncio.BufferedProtocol]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Refused sockets are kept open a moment so that the client reads the 503 (a socket closed
# with unread bytes is reset, and the reset can overtake the answer); at most this many at
# once, past which new ones are closed at once. They fit in fdlimit.MIN_RESERVE.
REFUSING_AT_ONCE = 32
REFUSAL_LINGER = 1.0
# An episode at the cap ends once the open sockets are this far below it.
EPISODE_END = 0.9
_END_OF_HEAD = (b"\n\r\n", b"\n\n")
# A head kept for a hand-over (``Connection.hand_over``): the request line of an agent's
# upgrade, and at most this many bytes (agents send a few hundred; aiohttp refuses more
# than 8 KiB per header line anyway, and a longer head is served by aiohttp as it was).
_AGENT_REQUEST = (b"GET /agent ", b"GET /agent?")
_KEPT_HEAD = 16 * 1024


def http_answer(status: str, text: str) -> bytes:
    body = text.encode() + b"\n"
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def peer_host(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, (tuple, list)) and peer:
        return str(peer[0])
    return str(peer or "")


@dataclass(slots=True)
class Episode:
    """A stretch of time at the cap."""

    since: float
    evicted: int = 0
    refused: int = 0


class SocketGate:
    """The open sockets of one server process (counts, the cap, PROXY addresses)."""

    def __init__(
        self,
        max_sockets: int,
        trusted: TrustedProxies,
        made_within: float = 61.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_sockets = max_sockets
        self.trusted = trusted
        # A socket is counted as it is accepted, since many may be accepted before any is
        # handed over; one whose TLS handshake fails is never handed over, and is
        # forgotten this long after (more than the handshake's timeout).
        self.made_within = made_within
        self.clock = clock
        self.open = 0
        self.refusing = 0
        # Connections with no complete request head yet, oldest first (dicts keep order).
        self.waiting: dict[Connection, None] = {}
        # The client a trusted proxy's PROXY header named, by transport.
        self.proxied: dict[asyncio.BaseTransport, str] = {}
        self.episode: Episode | None = None

    def factory(self, inner: ProtocolFactory, *, tls: bool = False) -> ProtocolFactory:
        """The protocol factory for the listening socket, around aiohttp's ``inner``."""

        def make() -> asyncio.Protocol:
            if self.open >= self.max_sockets:
                episode = self._at_cap()
                oldest = next(iter(self.waiting), None)
                if oldest is None:
                    episode.refused += 1
                    return Refusal(self, self.refusing >= REFUSING_AT_ONCE)
                episode.evicted += 1
                oldest.evict()
            self.open += 1
            conn = Connection(self, inner())
            if not tls:
                # Made in a moment, and waiting from now: many may be accepted at once
                # before any is made. One in a TLS handshake is not made room with: it
                # would keep its descriptor, uncounted, until the handshake timed out.
                self.waiting[conn] = None
            return conn

        return make

    def _at_cap(self) -> Episode:
        if self.episode is None:
            self.episode = Episode(self.clock())
            log.warning(
                "at the connection limit: %d sockets open (max_sockets); closing connections "
                "that have sent no request yet to make room, or else refusing new ones with "
                "503 until some close",
                self.open,
            )
        return self.episode

    def release(self, conn: Connection) -> None:
        self.open -= 1
        self.waiting.pop(conn, None)
        if conn.transport is not None:
            self.proxied.pop(conn.transport, None)

    def closed(self, conn: Connection) -> None:
        self.release(conn)
        episode = self.episode
        if episode is not None and self.open < self.max_sockets * EPISODE_END:
            self.episode = None
            log.warning(
                "below the connection limit again after %.0f s: %d idle connection(s) "
                "closed to make room, %d refused with 503",
                self.clock() - episode.since,
                episode.evicted,
                episode.refused,
            )

    def middleware(self) -> Middleware:
        """Gives each request its real client as ``request.remote``: the nearest hop that
        is not a trusted proxy (proxies.py), from X-Forwarded-For and PROXY headers; and,
        from a trusted proxy that terminates TLS, the scheme the client used
        (X-Forwarded-Proto), so that the session cookie is marked Secure behind it."""

        @web.middleware
        async def real_client(request: web.Request, handler: Handler) -> web.StreamResponse:
            peer = request.remote
            if peer is None or not self.trusted.trusts(peer):
                return await handler(request)
            hops = forwarded_for(request.headers.getall(hdrs.X_FORWARDED_FOR, ()))
            transport = request.transport
            proxied = self.proxied.get(transport) if transport is not None else None
            if proxied is not None:
                hops.append(proxied)
            client = self.trusted.client([*hops, peer])
            # The outermost proxy's word: the one the client spoke to.
            said = request.headers.get(hdrs.X_FORWARDED_PROTO, "").split(",")[0].strip().lower()
            scheme = said if said in ("http", "https") else request.scheme
            if client != peer or scheme != request.scheme:
                request = request.clone(remote=client, scheme=scheme)
            return await handler(request)

        return real_client


def socket_of(request: web.Request) -> Connection | None:
    """The counted socket under a request, when it came through the gate (the agent
    gateway's keep-alive reads its ``arrivals``)."""
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, Connection) else None


class Connection(asyncio.Protocol):
    """One counted socket: aiohttp's protocol inside, a PROXY header taken off in front."""

    __slots__ = (
        "arrivals",
        "counted",
        "doomed",
        "gate",
        "head",
        "inner",
        "kept",
        "tail",
        "transport",
        "unmade",
    )

    def __init__(self, gate: SocketGate, inner: asyncio.Protocol) -> None:
        self.gate = gate
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.counted = True  # by the gate, as it made this
        self.doomed = False  # evicted before it was made: closed as it is
        loop = asyncio.get_running_loop()
        self.unmade: asyncio.TimerHandle | None = loop.call_later(
            gate.made_within, self._never_made
        )
        # The first bytes, held back until it is known whether a PROXY header starts
        # the stream; None once it is.
        self.head: bytes | None = b""
        # The last bytes seen while no request head has ended (one may end across two
        # pieces); None once one has.
        self.tail: bytes | None = b""
        # The first request head while it may be an agent's upgrade, for ``hand_over``;
        # None once it cannot be.
        self.kept: bytearray | None = bytearray()
        # Pieces of data received: the agent gateway's keep-alive counts a message still
        # arriving (a big one on a slow link) as an answer (gateway/gateway.py).
        self.arrivals = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio's, whatever they are.
        self.transport = cast(asyncio.Transport, transport)
        if self.unmade is not None:
            self.unmade.cancel()
            self.unmade = None
        if self.doomed:
            self.inner.connection_made(transport)
            self.transport.abort()
            return
        if not self.counted:  # made later than made_within: counted again
            self.counted = True
            self.gate.open += 1
        self.gate.waiting[self] = None  # where it is already, it keeps its place
        self.inner.connection_made(transport)

    def _never_made(self) -> None:
        self.unmade = None
        if self.transport is None and self.counted:
            self.counted = False
            self.gate.release(self)

    def evict(self) -> None:
        """Closed to make room at the cap: counted as gone from now."""
        if self.counted:
            self.counted = False
            self.gate.release(self)
        if self.transport is not None:
            self.transport.abort()
        else:
            self.doomed = True

    def data_received(self, data: bytes) -> None:
        self.arrivals += 1
        if self.head is not None:
            passed = self._after_proxy_header(self.head + data)
            if passed is None:
                return
            data = passed
        if self.tail is not None:
            if data:
                self._keep(data)
                if any(end in self.tail + data for end in _END_OF_HEAD):
                    self.gate.waiting.pop(self, None)
                    self.tail = None
                    if self.kept is not None and not self.kept.startswith(_AGENT_REQUEST):
                        self.kept = None
                else:
                    self.tail = data[-2:]
        elif self.kept is not None:
            self.kept = None  # bytes after the head went to aiohttp: no hand-over
        self.inner.data_received(data)

    def _keep(self, data: bytes) -> None:
        kept = self.kept
        if kept is None:
            return
        if len(kept) + len(data) > _KEPT_HEAD:
            self.kept = None
        elif kept:
            kept += data
        else:
            self.kept = bytearray(data)

    def hand_over(self, make: Handover) -> asyncio.BufferedProtocol | None:
        """Give the socket to another protocol from now on, with the request head aiohttp
        is answering (an agent's ``GET /agent`` upgrade, which the new protocol answers):
        ``make`` is given what to call once the socket is closed (for the cap's count).
        None, and aiohttp keeps it, unless that head is the connection's first and no
        later read brought more (a websocket client sends nothing before the answer;
        what came in the head's own read is handed over with it)."""
        kept = self.kept
        transport = self.transport
        if kept is None or self.tail is not None or transport is None or transport.is_closing():
            return None
        self.kept = None
        protocol = make(self._handed_lost)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        data = memoryview(kept)
        while data:
            room = memoryview(protocol.get_buffer(len(data)))
            n = min(len(room), len(data))
            room[:n] = data[:n]
            protocol.buffer_updated(n)
            data = data[n:]
        # aiohttp lets go of the request as of a client gone, without closing the socket
        # (its protocol closes the transport it still holds).
        inner = self.inner
        if isinstance(inner, BaseProtocol):
            inner.transport = None
        inner.connection_lost(None)
        return protocol

    def _handed_lost(self) -> None:
        if self.counted:
            self.counted = False
            self.gate.closed(self)

    def _after_proxy_header(self, data: bytes) -> bytes | None:
        """The bytes for aiohttp once any PROXY header is off; None: none yet."""
        starts = proxy_header.starts_with_header(data)
        if starts is None:
            self.head = data
            return None
        if not starts:
            self.head = None
            return data
        assert self.transport is not None
        peer = peer_host(self.transport)
        if not self.gate.trusted.trusts(peer):
            self._refuse(
                peer,
                f"a PROXY protocol header from {peer}, which is not in trusted_proxies; "
                "add the proxy's address there",
            )
            return None
        try:
            header = proxy_header.parse(data)
        except proxy_header.ProxyHeaderError as exc:
            self._refuse(peer, str(exc))
            return None
        if header is None:
            self.head = data
            return None
        self.head = None
        if header.client is not None:
            self.gate.proxied[self.transport] = header.client
        return data[header.length :]

    def _refuse(self, peer: str, reason: str) -> None:
        log.warning("connection from %s refused: %s", peer, reason)
        self.head = None
        assert self.transport is not None
        self.transport.write(http_answer("400 Bad Request", f"refused: {reason}"))
        self.transport.close()

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.unmade is not None:
            self.unmade.cancel()
        if self.counted:
            self.counted = False
            self.gate.closed(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class Refusal(asyncio.Protocol):
    """A socket over the cap: told why with a 503, then closed."""

    def __init__(self, gate: SocketGate, at_once: bool) -> None:
        self.gate = gate
        self.at_once = at_once
        self.counted = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, base)
        if self.at_once:
            transport.abort()
            return
        self.counted = True
        self.gate.refusing += 1
        transport.write(
            http_answer(
                "503 Service Unavailable",
                f"officepulse is at its connection limit ({self.gate.max_sockets} open "
                "connections); try again in a moment",
            )
        )
        if transport.can_write_eof():
            transport.write_eof()
        # Wait for the client to close (reading what it sent, so no reset), not for long.
        self.timer = asyncio.get_running_loop().call_later(REFUSAL_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        pass  # the request is not read: it is refused whatever it is

    def eof_received(self) -> bool:
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.counted:
            self.gate.refusing -= 1


class GatedSite(web.BaseSite):
    """A TCP site whose connections go through the gate (aiohttp's TCPSite takes the
    runner's protocol factory as it is)."""

    __slots__ = ("_factory", "_handshake_timeout", "_host", "_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        factory: ProtocolFactory,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        handshake_timeout: float = 60.0,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._factory = factory
        self._host = host
        self._port = port
        self._handshake_timeout = handshake_timeout

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._factory,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            # A client that never finishes its TLS handshake is dropped as one that never
            # finishes its request head.
            ssl_handshake_timeout=self._handshake_timeout if self._ssl_context else None,
        )
