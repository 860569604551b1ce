"""The /agent websocket: pumps frames between the socket and a sans-I/O
ServerConversation, and hands what it decodes to ingest.

Served on picows (gateway/wire.py) when the server's socket gate can hand the socket over
(server/sockets.py), else on aiohttp's websocket (agent_deflate, an application without
the gate); the protocol's rules are the same code either way (``Gateway._take_now``)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

from aiohttp import WSMsgType, web

from officepulse import __version__
from officepulse.gateway.admission import Admission
from officepulse.gateway.agents import AgentState, Gone
from officepulse.gateway.ingest import Ingest
from officepulse.gateway.limits import LimitRules, Limits, TokenBucket, Violation
from officepulse.gateway.wire import AgentProtocol, AgentWire, Job, too_big
from officepulse.logcontext import agent_id as agent_id_var
from officepulse.ops.counts import GatewayCounts, backfilling
from officepulse.protocol.codec import Encoding, Frame
from officepulse.protocol.errors import CloseCode, ConversationError, ProtocolError, Refusal
from officepulse.protocol.messages import PROTOCOL_VERSION, Welcome
from officepulse.protocol.session import (
    AppNamesReceived,
    FactsReceived,
    HeartbeatReceived,
    HelloReceived,
    PresenceReceived,
    ServerConversation,
    ServerEvent,
    SpansReceived,
    State,
)
from officepulse.settings import ServerSettings
from officepulse.store.failures import StoreRefused

log = logging.getLogger(__name__)

# Compared with for every message: a member looked up on its enum class costs ten times a
# global on Python 3.11.
_BINARY, _TEXT, _PING, _PONG = WSMsgType.BINARY, WSMsgType.TEXT, WSMsgType.PING, WSMsgType.PONG
_AWAITING_HELLO = State.AWAITING_HELLO


class Counted(Protocol):
    """The socket under an agent's connection, as counted by the server's socket gate
    (server/sockets.py, ``Connection``; gateway/wire.py, ``AgentProtocol``): pieces of data
    received so far."""

    @property
    def arrivals(self) -> int: ...


class Gated(Counted, Protocol):
    """A socket the gate can hand over to picows after the upgrade (server/sockets.py)."""

    def hand_over(
        self, make: Callable[[Callable[[], None]], asyncio.BufferedProtocol]
    ) -> asyncio.BufferedProtocol | None: ...


class AgentWebSocket(Protocol):
    """What the gateway uses of an agent's websocket: aiohttp's (``AgentSocket``) or
    picows's (gateway/wire.py, ``AgentWire``)."""

    encoding: Encoding

    @property
    def closed(self) -> bool: ...

    async def send_str(self, data: str) -> None: ...

    async def send_bytes(self, data: bytes) -> None: ...

    async def ping(self, message: bytes = b"") -> None: ...

    async def close(
        self, *, code: int = 1000, message: bytes = b"", drain: bool = True
    ) -> bool: ...


def no_socket(request: web.Request) -> Gated | None:
    """Served without a socket gate: keep_alive then hears messages only."""
    return None


class AgentSocket(web.WebSocketResponse):
    """aiohttp closes an oversized message with a bare 1009; this says why,
    first as an Error message in the agent's encoding, then in the close reason."""

    encoding: Encoding = "json"

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        if code == CloseCode.MESSAGE_TOO_BIG and not message and not self.closed:
            frame, message = too_big(self._max_msg_size, self.encoding)
            try:
                if isinstance(frame, str):
                    await self.send_str(frame)
                else:
                    await self.send_bytes(frame)
            except (ConnectionError, RuntimeError):
                pass
        return await super().close(code=code, message=message, drain=drain)


class AgentConnection:
    """One agent's websocket: frames in through the conversation, replies out
    under one lock (acks are sent from their own task)."""

    def __init__(
        self, ws: AgentWebSocket, max_inflight: int, now: float, socket: Counted | None
    ) -> None:
        self.ws = ws
        # picows's sends need no waiting: replies go out from the data callback.
        self.wire = ws if isinstance(ws, AgentWire) else None
        self.conv = ServerConversation()
        # When the agent was last heard from (any message, pongs too), by the gateway's
        # clock: keep_alive() pings it after a quiet spell.
        self.heard_at = now
        # The socket under it (None when it is served without the server's socket gate).
        self.socket = socket
        self.state: AgentState | None = None
        self.send_lock = asyncio.Lock()
        # Commits not yet acknowledged; when the store is slow this fills up, the
        # reader stops reading, and TCP slows the agent down: bounded memory.
        self.inflight = asyncio.Semaphore(max_inflight)
        self.acks: asyncio.Queue[tuple[asyncio.Task[None], int]] = asyncio.Queue()
        # Set when this connection is being let go (replaced, failed): a reader
        # waiting for a commit slot must not wait for ever.
        self.closing = asyncio.Event()
        # When its last span batch came (ms, the batch's clock) and how old its newest
        # span was then: back-fill or live (ops/counts.py, read at scrape time only).
        self.last_batch_ms = 0
        self.behind_ms = 0
        self.committing = 0  # the commit ``acknowledge`` waits for (0 or 1)

    async def take_slot(self) -> bool:
        """Wait for room for one more commit; False if the connection is closing."""
        acquire = asyncio.ensure_future(self.inflight.acquire())
        closing = asyncio.ensure_future(self.closing.wait())
        await asyncio.wait({acquire, closing}, return_when=asyncio.FIRST_COMPLETED)
        closing.cancel()
        if acquire.done() and not acquire.cancelled():
            return True
        acquire.cancel()
        return False

    def _arrivals(self) -> int:
        return self.socket.arrivals if self.socket is not None else 0

    async def keep_alive(self, interval: float, clock: Callable[[], float], peer: str) -> None:
        """Ping the agent once it has been quiet for ``interval`` seconds, and let it go if
        nothing comes back within half of that (gone without closing: a laptop shut, a
        network lost), as aiohttp's ``heartbeat`` would. That one moves a timer at every
        piece of data an agent sends (about a tenth of the server's time per heartbeat);
        here a message only notes the time in ``heard_at``, and this task looks at it once
        per interval. Data still arriving (a big message on a slow link) is an answer too."""
        while True:
            quiet = clock() - self.heard_at
            if quiet < interval:
                await asyncio.sleep(interval - quiet)
                continue
            asked, arrivals = clock(), self._arrivals()
            try:
                await self.ws.ping()
            except (ConnectionError, RuntimeError):
                return  # closing already: the reader sees it
            await asyncio.sleep(interval / 2)
            if self.heard_at <= asked and self._arrivals() == arrivals:
                break
            self.heard_at = max(self.heard_at, asked)  # heard since the ping
        log.info(
            "agent connection from %s: no answer to a ping within %g s; closing", peer, interval / 2
        )
        self.closing.set()
        # No drain: the agent is gone, and what is still unsent may never leave. Shielded:
        # the close ends the reader's loop, which cancels this task as it ends.
        await asyncio.shield(
            self.ws.close(
                code=CloseCode.GOING_AWAY,
                message=f"no answer to a ping within {interval / 2:g} s".encode(),
                drain=False,
            )
        )

    def flush_now(self) -> bool:
        """``flush`` without waiting, where the socket can (picows's, and no send under
        way); False: ``flush`` must."""
        wire = self.wire
        if wire is None or self.send_lock.locked() or not wire.writable.is_set() or wire.closed:
            return False
        for out in self.conv.data_to_send():
            wire.send_now(out)
        return True

    async def flush(self) -> None:
        async with self.send_lock:
            for out in self.conv.data_to_send():
                if isinstance(out, str):
                    await self.ws.send_str(out)
                else:
                    await self.ws.send_bytes(out)

    async def acknowledge(self) -> None:
        """Send each Ack once its commit is durable, in order."""
        while True:
            commit, seq = await self.acks.get()
            self.committing = 1
            try:
                await commit
            except StoreRefused:
                # The store can never write these (store/failures.py; its log says why, as
                # the agent need not know the database's words): it took the sequence
                # number all the same, so the agent is told and its journal moves on.
                self.conv.warn(
                    "store-refused",
                    f"spans up to sequence number {seq} could not be stored and were dropped; "
                    "the server's log says why",
                )
            except Exception:
                log.exception("storing spans failed; the agent will send them again")
                self.closing.set()
                await self.ws.close(
                    code=CloseCode.INTERNAL_ERROR, message=b"internal error; try again later"
                )
                return
            finally:
                self.committing = 0
                self.inflight.release()
            self.conv.ack(seq)
            await self.flush()


async def _claim_nothing(agent_id: str) -> int:
    """One process (the embedded server): ``_replace`` is all there is to it."""
    return 0


def limit_rules(settings: ServerSettings) -> LimitRules:
    return LimitRules(
        rate_per_agent=settings.rate_per_agent,
        burst_per_agent=settings.burst_per_agent,
        rate_per_ip=settings.rate_per_ip,
        burst_per_ip=settings.burst_per_ip,
        max_connections=settings.max_connections,
        max_connections_per_ip=settings.max_connections_per_ip,
    )


class Gateway:
    def __init__(
        self,
        settings: ServerSettings,
        ingest: Ingest,
        admission: Admission,
        max_inflight: int = 8,
        clock: Callable[[], float] = time.monotonic,
        socket_of: Callable[[web.Request], Gated | None] = no_socket,
    ) -> None:
        self.settings = settings
        self.ingest = ingest
        self.agents = ingest.agents
        self.admission = admission
        self.max_inflight = max_inflight
        self.clock = clock
        self.socket_of = socket_of
        self.limits = Limits(limit_rules(settings))
        self.connections: dict[str, AgentConnection] = {}
        # Plain counts for /metrics (ops/metrics.py reads them through ``counts``):
        # connections refused or closed for a fault, by close code.
        self.refused: dict[int, int] = {}
        # Agent websockets admitted, by what serves them ("picows", "aiohttp").
        self.transports: dict[str, int] = {}
        # Told of each hello taken that may replace another connection of its agent:
        # scaled out, the other gateways hear of it (gateway/sessions.py). Returns when
        # the session began (ms; 0 with one process).
        self.claimed: Callable[[str], Awaitable[int]] = _claim_nothing

    def _count_refused(self, code: int) -> None:
        code = int(code)  # a CloseCode: its number is the label
        self.refused[code] = self.refused.get(code, 0) + 1

    def counts(self) -> GatewayCounts:
        """What /metrics shows of the agents' side, read when it is scraped."""
        now_ms = int(self.ingest.clock() * 1000)
        conns = list(self.connections.values())
        ingest = self.ingest
        return GatewayCounts(
            agents_connected=len(conns),
            agents_backfilling=sum(
                backfilling(c.last_batch_ms, c.behind_ms, now_ms) for c in conns
            ),
            commits_pending=sum(c.acks.qsize() + c.committing for c in conns),
            heartbeats=ingest.heartbeats,
            spans_stored=ingest.spans_stored,
            spans_refused=ingest.spans_refused,
            refused=dict(self.refused),
            transports=dict(self.transports),
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # permessage-deflate is declined unless agent_deflate is set, whatever the agent
        # offers: its zlib streams cost about 100 KB per connection (the window is not what
        # costs: bounding it or dropping its context saved at most 10 KB), 1.3 GB at 10,000
        # idle agents against 0.3 GB without; live traffic is a few KB per agent-hour
        # either way (docs/performance.md, "Memory per agent connection").
        # Pings and pongs are the gateway's own (AgentConnection.keep_alive): they find
        # agents gone without a close (half-open TCP), which would otherwise stay online
        # and keep a twin that waits with takeover=false out for hours.
        ws = AgentSocket(
            max_msg_size=self.settings.max_frame_bytes,
            compress=self.settings.agent_deflate,
            autoping=False,
        )
        peer = request.remote or "unknown"
        socket = self.socket_of(request)
        if (
            socket is not None
            and not self.settings.agent_deflate  # picows has no permessage-deflate
            and ws.can_prepare(request).ok
            and self._hand_over(socket, peer)
        ):
            # picows answers the upgrade and serves the socket from here on (wire.py);
            # aiohttp has let go of it, and what is returned is never sent.
            return web.Response()
        await ws.prepare(request)
        bucket, refused = self._admit(peer)
        if refused is not None:
            await ws.close(code=refused.code, message=refused.reason.encode())
        if bucket is None:
            return ws
        self._count_transport("aiohttp")
        # Served in a task of its own: each message wakes the task that waits for it and
        # resumes every coroutine between that task and the read, nine under aiohttp's
        # handler task (the middlewares, the handler), three in a task of its own. A
        # cancelled handler cancels the task it waits for.
        try:
            await asyncio.create_task(self._serve(ws, peer, bucket, socket))
        finally:
            self.limits.release(peer)
        return ws

    def _count_transport(self, name: str) -> None:
        self.transports[name] = self.transports.get(name, 0) + 1
        log.debug("agent websocket served by %s", name)

    def _admit(self, peer: str) -> tuple[TokenBucket | None, Violation | None]:
        """The per-IP limits' word on a new connection (a refusal logged and counted: the
        caller closes the connection with it)."""
        bucket, refused = self.limits.admit(peer, self.clock())
        if refused is not None:
            log.warning(
                "agent connection from %s refused: %s; closing with %d",
                peer,
                refused.reason,
                refused.code,
            )
            self._count_refused(refused.code)
        return bucket, refused

    def _hand_over(self, socket: Gated, peer: str) -> bool:
        """Serve the agent on picows (wire.py): False if the socket gate cannot hand the
        socket over (a second request on the connection, bytes after the head)."""
        wire = AgentWire(
            peer, self.settings.max_frame_bytes, self._open_wire, contextvars.copy_context()
        )
        timeout = self.settings.header_timeout
        made = socket.hand_over(lambda closed: AgentProtocol(wire, closed, timeout))
        return made is not None

    def _open_wire(self, wire: AgentWire) -> None:
        """An agent's websocket on picows, upgraded: admitted (or closed) and served."""
        peer = wire.peer
        bucket, refused = self._admit(peer)
        if refused is not None:
            wire.run_out(wire.close(code=refused.code, message=refused.reason.encode()))
        if bucket is None:
            return
        self._count_transport("picows")
        clock = self.clock
        conn = AgentConnection(wire, self.max_inflight, clock(), wire.socket)
        acker, keeper = self._helpers(conn, peer)
        due = asyncio.get_running_loop().call_later(
            self.settings.handshake_timeout, wire.push, lambda: self._hello_due(conn, peer)
        )

        def heard() -> None:
            conn.heard_at = clock()

        async def ended() -> None:
            due.cancel()
            try:
                await self._end(conn, acker, keeper)
            finally:
                self.limits.release(peer)

        wire.heard = heard
        wire.ended = ended
        wire.take = functools.partial(self._take_now, conn, peer, bucket)

    def _helpers(
        self, conn: AgentConnection, peer: str
    ) -> tuple[asyncio.Task[None], asyncio.Task[None]]:
        """The tasks beside a connection's reader: its acks and its keep-alive."""
        acker = asyncio.create_task(conn.acknowledge())
        keeper = asyncio.create_task(conn.keep_alive(self.settings.ping_interval, self.clock, peer))
        return acker, keeper

    async def _serve(
        self, ws: AgentSocket, peer: str, bucket: TokenBucket, socket: Counted | None
    ) -> None:
        clock = self.clock
        conn = AgentConnection(ws, self.max_inflight, clock(), socket)
        conv = conn.conv
        acker, keeper = self._helpers(conn, peer)
        hello_by = conn.heard_at + self.settings.handshake_timeout
        try:
            while True:
                # Until the hello, reads wait until it is due; after it, for ever.
                wait = None
                if conv.state is _AWAITING_HELLO:
                    wait = max(0.001, hello_by - clock())  # 0 would mean "no timeout" to aiohttp
                try:
                    msg = await ws.receive(timeout=wait)
                except TimeoutError:
                    await self._hello_due(conn, peer)
                    break
                kind = msg.type
                if kind is _BINARY or kind is _TEXT:
                    job = self._take_now(conn, peer, bucket, msg.data)
                    if job is not None and not await job:
                        break
                elif kind is _PING:
                    conn.heard_at = clock()
                    await ws.pong(msg.data)
                elif kind is _PONG:
                    conn.heard_at = clock()  # heard: that is all a pong says
                else:
                    if kind is WSMsgType.ERROR:
                        log.info("agent connection from %s: %s", peer, ws.exception())
                    break
        except ConnectionResetError:
            pass
        finally:
            await self._end(conn, acker, keeper)

    async def _end(
        self, conn: AgentConnection, acker: asyncio.Task[None], keeper: asyncio.Task[None]
    ) -> None:
        acker.cancel()
        keeper.cancel()
        await asyncio.gather(acker, keeper, return_exceptions=True)
        state = conn.state
        if state is not None:
            if self.connections.get(state.info.id) is conn:
                del self.connections[state.info.id]
                await self.ingest.disconnect(state)
            log.info("agent %s disconnected", state.info.id)

    async def _hello_due(self, conn: AgentConnection, peer: str) -> bool:
        """The hello's deadline: past it without one, the connection is closed."""
        if conn.conv.state is not _AWAITING_HELLO:
            return True
        message = f"no hello within {self.settings.handshake_timeout:g} s"
        await self._refuse(conn, peer, Violation(CloseCode.HANDSHAKE_TIMEOUT, message))
        return False

    def _take_now(
        self, conn: AgentConnection, peer: str, bucket: TokenBucket, frame: Frame
    ) -> Job | None:
        """As much of one message as needs nothing awaited (nearly every heartbeat: all of
        it); what is left, to be awaited before the next message (False: the connection
        ends)."""
        now = self.clock()
        conn.heard_at = now
        violation = self.limits.message(peer, bucket, now)
        if violation is not None:
            return self._refused(conn, peer, violation)
        if conn.state is None:
            conn.ws.encoding = "json" if isinstance(frame, str) else "msgpack"
        conv = conn.conv
        events = iter(conv.receive(frame))
        for event in events:
            if isinstance(event, HeartbeatReceived):  # nearly every message of a v1 agent
                moved = self._on_heartbeat(conn, event)
                if moved is not None:
                    return self._take_events(conn, peer, events, moved)
            else:
                return self._take_events(conn, peer, itertools.chain((event,), events), None)
        # Most messages get no reply; picows's socket sends one at once.
        if conv.close is not None or (conv.has_data_to_send() and not conn.flush_now()):
            return self._replied(conn, peer)
        return None

    async def _take_events(
        self,
        conn: AgentConnection,
        peer: str,
        events: Iterator[ServerEvent],
        moved: AgentState | None,
    ) -> bool:
        if moved is not None:
            await self.agents.show(moved)
        for event in events:
            if isinstance(event, HeartbeatReceived):
                moved = self._on_heartbeat(conn, event)
                if moved is not None:
                    await self.agents.show(moved)
            else:
                await self._on_event(conn, event, peer)
        return await self._replied(conn, peer)

    async def _replied(self, conn: AgentConnection, peer: str) -> bool:
        """Send what the conversation has to say; False when it closes the connection."""
        conv = conn.conv
        if conv.has_data_to_send():
            await conn.flush()
        close = conv.close
        if close is not None:
            self._count_refused(close.code)
            log.info("closing agent connection from %s: %s", peer, close.reason)
            await conn.ws.close(code=close.code, message=close.reason.encode())
            return False
        return True

    async def _refused(self, conn: AgentConnection, peer: str, violation: Violation) -> bool:
        await self._refuse(conn, peer, violation)
        return False

    async def _refuse(self, conn: AgentConnection, peer: str, violation: Violation) -> None:
        """Close one connection over a limit, saying why (logged once: it ends here)."""
        agent = f" (agent {conn.state.info.id})" if conn.state is not None else ""
        log.warning(
            "agent connection from %s%s: %s; closing with %d",
            peer,
            agent,
            violation.reason,
            violation.code,
        )
        self._count_refused(violation.code)
        conn.closing.set()
        conv = conn.conv
        if conv.state is State.OPEN:
            # Welcomed agents also get an Error message in their own encoding.
            conv.fail(Refusal(violation.code, violation.reason))
            await conn.flush()
        await conn.ws.close(code=violation.code, message=violation.reason.encode()[:123])

    def _on_heartbeat(self, conn: AgentConnection, event: HeartbeatReceived) -> AgentState | None:
        """Ingest one heartbeat; the agent's state when what it shows moved (to publish)."""
        state = conn.state
        assert state is not None
        refusal, moved = self.ingest.beat(state, event.heartbeat)
        if refusal is not None:
            conn.conv.warn("heartbeat-refused", refusal)
        return state if moved else None

    async def _on_event(
        self,
        conn: AgentConnection,
        event: HelloReceived | SpansReceived | PresenceReceived | AppNamesReceived | FactsReceived,
        peer: str | None,
    ) -> None:
        conv = conn.conv
        if isinstance(event, HelloReceived):
            hello = event.hello
            try:
                credential = await self.admission.admit(hello)
                if not hello.takeover:
                    self._keep(hello.agent_id)
                # Claimed as soon as it is admitted, before its row is read and written:
                # scaled out, a sweep of a dead gateway's agents leaves a claimed one
                # (server/leases.py), and in a storm those reads wait seconds.
                began_ms = await self.claimed(hello.agent_id) if hello.takeover else 0
                conn.state = await self.ingest.connect(hello)
                conn.state.began_ms = began_ms
            except ConversationError as exc:
                log.info("refused agent %s from %s: %s", hello.agent_id, peer, exc.message)
                conv.reject(exc)
                return
            if credential is not None:
                log.info("agent %s enrolled from %s", hello.agent_id, peer)
                conv.enrolled(credential)
            await self._replace(hello.agent_id, conn)
            # Blocked while this hello was being checked? The block's kick may have come
            # before the connection was listed; from here on a kick finds it.
            late = await self.admission.blocked(hello.agent_id)
            if late is not None:
                self.agents.let_go(conn.state, "blocked")
                conv.reject(late)
                return
            conv.accept(self._welcome(hello.v, conn.state.seq))
            # Every log line of this connection's task from here on names the agent
            # (logjson.py); the task is this connection's alone (``handle``).
            agent_id_var.set(hello.agent_id)
            log.info(
                "agent %s (%s on %s) connected from %s, protocol v%d",
                hello.agent_id,
                hello.name,
                hello.host,
                peer,
                hello.v,
            )
            return
        state = conn.state
        assert state is not None
        if isinstance(event, SpansReceived):
            try:
                rows, seq, notes = await self.ingest.take_spans(state, event.spans)
            except ProtocolError as exc:
                conv.fail(exc)
                return
            newest = state.current
            if newest is not None:
                conn.last_batch_ms = int(self.ingest.clock() * 1000)
                conn.behind_ms = conn.last_batch_ms - newest.end_ms
            refused = [n for n in notes if n.code == "span-refused"]
            if refused:
                log.warning(
                    "agent %s: %d span(s) refused, the first: %s",
                    state.info.id,
                    len(refused),
                    refused[0].message,
                )
            for note in notes[:3]:
                conv.warn(note.code, note.message)
            await conn.flush()
            if not await conn.take_slot():
                return  # the connection is going away; the agent sends these again
            commit = asyncio.create_task(self.ingest.commit(state, rows, seq))
            conn.acks.put_nowait((commit, seq))
        elif isinstance(event, AppNamesReceived):
            try:
                icon_refusals = await self.ingest.app_names(event.app_names)
            except Exception as exc:  # names are a nicety: the spans go on regardless
                # Not stored: the next connection that sends them tries again.
                log.warning("agent %s: app names not stored: %s", state.info.id, exc)
                return
            for why in icon_refusals[:3]:
                conv.warn("icon-refused", why)
            if icon_refusals:
                await conn.flush()
        elif isinstance(event, FactsReceived):
            for why in await self.ingest.facts(state, event.facts):
                conv.warn("facts-refused", why)
            await conn.flush()
        else:
            await self.ingest.presence(state, event.presence)

    def held(self) -> list[AgentState]:
        """The agents whose hello was taken here, still connected and not being let go:
        the ones this gateway's lease holds."""
        return [
            conn.state
            for conn in list(self.connections.values())
            if conn.state is not None and not conn.ws.closed and conn.state.gone is None
        ]

    def held_ids(self) -> list[str]:
        return [state.info.id for state in self.held()]

    def _welcome(self, version: int, seq: int) -> Welcome:
        return Welcome(
            v=min(version, PROTOCOL_VERSION),
            resume_from_seq=seq,
            session=uuid.uuid4().hex,
            server_version=__version__,
            heartbeat_interval=self.settings.heartbeat_interval,
            pulsetime=self.settings.pulsetime,
            max_frame_bytes=self.settings.max_frame_bytes,
            agent_release=self.admission.release,
            app_names=version >= 2,  # app_names is a v2 message
        )

    def _keep(self, agent_id: str) -> None:
        """A hello with ``takeover: false`` (an agent that another connection with its
        id replaced) is refused while that connection is open: two agents sharing
        an id then settle on one, instead of replacing each other for ever."""
        old = self.connections.get(agent_id)
        if old is not None and not old.closing.is_set() and not old.ws.closed:
            raise Refusal(
                CloseCode.REPLACED,
                f"agent {agent_id} is connected on another connection, which this hello "
                "asked not to replace (takeover: false)",
            )

    async def _replace(self, agent_id: str, conn: AgentConnection) -> None:
        """One connection per agent: a newer one (an agent restarted before its
        old socket timed out) takes over."""
        old = self.connections.get(agent_id)
        self.connections[agent_id] = conn
        if old is not None and not old.ws.closed:
            log.info("agent %s: a newer connection replaces the open one (4009)", agent_id)
            old.closing.set()
            await old.ws.close(
                code=CloseCode.REPLACED, message=b"replaced by a newer connection of this agent"
            )

    async def kick(self, agent_id: str, error: Refusal, gone: Gone | None) -> bool:
        """Disconnect the agent now, telling it why (an Error, then the close code).
        False when it is not connected here."""
        conn = self.connections.get(agent_id)
        if conn is None or conn.state is None or conn.ws.closed:
            return False
        if gone is not None:
            self.agents.let_go(conn.state, gone)
        conn.closing.set()
        conn.conv.fail(error)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.flush()
        log.info("disconnecting agent %s: %s", agent_id, error.message)
        await conn.ws.close(code=error.close_code, message=error.close_reason().encode())
        return True

    async def close_all(self) -> None:
        for conn in list(self.connections.values()):
            conn.closing.set()
            await conn.ws.close(code=CloseCode.GOING_AWAY, message=b"server shutting down")
