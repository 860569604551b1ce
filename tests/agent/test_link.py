"""The agent's link over real connections: quiet time is not a stall, a server
that never acknowledges is one, every acknowledgement releases flush() (a
reconnect's welcome too), and two agents sharing an id settle on one
connection instead of replacing each other for ever."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web

from officepulse.agent.journal import Journal
from officepulse.agent.link import Link
from officepulse.agent.stall import StallWatch
from officepulse.protocol.messages import PROTOCOL_VERSION, Welcome
from officepulse.protocol.session import HelloReceived, ServerConversation, SpansReceived
from tests.support.links import hello, record, running, until
from tests.support.processes import stop
from tests.support.servers import ServerProcess, start_agent
from tests.support.timelines import random_day

pytestmark = pytest.mark.timeout(120)


# -- the stall rule, pure ------------------------------------------------------------


def test_quiet_time_never_counts_towards_a_stall() -> None:
    watch = StallWatch(timeout=30)
    watch.on_send(1, now=0)
    watch.on_ack(1, now=0.1)
    assert watch.deadline() is None  # nothing in flight: no clock runs
    watch.on_send(2, now=3600)  # an hour in one window, then a switch
    assert watch.deadline() == 3630
    assert not watch.stalled(3629.9)
    watch.on_ack(2, now=3600.2)
    assert not watch.stalled(10**9)


def test_the_clock_runs_from_the_oldest_unacknowledged_send() -> None:
    watch = StallWatch(timeout=30)
    watch.on_send(1, now=100)
    watch.on_send(2, now=120)  # a later send does not move the deadline
    assert watch.deadline() == 130
    assert watch.stalled(130)


def test_a_slow_server_that_keeps_acknowledging_is_not_stalled() -> None:
    watch = StallWatch(timeout=30)
    for batch in range(1, 5):
        watch.on_send(batch, now=0)
    for batch in range(1, 4):  # one ack every 20 s: each starts the clock again
        watch.on_ack(batch, now=20 * batch)
        assert not watch.stalled(20 * batch + 29)
    assert watch.stalled(60 + 30)
    watch.on_ack(4, now=61)
    assert watch.deadline() is None


def test_acks_for_what_was_acknowledged_already_change_nothing() -> None:
    watch = StallWatch(timeout=30, acked=5)
    watch.on_send(5, now=0)  # resent, but the welcome had it already
    assert watch.deadline() is None
    watch.on_send(7, now=10)
    watch.on_ack(5, now=50)
    assert watch.deadline() == 40


# -- helpers -------------------------------------------------------------------------


def server_lines(server: ServerProcess, *needles: str) -> int:
    return sum(all(n in line for n in needles) for line in list(server.log))


def connections(server: ServerProcess, agent_id: str) -> int:
    """How many connections of ``agent_id`` the server welcomed."""
    return server_lines(server, f"agent {agent_id} (", " connected from ")


class SteppedClock:
    """The link's wall clock, moved on by the test (asyncio's own runs as usual)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Peer:
    """A protocol peer on a real port, for what the real server never does on
    purpose: it takes spans and never acknowledges them, and welcomes each new
    connection with ``resume_from_seq`` = the highest sequence number sent to it.
    ``forgetful``: it loses what the first connection sent (welcomes again from 0),
    and acknowledges every batch from the second connection on. ``pongs``: whether it
    answers the agent's Pings (counted in ``pings``)."""

    def __init__(self, *, forgetful: bool = False, pongs: bool = True) -> None:
        self.forgetful = forgetful
        self.pongs = pongs
        self.pings = 0
        self.received: list[list[int]] = []  # per connection, the seqs it was sent
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/agent", self._agent)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"ws://{host}:{port}/agent"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _agent(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)  # Pings come here, counted
        await ws.prepare(request)
        resume = max((seq for seqs in self.received for seq in seqs), default=0)
        acks = self.forgetful and bool(self.received)
        if self.forgetful:
            resume = 0
        seqs: list[int] = []
        self.received.append(seqs)
        conv = ServerConversation()
        async for msg in ws:
            if msg.type is WSMsgType.PING:
                self.pings += 1
                if self.pongs:
                    await ws.pong(msg.data)
                continue
            for event in conv.receive(msg.data):
                if isinstance(event, HelloReceived):
                    conv.accept(
                        Welcome(
                            v=PROTOCOL_VERSION,
                            session=f"peer-{len(self.received)}",
                            server_version="test",
                            heartbeat_interval=10,
                            pulsetime=25,
                            max_frame_bytes=65536,
                            resume_from_seq=resume,
                        )
                    )
                elif isinstance(event, SpansReceived):
                    first = event.spans.first_seq
                    seqs.extend(range(first, first + len(event.spans.spans)))
                    if acks:
                        conv.ack(seqs[-1])
            for frame in conv.data_to_send():
                if isinstance(frame, str):
                    await ws.send_str(frame)
                else:
                    await ws.send_bytes(frame)
        return ws


@pytest.fixture(params=[False], ids=["never-acks"])
async def peer(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Peer, str]]:
    p = Peer(forgetful=request.param)
    url = await p.start()
    yield p, url
    await p.stop()


def stalls(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "no acknowledgement" in r.getMessage()]


# -- false stalls --------------------------------------------------------------------


async def test_an_hour_in_one_window_then_a_switch_keeps_the_one_connection(
    server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SteppedClock()
    journal = Journal(":memory:")
    link = Link(server.ws_url, hello("quiet"), journal, ack_timeout=2, clock=clock)
    async with running(link):
        await asyncio.wait_for(link.connected.wait(), 20)
        record(journal, 3)
        await asyncio.wait_for(link.flush(), 20)
        clock.now += 3600  # one window for an hour: nothing to send
        last = record(journal, 1)
        await asyncio.wait_for(link.flush(), 20)
        assert journal.acked_seq == last
        assert link.connected.is_set()
    assert stalls(caplog) == []
    server.wait_for_log("agent quiet disconnected")  # logged last: the counts are complete
    assert connections(server, "quiet") == 1
    assert server_lines(server, "agent quiet: a newer connection replaces") == 0


def scripted(
    server: ServerProcess, tmp: Path, agent_id: str, timeline: Path, *args: str
) -> subprocess.Popen[str]:
    """A real agent process replaying ``timeline``."""
    options = ("--agent-id", agent_id, "--source", "scripted", "--timeline", str(timeline))
    return start_agent(server, tmp, *options, *args)


def quiet_timeline(path: Path, quiet: int) -> Path:
    """A switch, ``quiet`` seconds in one window, then another switch."""
    lines = [
        {"offset": 0, "app": "Code", "title": "a"},
        {"offset": 1, "app": "firefox", "title": "b"},
        {"offset": 1 + quiet, "app": "Slack", "title": "c"},
        {"offset": 2 + quiet, "end": True},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_a_real_agent_quiet_for_longer_than_its_ack_timeout_keeps_its_connection(
    tmp_path: Path, server: ServerProcess
) -> None:
    """A real agent process, an ack_timeout of 3 s and 6 s in one window between
    two switches: the span that ends the quiet stretch goes out on the same
    connection, with no stall and no reconnect."""
    timeline = quiet_timeline(tmp_path / "quiet.jsonl", quiet=6)
    agent = scripted(server, tmp_path, "still", timeline, "--speed", "1", "--ack-timeout", "3")
    try:
        agent.wait(60)
    finally:
        out = stop(agent)
    assert agent.returncode == 0, out
    assert "every span was acknowledged by the server" in out, out
    assert "no acknowledgement" not in out, out
    assert "reconnecting" not in out, out
    server.wait_for_log("agent still disconnected")  # logged last: the counts are complete
    assert connections(server, "still") == 1, server.log
    assert server_lines(server, "agent still: a newer connection replaces") == 0


# -- real stalls ---------------------------------------------------------------------


async def test_a_server_that_never_acknowledges_is_still_a_stall(
    peer: tuple[Peer, str], caplog: pytest.LogCaptureFixture
) -> None:
    p, url = peer
    journal = Journal(":memory:")
    link = Link(url, hello("stuck"), journal, ack_timeout=0.5, batch_delay=0.05, first_delay=0.05)
    async with running(link):
        record(journal, 2)
        link.notify()
        await until(
            lambda: len(p.received) >= 2 and p.received[0] == [1, 2],
            "the link to give up on the connection that took spans and never acknowledged",
        )
    assert stalls(caplog)[0] == "no acknowledgement for 0.5 s; reconnecting"


# -- keepalive ----------------------------------------------------------------------


async def test_a_quiet_connection_is_kept_by_its_pings() -> None:
    p = Peer()
    url = await p.start()
    try:
        link = Link(url, hello("pinged"), Journal(":memory:"), ping_interval=0.2, ping_timeout=2)
        async with running(link):
            await until(lambda: p.pings >= 5, "five pings on a quiet connection")
            assert link.connected.is_set()
        assert len(p.received) == 1  # one connection all along
    finally:
        await p.stop()


async def test_a_connection_whose_pings_go_unanswered_is_replaced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = Peer(pongs=False)
    url = await p.start()
    try:
        link = Link(
            url, hello("unheard"), Journal(":memory:"),
            ping_interval=0.2, ping_timeout=0.5, first_delay=0.05,
        )  # fmt: skip
        async with running(link):
            await until(lambda: len(p.received) >= 2, "a new connection after the silence")
    finally:
        await p.stop()
    said = [r.getMessage() for r in caplog.records if "no answer to a ping" in r.getMessage()]
    assert said, "the link said nothing of its unanswered ping"
    assert "no answer to a ping within 0.5 s" in said[0]


# -- flush ---------------------------------------------------------------------------


async def flush_three_spans(url: str) -> Journal:
    """Three spans, sent on a link with a short ack_timeout until flush() returns."""
    journal = Journal(":memory:")
    link = Link(url, hello("flusher"), journal, ack_timeout=0.5, first_delay=0.05)
    last = record(journal, 3)
    async with running(link):
        await asyncio.wait_for(link.flush(), 30)
    assert journal.acked_seq == last
    return journal


async def test_flush_returns_when_a_welcome_acknowledges_the_last_spans(
    peer: tuple[Peer, str],
) -> None:
    """The spans went out, the acks never came, the connection was given up; the
    next welcome's resume_from_seq says the server has them all: flush() is done."""
    p, url = peer
    journal = await flush_three_spans(url)
    assert p.received[0] == [1, 2, 3]
    assert p.received[-1] == [], "the spans were sent again instead of taken as acknowledged"
    assert journal.stats().waiting == 0


@pytest.mark.parametrize("peer", [True], ids=["forgetful"], indirect=True)
async def test_spans_of_a_stalled_connection_go_out_at_once_on_the_next(
    peer: tuple[Peer, str],
) -> None:
    """Sent, never acknowledged, the connection given up: on the next one they are
    sent again at once, not when some new span happens to come (none may come:
    flush() at the end of a timeline waited for ever)."""
    p, url = peer
    await flush_three_spans(url)
    assert p.received[:2] == [[1, 2, 3], [1, 2, 3]]


async def test_spans_a_previous_run_never_sent_go_out_without_a_new_one(
    peer: tuple[Peer, str],
) -> None:
    """The last run journalled three spans and never reached a server; this run's link
    sends them on its first connection, though nothing new is journalled (a person who
    stays in one window journals nothing for hours)."""
    p, url = peer
    journal = Journal(":memory:")
    record(journal, 3)  # before the link exists: the previous run's spans
    link = Link(url, hello("restarted"), journal, first_delay=0.05)
    async with running(link):
        await until(lambda: p.received and p.received[0] == [1, 2, 3], "the old spans sent")


def _upgrade_and_welcome(data: bytes) -> int:
    """How much of what the server sent may pass: its HTTP upgrade answer once
    complete, and the websocket frame after it (the welcome) once complete."""
    head = data.find(b"\r\n\r\n") + 4
    if head < 4:
        return 0
    at = head + 2
    if len(data) < at:
        return head
    size = data[head + 1] & 0x7F  # server frames are not masked
    if size >= 126:
        width = 2 if size == 126 else 8
        size = int.from_bytes(data[at : at + width], "big")
        at += width
    return at + size if len(data) >= at + size else head


class LostAcks:
    """A TCP proxy in front of the real server. On the first connection it passes
    the server's welcome and then loses everything else the server says (the acks
    are lost on the way); the next connections wait until ``open`` is set."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.accepted = 0
        self.open = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._clients:
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        self.accepted += 1
        first = self.accepted == 1
        try:
            if not first:
                await self.open.wait()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
            down = self._welcome_only(up_reader, writer) if first else self._pump(up_reader, writer)
            try:
                await asyncio.gather(self._pump(reader, up_writer), down, return_exceptions=True)
            finally:
                up_writer.close()
        except asyncio.CancelledError:
            pass  # the test is over
        finally:
            writer.close()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    @staticmethod
    async def _welcome_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen = b""
        passed = 0
        while data := await reader.read(65536):
            seen += data
            passable = _upgrade_and_welcome(seen)
            if passable > passed:
                writer.write(seen[passed:passable])
                await writer.drain()
                passed = passable
        writer.close()


def _int(path: Path, sql: str, *args: str) -> int:
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        row = db.execute(sql, args).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def test_a_scripted_agent_exits_when_a_reconnects_welcome_acknowledges_its_last_spans(
    tmp_path: Path, server: ServerProcess
) -> None:
    """A real server and a real agent process: the acks for the timeline's last
    spans are lost, the agent gives the connection up, and the next welcome's
    resume_from_seq covers them all. The agent exits on its own."""
    random_day(tmp_path / "day.jsonl", seed=7, hours=3)
    proxy = LostAcks(int(server.url.rsplit(":", 1)[1]))
    port = await proxy.start()
    start = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    agent = scripted(
        server,
        tmp_path,
        "finisher",
        tmp_path / "day.jsonl",
        *("--start", start.isoformat(), "--speed", "0", "--ack-timeout", "1"),
        *("--server-url", f"ws://127.0.0.1:{port}/agent"),
    )
    journal = tmp_path / "agent-state" / "journal.sqlite3"
    try:
        await until(lambda: proxy.accepted >= 2, "the agent to give up the connection")
        last = _int(journal, "SELECT value FROM meta WHERE key = 'last_seq'")
        await until(
            lambda: (
                _int(server.database, "SELECT acked_seq FROM agents WHERE id = ?", "finisher")
                == last
            ),
            "the server to store every span of the timeline",
        )
        proxy.open.set()
        await until(lambda: agent.poll() is not None, "the agent to exit on its own", 30)
    finally:
        out = stop(agent)
        await proxy.stop()
    assert agent.returncode == 0, out
    assert "no acknowledgement for 1 s" in out, out
    assert "every span was acknowledged by the server" in out, out
    reconnected = [line for line in out.splitlines() if "connected to ws://" in line][-1]
    assert reconnected.endswith("0 spans to send"), out


# -- replacement ---------------------------------------------------------------------


async def test_two_agents_sharing_an_id_settle_on_one_connection(
    server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """The newer one takes over once (4009); the replaced one does not fight back:
    it asks again without taking over, is refused while the other is connected,
    and comes back once the other has gone."""
    caplog.set_level(logging.DEBUG, logger="officepulse.agent.link")

    def twin() -> Link:
        return Link(
            server.ws_url, hello("twin"), Journal(":memory:"), first_delay=0.05, max_delay=0.2
        )

    def said(text: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if text in r.getMessage()]

    def replacements() -> int:
        return server_lines(server, "agent twin: a newer connection replaces")

    older, newer = twin(), twin()
    async with running(older):
        await asyncio.wait_for(older.connected.wait(), 20)
        async with running(newer):
            await until(
                lambda: len(said("asked not to replace")) >= 5,
                "the replaced agent to be refused five times without taking over",
            )
            await until(lambda: replacements() == 1, "the server to log the one replacement")
            assert newer.connected.is_set()
            assert not older.connected.is_set()
            # The newer one's connection is logged after the replacement it made.
            await until(lambda: connections(server, "twin") == 2, "the newer one's connection")
        await until(lambda: older.connected.is_set(), "the replaced agent to come back")
        await until(lambda: connections(server, "twin") == 3, "the server to log its return")
    assert replacements() == 1
    assert len(said("are two agents sharing one agent_id")) == 1
    assert said("the other connection with this agent's id has gone; taking over")
