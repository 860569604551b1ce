"""Re-categorising history: the old synchronous change of the rules (PUT /api/v1/categories
waited while every stored span was gone through) against the background job that replaced
it, on one filled history per store, with an agent committing a span every 10 ms and a
page reading the last week's totals by category every 100 ms meanwhile: how long each of
those waits.

The history is filled once with the code before the change (``--old-src``: its checkout's
src/, schema 13), then copied (SQLite: the file; PostgreSQL: CREATE DATABASE … TEMPLATE):
the old code changes the rules on one copy, this code on the other (which it migrates to
schema 14 first, an empty table). Each phase runs in a process of its own, so that each
imports its own officepulse. Every span of the workload moves to another category (the
worst case: bench/query.py's OTHER_RULES). Afterwards the totals by category, from the
rollups, are compared with the spans summed in SQL, and the two copies' with each other.

PostgreSQL is a scratch cluster of tests/support/postgres.py, as the tests start it (fsync
off). Results: a table on stdout and bench/results/recategorize-<UTC time>.json.

Run: .venv/bin/python bench/recategorize.py --old-src /work/main/src
     [--spans 1000000] [--stores sqlite,postgres] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
RESULTS_DIR = BENCH / "results"
DAYS = 30
DAY_MS = 86_400_000
WRITER = "bench-live-writer"
BATCH = 500  # spans per commit while filling


def quantiles(values: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of a list of milliseconds (zeros for none)."""
    if not values:
        return {"n": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 1),
        "p99": round(p99, 1),
        "max": round(ordered[-1], 1),
    }


# ------------------------------------------------------------------ phases (children)


def open_store(kind: str, database: str) -> Any:
    from officepulse.store.postgres import PostgresStore
    from officepulse.store.sqlite import SQLiteStore

    return SQLiteStore(Path(database)) if kind == "sqlite" else PostgresStore(database)


async def fill(kind: str, database: str, spans_wanted: int) -> dict[str, Any]:
    """Whole agents of bench/query.py's workload (30 days each) until ``spans_wanted``."""
    import query

    from officepulse.store.base import AgentInfo

    store = open_store(kind, database)
    await store.open()
    written = 0
    agents = 0
    started = time.perf_counter()

    async def writer() -> None:
        nonlocal written, agents
        while written < spans_wanted:
            n = agents
            agents += 1
            aid = query.agent_id(n)
            spans = query.workload(n, DAYS, 1)
            written += len(spans)
            store.save_agent(AgentInfo(aid, aid, "bench-host", "Linux", "0.1", "UTC", False, 0))
            for seq, i in enumerate(range(0, len(spans), BATCH), start=1):
                await store.commit_spans(aid, spans[i : i + BATCH], seq)

    try:
        await asyncio.gather(*(writer() for _ in range(4)))
        await store.flush()
    finally:
        await store.close()
    seconds = time.perf_counter() - started
    return {"agents": agents, "spans": written, "seconds": round(seconds, 1)}


class Load:
    """An agent committing a one-second span every 10 ms, and a page reading the last
    week's totals by category every 100 ms, each wait noted (ms)."""

    def __init__(self, store: Any, base_ms: int) -> None:
        import query

        from officepulse.core.spans import Span
        from officepulse.store.base import AgentInfo

        self.store = store
        self.span = Span
        self.activity = query.ACTIVE["Code"]
        self.commits: list[float] = []
        self.reads: list[float] = []
        self.stop = asyncio.Event()
        self.t = base_ms + 40 * DAY_MS  # after the history: it is compared apart
        self.seq = 0
        # An unaligned week, as the Categories page asks it.
        self.read_range = (base_ms + 23 * DAY_MS + 12_345, base_ms + 30 * DAY_MS + 67_890)
        store.save_agent(AgentInfo(WRITER, WRITER, "bench-host", "Linux", "0.1", "UTC", True, 0))

    async def _every(
        self, seconds: float, work: Callable[[], Awaitable[None]], into: list[float]
    ) -> None:
        while not self.stop.is_set():
            t0 = time.perf_counter()
            await work()
            into.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(seconds)

    async def _commit(self) -> None:
        self.seq += 1
        await self.store.commit_spans(
            WRITER, [self.span(self.t, self.t + 1_000, self.activity)], self.seq
        )
        self.t += 1_000

    async def _read(self) -> None:
        await self.store.usage(*self.read_range, ["category"])

    async def during(self, work: Awaitable[Any]) -> Any:
        self.stop.clear()
        self.commits, self.reads = [], []
        tasks = [
            asyncio.create_task(self._every(0.01, self._commit, self.commits)),
            asyncio.create_task(self._every(0.1, self._read, self.reads)),
        ]
        try:
            return await work
        finally:
            self.stop.set()
            await asyncio.gather(*tasks)


async def totals(store: Any, kind: str, database: str, base_ms: int) -> dict[str, Any]:
    """The history's totals by category from the store (rollups), and the spans summed in
    SQL: they must be the same."""
    lo, hi = base_ms, base_ms + 31 * DAY_MS
    rows = await store.usage(lo, hi, ["category"])
    stored = {str(r.category): [r.active_ms, r.idle_ms] for r in rows}
    sql = (
        "SELECT category, SUM(CASE WHEN idle THEN 0 ELSE end_ms - start_ms END), "
        "SUM(CASE WHEN idle THEN end_ms - start_ms ELSE 0 END) FROM spans "
        f"WHERE start_ms >= {lo} AND end_ms <= {hi} AND agent_id <> '{WRITER}' GROUP BY category"
    )
    if kind == "sqlite":
        import sqlite3

        with contextlib.closing(sqlite3.connect(database)) as db:
            raw = db.execute(sql).fetchall()
    else:
        with psycopg.connect(database) as pg:
            raw = pg.execute(sql).fetchall()  # type: ignore[arg-type]
    summed = {str(c): [int(a), int(i)] for c, a, i in raw}
    return {"by_category": stored, "exact": stored == summed}


async def baseline(load: Load) -> dict[str, Any]:
    """The waits with nothing else going on, for 5 s."""
    await load.during(asyncio.sleep(5))
    return {"commit_ms": quantiles(load.commits), "read_ms": quantiles(load.reads)}


async def old(kind: str, database: str) -> dict[str, Any]:
    """The code before the change: set_categories re-categorises everything, then returns."""
    import query

    store = open_store(kind, database)
    await store.open()
    try:
        load = Load(store, query.BASE_MS)
        idle = await baseline(load)
        t0 = time.perf_counter()
        changed = await load.during(store.set_categories(query.OTHER_RULES))
        seconds = time.perf_counter() - t0
        result = {
            "idle": idle,
            "change_returns_ms": round(seconds * 1000),
            "history_done_s": round(seconds, 1),
            "changed": changed,
            "commit_ms": quantiles(load.commits),
            "read_ms": quantiles(load.reads),
        }
        result.update(await totals(store, kind, database, query.BASE_MS))
        return result
    finally:
        await store.close()


async def new(kind: str, database: str, batch: int) -> dict[str, Any]:
    """This code: the change returns with a job; the panel's Recategoriser runs it."""
    import query

    from officepulse.panel.recategorising import Recategoriser

    store = open_store(kind, database)
    await store.open()
    runner = Recategoriser(store, lambda: int(time.time() * 1000), batch=batch)
    await runner.start()
    try:
        load = Load(store, query.BASE_MS)
        idle = await baseline(load)

        async def change_and_wait() -> tuple[float, Any]:
            t0 = time.perf_counter()
            job = await store.set_categories(query.OTHER_RULES, int(time.time() * 1000))
            returned = time.perf_counter() - t0
            runner.started()
            while job.state == "running":
                await asyncio.sleep(0.2)
                job = await store.category_job(job.id)
            return returned, job

        t0 = time.perf_counter()
        returned, job = await load.during(change_and_wait())
        seconds = time.perf_counter() - t0
        result = {
            "idle": idle,
            "change_returns_ms": round(returned * 1000, 1),
            "history_done_s": round(seconds, 1),
            "changed": job.changed,
            "job": {"done": job.done, "total": job.total, "state": job.state},
            "commit_ms": quantiles(load.commits),
            "read_ms": quantiles(load.reads),
        }
        result.update(await totals(store, kind, database, query.BASE_MS))
        return result
    finally:
        await runner.stop()
        await store.close()


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(BENCH))
    if args.phase == "fill":
        out = asyncio.run(fill(args.kind, args.database, args.spans))
    elif args.phase == "old":
        out = asyncio.run(old(args.kind, args.database))
    else:
        out = asyncio.run(new(args.kind, args.database, args.batch))
    print("RESULT " + json.dumps(out), flush=True)


# ------------------------------------------------------------------------ the parent


def run_phase(phase: str, kind: str, database: str, args: argparse.Namespace, src: Path) -> Any:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{REPO}"}
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--phase",
        phase,
        "--kind",
        kind,
        "--database",
        database,
        "--spans",
        str(args.spans),
        "--batch",
        str(args.batch),
    ]
    print(f"{kind}: {phase} (officepulse from {src}) …", flush=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{kind} {phase} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    print(f"  {json.dumps(result)[:300]}", flush=True)
    return result


def render(results: dict[str, Any]) -> str:
    out = [
        "| | history | change returns | history re-categorised | commit wait p50 / p99 / max | "
        "read wait p50 / p99 / max | exact |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for kind, r in results.items():
        for label in ("old", "new"):
            x = r[label]
            c, rd = x["commit_ms"], x["read_ms"]
            spans = r["fill"]["spans"]
            out.append(
                f"| {kind} {label} | {spans:,} spans | {x['change_returns_ms']:,} ms | "
                f"{x['history_done_s']:,} s | {c['p50']} / {c['p99']} / {c['max']} ms | "
                f"{rd['p50']} / {rd['p99']} / {rd['max']} ms | {x['exact']} |"
            )
    return "\n".join(out)


def parent(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(REPO))
    from tests.support.postgres import PostgresCluster, database_name

    old_src, new_src = Path(args.old_src), REPO / "src"
    results: dict[str, Any] = {}
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-recat-") as tmp:
        cluster = PostgresCluster.create() if "postgres" in args.stores else None
        try:
            for kind in args.stores:
                if kind == "sqlite":
                    first = str(Path(tmp) / "old.sqlite3")
                    fill_out = run_phase("fill", kind, first, args, old_src)
                    second = str(Path(tmp) / "new.sqlite3")
                    shutil.copy(first, second)  # closed: its WAL was checkpointed at close
                else:
                    assert cluster is not None
                    first = cluster.create_database()
                    fill_out = run_phase("fill", kind, first, args, old_src)
                    name = f"copy_{int(time.time())}"
                    with psycopg.connect(cluster.url(), autocommit=True) as pg:
                        source = database_name(first)
                        pg.execute(f'CREATE DATABASE {name} TEMPLATE "{source}"')  # type: ignore[arg-type]
                    second = cluster.url(name)
                results[kind] = {
                    "fill": fill_out,
                    "old": run_phase("old", kind, first, args, old_src),
                    "new": run_phase("new", kind, second, args, new_src),
                }
                same = results[kind]["old"]["by_category"] == results[kind]["new"]["by_category"]
                results[kind]["old_equals_new"] = same
        finally:
            if cluster is not None:
                cluster.destroy()
    table = render(results)
    print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"recategorize-{stamp}.json"
    load = os.getloadavg()
    path.write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "finished": datetime.now(UTC).isoformat(),
                "args": vars(args),
                "load_average_at_end": load,
                "results": results,
            },
            indent=1,
        )
    )
    print(f"written {path}")


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old-src", default="/work/main/src", help="src/ of the code before")
    p.add_argument("--spans", type=int, default=1_000_000)
    p.add_argument("--stores", type=lambda s: s.split(","), default=["sqlite", "postgres"])
    p.add_argument("--batch", type=int, default=1_000, help="spans per batch of the new job")
    p.add_argument("--phase", choices=["fill", "old", "new"], help=argparse.SUPPRESS)
    p.add_argument("--kind", help=argparse.SUPPRESS)
    p.add_argument("--database", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.phase:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
