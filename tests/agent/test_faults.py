"""Faults, all real: the server killed with SIGKILL mid-stream, the agent killed
mid-batch, the network cut and frozen by a TCP proxy, a day offline. Each run
ends with exactly the totals of an undisturbed one: nothing lost, nothing
counted twice."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest

from officepulse.agent.timeline import Timeline
from tests.support.ports import free_port
from tests.support.processes import WAIT, stop, wait_until
from tests.support.servers import ServerProcess, start_agent, start_server
from tests.support.timelines import expected, random_day, recorded

START = datetime(2026, 11, 19, 6, 0, tzinfo=UTC)
pytestmark = pytest.mark.timeout(120)


def totals(server: ServerProcess) -> dict[str, tuple[float, float]]:
    query = urlencode(
        {
            "start": (START - timedelta(days=1)).isoformat(),
            "end": (START + timedelta(days=3)).isoformat(),
            "group_by": "app",
        }
    )
    rows = server.get(f"/api/v1/usage?{query}")["rows"]
    return {r["app"]: (r["seconds"], r["idle_seconds"]) for r in rows}


def want(timeline: Timeline) -> dict[str, tuple[float, float]]:
    return expected(timeline, START, START - timedelta(days=1), START + timedelta(days=3))


def replay(server: ServerProcess, tmp: Path, timeline: Path, *extra: str, url: str | None = None):  # type: ignore[no-untyped-def]
    args = [
        "--agent-id",
        "faulty",
        "--source",
        "scripted",
        "--timeline",
        str(timeline),
        "--start",
        START.isoformat(),
        *extra,
    ]
    if url is not None:
        args += ["--server-url", url]
    return start_agent(server, tmp, *args)


def finish(agent, timeout: float = 60) -> str:  # type: ignore[no-untyped-def]
    try:
        agent.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the agent did not finish in {timeout} s\n{agent.tail()}") from None
    out = stop(agent)
    assert agent.returncode == 0, out
    assert "every span was acknowledged by the server" in out, out
    assert "Traceback" not in out
    return out


def test_the_server_killed_mid_stream(tmp_path: Path) -> None:
    timeline = random_day(tmp_path / "day.jsonl", seed=1, hours=24)
    port = str(free_port())
    server = start_server(tmp_path / "srv", "--port", port)
    agent = replay(
        server, tmp_path, tmp_path / "day.jsonl", "--speed", "0", "--backfill-rate", "400"
    )
    try:
        wait_until(lambda: totals(server), what="the first spans stored")
        server.proc.kill()  # SIGKILL: no chance to flush anything
        server.stop()
        agent.wait_for_log("lost; reconnecting")
        server = start_server(tmp_path / "srv", "--port", port)
        out = finish(agent)
        assert "lost; reconnecting" in out
        assert totals(server) == want(timeline)
    finally:
        stop(agent)
        server.stop()


def test_the_agent_killed_mid_batch_and_restarted(tmp_path: Path, server: ServerProcess) -> None:
    timeline = random_day(tmp_path / "day.jsonl", seed=2, hours=8)
    # 8 hours in about 4 seconds, so the kill lands while spans are being made
    # and sent; the restarted agent replays the same timeline from its start.
    first = replay(
        server, tmp_path, tmp_path / "day.jsonl", "--speed", "7200", "--backfill-rate", "50"
    )
    try:
        wait_until(lambda: totals(server), what="the first spans stored")
        time.sleep(0.7)
        first.kill()
    finally:
        stop(first)
    again = replay(server, tmp_path, tmp_path / "day.jsonl", "--speed", "0")
    finish(again)
    assert totals(server) == want(timeline)


class Proxy:
    """A TCP proxy that can cut every connection or freeze all traffic."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.frozen = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        self.cuts = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(WAIT), "the proxy did not start"

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        ready.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )
        for w in (writer, up_writer):
            self.writers.discard(w)
            w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            # A stalled network: nothing moves, nothing closes.
            while self.frozen.is_set():  # noqa: ASYNC110 - set from another thread
                await asyncio.sleep(0.05)
            writer.write(data)
            await writer.drain()
        writer.close()

    def cut(self) -> None:
        def close_all() -> None:
            for w in list(self.writers):
                w.transport.abort()

        self.cuts += 1
        self.loop.call_soon_threadsafe(close_all)

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[Proxy]:
    p = Proxy(int(server.url.rsplit(":", 1)[1]))
    yield p
    p.close()


def test_the_network_cut_and_frozen(tmp_path: Path, server: ServerProcess, proxy: Proxy) -> None:
    timeline = random_day(tmp_path / "day.jsonl", seed=3, hours=24)
    agent = replay(
        server,
        tmp_path,
        tmp_path / "day.jsonl",
        "--speed",
        "0",
        "--backfill-rate",
        "300",
        "--ack-timeout",
        "2",
        url=f"ws://127.0.0.1:{proxy.port}/agent",
    )
    try:
        wait_until(lambda: totals(server), what="the first spans stored")
        proxy.cut()
        time.sleep(1.0)
        proxy.frozen.set()  # the link stalls: no ack arrives, no error either
        time.sleep(3.5)
        proxy.cut()  # the stalled connection is dropped, as a router reboot would
        proxy.frozen.clear()
        out = finish(agent)
        assert "no acknowledgement for 2 s" in out or "lost; reconnecting" in out
        assert totals(server) == want(timeline)
    finally:
        stop(agent)


def test_a_day_offline_then_back_fill(tmp_path: Path) -> None:
    timeline = random_day(tmp_path / "day.jsonl", seed=4, hours=24)
    port = free_port()
    placeholder = ServerProcess.__new__(ServerProcess)  # only its URL is used
    placeholder.url = f"http://127.0.0.1:{port}"
    agent = replay(
        placeholder, tmp_path, tmp_path / "day.jsonl", "--speed", "0", "--backfill-rate", "2000"
    )
    try:
        # The whole day is recorded while no server is there: it waits on disk.
        journal = tmp_path / "agent-state" / "journal.sqlite3"
        wait_until(lambda: recorded(journal, START, timeline), what="the whole day in the journal")
        assert agent.poll() is None
        server = start_server(tmp_path / "srv", "--port", str(port))
        try:
            finish(agent)
            assert totals(server) == want(timeline)
        finally:
            server.stop()
    finally:
        stop(agent)
        with contextlib.suppress(Exception):
            agent.kill()


def test_a_back_log_of_long_titles_fits_the_servers_frame_limit(tmp_path: Path) -> None:
    """500 spans with long titles and URLs encode to more than the server takes in
    one message: the agent splits its batches rather than retrying forever."""
    import json

    lines = []
    for i in range(720):
        tab = i % 2 == 0
        lines.append(
            {
                "offset": i * 60,
                "app": "Google-chrome" if tab else "Code",
                "title": ("A rather long page title about officepulse and batching " * 2)[:86]
                + str(i),
                "url": f"https://example.org/articles/officepulse/link/batching?page={i:06d}&ref=x"
                if tab
                else None,
            }
        )
    lines.append({"offset": 720 * 60, "end": True})
    path = tmp_path / "tabs.jsonl"
    path.write_text(
        "\n".join(json.dumps({k: v for k, v in line.items() if v is not None}) for line in lines)
    )
    timeline = Timeline.load(path)
    port = free_port()
    placeholder = ServerProcess.__new__(ServerProcess)
    placeholder.url = f"http://127.0.0.1:{port}"
    agent = replay(placeholder, tmp_path, path, "--speed", "0", "--encoding", "json")
    try:
        journal = tmp_path / "agent-state" / "journal.sqlite3"
        wait_until(lambda: recorded(journal, START, timeline), what="the whole timeline on disk")
        server = start_server(tmp_path / "srv", "--port", str(port))
        try:
            finish(agent, timeout=30)
            assert totals(server) == want(timeline)
            assert not any("message too big" in line for line in server.log)
        finally:
            server.stop()
    finally:
        stop(agent)


@pytest.mark.parametrize("stall", [3.0, 7.0])
def test_a_slow_store_slows_the_agent_without_dropping_it(tmp_path: Path, stall: float) -> None:
    """The store stalls (another process holds the database's write lock): commits
    wait, acks wait, the gateway stops reading, the agent waits. Nobody is cut off,
    and once the store moves again everything lands exactly once. Stalled longer than
    the store waits for its lock (5 s), the writer fails, keeps every write and tries
    again: still nobody is dropped, nothing lost or doubled."""
    # An hour of a switch every 3-9 s (about 600 spans) played in 6 s: the store stalls
    # while the agent still records and sends (a day played at once was often all sent
    # and stored, in one commit, before the stall began: nothing left waiting).
    timeline = random_day(tmp_path / "day.jsonl", seed=5, hours=1, gaps=(3, 9))
    server = start_server(tmp_path / "srv")
    agent = replay(
        server, tmp_path, tmp_path / "day.jsonl", "--speed", "600", "--backfill-rate", "1000"
    )
    try:
        wait_until(lambda: totals(server), what="the first spans stored")
        blocker = sqlite3.connect(server.database, timeout=10, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # no writer gets in while this is held
        if stall > 5:
            # Held until the writer has waited its 5 s for the lock and failed.
            server.wait_for_log(" failing: ")
        else:
            time.sleep(stall)
        # The agent was held back: spans wait in its journal, unacknowledged.
        journal = sqlite3.connect(tmp_path / "agent-state" / "journal.sqlite3")
        (waiting,) = journal.execute("SELECT COUNT(*) FROM spans").fetchone()
        journal.close()
        assert waiting > 0
        blocker.execute("COMMIT")
        blocker.close()
        out = finish(agent)
        assert totals(server) == want(timeline)
        assert "lost; reconnecting" not in out
        # A stall the store outlasts is said once, with its end; never a traceback.
        if stall > 5:
            server.wait_for_log(" recovered after ")  # said last: the count is complete
        failing = [line for line in server.log if " failing: " in line]
        assert len(failing) == (1 if stall > 5 else 0), server.log
        assert not any("Traceback" in line for line in server.log)
    finally:
        stop(agent)
        server.stop()
