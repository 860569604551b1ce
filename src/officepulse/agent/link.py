"""The agent's websocket link (protocol v2): live presence first, then the
journal's spans in batches, each dropped from the journal only once the server
acknowledges it. Reconnects with full-jitter back-off (backoff.py: the law and why its
cap is 4 s), resuming from the last sequence number the server has; never raises on a
lost connection. A gateway at its connection limit (4013) is tried again after the delay
its close reason suggests.

Batches: up to ``batch_max`` spans, sent when full or when the oldest unsent
span has waited ``batch_delay`` seconds. After an outage the back-log drains at
most ``backfill_rate`` spans per second, with progress in the log, while
presence keeps going first. A connection that takes spans but sends no ack for
``ack_timeout`` seconds is taken as stalled and replaced (the clock runs from
the oldest unacknowledged send, see stall.py: quiet time never counts).

The welcome may tell of a newer agent (updates.py): said in the log once per connection,
and kept in ``update`` for the tray. Refused as too old (4426), the agent says why and tries
again only every ``refused_retry`` seconds, as when it is blocked.

Closed with 4009, the agent knows another connection with its ``agent_id``
took over (two agents share one id): it does not fight back, but asks again
with ``takeover: false``, which the server refuses while that other
connection is open; so two such agents settle instead of replacing each other
for ever, and this one comes back once the other has gone.

The connection is the ``websockets`` library's asyncio client: the agent needs a
websocket client and nothing else of an HTTP stack, and aiohttp's client cost it 9 MB
more resident memory (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from officepulse.agent.backoff import BASE, CAP, SLOW, after_suggestion, full_jitter, slow
from officepulse.agent.journal import Entry, Journal
from officepulse.agent.stall import StallWatch
from officepulse.agent.updates import Update, offered
from officepulse.errors import OfficepulseError
from officepulse.protocol.codec import Encoding, Frame, encode
from officepulse.protocol.errors import CloseCode, ProtocolError, retry_after
from officepulse.protocol.messages import (
    MAX_APP_NAMES,
    Activity,
    AppName,
    AppNames,
    Facts,
    Hello,
    Presence,
    SpanOut,
    Spans,
    Welcome,
)
from officepulse.protocol.session import (
    AckReceived,
    AgentConversation,
    EnrolledReceived,
    ErrorReceived,
    WelcomeReceived,
)

log = logging.getLogger(__name__)
# websockets logs every frame at DEBUG: with --log-level debug that would be every span's
# bytes. Its own logger, kept at INFO.
_frames_log = logging.getLogger(f"{__name__}.websocket")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


class Rejected(OfficepulseError):
    """The server refused this agent; the message says why."""


class Refused(Rejected):
    """The server refused this agent for who it is (blocked, removed, no valid credential
    or enrollment token): asking again soon would be refused again."""


# The error codes (docs/protocol.md) after which the agent tries again only slowly.
REFUSAL_CODES = frozenset(
    {
        "agent-blocked",
        "agent-removed",
        "credential-required",
        "credential-unknown",
        "credential-revoked",
        "enroll-token-unknown",
        "enroll-token-expired",
        "enroll-token-used-up",
        "enroll-token-revoked",
    }
)
REFUSAL_CLOSE_CODES = frozenset({CloseCode.AGENT_BLOCKED, CloseCode.UNAUTHORIZED})


class Outdated(Refused):
    """The server admits newer agents only (4426 ``update-required``): this one must be
    updated; the message says to which version, and where to get it."""


class Stalled(OfficepulseError):
    """The server took spans but acknowledged nothing for too long."""


class Replaced(OfficepulseError):
    """Another connection with this agent's id is on the server (4009)."""


class Throttled(OfficepulseError):
    """The server closed the connection over one of its limits: come back later."""


class TryAgainSoon(OfficepulseError):
    """The gateway is full (4013): come back soon, after ``retry_after`` seconds when it
    suggested a delay."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# Close codes that mean "not now": wait the longest back-off before trying again.
RETRY_LATER = frozenset(
    {CloseCode.RATE_LIMITED, CloseCode.TOO_MANY_CONNECTIONS, CloseCode.HANDSHAKE_TIMEOUT}
)
RETRY_LATER_SLUGS = frozenset(code.slug for code in RETRY_LATER)

# The connection's limits and timers (as they were with aiohttp's client): a Ping once
# nothing has come from the server for 30 s, the connection given up when its Pong takes
# 15 s; 5 s for the closing handshake; messages from the server up to 4 MiB. Opening (TCP,
# TLS, the upgrade) may take 30 s on a slow link before it counts as a failed attempt.
# Compression as aiohttp's: a 32 KiB window, zlib's fastest level.
PING_INTERVAL = 30.0
PING_TIMEOUT = 15.0
CLOSE_TIMEOUT = 5.0
OPEN_TIMEOUT = 30.0
MAX_MESSAGE = 4 * 2**20
DEFLATE = {"level": 1}  # zlib.Z_BEST_SPEED


def deflate_offer(compress: bool) -> list[ClientPerMessageDeflateFactory] | None:
    """What the agent offers for permessage-deflate: 32 KiB windows both ways, as aiohttp
    offered it. The officepulse server declines it (each compressed connection cost it
    about 100 KB more, docs/performance.md); a server that accepts it gets compression."""
    if not compress:
        return None
    return [ClientPerMessageDeflateFactory(client_max_window_bits=True, compress_settings=DEFLATE)]


def runs(entries: list[Entry]) -> list[list[Entry]]:
    """Split entries into runs of consecutive sequence numbers (a batch's
    numbers are implied by its first one)."""
    out: list[list[Entry]] = []
    for entry in entries:
        if out and out[-1][-1].seq + 1 == entry.seq:
            out[-1].append(entry)
        else:
            out.append([entry])
    return out


class Link:
    def __init__(
        self,
        url: str,
        hello: Hello,
        journal: Journal,
        *,
        encoding: Encoding = "msgpack",
        compress: bool = True,
        batch_max: int = 500,
        batch_delay: float = 1.0,
        backfill_rate: float = 5000.0,
        window: int = 4,
        ack_timeout: float = 30.0,
        ping_interval: float = PING_INTERVAL,
        ping_timeout: float = PING_TIMEOUT,
        first_delay: float = BASE,
        max_delay: float = CAP,
        slow_delay: float = SLOW,
        ssl_context: ssl.SSLContext | None = None,
        refused_retry: float = 300.0,
        on_credential: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        namer: Callable[[str], AppName | None] | None = None,
    ) -> None:
        self.url = url
        self.hello = hello
        self.journal = journal
        self.encoding = encoding
        self.compress = compress
        self.batch_max = batch_max
        self.batch_delay = batch_delay
        self.backfill_rate = backfill_rate
        self.window = window
        self.ack_timeout = ack_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.slow_delay = slow_delay
        self.rand = rand
        self.ssl_context = ssl_context
        self.refused_retry = refused_retry
        self.on_credential = on_credential
        self.clock = clock
        # What an app is called (agent/app_names.py), told to the server once per
        # connection before the first message that mentions the app.
        self.namer = namer
        self._named: set[str] = set()
        self.welcome: Welcome | None = None
        # A newer agent the server told of (updates.py), and why it refused this one as
        # too old: for the tray, which says both.
        self.update: Update | None = None
        self.outdated: str | None = None
        self.connected = asyncio.Event()
        self.offline_since: float | None = clock()
        self.refused = 0
        # Attempts in a row that did not get a connection welcomed, and when the latest
        # began (by ``clock``): what the back-off did, apart from how long the server took.
        self.failed_attempts = 0
        self.attempt_at = clock()
        self._presence: Presence | None = None
        self._presence_dirty = False
        # What the agent saw of its computer (machine.py), told on every connection to a
        # server that takes it (v3): each sleep and jump is stored once however often sent.
        self._facts: Facts | None = None
        self._facts_dirty = False
        self._wake = asyncio.Event()
        self._acked = asyncio.Event()
        # Spans a previous run journalled but never sent are due like new ones: else
        # they would wait for the next span, hours when the person stays in one window.
        self._unsent_since: float | None = clock() if journal.stats().waiting else None
        self._last_error: str | None = None
        self._stall = StallWatch(ack_timeout)
        self._heard_at = 0.0  # the loop's time of the last message from the server
        # Replaced by another connection of this agent id: ask without taking over.
        self._yielding = False

    # -- what the agent calls ----------------------------------------------------------

    def presence(self, since_ms: int, activity: Activity | None, reason: str | None = None) -> None:
        """What is in front now (None: nothing to show, ``reason`` says why): sent at
        once when connected, else on reconnect."""
        self._presence = Presence(since=from_ms(since_ms), activity=activity, reason=reason)
        self._presence_dirty = True
        self._wake.set()

    def tell(self, facts: Facts) -> None:
        """Sleeps and clock jumps seen: sent at once when connected, else on reconnect."""
        self._facts = facts
        self._facts_dirty = True
        self._wake.set()

    def notify(self) -> None:
        """New spans are in the journal."""
        if self._unsent_since is None:
            self._unsent_since = self.clock()
        self._wake.set()

    async def flush(self) -> None:
        """Return once the server has acknowledged everything in the journal."""
        self._unsent_since = float("-inf")  # send whatever waits, now
        self._wake.set()
        while self.journal.stats().waiting:
            self._acked.clear()
            await self._acked.wait()

    def status(self) -> str:
        waiting = self.journal.stats().waiting
        if self.connected.is_set():
            return f"connected to {self.url}, {waiting} spans waiting"
        since = time.strftime("%H:%M:%S", time.localtime(self.offline_since or self.clock()))
        return f"offline since {since}, {waiting} spans waiting"

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        attempt = 0
        _frames_log.setLevel(max(logging.INFO, _frames_log.getEffectiveLevel()))
        while True:
            attempt += 1
            self.attempt_at = self.clock()
            refused = False
            wait: float | None = None
            suggested: float | None = None
            try:
                await self._session()
            except Outdated as exc:
                # Only another agent can get in: said once, then a slow retry (the
                # operator may lower the minimum); the agent never replaces itself.
                wait = self.refused_retry
                self.outdated = str(exc)
                self._lost(quietly=True)
                self._log_once(
                    logging.ERROR,
                    f"the server refused this agent as too old: {exc}",
                    f"trying again every {wait:.0f} s",
                )
            except Refused as exc:
                # Blocked, removed, revoked: said once, then a slow retry, so that
                # an unblock or a new token is picked up without hammering the server.
                wait = self.refused_retry
                self._lost(quietly=True)
                self._log_once(
                    logging.ERROR,
                    f"the server refused this agent: {exc}",
                    f"trying again every {wait:.0f} s",
                )
            except Rejected as exc:
                self._log_once(logging.ERROR, f"the server refused this agent: {exc}")
                refused = True
            except Throttled as exc:
                self._log_once(logging.WARNING, f"the server asked to back off: {exc}")
                refused = True
            except TryAgainSoon as exc:
                # Full, not refusing this agent: the usual back-off, or what it suggests.
                self._log_once(logging.WARNING, f"the server is full: {exc}")
                suggested = exc.retry_after
            except ssl.SSLCertVerificationError as exc:
                self._log_once(
                    logging.ERROR,
                    f"the certificate of {self.url} is not trusted ({exc}); "
                    "if the server uses its own certificate authority or --dev-tls, set "
                    "ca_file to its certificate",
                )
                refused = True
            except Stalled as exc:
                log.warning("%s; reconnecting", exc)
            except Replaced as exc:
                # Not a lost connection: another agent with this id is there. Coming
                # straight back would close that one, which would come back too; and
                # the back-off is not started over (it was up) but keeps growing.
                self._yielding = True
                self._lost(quietly=True)
                log.debug("replaced: %s", exc)
                self._log_once(
                    logging.ERROR,
                    f"another connection with this agent's id ({self.hello.agent_id}) is "
                    "on the server: are two agents sharing one agent_id (a copied state "
                    "folder, or the same --agent-id twice)?",
                    "connecting again once that one has gone, without replacing it",
                )
            except (WebSocketException, OSError, TimeoutError, ProtocolError) as exc:
                self._log_once(logging.WARNING, f"cannot reach {self.url}: {exc or type(exc)}")
            finally:
                was_up = self.connected.is_set()
                task = asyncio.current_task()
                self._lost(quietly=task is not None and task.cancelling() > 0)
            self.failed_attempts = 0 if was_up else self.failed_attempts + 1
            if was_up:
                attempt = 1  # it was up: start the back-off over
            if wait is not None:
                delay = wait
            elif refused:  # it would refuse again at once: wait the longest
                delay = slow(self.slow_delay, self.rand)
            elif suggested is not None:
                delay = after_suggestion(suggested, self.rand)
            else:
                delay = full_jitter(attempt, self.first_delay, self.max_delay, self.rand)
            log.debug("reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    def _log_once(self, level: int, text: str, retry: str = "retrying in the background") -> None:
        if text != self._last_error:
            log.log(level, "%s (%s; %s)", text, retry, self.status())
            self._last_error = text

    def _lost(self, quietly: bool = False) -> None:
        if self.connected.is_set():
            self.offline_since = self.clock()
            self.journal.set_link_state("offline", int(self.offline_since * 1000), self.url)
            if not quietly:
                log.warning("connection to %s lost; reconnecting (%s)", self.url, self.status())
        self.connected.clear()
        self._presence_dirty = self._presence is not None

    async def _session(self) -> None:
        # Certificates are always verified (wss without a context: the system's
        # authorities); ca_file adds the server's own authority.
        tls: dict[str, Any] = {} if self.ssl_context is None else {"ssl": self.ssl_context}
        async with connect(
            self.url,
            compression=None,
            extensions=deflate_offer(self.compress),
            proxy=None,  # never through a proxy named in the environment, as before
            open_timeout=OPEN_TIMEOUT,
            ping_interval=None,  # _keepalive's, which pings a quiet connection only
            close_timeout=CLOSE_TIMEOUT,
            max_size=MAX_MESSAGE,
            logger=_frames_log,
            **tls,
        ) as ws:
            hello = self.hello
            if self._yielding:
                hello = msgspec.structs.replace(hello, takeover=False)
            conv = AgentConversation(hello, self.encoding)
            self.welcome = await self._handshake(ws, conv)
            self._named = set()  # a new connection: every name is told again
            self.outdated = None
            self.update = offered(self.hello.agent_version, self.welcome.agent_release)
            if self.update is not None:
                log.warning(
                    "%s: this agent is %s; get the new one there (it does not update itself)",
                    self.update.describe(),
                    self.hello.agent_version,
                )
            if self._yielding:
                self._yielding = False
                log.info("the other connection with this agent's id has gone; taking over")
            # The server has everything up to here already: no need to send it again.
            self.journal.continue_after(self.welcome.resume_from_seq)
            self._stall = StallWatch(self.ack_timeout, acked=self.journal.acked_seq)
            self._acknowledged(self.welcome.resume_from_seq)
            self._last_error = None
            self.offline_since = None
            self.connected.set()
            self.journal.set_link_state("connected", int(self.clock() * 1000), self.url)
            self._presence_dirty = self._presence is not None
            self._facts_dirty = self._facts is not None and self.welcome.v >= 3
            waiting = self.journal.stats().waiting
            log.info("connected to %s; %d spans to send", self.url, waiting)
            sender = asyncio.create_task(self._sender(ws, conv))
            receiver = asyncio.create_task(self._receiver(ws, conv))
            keepalive = asyncio.create_task(self._keepalive(ws))
            try:
                done, _ = await asyncio.wait(
                    {sender, receiver, keepalive}, return_when=asyncio.FIRST_COMPLETED
                )
                if (
                    sender in done
                    and receiver not in done
                    and isinstance(sender.exception(), ConnectionClosed)
                ):
                    # Closed while sending: the receiver says why (4009, a refusal...),
                    # once it has read the close, which comes within the close timeout.
                    await asyncio.wait({receiver}, timeout=2 * CLOSE_TIMEOUT)
                    done = {receiver, sender} if receiver.done() else done
                for task in (receiver, sender, keepalive):
                    if task in done:
                        task.result()  # raises what ended it
            finally:
                for task in (sender, receiver, keepalive):
                    task.cancel()
                await asyncio.gather(sender, receiver, keepalive, return_exceptions=True)

    async def _handshake(self, ws: ClientConnection, conv: AgentConversation) -> Welcome:
        """Say hello, then read until the Welcome; an enrolment's credential comes first
        and is kept at once (the token it was exchanged for is spent)."""
        with contextlib.suppress(ConnectionClosed):
            # A full gateway closes as the websocket opens, maybe before the hello has
            # gone: the read below says why, by the close code.
            await self._send_all(ws, conv.data_to_send())
        while True:
            try:
                async with asyncio.timeout(15):
                    data = await ws.recv()
            except ConnectionClosed:
                said = f"closed during the handshake ({ws.close_code}: {ws.close_reason or ''})"
                if ws.close_code in RETRY_LATER:
                    raise Throttled(said) from None
                if ws.close_code == CloseCode.TRY_AGAIN_SOON:
                    raise TryAgainSoon(said, retry_after(ws.close_reason or "")) from None
                if ws.close_code == CloseCode.UPDATE_REQUIRED:
                    raise Outdated(said) from None
                if ws.close_code in REFUSAL_CLOSE_CODES:
                    raise Refused(said) from None
                if ws.close_code == CloseCode.REPLACED:
                    raise Replaced(said) from None
                raise Rejected(said) from None
            for event in conv.receive(data):
                if isinstance(event, ErrorReceived):
                    self._fatal(event.error.code, event.error.message)
                if isinstance(event, EnrolledReceived):
                    self._enrolled(event.credential)
                if isinstance(event, WelcomeReceived):
                    return event.welcome

    def _enrolled(self, credential: str) -> None:
        if self.on_credential is not None:
            self.on_credential(credential)
        # From now on every Hello carries the credential, and the token is not sent again.
        self.hello = msgspec.structs.replace(self.hello, token=credential, enroll=None)

    async def _sender(self, ws: ClientConnection, conv: AgentConversation) -> None:
        cursor = self.journal.acked_seq
        backlog_total = self.journal.stats().waiting
        progress_at = self.clock()
        while True:
            if self._presence_dirty and self._presence is not None:
                self._presence_dirty = False
                if self._presence.activity is not None:
                    await self._name_apps(ws, conv, [self._presence.activity])
                conv.send(self._presence)
                await self._send_all(ws, conv.data_to_send())
            if self._facts_dirty and self._facts is not None:
                self._facts_dirty = False
                if self.welcome is not None and self.welcome.v >= 3:  # older servers: never
                    conv.send(self._facts)
                    await self._send_all(ws, conv.data_to_send())
            if self._stall.stalled(self.clock()):
                raise Stalled(f"no acknowledgement for {self.ack_timeout:g} s")
            acked = self.journal.acked_seq
            cursor = max(cursor, acked)
            in_flight = cursor - acked
            waiting, first = (
                (0, None)
                if in_flight >= self.window * self.batch_max
                else self.journal.waiting_after(cursor, self.batch_max)
            )
            # Spans sent on a connection that was lost are due at once: they waited
            # already, and nothing else may come to make them due (a flush at the end).
            due = (first is not None and first <= self.journal.sent_seq) or (
                self._unsent_since is not None
                and self.clock() - self._unsent_since >= self.batch_delay
            )
            if waiting and (waiting >= self.batch_max or due):
                # Read (and decode) only a batch that goes now: a back-log is asked
                # about at every span that closes.
                entries = self.journal.read(cursor, self.batch_max)
                limit = self.welcome.max_frame_bytes if self.welcome else 65536
                await self._name_apps(ws, conv, (e.span.activity for e in entries))
                for run in runs(entries):
                    for batch in self._fit(run, limit):
                        conv.send(batch)
                        await self._send_all(ws, conv.data_to_send())
                cursor = entries[-1].seq
                self.journal.mark_sent(cursor)
                self._stall.on_send(cursor, self.clock())
                more = self.journal.read(cursor, 1)
                if not more:
                    self._unsent_since = None
                if more or backlog_total > self.batch_max:
                    # Back-fill: bounded, so live traffic and the server keep breathing.
                    await asyncio.sleep(len(entries) / self.backfill_rate)
                    if self.clock() - progress_at >= 5:
                        progress_at = self.clock()
                        left = self.journal.stats().waiting
                        log.info(
                            "back-fill: %d spans waiting, %d sent so far",
                            left,
                            max(0, backlog_total - left),
                        )
                continue
            self._wake.clear()
            timeout = self._idle_wait(waiting > 0)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the event is set, and the agent never stops.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _name_apps(
        self, ws: ClientConnection, conv: AgentConversation, activities: Iterable[Activity]
    ) -> None:
        """Tell the server the names of the apps in ``activities`` it has not heard of on
        this connection, when it takes them (its Welcome says ``app_names``)."""
        if self.namer is None or self.welcome is None or not self.welcome.app_names:
            return
        new = {a.app for a in activities} - self._named
        if not new:
            return
        self._named |= new
        named = [d for app in sorted(new) if (d := self.namer(app)) is not None]
        for message in self._name_batches(named) if named else []:
            conv.send(message)
            await self._send_all(ws, conv.data_to_send())

    def _name_batches(self, names: list[AppName]) -> list[AppNames]:
        """``names`` in messages that each fit the server's frame limit (icons make them
        big); a name whose icon alone would not fit goes without it."""
        limit = (self.welcome.max_frame_bytes if self.welcome else 65536) - 1024
        message = AppNames(names=names)
        if len(names) <= MAX_APP_NAMES and len(encode(message, self.encoding)) <= limit:
            return [message]
        if len(names) == 1:
            return [AppNames(names=[msgspec.structs.replace(names[0], icon=None)])]
        half = len(names) // 2
        return self._name_batches(names[:half]) + self._name_batches(names[half:])

    def _idle_wait(self, unsent: bool) -> float | None:
        """How long the sender may sleep: until spans that wait are due, or until
        the stall deadline; with neither, until it is woken."""
        waits = [self.batch_delay] if unsent else []
        deadline = self._stall.deadline()
        if deadline is not None:
            waits.append(deadline - self.clock())
        return max(0.01, min(waits)) if waits else None

    def _fit(self, run: list[Entry], limit: int) -> list[Spans]:
        """Batches of ``run`` that each encode within the server's frame limit
        (a count alone is not enough: long titles and URLs make big spans)."""
        batch = Spans(
            first_seq=run[0].seq,
            spans=[
                SpanOut(
                    start=from_ms(e.span.start_ms),
                    end=from_ms(e.span.end_ms),
                    activity=e.span.activity,
                    tz=e.span.tz,
                )
                for e in run
            ],
        )
        # The limit applies after inflating, so measure the plain encoding; keep a
        # margin for the frame itself.
        if len(run) == 1 or len(encode(batch, self.encoding)) <= limit - 1024:
            return [batch]
        half = len(run) // 2
        return self._fit(run[:half], limit) + self._fit(run[half:], limit)

    async def _keepalive(self, ws: ClientConnection) -> None:
        """A Ping once nothing has come from the server for ``ping_interval`` seconds (a
        busy connection sends none, as with aiohttp's heartbeat); TimeoutError when its
        Pong does not come within ``ping_timeout``: the connection is gone, another is
        opened."""
        loop = asyncio.get_running_loop()
        self._heard_at = loop.time()
        while True:
            quiet = loop.time() - self._heard_at
            if quiet < self.ping_interval:
                await asyncio.sleep(self.ping_interval - quiet)
                continue
            pong = await ws.ping()
            try:
                async with asyncio.timeout(self.ping_timeout):
                    await pong
            except TimeoutError:
                said = f"no answer to a ping within {self.ping_timeout:g} s"
                raise TimeoutError(said) from None
            self._heard_at = loop.time()

    async def _receiver(self, ws: ClientConnection, conv: AgentConversation) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):  # the close code below says how
            async for data in ws:
                self._heard_at = loop.time()
                self._received(conv, data)
        reason = ws.close_reason or ""
        if ws.close_code in RETRY_LATER:
            self._fatal(CloseCode(ws.close_code).slug, reason)
        if ws.close_code in REFUSAL_CLOSE_CODES:
            raise Refused(f"closed by the server with code {ws.close_code}")
        if ws.close_code == CloseCode.REPLACED:
            raise Replaced(f"closed with {ws.close_code}: {reason or 'replaced'}")
        if ws.close_code not in (None, 1000, 1001):
            log.warning("the server closed the connection with code %s", ws.close_code)

    def _received(self, conv: AgentConversation, data: str | bytes) -> None:
        for event in conv.receive(data):
            if isinstance(event, AckReceived):
                self._acknowledged(event.seq)
            elif isinstance(event, ErrorReceived):
                if event.error.fatal:
                    self._fatal(event.error.code, event.error.message)
                self.refused += 1
                if self.refused <= 3 or self.refused % 1000 == 0:
                    log.warning(
                        "the server adjusted or refused a message (%d so far): %s",
                        self.refused,
                        event.error.message,
                    )

    def _acknowledged(self, seq: int) -> None:
        """The server has everything up to ``seq``: every path that says so (an ack,
        a welcome's ``resume_from_seq``) comes here, so a waiting flush() is released."""
        self.journal.ack(seq)
        self._stall.on_ack(seq, self.clock())
        self._acked.set()
        self._wake.set()

    def _fatal(self, code: str, message: str) -> NoReturn:
        """The server is closing this connection: why, and what to do about it."""
        if code == CloseCode.RATE_LIMITED.slug:
            # Send less from now on: half the back-fill rate, down to a batch a second.
            self.backfill_rate = max(float(self.batch_max), self.backfill_rate / 2)
        if code in RETRY_LATER_SLUGS:
            raise Throttled(message)
        if code == CloseCode.UPDATE_REQUIRED.slug:
            raise Outdated(message)  # this agent is too old: slow retries, said in the tray
        if code in REFUSAL_CODES:
            raise Refused(message)  # blocked, removed, no valid credential: slow retries
        if code == CloseCode.REPLACED.slug:
            raise Replaced(message)  # another connection with this id is open
        raise Rejected(message)

    @staticmethod
    async def _send_all(ws: ClientConnection, frames: list[Frame]) -> None:
        for frame in frames:
            await ws.send(frame)  # text for str, binary for bytes
