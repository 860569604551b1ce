#!/usr/bin/env python3
"""Heartbeat ingest benchmark: officepulse (websocket) side by side with aw-server (HTTP).

One run starts each server under test pinned to CPU 0, drives it from load generator
processes pinned to CPU 1, and prints one table with rates and server CPU per heartbeat
(the figure that carries over between machines, see shared/PERF_NOTES.md).

Rows:
  null-sink    a protocol-only websocket server in this file (decode, Pong, no storage): how
               fast the generator can go, and what transport + decode alone cost the server.
  officepulse  the real server (`officepulse server`) with a scratch SQLite file.
  ... @R/s     the same, paced to R heartbeats/s over many connections, so that messages
               arrive one at a time as real agents' do (flat-out runs let them queue up and
               arrive together, which is cheaper per message).
  aw-server    ActivityWatch 0.12 in its own venv (.venv-aw), one HTTP POST per heartbeat.

Run: .venv/bin/python bench/ingest.py --help   (details in bench/README.md)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

import aiohttp
import msgspec
import psutil
from aiohttp import web

from officepulse.protocol import (
    PROTOCOL_VERSION,
    Activity,
    Error,
    Heartbeat,
    Hello,
    Ping,
    Pong,
    ProtocolError,
    Welcome,
    decode_server_message,
)
from officepulse.protocol.session import HelloReceived, ServerConversation

LOOPBACK = "127.0.0.1"
SERVER_CPU = 0  # the server under test gets a core to itself ...
LOAD_CPU = 1  # ... and everything else (this orchestrator, generators) shares the other one

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
AW_VENV = REPO / ".venv-aw"
# Unpinned, peewee 4 turns every heartbeat into HTTP 500 and Flask 2.3 breaks /api/0/query/.
AW_PACKAGES = ("aw-server==0.12.0", "aw-client", "peewee<4", "flask<2.3")
AW_READY_MARKER = AW_VENV / ".bench-installed"

# The aw-watcher-window workload: one heartbeat per simulated second, app switch every 30.
SWITCH_EVERY = 30
PULSETIME_S = 2
APPS = (
    ("firefox", "Pull requests · officepulse — Mozilla Firefox"),
    ("code", "ingest.py — officepulse — Visual Studio Code"),
    ("kitty", "~/work/officepulse: pytest"),
    ("slack", "Slack | #engineering | officepulse"),
)
# One simulated day per agent at most. Timelines end an hour before "now": the server refuses
# heartbeats more than 5 minutes ahead of its clock, so the whole timeline must lie in the past.
MAX_HEARTBEATS_PER_AGENT = 86_400
TIMELINE_END_MARGIN_S = 3_600

# --fifo: the paced runs' server and generators get this real-time priority (1-99).
FIFO_PRIORITY = 10
CONNECT_CONCURRENCY = 64  # keeps us under the server's listen backlog while opening 1,000
READY_TIMEOUT_S = 120.0
SERVER_START_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------- timelines


def timeline_base() -> datetime:
    """Timestamp of heartbeat 0 of every agent (see MAX_HEARTBEATS_PER_AGENT)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(seconds=MAX_HEARTBEATS_PER_AGENT + TIMELINE_END_MARGIN_S)


def activity_at(index: int) -> tuple[str, str]:
    return APPS[(index // SWITCH_EVERY) % len(APPS)]


class EncodedTimeline:
    """Heartbeat ``i`` of the synthetic timeline, encoded once per process.

    Every agent follows the same timeline, and agents advance in lockstep, so one encoded
    frame serves all of a process's connections: the generator's cost per message is then
    just the websocket send, which is what lets one core out-pace the server.
    """

    def __init__(self, base: datetime, encode: Callable[[datetime, str, str], bytes]) -> None:
        self._base = base
        self._encode = encode
        self._frames: list[bytes] = []

    def get(self, index: int) -> bytes:
        if not 0 <= index < MAX_HEARTBEATS_PER_AGENT:
            raise IndexError(f"heartbeat {index} is past the simulated day")
        while index >= len(self._frames):
            self._grow(1024)
        return self._frames[index]

    def _grow(self, count: int) -> None:
        start = len(self._frames)
        for i in range(start, min(start + count, MAX_HEARTBEATS_PER_AGENT)):
            app, title = activity_at(i)
            self._frames.append(self._encode(self._base + timedelta(seconds=i), app, title))


_msgpack = msgspec.msgpack.Encoder()


def encode_ws_heartbeat(ts: datetime, app: str, title: str) -> bytes:
    return _msgpack.encode(Heartbeat(ts=ts, activity=Activity(app=app, title=title)))


def encode_aw_heartbeat(ts: datetime, app: str, title: str) -> bytes:
    body = {"timestamp": ts.isoformat(), "duration": 0, "data": {"app": app, "title": title}}
    return msgspec.json.encode(body)


def agent_ids(count: int, tag: str) -> list[str]:
    return [f"bench-{tag}-{i:05d}" for i in range(count)]


def make_hello(agent_id: str) -> Hello:
    return Hello(
        v=PROTOCOL_VERSION,
        agent_id=agent_id,
        name=f"Bench {agent_id}",
        host="bench-host",
        platform="linux",
        agent_version="bench",
        tz="UTC",
    )


# --------------------------------------------------------------------------- processes


def pin_to(cpu: int) -> None:
    """Pin the calling process; a no-op on a machine with a single core."""
    if (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(0, {cpu})


def pin_server() -> None:
    # Runs in the child between fork and exec, so the server's first thread is already pinned.
    pin_to(SERVER_CPU)


def fifo() -> None:
    """Run the calling process (and the threads it starts) at SCHED_FIFO priority
    FIFO_PRIORITY: woken at once when its data arrives, never kept waiting by other
    programs (the kernel still leaves them 5 % of each core). Needs root."""
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(FIFO_PRIORITY))


def pin_server_fifo() -> None:
    pin_server()
    fifo()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def tcp_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


def scratch_env(tmp: Path) -> dict[str, str]:
    """Every per-user directory points into the run's temp dir, so nothing touches $HOME."""
    env = dict(os.environ)
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        path = tmp / name.lower()
        path.mkdir(exist_ok=True)
        env[name] = str(path)
    env["PYTHONUNBUFFERED"] = "1"
    # A developer's OFFICEPULSE_* settings must not leak into the server under test.
    for name in [k for k in env if k.startswith("OFFICEPULSE_")]:
        del env[name]
    return env


class ServerProcess:
    """A server under test. It runs in its own session so a Ctrl-C reaches this script
    first; we then stop the server ourselves (TERM, then KILL) and never leave it behind."""

    def __init__(
        self, argv: Sequence[str], *, cwd: Path, env: dict[str, str], fifo: bool = False
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.env = env
        self.fifo = fifo
        self.log_path = cwd / "server.log"
        self._popen: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        with self.log_path.open("wb") as log:
            self._popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=pin_server_fifo if self.fifo else pin_server,
            )
        self.process = psutil.Process(self._popen.pid)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def stop(self) -> None:
        if self._popen is None or self._popen.poll() is not None:
            return
        # The session we created has the server's pid as its group id: only our processes.
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(grace)
                return

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.process, *self.process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and any worker processes it started."""
        total = 0.0
        for proc in self._tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def thread_cpu_seconds(self) -> dict[str, float]:
        """User + system CPU of the main server process: its event loop (the main thread)
        and its other threads together (the SQLite store's writer, the executor's reads;
        Python 3.11 gives the system no thread names to tell them apart by)."""
        parts = {"loop": 0.0, "other threads": 0.0}
        with contextlib.suppress(psutil.NoSuchProcess):
            for thread in self.process.threads():
                part = "loop" if thread.id == self.process.pid else "other threads"
                parts[part] += thread.user_time + thread.system_time
        return parts

    def rss_mb(self) -> float:
        total = 0
        for proc in self._tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total / 2**20

    def peak_rss_mb(self) -> float:
        """High-water RSS of the main server process (VmHWM), not just the RSS at the end."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return float("nan")
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def wait_until(ready: Callable[[], bool], server: ServerProcess, what: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{what} exited during start-up:\n{server.log_tail()}")
        if ready():
            return
        time.sleep(0.1)
    raise TimeoutError(
        f"{what} not ready after {SERVER_START_TIMEOUT_S:.0f} s:\n{server.log_tail()}"
    )


def store_mb(tmp: Path) -> float:
    """What the server wrote to disk (database, WAL, ...), logs excluded."""
    files = (p for p in tmp.rglob("*") if p.is_file() and not p.name.endswith(".log"))
    return sum(p.stat().st_size for p in files) / 2**20


# --------------------------------------------------------------------------- load workers
#
# Workers are separate processes (spawned, pinned to LOAD_CPU). Each opens its connections,
# sends "ready", waits for "go" so all start together and the server CPU sample taken between
# the two covers only the measured phase, then sends back a report.


@dataclass(frozen=True, slots=True)
class WsPlan:
    url: str
    agent_ids: tuple[str, ...]
    seconds: float
    rate: float | None  # this worker's heartbeats/s; None = as fast as the server takes them
    window: int | None  # heartbeats a connection may be ahead of the server; None = no limit
    base: datetime
    fifo: bool = False  # this worker at SCHED_FIFO (--fifo)


@dataclass(frozen=True, slots=True)
class WsReport:
    sent: int
    pings: int
    errors: int
    error_sample: str
    first_send: float
    last_send: float
    last_pong: float
    cpu_seconds: float


@dataclass(frozen=True, slots=True)
class HttpPlan:
    base_url: str
    agent_ids: tuple[str, ...]
    concurrency: int
    seconds: float
    base: datetime


@dataclass(frozen=True, slots=True)
class HttpReport:
    ok: int
    errors: int
    error_sample: str
    latencies_ms: list[float]
    first_send: float
    end: float
    cpu_seconds: float


def worker_entry(main: Callable[[Any, Connection], Any], plan: Any, pipe: Connection) -> None:
    """Common shell of a worker: pin, run the async body on uvloop, report failure as text."""
    pin_to(LOAD_CPU)
    if getattr(plan, "fifo", False):
        fifo()
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main(plan, pipe))
    except KeyboardInterrupt:
        pass  # the orchestrator got the same Ctrl-C and cleans up
    except BaseException:
        with contextlib.suppress(OSError):
            pipe.send(("error", traceback.format_exc()))
    finally:
        pipe.close()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop  # optional: not on every platform
    except ImportError:
        return None
    return uvloop.new_event_loop


async def wait_for_go(pipe: Connection) -> None:
    pipe.send(("ready", None))
    message = await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
    if message != "go":
        raise RuntimeError(f"unexpected message from orchestrator: {message!r}")


@dataclass(slots=True)
class Agent:
    """One agent connection and what the generator knows of its progress.

    Ping ids carry the number of heartbeats sent before the Ping, so a Pong with id k says
    the server has processed this connection's first k heartbeats.
    """

    ws: aiohttp.ClientWebSocketResponse
    progress: asyncio.Event  # shared by a worker's agents: set on every Pong
    done: asyncio.Future[float]  # time of the Pong covering everything sent
    sent: int = 0
    acked: int = 0
    pinged: int = 0  # heartbeats sent before the latest Ping
    final: int | None = None  # set when the last Ping goes out
    pings: int = 0
    errors: int = 0
    error_sample: str = ""
    reader: asyncio.Task[None] | None = field(default=None, repr=False)

    async def ping(self) -> None:
        self.pinged = self.sent
        self.pings += 1
        await self.ws.send_bytes(_msgpack.encode(Ping(id=self.sent)))

    def on_pong(self, pong_id: int) -> None:
        self.acked = max(self.acked, pong_id)
        self.progress.set()
        if self.final is not None and self.acked >= self.final and not self.done.done():
            self.done.set_result(time.monotonic())


async def connect_agent(
    session: aiohttp.ClientSession,
    url: str,
    agent_id: str,
    gate: asyncio.Semaphore,
    progress: asyncio.Event,
) -> Agent:
    async with gate:
        ws = await session.ws_connect(url, compress=0)
        await ws.send_bytes(_msgpack.encode(make_hello(agent_id)))
        reply = await ws.receive(timeout=30)
    if reply.type is not aiohttp.WSMsgType.BINARY:
        raise RuntimeError(f"{agent_id}: expected a MessagePack Welcome, got {reply.type!r}")
    welcome = decode_server_message(reply.data)
    if not isinstance(welcome, Welcome):
        raise RuntimeError(f"{agent_id}: expected Welcome, got {welcome!r}")
    agent = Agent(ws=ws, progress=progress, done=asyncio.get_running_loop().create_future())
    agent.reader = asyncio.create_task(read_replies(agent))
    return agent


async def read_replies(agent: Agent) -> None:
    """Counts refusals and follows Pongs; heartbeats get no other reply."""
    async for msg in agent.ws:
        if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
            continue
        try:
            message = decode_server_message(msg.data)
        except ProtocolError as exc:
            agent.errors += 1
            agent.error_sample = agent.error_sample or f"undecodable reply: {exc.message}"
            continue
        if isinstance(message, Pong):
            agent.on_pong(message.id)
        elif isinstance(message, Error):
            agent.errors += 1
            agent.error_sample = agent.error_sample or f"{message.code}: {message.message}"
    if not agent.done.done():
        code = agent.ws.close_code
        agent.done.set_exception(ConnectionError(f"closed before the last Pong (code {code})"))


async def send_heartbeats(agents: list[Agent], frames: EncodedTimeline, plan: WsPlan) -> float:
    """Round-robin over the connections, one heartbeat per websocket message, never waiting
    for a reply to send the next one. Returns the time of the first send.

    Flat out (no rate), each connection may be at most `plan.window` heartbeats ahead of the
    server, learnt from a Ping every half window: TCP alone would let hundreds of MB pile up
    in socket buffers and the run would last long after the send phase. Paced, messages are
    spread over 1 ms ticks so they arrive one by one, as real agents' do, with no Pings.
    """
    count = len(agents)
    start = time.monotonic()
    deadline = start + plan.seconds
    turn = 0  # global message count: agent turn % count is next
    stalled = 0  # consecutive agents skipped because their window is full
    while time.monotonic() < deadline:
        target = turn + count if plan.rate is None else int((time.monotonic() - start) * plan.rate)
        while turn < target and stalled < count:
            agent = agents[turn % count]
            turn += 1
            if agent.sent >= MAX_HEARTBEATS_PER_AGENT or (
                plan.window is not None and agent.sent - agent.acked >= plan.window
            ):
                stalled += 1
                continue
            stalled = 0
            await agent.ws.send_bytes(frames.get(agent.sent))
            agent.sent += 1
            if plan.window is not None and agent.sent - agent.pinged >= plan.window // 2:
                await agent.ping()
        if stalled >= count:  # every connection is a full window ahead: wait for a Pong
            stalled = 0
            agents[0].progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(agents[0].progress.wait(), 0.01)
        else:
            await asyncio.sleep(0 if plan.rate is None else 0.001)
    return start


async def ws_worker(plan: WsPlan, pipe: Connection) -> None:
    frames = EncodedTimeline(plan.base, encode_ws_heartbeat)
    frames.get(4096)  # warm the cache outside the measured phase
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        progress = asyncio.Event()
        agents = list(
            await asyncio.gather(
                *(connect_agent(session, plan.url, a, gate, progress) for a in plan.agent_ids)
            )
        )
        await wait_for_go(pipe)
        cpu_start = time.process_time()
        first_send = await send_heartbeats(agents, frames, plan)
        last_send = time.monotonic()
        for agent in agents:
            agent.final = agent.sent
            await agent.ping()
        # The last Pong of a connection means the server processed all that was sent on it.
        drain_timeout = max(60.0, 6 * plan.seconds)
        done = await asyncio.wait_for(asyncio.gather(*(a.done for a in agents)), drain_timeout)
        cpu_seconds = time.process_time() - cpu_start
        report = WsReport(
            sent=sum(a.sent for a in agents),
            pings=sum(a.pings for a in agents),
            errors=sum(a.errors for a in agents),
            error_sample=next((a.error_sample for a in agents if a.error_sample), ""),
            first_send=first_send,
            last_send=last_send,
            last_pong=max(done),
            cpu_seconds=cpu_seconds,
        )
        pipe.send(("report", report))
        await asyncio.gather(*(a.ws.close() for a in agents), return_exceptions=True)


@dataclass(slots=True)
class HttpTally:
    """Shared by a worker's HTTP clients (one event loop, so no locking)."""

    ok: int = 0
    errors: int = 0
    error_sample: str = ""
    latencies_ms: list[float] = field(default_factory=list)


async def aw_client(
    session: aiohttp.ClientSession,
    base_url: str,
    agents: Sequence[str],
    bodies: EncodedTimeline,
    deadline: float,
    tally: HttpTally,
) -> None:
    """One HTTP client: sequential POSTs cycling over its agents, one heartbeat each per lap."""
    laps = 0
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < deadline and laps < MAX_HEARTBEATS_PER_AGENT:
        body = bodies.get(laps)
        for agent in agents:
            url = f"{base_url}/api/0/buckets/{agent}/heartbeat?pulsetime={PULSETIME_S}"
            began = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
            tally.latencies_ms.append((time.perf_counter() - began) * 1000)
            if response.status == 200:
                tally.ok += 1
            else:
                tally.errors += 1
                tally.error_sample = tally.error_sample or f"HTTP {response.status} on {url}"
            if time.monotonic() >= deadline:
                return
        laps += 1


async def create_bucket(session: aiohttp.ClientSession, base_url: str, agent: str) -> None:
    body = {"client": "aw-watcher-window", "type": "currentwindow", "hostname": "bench-host"}
    async with session.post(f"{base_url}/api/0/buckets/{agent}", json=body) as response:
        await response.read()
        if response.status not in (200, 304):
            raise RuntimeError(f"creating bucket {agent}: HTTP {response.status}")


async def http_worker(plan: HttpPlan, pipe: Connection) -> None:
    bodies = EncodedTimeline(plan.base, encode_aw_heartbeat)
    bodies.get(1024)
    connector = aiohttp.TCPConnector(limit=plan.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(plan.concurrency)

        async def create(agent: str) -> None:
            async with gate:
                await create_bucket(session, plan.base_url, agent)

        await asyncio.gather(*(create(a) for a in plan.agent_ids))
        await wait_for_go(pipe)
        cpu_start = time.process_time()
        tally = HttpTally()
        first_send = time.monotonic()
        deadline = first_send + plan.seconds
        clients = min(plan.concurrency, len(plan.agent_ids))
        await asyncio.gather(
            *(
                aw_client(
                    session, plan.base_url, plan.agent_ids[c::clients], bodies, deadline, tally
                )
                for c in range(clients)
            )
        )
        pipe.send(
            (
                "report",
                HttpReport(
                    ok=tally.ok,
                    errors=tally.errors,
                    error_sample=tally.error_sample,
                    latencies_ms=tally.latencies_ms,
                    first_send=first_send,
                    end=time.monotonic(),
                    cpu_seconds=time.process_time() - cpu_start,
                ),
            )
        )


# --------------------------------------------------------------------------- orchestration


def receive(pipe: Connection, expected: str, timeout: float) -> Any:
    if not pipe.poll(timeout):
        raise TimeoutError(f"no {expected!r} from a load worker after {timeout:.0f} s")
    kind, payload = pipe.recv()
    if kind == "error":
        raise RuntimeError(f"load worker failed:\n{payload}")
    if kind != expected:
        raise RuntimeError(f"load worker sent {kind!r}, expected {expected!r}")
    return payload


@contextlib.contextmanager
def load_workers(
    main: Callable[[Any, Connection], Any], plans: Sequence[Any]
) -> Iterator[list[Connection]]:
    """Spawned (not forked) so each worker starts clean, without this process's state."""
    ctx = mp.get_context("spawn")
    pipes: list[Connection] = []
    procs: list[mp.process.BaseProcess] = []
    finished = False
    try:
        for plan in plans:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_entry, args=(main, plan, child), daemon=True)
            proc.start()
            child.close()
            pipes.append(parent)
            procs.append(proc)
        yield pipes
        finished = True
    finally:
        for worker in procs:
            if finished:  # a worker that reported is closing its sockets: let it
                worker.join(5)
            if worker.is_alive():
                worker.terminate()
                worker.join(5)
            if worker.is_alive():
                worker.kill()
                worker.join()
        for pipe in pipes:
            pipe.close()


@dataclass(frozen=True, slots=True)
class Phase:
    """What the orchestrator saw of one measured phase (from "go" to the last report)."""

    reports: list[Any]
    server_cpu_s: float
    setup_s: float  # spawning workers, connecting + Hello (or creating aw buckets)
    others_cpu_pct: float  # CPU time on the server's core NOT used by the server, per wall s
    load_core_pct: float  # everything on the load generators' core, per wall s
    threads_cpu_s: dict[str, float]  # the main server process's CPU: its loop, its other threads


def core_busy_s(cpu: int) -> float:
    times = psutil.cpu_times(percpu=True)
    if cpu >= len(times):
        return float("nan")
    t = times[cpu]
    return t.user + t.nice + t.system + t.irq + t.softirq + t.steal


def drive(
    main: Callable[[Any, Connection], Any],
    plans: Sequence[Any],
    server: ServerProcess,
    run_timeout: float,
) -> Phase:
    """Runs the workers and samples the server's CPU, and its core's, around the measured phase.

    Other programs on this machine (tests, browsers) may run on the server's core too; their
    share is reported so a low rate can be told apart from a slow server.
    """
    with load_workers(main, plans) as pipes:
        began = time.monotonic()
        for pipe in pipes:
            receive(pipe, "ready", READY_TIMEOUT_S)
        setup_s = time.monotonic() - began
        cpu_before = server.cpu_seconds()
        threads_before = server.thread_cpu_seconds()
        core_before, load_before = core_busy_s(SERVER_CPU), core_busy_s(LOAD_CPU)
        wall_before = time.monotonic()
        for pipe in pipes:
            pipe.send("go")
        reports = [receive(pipe, "report", run_timeout) for pipe in pipes]
        server_cpu = server.cpu_seconds() - cpu_before
        threads = {k: v - threads_before[k] for k, v in server.thread_cpu_seconds().items()}
        core_busy = core_busy_s(SERVER_CPU) - core_before
        load_busy = core_busy_s(LOAD_CPU) - load_before
        wall = time.monotonic() - wall_before
    others = 100 * max(0.0, core_busy - server_cpu) / wall
    return Phase(reports, server_cpu, setup_s, others, 100 * load_busy / wall, threads)


@dataclass(slots=True)
class RunResult:
    system: str
    agents: int
    paced_rate: float | None  # None: as fast as the server accepts
    connections: int  # websocket connections, or concurrent HTTP clients
    heartbeats: int
    wall_s: float
    rate: float
    server_cpu_s: float
    server_rss_mb: float
    server_peak_rss_mb: float
    store_mb: float
    generator_cpu_s: float
    errors: int
    p50_ms: float | None = None
    p99_ms: float | None = None
    drain_s: float | None = None  # last send -> last Pong: how far the server lagged behind
    pings: int = 0  # flow-control and final Pings sent besides the heartbeats
    setup_s: float = 0.0
    others_cpu_pct: float = 0.0  # other programs' use of the server's core during the run
    load_core_pct: float = 0.0  # how busy the load generators' core was (theirs + others)
    error_sample: str = ""
    threads_cpu_s: dict[str, float] = field(default_factory=dict)  # Phase.threads_cpu_s

    @property
    def label(self) -> str:
        return (
            self.system if self.paced_rate is None else f"{self.system} @{self.paced_rate:,.0f}/s"
        )

    @property
    def server_cpu_pct(self) -> float:
        return 100 * self.server_cpu_s / self.wall_s if self.wall_s else float("nan")

    @property
    def us_per_heartbeat(self) -> float:
        return 1e6 * self.server_cpu_s / self.heartbeats if self.heartbeats else float("nan")

    @property
    def generator_us_per_heartbeat(self) -> float:
        return 1e6 * self.generator_cpu_s / self.heartbeats if self.heartbeats else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "server_cpu_pct": self.server_cpu_pct,
            "us_per_heartbeat": self.us_per_heartbeat,
            "generator_us_per_heartbeat": self.generator_us_per_heartbeat,
        }


def summarize_ws(
    system: str, load: WsLoad, phase: Phase, server: ServerProcess, tmp: Path
) -> RunResult:
    reports: list[WsReport] = phase.reports
    sent = sum(r.sent for r in reports)
    start = min(r.first_send for r in reports)
    end = max(r.last_pong for r in reports)
    wall = end - start
    return RunResult(
        system=system,
        agents=load.agents,
        connections=load.agents,
        paced_rate=load.rate,
        heartbeats=sent,
        wall_s=wall,
        rate=sent / wall,
        server_cpu_s=phase.server_cpu_s,
        server_rss_mb=server.rss_mb(),
        server_peak_rss_mb=server.peak_rss_mb(),
        store_mb=store_mb(tmp),
        generator_cpu_s=sum(r.cpu_seconds for r in reports),
        errors=sum(r.errors for r in reports),
        drain_s=end - max(r.last_send for r in reports),
        pings=sum(r.pings for r in reports),
        error_sample=next((r.error_sample for r in reports if r.error_sample), ""),
        setup_s=phase.setup_s,
        others_cpu_pct=phase.others_cpu_pct,
        load_core_pct=phase.load_core_pct,
        threads_cpu_s=phase.threads_cpu_s,
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True, slots=True)
class WsLoad:
    """One websocket load shape: N agents for `seconds`, paced to `rate` or flat out."""

    agents: int
    seconds: float
    rate: float | None
    generators: int
    in_flight: int  # heartbeats all connections together may be ahead of the server (flat out)
    fifo: bool = False  # server and generators at SCHED_FIFO (--fifo; paced loads only)


def ws_plans(url: str, load: WsLoad, tag: str) -> list[WsPlan]:
    """Agents dealt round-robin to the generator processes; a paced rate is split evenly."""
    ids = agent_ids(load.agents, tag)
    workers = max(1, min(load.generators, load.agents))
    base = timeline_base()
    rate = None if load.rate is None else load.rate / workers
    # Paced runs need no window; flat out, at least 2 Pings per 64 heartbeats of a connection.
    window = (
        None if rate is not None or not load.in_flight else max(64, load.in_flight // load.agents)
    )
    return [
        WsPlan(
            url=url,
            agent_ids=tuple(ids[w::workers]),
            seconds=load.seconds,
            rate=rate,
            window=window,
            base=base,
            fifo=load.fifo,
        )
        for w in range(workers)
    ]


async def probe_officepulse(url: str) -> None:
    """Hello, one heartbeat, Ping -> Pong on a throwaway agent: the server speaks the protocol."""
    async with aiohttp.ClientSession() as session:
        gate, progress = asyncio.Semaphore(1), asyncio.Event()
        agent = await connect_agent(session, url, "bench-probe", gate, progress)
        await agent.ws.send_bytes(encode_ws_heartbeat(timeline_base(), *activity_at(0)))
        agent.sent = agent.final = 1
        await agent.ping()
        await asyncio.wait_for(agent.done, 10)
        await agent.ws.close()
        if agent.errors:
            raise RuntimeError(f"probe heartbeat refused: {agent.error_sample}")


def run_ws_bench(
    system: str, argv_for: Callable[[int, Path], list[str]], load: WsLoad
) -> RunResult:
    with tempfile.TemporaryDirectory(prefix=f"bench-{system}-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        url = f"ws://{LOOPBACK}:{port}/agent"
        env = scratch_env(tmp)
        with ServerProcess(argv_for(port, tmp), cwd=tmp, env=env, fifo=load.fifo) as server:
            wait_until(lambda: tcp_open(port), server, system)
            asyncio.run(probe_officepulse(url))
            plans = ws_plans(url, load, os.urandom(3).hex())
            run_timeout = READY_TIMEOUT_S + max(60.0, 6 * load.seconds) + load.seconds
            phase = drive(ws_worker, plans, server, run_timeout)
            return summarize_ws(system, load, phase, server, tmp)


def officepulse_argv_factory(args: argparse.Namespace) -> Callable[[int, Path], list[str]]:
    exe = Path(sys.executable).parent / "officepulse"
    help_text = subprocess.run(
        [str(exe), "server", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout

    def argv(port: int, tmp: Path) -> list[str]:
        cmd = [str(exe), "server", "--port", str(port), "--database", str(tmp / "bench.sqlite3")]
        if "--host" in help_text:
            cmd += ["--host", LOOPBACK]
        if "--pulsetime" in help_text:
            # Same pulsetime as the aw-server workload: it decides how many spans are stored.
            cmd += ["--pulsetime", str(PULSETIME_S)]
        return cmd + list(args.server_arg)

    return argv


def sink_argv(port: int, tmp: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--serve-sink", str(port)]


def picows_sink_argv(port: int, tmp: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--serve-sink-picows", str(port)]


# --------------------------------------------------------------------------- aw-server


def ensure_aw_venv() -> Path:
    """Creates .venv-aw on first use; a marker file tells a finished install from a broken one."""
    exe = AW_VENV / "bin" / "aw-server"
    if AW_READY_MARKER.exists() and exe.exists():
        return exe
    python = "python3.11" if sys.version_info[:2] != (3, 11) else sys.executable
    print(f"creating {AW_VENV} (aw-server 0.12 needs Python 3.11) ...", flush=True)
    subprocess.run([python, "-m", "venv", "--clear", str(AW_VENV)], check=True)
    pip = [str(AW_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *AW_PACKAGES], check=True)
    AW_READY_MARKER.write_text(" ".join(AW_PACKAGES) + "\n")
    return exe


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def run_aw_bench(exe: Path, n: int, args: argparse.Namespace) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="bench-aw-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        base_url = f"http://{LOOPBACK}:{port}"
        argv = [str(exe), "--testing", "--host", LOOPBACK, "--port", str(port)]
        with ServerProcess(argv, cwd=tmp, env=scratch_env(tmp)) as server:
            wait_until(lambda: http_ok(f"{base_url}/api/0/info"), server, "aw-server")
            plan = HttpPlan(
                base_url=base_url,
                agent_ids=tuple(f"aw-watcher-window_{a}" for a in agent_ids(n, "aw")),
                concurrency=args.aw_concurrency,
                seconds=args.aw_seconds,
                base=timeline_base(),
            )
            run_timeout = READY_TIMEOUT_S + args.aw_seconds + 60
            phase = drive(http_worker, [plan], server, run_timeout)
            (report,) = phase.reports
            wall = report.end - report.first_send
            return RunResult(
                system="aw-server",
                agents=n,
                paced_rate=None,
                connections=min(args.aw_concurrency, n),
                heartbeats=report.ok,
                wall_s=wall,
                rate=report.ok / wall,
                server_cpu_s=phase.server_cpu_s,
                server_rss_mb=server.rss_mb(),
                server_peak_rss_mb=server.peak_rss_mb(),
                store_mb=store_mb(tmp),
                generator_cpu_s=report.cpu_seconds,
                errors=report.errors,
                p50_ms=percentile(report.latencies_ms, 0.50),
                p99_ms=percentile(report.latencies_ms, 0.99),
                error_sample=report.error_sample,
                setup_s=phase.setup_s,
                others_cpu_pct=phase.others_cpu_pct,
                load_core_pct=phase.load_core_pct,
            )


# --------------------------------------------------------------------------- null sink


# What both null sinks answer a Hello with.
SINK_WELCOME = Welcome(
    v=PROTOCOL_VERSION,
    session="sink",
    server_version="sink",
    heartbeat_interval=1,
    pulsetime=PULSETIME_S,
    max_frame_bytes=65_536,
)


def serve_sink(port: int) -> None:
    """A protocol-only websocket server (aiohttp + uvloop): decodes every frame with the
    project's codec, answers Hello and Ping, stores nothing. Used to measure the generator."""
    pin_to(SERVER_CPU)

    async def agent(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        conversation = ServerConversation()
        welcome = SINK_WELCOME
        async for msg in ws:
            if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                continue
            for event in conversation.receive(msg.data):
                if isinstance(event, HelloReceived):
                    conversation.accept(welcome)
            for frame in conversation.data_to_send():
                await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        return ws

    app = web.Application()
    app.router.add_get("/agent", agent)
    web.run_app(app, host=LOOPBACK, port=port, print=None, loop=_new_loop(), handle_signals=True)


def serve_sink_picows(port: int) -> None:
    """The same null sink on picows (a Cython websocket library whose frames arrive in a
    data callback, no task woken per message): what the transport alone would cost if the
    gateway's /agent endpoint ran on it (issue 10's paced target); the server's /agent now
    does (gateway/wire.py)."""
    import picows  # only for this row

    pin_to(SERVER_CPU)
    welcome = SINK_WELCOME

    class Agent(picows.WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.conversation = ServerConversation()

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind == picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            if kind == picows.WSMsgType.TEXT:
                data: str | bytes = frame.get_payload_as_utf8_text()
            elif kind == picows.WSMsgType.BINARY:
                data = frame.get_payload_as_bytes()
            else:
                return
            for event in self.conversation.receive(data):
                if isinstance(event, HelloReceived):
                    self.conversation.accept(welcome)
            for out in self.conversation.data_to_send():
                if isinstance(out, bytes):
                    transport.send(picows.WSMsgType.BINARY, out)
                else:
                    transport.send(picows.WSMsgType.TEXT, out.encode())

    async def serve() -> None:
        server = await picows.ws_create_server(lambda request: Agent(), LOOPBACK, port)
        await server.serve_forever()

    loop = _new_loop()
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_until_complete(serve())


def _new_loop() -> asyncio.AbstractEventLoop:
    factory = _loop_factory()
    return factory() if factory is not None else asyncio.new_event_loop()


# --------------------------------------------------------------------------- output


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:  # None or NaN
        return "—"
    return f"{value:,.{digits}f}"


# (header, cell) pairs. "gen µs/hb" is the load generator's CPU per heartbeat; "CPU0 others %"
# is other programs' use of the server's core during the run, "CPU1 busy %" all use of the load
# core: this machine is shared, and they tell a slow server from a starved one.
COLUMNS: tuple[tuple[str, Callable[[RunResult], str]], ...] = (
    ("system", lambda r: r.label),
    ("agents", lambda r: str(r.agents)),
    ("conns", lambda r: str(r.connections)),
    ("heartbeats", lambda r: f"{r.heartbeats:,}"),
    ("wall s", lambda r: fmt(r.wall_s, 2)),
    ("hb/s", lambda r: fmt(r.rate)),
    ("p50 ms", lambda r: fmt(r.p50_ms, 1)),
    ("p99 ms", lambda r: fmt(r.p99_ms, 1)),
    ("drain s", lambda r: fmt(r.drain_s, 2)),
    ("srv CPU s", lambda r: fmt(r.server_cpu_s, 2)),
    ("srv CPU %", lambda r: fmt(r.server_cpu_pct)),
    ("µs CPU/hb", lambda r: fmt(r.us_per_heartbeat, 1)),
    ("RSS MB", lambda r: fmt(r.server_rss_mb, 1)),
    ("disk MB", lambda r: fmt(r.store_mb, 2)),
    ("gen µs/hb", lambda r: fmt(r.generator_us_per_heartbeat, 1)),
    ("CPU0 others %", lambda r: fmt(r.others_cpu_pct)),
    ("CPU1 busy %", lambda r: fmt(r.load_core_pct)),
    ("errors", lambda r: str(r.errors)),
)


def render_table(results: Sequence[RunResult]) -> str:
    rows = [[h for h, _ in COLUMNS], *([cell(r) for _, cell in COLUMNS] for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]

    def line(row: list[str]) -> str:
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        return "  ".join(cells)

    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths), *map(line, rows[1:])])


def bottleneck(r: RunResult) -> str:
    """Which core ran out, from CPU use: rates alone can't tell on a shared machine."""
    server_core = r.server_cpu_pct + r.others_cpu_pct
    if server_core >= 90:
        return (
            f"CPU {SERVER_CPU} full (server {fmt(r.server_cpu_pct)} %, "
            f"other programs {fmt(r.others_cpu_pct)} %): server-bound"
        )
    if r.load_core_pct >= 90:
        return f"CPU {LOAD_CPU} full ({fmt(r.load_core_pct)} %): generator-bound, a lower bound"
    return f"neither core full (CPU {SERVER_CPU} {fmt(server_core)} %): latency/backpressure-bound"


def kept_up(r: RunResult) -> bool:
    """A paced run kept up if the server took (almost) all of it without building a backlog."""
    return r.paced_rate is not None and r.rate >= 0.98 * r.paced_rate and (r.drain_s or 0) < 1


def target_verdict(r: RunResult, target: float) -> str:
    if r.paced_rate is None:
        verdict = "meets" if r.rate >= target else "MISSES"
        return f"{fmt(r.rate)} hb/s flat out {verdict} the {fmt(target)} hb/s target"
    verdict = "kept up with" if kept_up(r) else "FELL BEHIND"
    return (
        f"{verdict} {fmt(r.paced_rate)} hb/s (one message at a time) using "
        f"{fmt(r.server_cpu_pct)} % of CPU {SERVER_CPU}"
    )


def render_summary(results: Sequence[RunResult], args: argparse.Namespace) -> str:
    groups: dict[tuple[int, float | None], dict[str, RunResult]] = {}
    for r in results:
        groups.setdefault((r.agents, r.paced_rate), {})[r.system] = r
    notes: list[str] = []
    for (n, paced), runs in sorted(groups.items(), key=lambda g: (g[0][1] or 0, g[0][0])):
        sink, op, aw = runs.get("null-sink"), runs.get("officepulse"), runs.get("aw-server")
        notes.append(f"N={n}" + (f", paced {fmt(paced)} hb/s:" if paced else ":"))
        if op is not None:
            limit = "" if kept_up(op) else f"; {bottleneck(op)}"  # keeping up = no bottleneck
            notes.append(f"  officepulse {target_verdict(op, args.target)}{limit}")
            extra = ""
            if sink is not None:
                extra = (
                    f"; the null sink (transport + decode only) costs "
                    f"{fmt(sink.us_per_heartbeat, 1)} µs"
                )
            if op.pings > op.agents:
                share = 100 * op.pings / op.heartbeats
                notes.append(
                    f"    {op.pings:,} Pings besides ({share:.1f} %) kept the backlog bounded"
                )
            notes.append(
                f"    {fmt(op.us_per_heartbeat, 1)} µs server CPU per heartbeat = "
                f"{fmt(1e6 / op.us_per_heartbeat)} hb/s per core it had to itself{extra}"
            )
            if op.threads_cpu_s and op.heartbeats:
                split = ", ".join(
                    f"{part} {fmt(1e6 * s / op.heartbeats, 1)}"
                    for part, s in op.threads_cpu_s.items()
                )
                notes.append(f"    by thread, µs per heartbeat: {split}")
        gen = sink if sink is not None else op
        if gen is not None and paced is not None:
            # A paced generator idles between 1 ms ticks: its CPU per message is no ceiling.
            share = 100 * gen.generator_cpu_s / gen.wall_s
            notes.append(f"  generator: paced, {fmt(share)} % of CPU {LOAD_CPU}")
        elif gen is not None:
            measured = f"; delivered {fmt(sink.rate)} hb/s to the null sink" if sink else ""
            notes.append(
                f"  generator: {fmt(gen.generator_us_per_heartbeat, 1)} µs CPU per heartbeat = "
                f"ceiling {fmt(1e6 / gen.generator_us_per_heartbeat)} hb/s on CPU {LOAD_CPU}"
                f"{measured}"
            )
        if op is not None and aw is not None:
            notes.append(
                f"  vs aw-server ({aw.connections} HTTP clients): {op.rate / aw.rate:,.0f}x the "
                f"rate, {aw.us_per_heartbeat / op.us_per_heartbeat:,.0f}x less server CPU "
                "per heartbeat"
            )
        elif aw is not None:
            notes.append(f"  aw-server: {bottleneck(aw)}")
    for r in results:
        if r.errors:
            notes.append(f"{r.label} N={r.agents}: {r.errors} refused, e.g. {r.error_sample}")
    return "\n".join(notes)


def machine_info() -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model,
        "cpus": os.cpu_count(),
        "server_cpu": SERVER_CPU,
        "load_cpu": LOAD_CPU,
    }


def write_json(results: Sequence[RunResult], args: argparse.Namespace) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"ingest-{stamp}.json"
    config = {k: v for k, v in vars(args).items() if not k.startswith("serve_sink")}
    payload = {
        "machine": machine_info(),
        "config": config,
        "results": [r.as_json() for r in results],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--agents",
        type=int,
        nargs="+",
        default=[10, 100, 1000],
        help="agent counts (one websocket connection each); default: 10 100 1000",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="send phase per officepulse run, before the final Ping (default 10)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="pace every officepulse run to this many heartbeats/s in total "
        "(default: as fast as the server accepts)",
    )
    p.add_argument(
        "--paced-rate",
        type=float,
        default=10_000,
        help="when --rate is not given, add one run at the largest --agents paced to this rate, "
        "so that messages arrive one by one as real agents' do (default 10000; 0: skip)",
    )
    p.add_argument(
        "--in-flight",
        type=int,
        default=100_000,
        help="flat out, how many heartbeats all connections together may be ahead of the "
        "server, learnt from Pings (default 100000, about 2 s of work; 0: no limit but TCP's)",
    )
    p.add_argument(
        "--generators",
        type=int,
        default=1,
        help=f"load generator processes, all on CPU {LOAD_CPU} (default 1)",
    )
    p.add_argument("--target", type=float, default=10_000, help="heartbeats/s goal (default 10000)")
    p.add_argument(
        "--sink-seconds",
        type=float,
        default=5.0,
        help="send phase per null-sink (generator ceiling) run (default 5)",
    )
    p.add_argument("--skip-sink", action="store_true", help="don't measure the generator ceiling")
    p.add_argument("--skip-officepulse", action="store_true")
    p.add_argument("--skip-aw", action="store_true")
    p.add_argument(
        "--aw-agents",
        type=int,
        nargs="+",
        default=[10, 100],
        help="agent (bucket) counts for aw-server (default: 10 100; 1000 is allowed but creating "
        "1,000 buckets alone takes aw-server about a minute)",
    )
    p.add_argument("--aw-seconds", type=float, default=10.0, help="per aw-server run (default 10)")
    p.add_argument(
        "--aw-concurrency",
        type=int,
        default=10,
        help="concurrent HTTP clients for aw-server, each cycling over its share of the "
        "agents' buckets (default 10: aw-server's best rate; 1 gives its best latency)",
    )
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra argument for `officepulse server` (repeatable)",
    )
    p.add_argument(
        "--fifo",
        action="store_true",
        help=f"run the paced runs' server (or sink) and load generators at SCHED_FIFO priority "
        f"{FIFO_PRIORITY} (root): on a shared machine other programs then cannot delay them, "
        "so a paced run costs what it would on free cores (flat-out runs are left as they are)",
    )
    p.add_argument(
        "--json", action="store_true", help="also write bench/results/ingest-<time>.json"
    )
    p.add_argument(
        "--picows-sink",
        action="store_true",
        help="beside each null-sink run, the same sink on picows (`pip install picows`): the "
        "transport's cost without a task woken per message",
    )
    p.add_argument("--serve-sink", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--serve-sink-picows", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn a TERM into the same unwinding as Ctrl-C, so every `finally` and `with` cleans up.
    raise KeyboardInterrupt


def run_all(args: argparse.Namespace) -> list[RunResult]:
    results: list[RunResult] = []
    officepulse_argv = None if args.skip_officepulse else officepulse_argv_factory(args)
    # --fifo only for paced loads: flat out, a real-time server would take all of its core.
    fifo = args.fifo and args.rate is not None
    loads = [
        WsLoad(n, args.seconds, args.rate, args.generators, args.in_flight, fifo)
        for n in args.agents
    ]
    if args.paced_rate and args.rate is None:
        # Flat-out runs make frames queue up and arrive together, which is cheaper per message;
        # a paced run at the target rate over many connections shows the realistic cost.
        paced = WsLoad(
            max(args.agents), args.seconds, args.paced_rate, args.generators, 0, args.fifo
        )
        loads.append(paced)
    for load in loads:
        if not args.skip_sink:
            sink_load = WsLoad(
                load.agents,
                args.sink_seconds,
                load.rate,
                load.generators,
                load.in_flight,
                load.fifo,
            )
            results.append(announce(run_ws_bench("null-sink", sink_argv, sink_load)))
            if args.picows_sink:
                results.append(
                    announce(run_ws_bench("null-sink picows", picows_sink_argv, sink_load))
                )
        if officepulse_argv is not None:
            results.append(announce(run_ws_bench("officepulse", officepulse_argv, load)))
    if not args.skip_aw:
        exe = ensure_aw_venv()
        for n in args.aw_agents:
            results.append(announce(run_aw_bench(exe, n, args)))
    return results


def announce(result: RunResult) -> RunResult:
    print(
        f"  {result.label:<22} N={result.agents:<5} {fmt(result.rate):>9} hb/s  "
        f"{fmt(result.us_per_heartbeat, 1):>7} µs CPU/hb  (setup {result.setup_s:.1f} s)",
        flush=True,
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_sink is not None:
        serve_sink(args.serve_sink)
        return 0
    if args.serve_sink_picows is not None:
        serve_sink_picows(args.serve_sink_picows)
        return 0
    signal.signal(signal.SIGTERM, raise_on_sigterm)
    if (os.cpu_count() or 1) < 2:
        print("warning: fewer than 2 CPUs, server and load share a core", file=sys.stderr)
    pin_to(LOAD_CPU)  # this process and the workers it spawns stay off the server's core
    info = machine_info()
    print(
        f"ingest bench: Python {info['python']}, {info['cpus']} CPUs ({info['cpu']}); "
        f"servers on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}, {args.generators} generator "
        f"process(es); one heartbeat per message, MessagePack, pipelined",
        flush=True,
    )
    try:
        results = run_all(args)
    except KeyboardInterrupt:
        print("\ninterrupted; servers and workers stopped, temp dirs removed", file=sys.stderr)
        return 130
    print()
    print(render_table(results))
    print()
    print(render_summary(results, args))
    if args.json:
        print(f"\nwrote {write_json(results, args).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
