#!/usr/bin/env python3
"""The SQLite writer's CPU per heartbeat, by how often it writes: the store's share of
paced ingest, measured without websockets or an event loop, so that the figure does not
depend on what else the machine is running.

The workload is bench/ingest.py's paced row: ``--agents`` agents (1,000) sending
``--rate`` heartbeats a second (10,000) in turn, each heartbeat one simulated second after
the agent's last, a switch of app every 30; so each heartbeat extends its agent's open
span, and every 30th closes it and opens the next. What ingest queues for each heartbeat
(``save_span`` of the span as the merge rule leaves it) is queued here; every
``interval`` seconds of the simulated wall clock the store writes what is queued, as its
writer thread does (``_write_pending``). The CPU time of those writes (thread time: the
writes run in this thread) divided by the heartbeats is the figure: the span upserts, the
rollups and team rollups, the zone runs, and the commit. The rollups take in what the
writes noted every ``--fold-intervals`` seconds of the same simulated clock, as the store
does every FOLD_INTERVAL (0: at every write, as the store did before it kept notes).

Each interval is measured on a fresh store (a scratch SQLite file, WAL, as the server runs
it), over ``--seconds`` (30) of simulated time.

``--reads``: what the notes waiting for a fold cost a read instead: totals by app over one
day of ``--agents`` agents (8 hours of 3-minute spans each), asked over and over with every
agent's open span noted (two notes each, as between folds under heartbeats) and again once
folded.

Run: .venv/bin/python bench/writer.py [--intervals 0.05 0.25 1 2] [--fold-intervals 0 10] [--json]
     .venv/bin/python bench/writer.py --reads
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from officepulse.core.spans import Span  # noqa: E402 - needs the repo on the path
from officepulse.protocol.messages import Activity  # noqa: E402
from officepulse.store.base import FLUSH_INTERVAL, FOLD_INTERVAL, AgentInfo  # noqa: E402
from officepulse.store.sqlite import SQLiteStore  # noqa: E402

RESULTS_DIR = REPO / "bench" / "results"
APPS = [
    Activity(app=app, title=title)
    for app, title in (
        ("Code", "main.py"),
        ("firefox", "docs"),
        ("xterm", "bash"),
        ("Slack", "chat"),
    )
]
SWITCH_EVERY = 30
BASE_MS = 1_800_000_000_000


@dataclass
class Row:
    interval_s: float
    fold_interval_s: float
    heartbeats: int
    writes: int
    folds: int
    spans_per_write: float  # distinct (agent, start) rows each write upserts, on average
    cpu_s: float
    us_per_heartbeat: float


@contextlib.asynccontextmanager
async def scratch_store(agents: int) -> AsyncIterator[tuple[SQLiteStore, list[str]]]:
    """A fresh store on a scratch file with ``agents`` agents, and their ids. Its writer
    thread never writes on its own (flush_interval) nor folds by the real clock
    (fold_interval): the caller says when."""
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp:
        store = SQLiteStore(
            Path(tmp) / "writer.sqlite3", flush_interval=3600, fold_interval=float("inf")
        )
        await store.open()
        try:
            ids = [f"agent-{n:04d}" for n in range(agents)]
            for agent_id in ids:
                store.save_agent(AgentInfo(agent_id, agent_id, "h", "Linux", "0.1", "UTC", True, 0))
            await store.flush()
            yield store, ids
        finally:
            await store.close()


async def measure(interval: float, fold_interval: float, args: argparse.Namespace) -> Row:
    async with scratch_store(args.agents) as (store, ids):
        sent = [0] * args.agents
        starts = [BASE_MS] * args.agents
        per_write = round(args.rate * interval)
        writes = max(1, round(args.seconds / interval))
        turn = 0
        spans = 0
        folds = 0
        folded_at = 0.0  # simulated seconds: scratch_store's flush folded
        cpu = 0.0
        for w in range(writes):
            keys: set[tuple[int, int]] = set()
            for _ in range(per_write):
                n = turn % args.agents
                turn += 1
                k = sent[n]
                sent[n] += 1
                ts = BASE_MS + k * 1_000
                if k % SWITCH_EVERY == 0:
                    starts[n] = ts  # a switch: the next span starts here
                activity = APPS[(k // SWITCH_EVERY) % len(APPS)]
                store.save_span(ids[n], Span(starts[n], ts + 1_000, activity, "UTC"))
                keys.add((n, starts[n]))
            spans += len(keys)
            now = (w + 1) * interval
            fold = now - folded_at >= fold_interval - 1e-9
            if fold:
                folds, folded_at = folds + 1, now
            t0 = time.thread_time()
            store._write_pending(fold)  # what the writer thread does every interval
            cpu += time.thread_time() - t0
    heartbeats = per_write * writes
    return Row(
        interval,
        fold_interval,
        heartbeats,
        writes,
        folds,
        round(spans / writes, 1),
        round(cpu, 3),
        round(cpu / heartbeats * 1e6, 1),
    )


async def read_cost(args: argparse.Namespace) -> dict[str, float]:
    """Median ms of ``usage(day, ["app"])`` with every agent's open span noted, then folded."""
    day = 86_400_000
    base = BASE_MS - BASE_MS % day
    async with scratch_store(args.agents) as (store, ids):
        last: dict[str, Span] = {}
        for n, agent_id in enumerate(ids):
            start = base + 8 * 3_600_000 + (n % 60) * 60_000
            spans = [
                Span(start + k * 180_000, start + (k + 1) * 180_000, APPS[k % 4], "UTC")
                for k in range(160)
            ]
            await store.commit_spans(agent_id, spans, 1)  # folded as it is written
            last[agent_id] = spans[-1]
        # Every agent's last span grows, written twice: two notes each, not folded.
        for grow in (1_000, 2_000):
            for agent_id, span in last.items():
                store.save_span(
                    agent_id, Span(span.start_ms, span.end_ms + grow, span.activity, "UTC")
                )
            await store.written()
        out: dict[str, float] = {}
        for label in ("notes", "folded"):
            if label == "folded":
                await store.flush()
            await store.usage(base, base + day, ["app"])  # warm
            times = []
            for _ in range(args.read_repeats):
                t0 = time.perf_counter()
                await store.usage(base, base + day, ["app"])
                times.append(time.perf_counter() - t0)
            times.sort()
            out[label] = times[len(times) // 2] * 1000
        return out


def render(rows: list[Row], args: argparse.Namespace) -> str:
    lines = [
        f"SQLite writer CPU per heartbeat, CPython {platform.python_version()}, "
        f"{os.cpu_count()} CPUs: {args.agents:,} agents, {args.rate:,} heartbeats/s paced, "
        f"{args.seconds:g} s simulated (the store's defaults: writes every {FLUSH_INTERVAL:g} s, "
        f"folds every {FOLD_INTERVAL:g} s)",
        "",
        f"{'interval s':>10}  {'fold s':>6}  {'heartbeats':>10}  {'writes':>6}  {'folds':>5}  "
        f"{'spans/write':>11}  {'CPU s':>7}  {'µs CPU/hb':>9}",
    ]
    for r in rows:
        lines.append(
            f"{r.interval_s:>10g}  {r.fold_interval_s:>6g}  {r.heartbeats:>10,}  {r.writes:>6}  "
            f"{r.folds:>5}  {r.spans_per_write:>11,}  {r.cpu_s:>7.3f}  {r.us_per_heartbeat:>9.1f}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=1_000)
    p.add_argument("--rate", type=int, default=10_000, help="heartbeats a second, all agents")
    p.add_argument("--seconds", type=float, default=30.0, help="simulated seconds per interval")
    p.add_argument("--intervals", type=float, nargs="+", default=[0.05, 0.25, FLUSH_INTERVAL, 2.0])
    p.add_argument(
        "--fold-intervals",
        type=float,
        nargs="+",
        default=[FOLD_INTERVAL],
        help="simulated seconds between folds (0: every write)",
    )
    p.add_argument("--reads", action="store_true", help="measure a read with notes pending")
    p.add_argument("--read-repeats", type=int, default=200)
    p.add_argument("--json", action="store_true", help="also write bench/results/")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.reads:
        got = asyncio.run(read_cost(args))
        print(
            f"totals by app over a day of {args.agents:,} agents, median of {args.read_repeats}: "
            f"{got['notes']:.2f} ms with {2 * args.agents:,} notes waiting for a fold, "
            f"{got['folded']:.2f} ms folded"
        )
        return 0
    rows = [asyncio.run(measure(i, f, args)) for i in args.intervals for f in args.fold_intervals]
    print(render(rows, args))
    if args.json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"writer-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        payload = {
            "rows": [asdict(r) for r in rows],
            "args": vars(args),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        }
        out.write_text(json.dumps(payload, indent=2))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
