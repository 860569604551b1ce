#!/usr/bin/env python3
"""Store write throughput: spans written per second through ``commit_spans`` in batches of
500, SQLite beside PostgreSQL, on the same machine.

Each ``commit_spans`` call is what the server does for one agent's batch: the spans and the
agent's acknowledged sequence number in one transaction, awaited until durable. Rows:

  1 agent     one caller, each batch awaited before the next (latency-bound);
  N agents    N callers at once, so the store's writer can put several batches in one
              transaction (what a busy server sees).

Every span is a new row (inserts, not the upserts of a span being extended). The SQLite
store runs as the server runs it (WAL, synchronous=NORMAL: a commit survives a crash of the
process, not of the machine). PostgreSQL is a scratch server from tests/support/postgres.py with
its default settings (fsync on, synchronous_commit on: a commit survives the machine), or
the one at ``--postgres URL`` (its tables are created in that database and left there).

Run: .venv/bin/python bench/store.py [--batches 200] [--agents 8] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from officepulse.core.spans import Span  # noqa: E402 - needs the repo on the path
from officepulse.protocol.messages import Activity  # noqa: E402
from officepulse.store.base import AgentInfo, Store  # noqa: E402
from officepulse.store.postgres import PostgresStore  # noqa: E402
from officepulse.store.sqlite import SQLiteStore  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402

RESULTS_DIR = REPO / "bench" / "results"
BATCH = 500
STORES = ("sqlite", "postgres")
APPS = (
    Activity(app="Code", title="main.py - officepulse - Visual Studio Code", process="code"),
    Activity(
        app="firefox",
        title="Pull requests · officepulse — Mozilla Firefox",
        url="https://example.com/officepulse/pulls",
    ),
    Activity(app="xterm", title="vim notes.txt", program="vim", file="notes.txt"),
    Activity(app="Slack", title="general", idle=True),
)


@dataclass
class Row:
    store: str
    agents: int
    batches: int
    spans: int
    seconds: float
    spans_per_s: float
    ms_per_batch: float


# Every span names its zone, as the officepulse agent's do: the store keeps zone runs too.
ZONE = "Europe/Berlin"


def batch(agent: int, number: int) -> list[Span]:
    base = number * BATCH * 1000
    return [
        Span(base + i * 1000, base + i * 1000 + 999, APPS[(agent + i) % len(APPS)], ZONE)
        for i in range(BATCH)
    ]


async def measure(name: str, store: Store, agents: int, batches: int, warmup: int) -> Row:
    await store.open()
    try:
        ids = [f"bench-{agents}-{a}" for a in range(agents)]
        for id_ in ids:
            store.save_agent(AgentInfo(id_, id_, "host", "Linux", "0.1", "UTC", True, 0))
        await store.flush()
        # Spans are built before the clock starts: only the store is measured.
        per_agent = batches // agents
        work = [[batch(a, n) for n in range(warmup + per_agent)] for a in range(agents)]

        async def run(a: int, numbers: range) -> None:
            for n in numbers:
                await store.commit_spans(ids[a], work[a][n], n + 1)

        await asyncio.gather(*(run(a, range(warmup)) for a in range(agents)))
        started = time.perf_counter()
        await asyncio.gather(*(run(a, range(warmup, warmup + per_agent)) for a in range(agents)))
        seconds = time.perf_counter() - started
    finally:
        await store.close()
    done = per_agent * agents
    return Row(
        name,
        agents,
        done,
        done * BATCH,
        round(seconds, 3),
        round(done * BATCH / seconds),
        round(seconds / done * 1000 * agents, 2),
    )


async def main_async(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    cluster = None if args.postgres else PostgresCluster.create(fast=False)
    try:
        with tempfile.TemporaryDirectory(prefix="opbench-") as tmp:
            for agents in (1, args.agents):
                sqlite = SQLiteStore(Path(tmp) / f"bench-{agents}.sqlite3")
                rows.append(await measure("sqlite", sqlite, agents, args.batches, args.warmup))
                url = args.postgres or (cluster.create_database() if cluster else "")
                rows.append(
                    await measure("postgres", PostgresStore(url), agents, args.batches, args.warmup)
                )
    finally:
        if cluster is not None:
            cluster.destroy()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200, help="batches of 500 per row")
    parser.add_argument("--agents", type=int, default=8, help="callers at once, second row")
    parser.add_argument("--warmup", type=int, default=4, help="batches per agent not timed")
    parser.add_argument("--postgres", help="a PostgreSQL URL instead of a scratch server")
    parser.add_argument("--json", action="store_true", help="also write bench/results/")
    args = parser.parse_args()
    rows = asyncio.run(main_async(args))
    print(f"store write throughput, commit_spans in batches of {BATCH} (new rows)")
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs")
    head = ("agents", "sqlite spans/s", "ms/batch", "postgres spans/s", "ms/batch")
    print("{:>7} {:>15} {:>9}  {:>17} {:>9}".format(*head))
    for agents in sorted({r.agents for r in rows}):
        s, p = (next(r for r in rows if r.agents == agents and r.store == n) for n in STORES)
        cells = (agents, f"{s.spans_per_s:,}", s.ms_per_batch, f"{p.spans_per_s:,}", p.ms_per_batch)
        print("{:>7} {:>15} {:>9}  {:>17} {:>9}".format(*cells))
    if args.json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS_DIR / f"store-{stamp}.json"
        out.write_text(json.dumps({"rows": [asdict(r) for r in rows]}, indent=2))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
