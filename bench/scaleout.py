#!/usr/bin/env python3
"""Scaled out beside embedded (issue 12, part 9): the cluster of ``make cluster``
(tests/support/cluster.py: NATS, PostgreSQL, three gateways, a panel, HAProxy) and the
all-in-one ``officepulse server`` measured in the same run, by the same clients in this
process.

``--part heartbeats``: ``--agents`` connections (bench/ingest.py's generator: one heartbeat
per websocket message, flat out, each connection at most a window ahead, a last Ping's Pong
saying all was processed), then the same connections sending span batches (``--batch``
one-second spans a message, the next batch once the Ack for the one before came). Server
CPU (user + system, psutil: /proc/<pid>/stat) per heartbeat / per span of each gateway and
of PostgreSQL (the postmaster and every backend), beside the embedded server's own (SQLite,
and the same PostgreSQL).

``--part fanout``: ``--dashboards`` websocket clients on the panel's /browser (open mode: no
accounts), ``--movers`` agents switching apps ``--changes`` times a second in all; each
change names a fresh app, and its latency is from the Presence sent to each dashboard's
first message naming it (p50, p99). The embedded server the same way.

``--part idle``: ``--idle`` idle agents (bench/idle_memory.py's) through HAProxy, and each
gateway's RSS before and after; the embedded server beside it.

Run: .venv/bin/python bench/scaleout.py --part heartbeats [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import idle_memory  # bench/idle_memory.py
import ingest  # bench/ingest.py

from officepulse.protocol.codec import encode
from officepulse.protocol.messages import Ack, Activity, Presence, SpanOut, Spans
from tests.support.cluster import Cluster, running_cluster
from tests.support.servers import ServerProcess, start_server

RESULTS = Path(__file__).parent / "results"


# ----------------------------------------------------------------------------- processes


@dataclass
class Target:
    """What the clients connect to, and the processes whose CPU is counted."""

    name: str
    agent_url: str
    browser_url: str
    pids: dict[str, Callable[[], list[int]]]


def postgres_pids(data: Path) -> Callable[[], list[int]]:
    """The postmaster and its children now (backends come and go with pools)."""

    def pids() -> list[int]:
        main = int((data / "postmaster.pid").read_text().split()[0])
        return [main, *(c.pid for c in psutil.Process(main).children(recursive=True))]

    return pids


def cpu_by_process(target: Target) -> dict[str, float]:
    used: dict[str, float] = {}
    for name, pids in target.pids.items():
        total = 0.0
        for pid in pids():
            try:
                t = psutil.Process(pid).cpu_times()
            except psutil.NoSuchProcess:
                continue  # a backend gone between listing and reading: its CPU is lost
            total += t.user + t.system
        used[name] = total
    return used


def cluster_target(cluster: Cluster) -> Target:
    assert cluster.postgres is not None
    pids: dict[str, Callable[[], list[int]]] = {
        name: (lambda g=g: [g.proc.pid]) for name, g in cluster.gateways.items()
    }
    pids["panel"] = lambda: [cluster.panel_process.proc.pid]
    pids["postgres"] = postgres_pids(cluster.postgres.data)
    pids["nats"] = lambda: [cluster.nats.proc.pid] if cluster.nats.proc else []
    pids["haproxy"] = lambda: [cluster.haproxy.pid] if cluster.haproxy else []
    return Target("cluster", cluster.ws_url, cluster.panel_process.browser_url, pids)


def embedded_target(name: str, server: ServerProcess, postgres: Path | None) -> Target:
    pids: dict[str, Callable[[], list[int]]] = {"server": lambda: [server.proc.pid]}
    if postgres is not None:
        pids["postgres"] = postgres_pids(postgres)
    return Target(name, server.ws_url, server.browser_url, pids)


# ---------------------------------------------------------------------------- heartbeats


class InProcessPipe:
    """What ingest.ws_worker talks to: "go" at once, with the CPU sampled at the start,
    and again when its report comes."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.start: dict[str, float] = {}
        self.end: dict[str, float] = {}
        self.report: ingest.WsReport | None = None

    def send(self, message: Any) -> None:
        kind, body = message
        if kind == "report":
            self.end = cpu_by_process(self.target)
            self.report = body
        elif kind == "error":
            raise RuntimeError(body)

    def recv(self) -> str:
        self.start = cpu_by_process(self.target)
        return "go"


async def one_per_message(target: Target, agents: int, seconds: float) -> dict[str, Any]:
    plan = ingest.WsPlan(
        url=target.agent_url,
        agent_ids=tuple(ingest.agent_ids(agents, f"{target.name}-hb")),
        seconds=seconds,
        rate=None,
        window=64,
        base=ingest.timeline_base(),
    )
    pipe = InProcessPipe(target)
    await ingest.ws_worker(plan, pipe)  # type: ignore[arg-type]
    report = pipe.report
    assert report is not None
    took = report.last_pong - report.first_send
    return row(target, "heartbeat", report.sent, took, pipe.start, pipe.end, report.errors)


async def batched(target: Target, agents: int, seconds: float, batch: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(ingest.CONNECT_CONCURRENCY)
    base = datetime.now(UTC) - timedelta(hours=20)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        conns = await asyncio.gather(
            *(
                ingest.connect_agent(session, target.agent_url, a, gate, asyncio.Event())
                for a in ingest.agent_ids(agents, f"{target.name}-batch")
            )
        )
        for agent in conns:  # the Acks are read here, not by ingest's reader
            assert agent.reader is not None
            agent.reader.cancel()
        stored = 0
        errors = 0
        deadline = 0.0

        async def feed(agent: ingest.Agent) -> None:
            nonlocal stored, errors
            seq = 1
            while time.monotonic() < deadline:
                spans = [
                    SpanOut(
                        start=base + timedelta(seconds=s),
                        end=base + timedelta(seconds=s + 1),
                        activity=Activity(app=ingest.APPS[s // 30 % 4][0], title="t"),
                    )
                    for s in range(seq - 1, seq - 1 + batch)
                ]
                await agent.ws.send_bytes(encode(Spans(first_seq=seq, spans=spans), "msgpack"))
                while True:
                    reply = ingest.decode_server_message((await agent.ws.receive()).data)
                    if isinstance(reply, Ack):
                        break
                    errors += 1
                seq += batch
                stored += batch

        start = cpu_by_process(target)
        began = time.monotonic()
        deadline = began + seconds
        await asyncio.gather(*(feed(a) for a in conns))
        took = time.monotonic() - began
        end = cpu_by_process(target)
        await asyncio.gather(*(a.ws.close() for a in conns), return_exceptions=True)
    return row(target, f"spans x{batch}", stored, took, start, end, errors)


def row(
    target: Target,
    unit: str,
    count: int,
    took: float,
    start: dict[str, float],
    end: dict[str, float],
    errors: int,
) -> dict[str, Any]:
    used = {name: end[name] - start[name] for name in start}
    return {
        "target": target.name,
        "unit": unit,
        "count": count,
        "seconds": round(took, 2),
        "per_s": round(count / took),
        "cpu_us_each": {name: round(s / count * 1e6, 1) for name, s in used.items()},
        "cpu_us_each_total": round(sum(used.values()) / count * 1e6, 1),
        "errors": errors,
        "load_average_1min": os.getloadavg()[0],
    }


async def heartbeats(target: Target, args: argparse.Namespace) -> list[dict[str, Any]]:
    return [
        await one_per_message(target, args.agents, args.seconds),
        await batched(target, args.agents, args.seconds, args.batch),
    ]


# -------------------------------------------------------------------------------- fanout


async def fanout(target: Target, args: argparse.Namespace) -> list[dict[str, Any]]:
    sent: dict[str, float] = {}
    latencies: list[float] = []
    tag = f"fan{int(time.time()) % 100_000}x"
    changes = int(args.changes * args.seconds)

    async def dashboard(session: aiohttp.ClientSession, ready: asyncio.Event) -> None:
        async with session.ws_connect(target.browser_url, compress=0, max_msg_size=0) as ws:
            await ws.receive()  # the office as it is
            ready.set()
            seen: set[str] = set()
            async for msg in ws:
                now = time.monotonic()
                text = msg.data if isinstance(msg.data, str) else ""
                at = text.find(tag)
                while at >= 0:
                    end = at + len(tag)
                    while end < len(text) and text[end].isdigit():
                        end += 1
                    key = text[at:end]
                    if key in sent and key not in seen:
                        seen.add(key)
                        latencies.append(now - sent[key])
                    at = text.find(tag, end)

    # 40 dashboards from each address: the default allows 50 per IP.
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, local_addr=(f"127.0.0.{2 + k}", 0))
        )
        for k in range(-(-args.dashboards // 40))
    ]
    readies = [asyncio.Event() for _ in range(args.dashboards)]
    watchers = [
        asyncio.create_task(dashboard(sessions[i // 40], ready)) for i, ready in enumerate(readies)
    ]
    gate = asyncio.Semaphore(ingest.CONNECT_CONCURRENCY)
    movers: list[ingest.Agent] = []
    try:
        movers[:] = await asyncio.gather(
            *(
                ingest.connect_agent(sessions[0], target.agent_url, a, gate, asyncio.Event())
                for a in ingest.agent_ids(args.movers, f"{target.name}-fan")
            )
        )
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 300)
        await asyncio.sleep(1)  # the movers' first presences fanned out
        start = cpu_by_process(target)
        began = time.monotonic()
        for n in range(changes):
            await asyncio.sleep(max(0.0, began + n / args.changes - time.monotonic()))
            key = f"{tag}{n}"
            sent[key] = time.monotonic()
            change = Presence(since=datetime.now(UTC), activity=Activity(app=key, title=key))
            await movers[n % len(movers)].ws.send_bytes(encode(change, "msgpack"))
        expected = changes * args.dashboards
        waited = time.monotonic()
        while len(latencies) < expected and time.monotonic() - waited < 15:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        took = time.monotonic() - began
        end = cpu_by_process(target)
    finally:
        for mover in movers:
            mover.done.cancel()  # no last Ping here: its closing is no failure
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for session in sessions:
            await session.close()
    times = sorted(latencies)
    used = {name: end[name] - start[name] for name in start}
    return [
        {
            "target": target.name,
            "dashboards": args.dashboards,
            "movers": args.movers,
            "changes": changes,
            "changes_per_s": args.changes,
            "seen": len(times),
            "expected": expected,
            "p50_ms": round(statistics.median(times) * 1000, 1) if times else None,
            "p99_ms": round(times[int(0.99 * (len(times) - 1))] * 1000, 1) if times else None,
            "max_ms": round(times[-1] * 1000, 1) if times else None,
            "cpu_s": {name: round(s, 2) for name, s in used.items()},
            "cpu_us_per_delivery": round(sum(used.values()) / max(1, len(times)) * 1e6, 1),
            "seconds": round(took, 1),
            "load_average_1min": os.getloadavg()[0],
        }
    ]


# ---------------------------------------------------------------------------------- idle


def rss_mb(target: Target) -> dict[str, float]:
    out = {}
    for name, pids in target.pids.items():
        total = 0
        for pid in pids():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.NoSuchProcess:
                continue
        out[name] = round(total / 2**20, 1)
    return out


async def idle(target: Target, args: argparse.Namespace) -> list[dict[str, Any]]:
    """bench/idle_memory.py's idle agents (hello, presence, one span, its ack; no
    compression), as many as ``--idle`` or as come in within ``--seconds`` x 6; then
    each process's share of a core over ``--seconds`` of them idle."""
    option = idle_memory.options()[0]
    gate = asyncio.Semaphore(idle_memory.CONNECTING_AT_ONCE)
    conns: list[Any] = []
    failures: list[str] = []
    deadline = time.monotonic() + args.seconds * 6
    before = rss_mb(target)

    async def one(i: int) -> None:
        async with gate:
            if time.monotonic() > deadline or len(failures) > 20:
                return
            try:
                conns.append(await idle_memory.idle_agent(target.agent_url, i, option))
            except Exception as exc:  # where it stops is the result
                failures.append(f"{type(exc).__name__}: {exc}")

    began = time.monotonic()
    start = cpu_by_process(target)
    try:
        await asyncio.gather(*(one(i) for i in range(args.idle)))
        took = time.monotonic() - began
        used = {k: v - start[k] for k, v in cpu_by_process(target).items()}
        await asyncio.sleep(2)  # idle: what the servers free after a message is freed
        after = rss_mb(target)
        # Idle is not free: each gateway renews its agents' leases (a row each) every 3 s.
        quiet = cpu_by_process(target)
        await asyncio.sleep(args.seconds)
        idle_cpu = {k: v - quiet[k] for k, v in cpu_by_process(target).items()}
    finally:
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    return [
        {
            "target": target.name,
            "asked": args.idle,
            "connected": len(conns),
            "failures": len(failures),
            "first_failure": failures[0] if failures else None,
            "connecting_s": round(took, 1),
            "rss_mb_before": before,
            "rss_mb_after": after,
            "cpu_s_connecting": {k: round(v, 2) for k, v in used.items()},
            "idle_cpu_share": {k: round(v / args.seconds, 3) for k, v in idle_cpu.items()},
            "load_average_1min": os.getloadavg()[0],
        }
    ]


# ---------------------------------------------------------------------------------- main


Part = Callable[[Target, argparse.Namespace], Coroutine[Any, Any, list[dict[str, Any]]]]
PARTS: dict[str, Part] = {"heartbeats": heartbeats, "fanout": fanout, "idle": idle}


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_part(part: Part, target: Target, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = asyncio.run(part(target, args))
    for r in rows:
        print(json.dumps(r), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=sorted(PARTS), required=True)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--dashboards", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=3000, help="idle agents (--part idle)")
    ap.add_argument("--movers", type=int, default=20)
    ap.add_argument("--changes", type=float, default=5.0, help="app switches a second in all")
    ap.add_argument(
        "--embedded-postgres",
        action="store_true",
        help="also the embedded server on the cluster's PostgreSQL (a database of its own)",
    )
    ap.add_argument("--json", action="store_true", help="also write bench/results/")
    args = ap.parse_args()
    raise_nofile()
    logging.getLogger("officepulse").setLevel(logging.ERROR)
    part = PARTS[args.part]
    started = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    root = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    with running_cluster(root) as cluster:
        assert cluster.postgres is not None
        rows += run_part(part, cluster_target(cluster), args)
        server = start_server(root)
        try:
            rows += run_part(part, embedded_target("embedded-sqlite", server, None), args)
        finally:
            server.stop()
        if args.embedded_postgres:
            database = cluster.postgres.create_database()
            (root / "pg").mkdir()
            server = start_server(root / "pg", "--database", database)
            try:
                target = embedded_target("embedded-postgres", server, cluster.postgres.data)
                rows += run_part(part, target, args)
            finally:
                server.stop()
    shutil.rmtree(root, ignore_errors=True)
    result = {"started": started.isoformat(), "args": vars(args), "rows": rows}
    if args.json:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"scaleout-{args.part}-{started:%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
