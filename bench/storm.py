#!/usr/bin/env python3
"""A reconnect storm after killing a gateway with as many agents as this machine holds
(issue 12, part 9). bench/failover.py's run at a size where the machine's limits bind.

The cluster of ``make cluster`` (tests/support/cluster.py: NATS, PostgreSQL, three
gateways, a panel, HAProxy with deploy/haproxy/officepulse.cfg) with ``--haproxies``
HAProxy processes on the one port (Linux shares a port between processes that set
SO_REUSEPORT, as HAProxy does: one HAProxy holds at most half its descriptor limit of
agents, and this machine's hard limit is per process), ``--agents`` light agents spread
over ``--procs`` client processes, and ``--stranded`` protocol clients pinned to the
gateway that is killed (they do not come back). Then ``kill -9`` of that gateway.

A light agent is bench/idle_memory.py's idle agent (the websockets client, MessagePack, no
compression, a hello and a batch of spans) which also comes back as the agent does: the
agent's own back-off (agent/backoff.py: full jitter from 0.5 s capped at 4 s, started over
once it was connected; after a 4013 close the delay its reason suggests), and once
welcomed it sends again the spans after the welcome's ``resume_from_seq``. Each records
spans 1-6 (acknowledged) before the kill, and 7-10 just before it, not waited for: in
flight or unsent when its gateway dies.

Measured from the kill (``time.monotonic``, one clock for all processes on Linux): each
of the killed gateway's agents welcomed again (p50, p95, last), its attempts and the
refusals it met (4013 "try again soon", anything else), every agent online on the panel's
REST API, the stranded ones shown offline (leases lapsed), and each process's CPU and
peak memory from the kill until the last agent was back. Before the kill, each process's
CPU over ``--idle-seconds`` of all agents idle: the cost of holding them (leases). At the
end each agent's total on the panel's API must be its 10 recorded seconds: none lost,
none doubled; and no agent of a living gateway may have been swept offline.

Run: .venv/bin/python bench/storm.py [--agents 9900] [--haproxies 1] [--procs 4]
     [--max-connections N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import multiprocessing as mp
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).parent / "results"
VICTIM = "g1"
SPANS = 10  # each agent's recorded seconds: 1-6 before the kill, 7-10 at it
FIRST = 6
# One address holds at most this many agents: the gateways allow 5,000 an address
# (max_connections_per_ip) and the kernel 28,000 ports from one address to one port.
PER_ADDRESS = 2000
CONNECTING_AT_ONCE = 40  # per client process, while the office fills (not in the storm)


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ------------------------------------------------------------------------ light agents


@dataclass
class Tally:
    """What one agent went through after losing its gateway."""

    lost_at: float | None = None
    back_at: float | None = None
    acked_at: float | None = None
    attempts: int = 0
    full: int = 0  # closed with 4013 (try again soon)
    failed: int = 0  # any other failed attempt (refused, HAProxy's 503, a timeout)
    acked: int = 0
    first_error: str = ""


@dataclass
class Agent:
    agent_id: str
    source: str
    tally: Tally = field(default_factory=Tally)
    # When (time.monotonic) it sends spans 7-10, once armed.
    send_at: float = 0.0
    connected: asyncio.Event = field(default_factory=asyncio.Event)


def storm_spans(base_ms: int) -> list[Any]:
    from officepulse.protocol.messages import Activity, SpanOut

    def at(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, UTC)

    return [
        SpanOut(
            start=at(base_ms + s * 1000),
            end=at(base_ms + s * 1000 + 1000),
            activity=Activity(app=f"a{s % 3}"),
            tz="UTC",
        )
        for s in range(1, SPANS + 1)
    ]


class Full(Exception):
    """Closed with 4013: the delay its reason suggests."""

    def __init__(self, retry_after: float | None) -> None:
        self.retry_after = retry_after


async def session(
    agent: Agent,
    url: str,
    spans: list[Any],
    open_timeout: float,
    armed: asyncio.Event,
    welcomed: Callable[[], None],
) -> None:
    """One connection: hello, welcome (then ``welcomed()``), the spans after the
    welcome's ``resume_from_seq`` (up to ``FIRST`` until ``armed``, then all), reading
    acks until it closes. Raises ``Full`` on 4013, anything else as it comes."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from officepulse.protocol.codec import decode_server_message, encode
    from officepulse.protocol.errors import CloseCode, retry_after
    from officepulse.protocol.messages import PROTOCOL_VERSION, Ack, Hello, Spans, Welcome

    hello = Hello(v=PROTOCOL_VERSION, agent_id=agent.agent_id, name=agent.agent_id,
                  host="bench", platform="Linux", agent_version="bench", tz="UTC")  # fmt: skip
    async with connect(url, compression=None, proxy=None, ping_interval=None,
                       open_timeout=open_timeout, close_timeout=2,
                       local_addr=(agent.source, 0)) as ws:  # fmt: skip
        try:
            await ws.send(encode(hello, "msgpack"))
            welcome = decode_server_message(await ws.recv())
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == CloseCode.TRY_AGAIN_SOON:
                raise Full(retry_after(exc.rcvd.reason)) from None
            raise
        if not isinstance(welcome, Welcome):
            raise RuntimeError(f"expected a welcome, got {welcome!r}")
        tally = agent.tally
        tally.acked = max(tally.acked, welcome.resume_from_seq)
        if tally.lost_at is not None and tally.back_at is None:
            tally.back_at = time.monotonic()
        welcomed()
        sent = welcome.resume_from_seq

        def all_acked() -> None:
            if tally.acked >= SPANS and tally.back_at is not None:
                tally.acked_at = tally.acked_at or time.monotonic()

        all_acked()  # everything was stored before the kill

        async def send_upto(last: int) -> None:
            nonlocal sent
            if last > sent:
                batch = Spans(first_seq=sent + 1, spans=spans[sent:last])
                sent = last
                await ws.send(encode(batch, "msgpack"))

        async def arm() -> None:
            await armed.wait()
            await asyncio.sleep(max(0.0, agent.send_at - time.monotonic()))
            await send_upto(SPANS)

        await send_upto(FIRST)
        arming = asyncio.create_task(arm())
        try:
            async for frame in ws:
                message = decode_server_message(frame)
                if isinstance(message, Ack):
                    tally.acked = max(tally.acked, message.seq)
                    all_acked()
        finally:
            arming.cancel()


async def live(
    agent: Agent, url: str, spans: list[Any], armed: asyncio.Event, gate: asyncio.Semaphore
) -> None:
    """An agent for the whole run, coming back as the agent's ``Link.run`` does
    (agent/link.py): after a connection that was up, the back-off starts over; after
    a 4013, the delay its reason suggests. Its first connection goes through ``gate``
    (the office filling up) until welcomed."""
    from officepulse.agent.backoff import BASE, CAP, after_suggestion, full_jitter
    from officepulse.agent.link import OPEN_TIMEOUT

    tally = agent.tally
    attempt = 0
    while True:
        attempt += 1
        up = False

        def welcomed() -> None:
            nonlocal up
            up = True
            if not agent.connected.is_set():
                agent.connected.set()
                gate.release()

        suggested: float | None = None
        if agent.connected.is_set():
            tally.attempts += 1
            try:
                await session(agent, url, spans, OPEN_TIMEOUT, armed, welcomed)
            except Full as exc:
                tally.full += 1
                suggested = exc.retry_after
            except Exception as exc:
                if not up:
                    tally.failed += 1
                    tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"[:200]
        else:
            await gate.acquire()
            try:
                await session(agent, url, spans, 120, armed, welcomed)
            except Exception:
                pass  # the first connection: lost at the kill, or never in
            finally:
                if not up:
                    gate.release()
        if up:
            attempt = 1  # it was up: the back-off starts over
            if tally.lost_at is None:
                tally.lost_at = time.monotonic()
        if suggested is not None:
            delay = after_suggestion(suggested, random.random)
        else:
            delay = full_jitter(attempt, BASE, CAP, random.random)
        await asyncio.sleep(delay)


def client(
    url: str, ids: list[str], sources: list[str], base_ms: int, fill_within: float,
    live_s: float, pipe: Connection,
) -> None:  # fmt: skip
    """A client process: its agents; reports to the parent through ``pipe``."""
    raise_nofile()
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    import uvloop

    uvloop.run(_client(url, ids, sources, base_ms, fill_within, live_s, pipe))


async def _client(
    url: str, ids: list[str], sources: list[str], base_ms: int, fill_within: float,
    live_s: float, pipe: Connection,
) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    spans = storm_spans(base_ms)
    armed = asyncio.Event()
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    agents = [Agent(a, s) for a, s in zip(ids, sources, strict=True)]
    tasks = [asyncio.create_task(live(a, url, spans, armed, gate)) for a in agents]
    deadline = time.monotonic() + fill_within
    while time.monotonic() < deadline and any(a.tally.acked < FIRST for a in agents):  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    pipe.send({"in": sum(a.tally.acked >= FIRST for a in agents)})
    assert await loop.run_in_executor(None, pipe.recv) == "arm"
    # Each sends its last batch at a moment of its own over ``live_s``: one batch an agent
    # in that time, as agents switching apps every 30 s do; the last just before the kill.
    now = time.monotonic()
    for agent in agents:
        agent.send_at = now + random.random() * live_s
    armed.set()
    await asyncio.sleep(live_s)
    pipe.send("armed")
    while (command := await loop.run_in_executor(None, pipe.recv)) == "status":
        lost = [a.tally for a in agents if a.tally.lost_at is not None]
        pipe.send(
            {
                "lost": len(lost),
                "back": sum(t.back_at is not None for t in lost),
                "acked": sum(t.acked_at is not None for t in lost),
            }
        )
    assert command == "report"
    pipe.send([(a.agent_id, dataclasses.asdict(a.tally)) for a in agents])
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# ---------------------------------------------------------------------------- the cluster


def cluster_with(max_connections: int | None) -> Callable[..., Any]:
    """tests/support/cluster.py's ``running_cluster``, its gateways taking
    ``--max-connections`` when given."""
    from tests.support import cluster as cluster_module

    if max_connections is not None:

        class Bigger(cluster_module.Cluster):
            def _officepulse(self, kind: str, port: int, *args: str) -> Any:
                if kind == "gateway":
                    args = ("--max-connections", str(max_connections), *args)
                return super()._officepulse(kind, port, *args)

        cluster_module.Cluster = Bigger  # type: ignore[misc]
    return cluster_module.running_cluster


@contextlib.contextmanager
def more_haproxies(cluster: Any, count: int) -> Iterator[list[Any]]:
    """``count`` more HAProxy processes on the cluster's port (each a copy of the
    cluster's with an admin socket of its own)."""
    from tests.support.processes import stop

    copies: list[Any] = []
    try:
        for n in range(count):
            root = cluster.root / f"haproxy{n + 2}"
            root.mkdir()
            copy = dataclasses.replace(cluster, root=root, haproxy=None)
            copies.append(copy)
            copy.start_haproxy()
        yield copies
    finally:
        for copy in copies:
            if copy.haproxy is not None:
                stop(copy.haproxy)


def victim_connections(haproxies: list[Any]) -> int:
    return sum(int(h.haproxy_stats()[VICTIM]["scur"]) for h in haproxies)


def gateway_connections(haproxies: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for h in haproxies:
        for name, row in h.haproxy_stats().items():
            if name != "panel":
                out[name] = out.get(name, 0) + int(row["scur"])
    return out


def haproxy_maxconn(haproxy: Any) -> int:
    for line in haproxy.haproxy_command("show info").splitlines():
        if line.startswith("Maxconn:"):
            return int(line.split(":")[1])
    return 0


# ------------------------------------------------------------------------- measurement


class Watch:
    """Each group of processes' CPU (user + system) and RSS, sampled every 0.25 s by a
    thread: CPU between two moments (a process that ended counts until its last
    sample, one that began from its first), peak RSS between them."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        # (when, {group: {pid: (cpu seconds, rss bytes)}})
        self.samples: list[tuple[float, dict[str, dict[int, tuple[float, int]]]]] = []
        self._stop = threading.Event()
        self._procs: dict[int, psutil.Process] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> tuple[float, dict[str, dict[int, tuple[float, int]]]]:
        now = time.monotonic()
        out: dict[str, dict[int, tuple[float, int]]] = {}
        for name, pids in self.groups.items():
            out[name] = {}
            for pid in pids():
                try:
                    proc = self._procs.setdefault(pid, psutil.Process(pid))
                    with proc.oneshot():
                        t = proc.cpu_times()
                        out[name][pid] = (t.user + t.system, proc.memory_info().rss)
                except (psutil.NoSuchProcess, psutil.ZombieProcess, FileNotFoundError):
                    continue
        return now, out

    def _run(self) -> None:
        self.samples.append(self.sample())
        while not self._stop.wait(0.25):
            self.samples.append(self.sample())

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> dict[str, dict[str, float]]:
        before = [s for s in self.samples if s[0] <= start][-1:]
        inside = [s for s in self.samples if start < s[0] < end]
        after = [s for s in self.samples if s[0] >= end][:1]
        window = before + inside + after
        span = window[-1][0] - window[0][0]
        out = {}
        for name in self.groups:
            first: dict[int, float] = {}
            last: dict[int, float] = {}
            peak = 0
            for _, groups in window:
                for pid, (cpu, _rss) in groups[name].items():
                    first.setdefault(pid, cpu)
                    last[pid] = cpu
                peak = max(peak, sum(rss for _cpu, rss in groups[name].values()))
            cpu = sum(last[pid] - first[pid] for pid in last)
            out[name] = {
                "cpu_s": round(cpu, 2),
                "cores": round(cpu / span, 2) if span else 0.0,
                "peak_rss_mb": round(peak / 2**20, 1),
            }
        return out


def postgres_pids(data: Path) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        main = int((data / "postmaster.pid").read_text().split()[0])
        return [main, *(c.pid for c in psutil.Process(main).children(recursive=True))]

    return pids


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=120) as response:
        return json.loads(response.read())


def online_by_agent(panel_url: str) -> dict[str, bool]:
    return {a["id"]: a["online"] for a in get(panel_url + "/api/v1/agents")["agents"]}


def seconds_by_agent(panel_url: str) -> dict[str, float]:
    now = datetime.now(UTC)
    start = (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = f"{panel_url}/api/v1/usage?start={start}&end={end}&group_by=agent"
    return {r["agent"]: r["seconds"] for r in get(url)["rows"]}


def swept(logs: list[list[str]]) -> set[str]:
    """Agents a lapsed lease showed offline, from the sweepers' log lines."""
    ids: set[str] = set()
    for lines in logs:
        for line in lines:
            if "lease lapsed" in line and "agent(s) " in line:
                ids.update(
                    x.strip() for x in line.split("agent(s) ", 1)[1].split(" shown")[0].split(",")
                )
    return ids


def swept_while_connected(logs: list[list[str]]) -> set[str]:
    """Agents a sweep took while a living gateway held them (their gateway's warning as it
    shows them again): in a storm, the killed gateway's agents just welcomed elsewhere."""
    marker = ": its lease lapsed while connected here"
    return {
        line.split("agent ", 1)[1].split(marker, 1)[0]
        for lines in logs
        for line in lines
        if marker in line and "agent " in line
    }


def watch_offline(panel: str, names: set[str], offline_at: list[float], until: float) -> None:
    """Appends to ``offline_at`` when the panel's API first shows none of ``names`` online
    (asked every second: each answer lists every agent)."""
    while time.monotonic() < until:
        try:
            states = online_by_agent(panel)
        except OSError:  # the panel busy in the storm: asked again
            states = None
        if states is not None and not any(v for k, v in states.items() if k in names):
            offline_at.append(time.monotonic())
            return
        time.sleep(1.0)


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))]


async def stranded_client(ws_url: str, agent_id: str, ready: asyncio.Event) -> None:
    """A protocol client on the victim's own port, which never reconnects."""
    from websockets.asyncio.client import connect

    async with connect(ws_url, open_timeout=60, proxy=None) as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "agent_id": agent_id,
                                  "name": agent_id, "host": "h", "platform": "linux",
                                  "agent_version": "bench", "tz": "UTC"}))  # fmt: skip
        assert json.loads(await ws.recv())["type"] == "welcome"
        ready.set()
        with contextlib.suppress(Exception):
            await ws.wait_closed()


# --------------------------------------------------------------------------------- run


def log_lock_waits(database: str) -> None:
    """PostgreSQL logs every lock waited for longer than its deadlock_timeout (1 s)."""
    import psycopg

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_lock_waits = on")
        conn.execute("SELECT pg_reload_conf()")


class Diagnose:
    """``--diagnose``: py-spy sampling a living gateway from the kill for ``seconds``
    (``py-spy record -f raw``, on PATH or beside this Python), and PostgreSQL's sessions
    (pg_stat_activity: state, wait event, the statement's start) counted every 0.5 s."""

    def __init__(self, folder: Path, database: str, pid: int, seconds: float) -> None:
        self.folder = folder
        self.database = database
        self.pid = pid
        self.seconds = seconds
        self.stop = threading.Event()
        self.counts: dict[str, int] = {}
        self.thread = threading.Thread(target=self._sessions, daemon=True)
        self.spy: Any = None

    def start(self) -> None:
        import shutil
        import subprocess

        self.folder.mkdir(exist_ok=True)
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.spy = subprocess.Popen(
            [spy, "record", "-r", "100", "-f", "raw", "-d", str(int(self.seconds)),
             "-p", str(self.pid), "-o", str(self.folder / "gateway.spy.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.thread.start()

    def _sessions(self) -> None:
        import psycopg

        with psycopg.connect(self.database, autocommit=True) as conn:
            while not self.stop.wait(0.5):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event, left(query, 40) "
                    "FROM pg_stat_activity WHERE backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid()"
                ).fetchall()
                for row in rows:
                    key = " | ".join(str(x) for x in row)
                    self.counts[key] = self.counts.get(key, 0) + 1

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()
        if self.spy is not None:
            self.spy.wait()
        top = sorted(self.counts.items(), key=lambda kv: -kv[1])
        (self.folder / "pg_sessions.txt").write_text("".join(f"{n:6d}  {key}\n" for key, n in top))


def write_logs(folder: Path, processes: dict[str, Any], haproxies: list[Any], pg: Path) -> None:
    """Every process's output, for a look afterwards."""
    folder.mkdir(exist_ok=True)
    if pg.exists():
        (folder / "postgres.log").write_text(pg.read_text())
    for name, server in processes.items():
        (folder / f"{name}.log").write_text("\n".join(server.log) + "\n")
    for n, h in enumerate(haproxies, 1):
        if h.haproxy is not None:
            (folder / f"haproxy{n}.log").write_text("\n".join(h.haproxy.lines) + "\n")


async def ask(pipes: list[Connection], message: Any) -> list[Any]:
    loop = asyncio.get_running_loop()
    for pipe in pipes:
        pipe.send(message)
    return [await loop.run_in_executor(None, pipe.recv) for pipe in pipes]


async def wait(
    predicate: Callable[[], bool],
    what: str,
    within: float,
    context: Callable[[], Any] = str,
    every: float = 0.05,
) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > within:
            raise SystemExit(f"gave up after {within:g} s waiting for {what}: {context()}")
        await asyncio.sleep(every)
    return time.monotonic() - started


async def storm(cluster: Any, haproxies: list[Any], args: argparse.Namespace) -> dict[str, Any]:
    ids = [f"storm-{i:05d}" for i in range(args.agents)]
    sources = [f"127.0.0.{10 + i // PER_ADDRESS}" for i in range(args.agents)]
    base_ms = int(time.time() * 1000) - 3_600_000
    ctx = mp.get_context("spawn")
    pipes: list[Connection] = []
    children = []
    share = -(-args.agents // args.procs)
    for p in range(args.procs):
        mine, theirs = ctx.Pipe()
        part = slice(p * share, (p + 1) * share)
        child = ctx.Process(
            target=client,
            args=(
                cluster.ws_url,
                ids[part],
                sources[part],
                base_ms,
                args.fill_within,
                args.live_seconds,
                theirs,
            ),
        )
        child.start()
        pipes.append(mine)
        children.append(child)
    survivors = [g for g in cluster.gateways if g != VICTIM]
    groups: dict[str, Callable[[], list[int]]] = {
        name: (lambda g=cluster.gateways[name]: [g.proc.pid]) for name in survivors
    }
    groups["postgres"] = postgres_pids(cluster.postgres.data)
    groups["haproxy"] = lambda: [h.haproxy.pid for h in haproxies]
    groups["nats"] = lambda: [cluster.nats.proc.pid]
    groups["panel"] = lambda: [cluster.panel_process.proc.pid]
    groups["agents"] = lambda: [c.pid for c in children if c.pid is not None]
    victim = cluster.gateways[VICTIM]
    groups[VICTIM] = lambda: [victim.proc.pid]
    stranded_tasks: list[asyncio.Task[None]] = []
    log_lock_waits(cluster.database)
    processes = {**cluster.gateways, "panel": cluster.panel_process}
    try:
        with Watch(groups) as watch:
            began = time.monotonic()
            loop = asyncio.get_running_loop()
            ins = [await loop.run_in_executor(None, p.recv) for p in pipes]
            filled = time.monotonic()
            connected = sum(i["in"] for i in ins)
            readies = [asyncio.Event() for _ in range(args.stranded)]
            victim_url = cluster.gateways[VICTIM].ws_url
            stranded_tasks = [
                asyncio.create_task(stranded_client(victim_url, f"stranded-{i:03d}", r))
                for i, r in enumerate(readies)
            ]
            await wait(lambda: all(r.is_set() for r in readies), "the stranded ones in", 60)
            per_gateway_before = gateway_connections(haproxies)
            on_victim = victim_connections(haproxies)
            # Holding them: every process's CPU over a quiet spell, all agents idle.
            quiet_start = time.monotonic()
            await asyncio.sleep(args.idle_seconds)
            quiet_end = time.monotonic()
            assert await ask(pipes, "arm") == ["armed"] * len(pipes)
            killed = time.monotonic()
            killed_at = datetime.now(UTC)
            load_at_kill = os.getloadavg()  # other work on this machine shows here
            cluster.kill(VICTIM)
            # The stranded ones watched from the kill on, beside the storm (not after it:
            # the sweep that takes them may come long before every agent is back).
            names = {f"stranded-{i:03d}" for i in range(args.stranded)}
            panel = cluster.panel_process.url
            stranded_offline_at: list[float] = []
            watching = threading.Thread(
                target=watch_offline,
                args=(panel, names, stranded_offline_at, killed + args.within),
                daemon=True,
            )
            watching.start()
            diagnose = None
            if args.diagnose:
                diagnose = Diagnose(
                    cluster.root / "logs", cluster.database, groups[survivors[0]]()[0], 20
                )
                diagnose.start()

            status: list[dict[str, int]] = []

            async def refresh() -> bool:
                status[:] = await ask(pipes, "status")
                lost = sum(s["lost"] for s in status)
                return lost >= on_victim and sum(s["acked"] for s in status) == lost

            deadline = killed + args.within
            while not await refresh():
                if time.monotonic() > deadline:
                    raise SystemExit(f"gave up after {args.within:g} s: {status}")
                await asyncio.sleep(0.2)
            all_acked = time.monotonic()
            if diagnose is not None:
                diagnose.finish()
            during = watch.between(killed, all_acked)
            agent_ids = set(ids)
            await wait(
                lambda: all(v for k, v in online_by_agent(panel).items() if k in agent_ids),
                "every agent online on the panel",
                120,
                lambda: sorted(k for k, v in online_by_agent(panel).items() if not v)[:10],
                every=0.5,
            )
            online_s = time.monotonic() - killed
            watching.join(max(0.0, killed + args.within - time.monotonic()))
            if not stranded_offline_at:
                raise SystemExit(f"the stranded agents not offline within {args.within:g} s")
            offline_s = stranded_offline_at[0] - killed
            per_gateway_after = gateway_connections(haproxies)
            idle = watch.between(quiet_start, quiet_end)
            totals = seconds_by_agent(panel)
            reports = await ask(pipes, "report")  # then they close
            tallies = {a: t for report in reports for a, t in report}
    finally:
        write_logs(cluster.root / "logs", processes, haproxies, cluster.postgres.root / "log")
        for task in stranded_tasks:
            task.cancel()
        await asyncio.gather(*stranded_tasks, return_exceptions=True)
        for pipe in pipes:
            with contextlib.suppress(OSError):
                pipe.close()
        for child in children:
            child.join(10)
            if child.is_alive():
                child.kill()
                child.join()
    wrong = {a: s for a in ids if (s := totals.get(a, 0.0)) != float(SPANS)}
    lost = {a: t for a, t in tallies.items() if t["lost_at"] is not None}
    back = sorted(t["back_at"] - killed for t in lost.values())
    acked = sorted(t["acked_at"] - killed for t in lost.values())
    logs = [g.log for g in cluster.gateways.values()] + [cluster.panel_process.log]
    wrongly_swept = swept(logs) - set(lost) - names
    return {
        "agents": args.agents,
        "killed_at": killed_at.strftime("%H:%M:%S.%f")[:-3],
        "logs": str(cluster.root / "logs"),
        "connected": connected,
        "haproxies": len(haproxies),
        "haproxy_maxconn": [haproxy_maxconn(h) for h in haproxies],
        "procs": args.procs,
        "filling_s": round(filled - began, 1),
        "per_gateway_before": per_gateway_before,
        "on_killed_gateway": on_victim,
        "lost": len(lost),
        "stranded": args.stranded,
        "back_first_s": round(back[0], 2),
        "back_p50_s": round(statistics.median(back), 2),
        "back_p95_s": round(percentile(back, 0.95), 2),
        "back_last_s": round(back[-1], 2),
        "acked_last_s": round(acked[-1], 2),
        "attempts": sum(t["attempts"] for t in lost.values()),
        "attempts_max": max(t["attempts"] for t in lost.values()),
        "refused_4013": sum(t["full"] for t in lost.values()),
        "failed_other": sum(t["failed"] for t in lost.values()),
        "first_other_failure": next(
            (t["first_error"] for t in lost.values() if t["first_error"]), ""
        ),
        "all_online_on_panel_s": round(online_s, 2),
        "stranded_offline_s": round(offline_s, 2),
        "per_gateway_after": per_gateway_after,
        "agents_with_wrong_totals": len(wrong),
        "wrong_totals_sample": dict(list(wrong.items())[:5]),
        "living_agents_swept": len(wrongly_swept),
        "moved_agents_swept": len(swept_while_connected(logs) & set(lost)),
        "storm": during,
        "idle": idle,
        "idle_seconds": args.idle_seconds,
        "load_average_at_kill": load_at_kill,
        "load_average": os.getloadavg(),
        "code": str(args.code or "this checkout"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=9900)
    ap.add_argument("--stranded", type=int, default=20)
    ap.add_argument("--haproxies", type=int, default=1, help="HAProxy processes on the port")
    ap.add_argument("--procs", type=int, default=4, help="client processes")
    ap.add_argument("--max-connections", type=int, default=None, help="each gateway's")
    ap.add_argument("--idle-seconds", type=float, default=9.0)
    ap.add_argument(
        "--live-seconds",
        type=float,
        default=30.0,
        help="each agent sends its last batch at a moment of its own in this time before the kill",
    )
    ap.add_argument("--fill-within", type=float, default=600.0, help="agents in within (s)")
    ap.add_argument("--within", type=float, default=300.0, help="the storm over within (s)")
    ap.add_argument("--diagnose", action="store_true", help="py-spy and pg_stat_activity")
    ap.add_argument("--label", default="", help="a name for this run in the results")
    ap.add_argument("--json", action="store_true", help="also write bench/results/")
    ap.add_argument(
        "--code",
        type=Path,
        default=None,
        help="run the cluster's processes on DIR/src (another checkout, e.g. main's), to "
        "compare before and after in one session",
    )
    args = ap.parse_args()
    if args.code is not None:
        os.environ["PYTHONPATH"] = str(args.code.resolve() / "src")
    raise_nofile()  # HAProxy and the gateways inherit the soft limit: the hard one
    logging.getLogger("officepulse").setLevel(logging.ERROR)
    started = datetime.now(UTC)
    root = Path(tempfile.mkdtemp(prefix="bench-storm-"))
    with (
        cluster_with(args.max_connections)(root) as cluster,
        more_haproxies(cluster, args.haproxies - 1) as extra,
    ):
        result = asyncio.run(storm(cluster, [cluster, *extra], args))
    result = {"at": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "label": args.label, **result}
    print(json.dumps(result, indent=1), flush=True)
    if args.json:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"storm-{started:%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
