#!/usr/bin/env python3
"""Per-app totals from rollups (issue 5, part 9): ``Store.usage`` over N agents × 30 days,
on SQLite and on PostgreSQL, and ``GET /api/v1/usage`` of a real server on each, beside the
same question asked of ActivityWatch's aw-server over its raw events.

  1. fill      A scratch store of each kind (``--stores``) is filled through the real
               ``SQLiteStore`` / ``PostgresStore`` (``save_agent``, then ``commit_spans`` in
               batches of 500, which also keeps the rollups) with a seeded workload: every
               day a workday of about 8 h, a switch every few minutes among 10 apps, a few
               idle stretches. Agents are filled whole until ``--fill-budget`` seconds have
               passed: the scale that was measured is printed, never the one asked for.
               PostgreSQL is a scratch cluster of tests/support/postgres.py (its default settings).
  2. store     ``usage(start, end, ["app"])`` and ``["agent", "app"]`` over the whole period,
               cold (the first call after the store is reopened; the OS page cache stays
               warm) and warm (median of ``--warm`` calls), plus ``["app"]`` and ``[]`` over
               a window with unaligned edges (day, hour and minute rollups, raw spans at the
               ends). Each answer
               is compared with the sums of the spans written (exact, to the millisecond).
  3. aw-server ``aw-server --testing`` (.venv-aw) pinned to CPU 0, one bucket per agent filled
               with the same spans as events (``POST /api/0/buckets/<id>/events`` in batches
               of 1,000) for ``--aw-fill-seconds``; then query2
               ``merge_events_by_keys(query_bucket(b), ["app"])`` over the period, once per
               bucket, summed over buckets. What that implies at the SQLite scale is printed
               as an estimate (per-bucket time × agents), labelled as one.

This script pins itself to CPU 1 (the stores' client side runs in it; so does PostgreSQL,
which it starts); the servers under test (officepulse, aw-server) get CPU 0. All traffic is
on 127.0.0.1 or a Unix socket; every loop is bounded; the scratch stores, aw-server and its
data directory are removed at the end, also on Ctrl-C (unless ``--keep``).

Run: .venv/bin/python bench/query.py [--agents 1000] [--days 30] [--stores sqlite,postgres]
     [--skip-aw] [--skip-recategorize] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any

import psutil
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import ingest  # noqa: E402 - bench/ is on the path when run as a script

from officepulse.core.categories import (  # noqa: E402
    DEFAULT_RULES,
    Rule,
    RuleSet,
    compile_rules,
)
from officepulse.core.spans import Span  # noqa: E402
from officepulse.protocol.messages import Activity  # noqa: E402
from officepulse.store.base import AgentInfo, GroupKey, Store  # noqa: E402
from officepulse.store.postgres import PostgresStore  # noqa: E402
from officepulse.store.sqlite import SQLiteStore  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402

RESULTS_DIR = REPO / "bench" / "results"
BATCH = 500
STORE_KINDS = ("sqlite", "postgres")
LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
PG_DATABASE = "query_bench"
AW_BATCH = 1_000
BASE = datetime(2026, 10, 1, tzinfo=UTC)
BASE_MS = int(BASE.timestamp() * 1000)
DAY_MS = 86_400_000
APP_NAMES = (
    "Code",
    "firefox",
    "xterm",
    "Slack",
    "thunderbird",
    "libreoffice-calc",
    "zoom",
    "evince",
    "gimp",
    "nautilus",
)
ACTIVE = {a: Activity(app=a, title=f"{a} — bench window", process=a.lower()) for a in APP_NAMES}
IDLE = {
    a: Activity(app=a, title=f"{a} — bench window", process=a.lower(), idle=True) for a in APP_NAMES
}
# (agent, app, category, idle) -> ms
Totals = dict[tuple[str, str, str, bool], int]
DEFAULTS = compile_rules(DEFAULT_RULES)
OTHER_WINDOW = "whole, by OTHER_RULES"
# The rules set for the re-categorisation measurement: most of the history moves.
OTHER_RULES = [
    Rule(category="Work > Making", pattern="^(code|xterm|gimp|libreoffice-calc)$", fields=("app",)),
    Rule(category="Talk", pattern="^(slack|zoom|thunderbird)$", fields=("app",)),
    Rule(category="Reading", pattern="bench window", fields=("title",)),
]


def agent_id(n: int) -> str:
    return f"bench-agent-{n:04d}"


def workload(agent: int, days: int, seed: int) -> list[Span]:
    """One agent's spans: per day a workday of ~8 h from ~08:00 UTC, contiguous spans of
    ~3 min (exponential, 20 s–20 min) among 10 apps, and ~3 idle stretches of 5–30 min."""
    rng = random.Random(seed * 1_000_003 + agent)
    spans: list[Span] = []
    app = rng.choice(APP_NAMES)
    for day in range(days):
        t = BASE_MS + day * DAY_MS + 8 * 3_600_000 + rng.randrange(3_600_000)
        end = t + 8 * 3_600_000 + rng.randrange(-1_800_000, 1_800_000)
        while t < end:
            if rng.random() < 0.02:
                length = rng.randrange(300_000, 1_800_000)
                activity = IDLE[app]
            else:
                app = rng.choice([a for a in APP_NAMES if a != app])
                length = int(min(1_200_000, max(20_000, rng.expovariate(1 / 180_000))))
                activity = ACTIVE[app]
            stop = min(end, t + length)
            spans.append(Span(t, stop, activity))
            t = stop
    return spans


def add_totals(
    totals: Totals, agent: str, spans: Sequence[Span], lo: int, hi: int, rules: RuleSet = DEFAULTS
) -> None:
    for s in spans:
        ms = min(s.end_ms, hi) - max(s.start_ms, lo)
        if ms > 0:
            a = s.activity
            key = (agent, a.app, rules.categorize(a.app, a.title, a.url), a.idle)
            totals[key] = totals.get(key, 0) + ms


# --------------------------------------------------------------------------- stores


@dataclass(frozen=True)
class Target:
    """One store under test: its kind, its SQLite file or PostgreSQL URL, and for
    PostgreSQL the cluster that serves it (whose CPU the rows report as "database CPU")."""

    kind: str
    database: str
    cluster: PostgresCluster | None = None

    def postmaster(self) -> psutil.Process | None:
        """The PostgreSQL cluster's first process (None: SQLite)."""
        if self.cluster is None:
            return None
        return psutil.Process(int((self.cluster.data / "postmaster.pid").read_text().split()[0]))

    def db_cpu_seconds(self) -> float | None:
        """User + system CPU of the PostgreSQL cluster's processes so far (None: SQLite,
        which runs in its caller). Backends that exit between two readings take their CPU
        with them; the store's and the server's pooled connections stay open while timed."""
        postmaster = self.postmaster()
        if postmaster is None:
            return None
        total = 0.0
        for proc in [postmaster, *postmaster.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    def store(self) -> Store:
        if self.kind == "sqlite":
            return SQLiteStore(Path(self.database))
        return PostgresStore(self.database)

    def size_mb(self) -> float:
        if self.kind == "sqlite":
            path = Path(self.database)
            return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
        with psycopg.connect(self.database) as pg:
            row = pg.execute("SELECT pg_database_size(current_database())").fetchone()
        assert row is not None
        return int(row[0]) / 2**20

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        """One statement on the database itself, outside any store (placeholders: ?)."""
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(self.database)) as db, db:
                db.execute(sql, params)
        else:
            with psycopg.connect(self.database) as pg:
                pg.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]


@dataclass
class Fill:
    agents_asked: int
    agents: int
    days: int
    spans: int
    seconds: float
    spans_per_s: float
    db_mb: float
    budget_hit: bool


@dataclass
class QueryRow:
    system: str
    query: str
    scale: str
    rows: int
    cold_ms: float | None
    warm_p50_ms: float
    warm_min_ms: float
    warm_max_ms: float
    cpu_ms_per_call: float | None
    exact: str
    note: str = ""
    # PostgreSQL's own CPU per call (its processes, psutil), beside the caller's.
    db_cpu_ms_per_call: float | None = None


async def fill_store(
    target: Target, args: argparse.Namespace, windows: dict[str, tuple[int, int]]
) -> tuple[Fill, dict[str, Totals], list[list[Span]]]:
    """Fill whole agents, ``args.writers`` at once, until done or the budget has passed."""
    totals: dict[str, Totals] = {name: {} for name in [*windows, OTHER_WINDOW]}
    other = compile_rules(OTHER_RULES)
    store = target.store()
    await store.open()
    next_agent = 0
    done: list[int] = []
    written = 0
    kept: list[list[Span]] = []  # the first agents' spans, reused for aw-server
    started = time.perf_counter()
    deadline = started + args.fill_budget

    async def writer() -> None:
        nonlocal next_agent, written
        while next_agent < args.agents and time.perf_counter() < deadline:
            n = next_agent
            next_agent += 1
            aid = agent_id(n)
            spans = workload(n, args.days, args.seed)
            store.save_agent(AgentInfo(aid, aid, "bench-host", "Linux", "0.1", "UTC", False, 0))
            for seq, i in enumerate(range(0, len(spans), BATCH), start=1):
                await store.commit_spans(aid, spans[i : i + BATCH], seq)
            for name, (lo, hi) in windows.items():
                add_totals(totals[name], aid, spans, lo, hi)
            add_totals(totals[OTHER_WINDOW], aid, spans, *windows["whole"], other)
            written += len(spans)
            done.append(n)
            if n < args.aw_agents_max:
                kept.append(spans)
            if len(done) % 50 == 0:
                rate = written / (time.perf_counter() - started)
                print(
                    f"  {target.label}: filled {len(done):,} agents, {written:,} spans, "
                    f"{rate:,.0f} spans/s",
                    flush=True,
                )

    try:
        await asyncio.gather(*(writer() for _ in range(args.writers)))
        await store.flush()
    finally:
        await store.close()
    seconds = time.perf_counter() - started
    fill = Fill(
        args.agents,
        len(done),
        args.days,
        written,
        round(seconds, 1),
        round(written / seconds),
        round(target.size_mb(), 1),
        len(done) < args.agents,
    )
    return fill, totals, kept


def compare(rows: Sequence[Any], expected: Totals, group_by: Sequence[GroupKey]) -> str:
    want: dict[tuple[str | None, str | None, str | None], list[int]] = {}
    for (agent, app, category, idle), ms in expected.items():
        key = (
            agent if "agent" in group_by else None,
            app if "app" in group_by else None,
            category if "category" in group_by else None,
        )
        slot = want.setdefault(key, [0, 0])
        slot[1 if idle else 0] += ms
    got = {(r.agent_id, r.app, r.category): [r.active_ms, r.idle_ms] for r in rows}
    if got == want:
        return "exact"
    off = sum(1 for k in set(got) | set(want) if got.get(k) != want.get(k))
    return f"WRONG ({off} groups differ)"


async def time_store(
    target: Target,
    fill: Fill,
    totals: dict[str, Totals],
    windows: dict[str, tuple[int, int]],
    warm: int,
) -> list[QueryRow]:
    scale = f"{fill.agents:,} agents × {fill.days} d"
    cases: list[tuple[str, str, list[GroupKey]]] = [
        ("by app, whole period", "whole", ["app"]),
        ("by agent+app, whole period", "whole", ["agent", "app"]),
        ("by category, whole period", "whole", ["category"]),
        ("by agent+category, whole period", "whole", ["agent", "category"]),
        ("by app, unaligned edges", "unaligned", ["app"]),
        ("by category, unaligned edges", "unaligned", ["category"]),
        ("whole team (no grouping), unaligned edges", "unaligned", []),
    ]
    out: list[QueryRow] = []
    for label, window, group_by in cases:
        lo, hi = windows[window]
        store = target.store()  # reopened: the first call is cold (fresh connections)
        await store.open()
        try:
            t0 = time.perf_counter()
            rows = await store.usage(lo, hi, group_by)
            cold = (time.perf_counter() - t0) * 1000
            exact = compare(rows, totals[window], group_by)
            times: list[float] = []
            cpu0, db0 = time.process_time(), target.db_cpu_seconds()
            for _ in range(warm):
                t0 = time.perf_counter()
                again = await store.usage(lo, hi, group_by)
                times.append((time.perf_counter() - t0) * 1000)
                if again != rows:
                    exact = "WRONG (answers differ between calls)"
            cpu = (time.process_time() - cpu0) * 1000 / warm
            db = per_call(db0, target.db_cpu_seconds(), warm)
        finally:
            await store.close()
        system = f"officepulse {target.label}"
        out.append(timed_row(system, label, scale, len(rows), cold, times, cpu, exact, db))
    return out


def per_call(before: float | None, after: float | None, calls: int) -> float | None:
    """CPU ms per call between two readings in seconds (None when there are none)."""
    return None if before is None or after is None else (after - before) * 1000 / calls


def timed_row(
    system: str,
    label: str,
    scale: str,
    rows: int,
    cold: float,
    times: list[float],
    cpu: float,
    exact: str,
    db_cpu: float | None = None,
) -> QueryRow:
    """A row of the table from the cold time, the warm times and CPU ms per call."""
    return QueryRow(
        system,
        label,
        scale,
        rows,
        round(cold, 1),
        round(statistics.median(times), 1),
        round(min(times), 1),
        round(max(times), 1),
        round(cpu, 1),
        exact,
        db_cpu_ms_per_call=None if db_cpu is None else round(db_cpu, 1),
    )


# --------------------------------------------------------------------------- HTTP

HTTP_CASES: list[tuple[str, list[GroupKey]]] = [
    ("by app, whole period", ["app"]),
    ("by agent+app, whole period", ["agent", "app"]),
]
BENCH_ADMIN = "bench-admin"
BENCH_PASSWORD = "bench-admin-password-1"


def http_get(url: str, cookie: str | None) -> tuple[float, Any]:
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as response:
        body = response.read()
    return (time.perf_counter() - t0) * 1000, json.loads(body)


def sign_in(base_url: str) -> str:
    """The session cookie of BENCH_ADMIN, signed in through the sign-in form."""
    data = urllib.parse.urlencode(
        {"login": BENCH_ADMIN, "password": BENCH_PASSWORD, "next": "/"}
    ).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(f"{base_url}/signin", data=data), timeout=30)
    except urllib.error.HTTPError as exc:  # the 303 after signing in
        cookie = exc.headers.get("Set-Cookie", "")
        if exc.code == 303 and cookie:
            return cookie.split(";", 1)[0]
        raise
    raise RuntimeError("signing in did not redirect")


def officepulse_cli(database: str, tmp: Path, *args: str, stdin: str = "") -> None:
    exe = Path(sys.executable).parent / "officepulse"
    subprocess.run(
        [str(exe), "--env-file", "/dev/null", *args, "--database", database],
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
        timeout=120,
        env=ingest.scratch_env(tmp),
    )


def forget_admin(target: Target) -> None:
    """Back to open mode, so that a kept store measures the same next time."""
    people = "SELECT id FROM people WHERE login = ?"
    target.run(f"DELETE FROM sessions WHERE person_id IN ({people})", (BENCH_ADMIN,))
    target.run("DELETE FROM people WHERE login = ?", (BENCH_ADMIN,))
    target.run("DELETE FROM audit")


def set_policy(processes: Sequence[psutil.Process], policy: int, priority: int) -> None:
    """Every thread of ``processes`` and of their children to ``policy`` (root)."""
    for root in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                    for thread in proc.threads():
                        os.sched_setscheduler(thread.id, policy, os.sched_param(priority))


@contextlib.contextmanager
def real_time(on: bool, processes: Sequence[psutil.Process]) -> Iterator[None]:
    """With ``on``, this process, ``processes`` and their children (PostgreSQL's backends,
    new ones too: they inherit it) at SCHED_FIFO ``ingest.FIFO_PRIORITY`` for the block, as
    ``bench/ingest.py --fifo``: woken as their data arrives, as on free cores. Then back."""
    if not on:
        yield
        return
    everyone = [psutil.Process(), *processes]
    set_policy(everyone, os.SCHED_FIFO, ingest.FIFO_PRIORITY)
    try:
        yield
    finally:
        set_policy(everyone, os.SCHED_OTHER, 0)


def time_http(
    target: Target,
    fill: Fill,
    totals: dict[str, Totals],
    window: tuple[int, int],
    warm: int,
    tmp: Path,
    fifo: bool = False,
) -> list[QueryRow]:
    """GET /api/v1/usage of a real server on the filled store (pinned to CPU 0), open (no
    accounts: everything as stored) and signed in as an admin (each agent at its owner's
    level: the path every signed-in viewer takes). Cold is the first call after start;
    CPU ms per call is the server's (psutil), over the warm calls."""
    scale = f"{fill.agents:,} agents × {fill.days} d"
    lo, hi = window
    out: list[QueryRow] = []
    for mode in ("open", "admin"):
        if mode == "admin":
            officepulse_cli(
                target.database,
                tmp,
                "admin",
                "create",
                "--login",
                BENCH_ADMIN,
                "--password-stdin",
                stdin=BENCH_PASSWORD,
            )
        port = ingest.free_port()
        base_url = f"http://{ingest.LOOPBACK}:{port}"
        exe = Path(sys.executable).parent / "officepulse"
        argv = [str(exe), "--env-file", "/dev/null", "server", "--host", ingest.LOOPBACK]
        argv += ["--port", str(port), "--database", target.database]
        try:
            with ingest.ServerProcess(argv, cwd=tmp, env=ingest.scratch_env(tmp)) as server:
                ingest.wait_until(lambda p=port: ingest.tcp_open(p), server, "officepulse server")
                cookie = sign_in(base_url) if mode == "admin" else None
                postmaster = target.postmaster()
                cluster = [] if postmaster is None else [postmaster]
                with real_time(fifo, [server.process, *cluster]):
                    for label, group_by in HTTP_CASES:
                        query = urllib.parse.urlencode(
                            {"start": iso(lo), "end": iso(hi), "group_by": ",".join(group_by)}
                        )
                        url = f"{base_url}/api/v1/usage?{query}"
                        cold, body = http_get(url, cookie)
                        exact = compare_http(body["rows"], totals["whole"], group_by)
                        times: list[float] = []
                        cpu0, db0 = server.cpu_seconds(), target.db_cpu_seconds()
                        for _ in range(warm):
                            ms, again = http_get(url, cookie)
                            times.append(ms)
                            if again != body:
                                exact = "WRONG (answers differ between calls)"
                        cpu = (server.cpu_seconds() - cpu0) * 1000 / warm
                        db = per_call(db0, target.db_cpu_seconds(), warm)
                        system = f"officepulse HTTP ({target.label}), {mode}"
                        count = len(body["rows"])
                        out.append(
                            timed_row(system, label, scale, count, cold, times, cpu, exact, db)
                        )
        finally:
            if mode == "admin":
                forget_admin(target)
    return out


def compare_http(rows: Sequence[Any], expected: Totals, group_by: Sequence[GroupKey]) -> str:
    """The API's rows (seconds, as floats of whole milliseconds) against the spans."""
    as_usage = [
        SimpleNamespace(
            agent_id=r.get("agent"),
            app=r.get("app"),
            category=r.get("category"),
            active_ms=round(r["seconds"] * 1000),
            idle_ms=round(r["idle_seconds"] * 1000),
        )
        for r in rows
    ]
    return compare(as_usage, expected, group_by)


# ------------------------------------------------------------------- re-categorisation


@dataclass
class Recategorized:
    store: str
    spans: int
    changed: int
    seconds: float
    spans_per_s: float
    unchanged_pass_s: float  # the same rules again: every span read, none rewritten
    commits_during: int  # commits by a concurrent writer while the rules changed
    commit_p50_ms: float
    commit_max_ms: float
    exact: str


async def change_rules(store: Any, rules: Sequence[Rule]) -> int:
    """Change the rules and wait until history is re-categorised: how many spans changed
    category. ``set_categories`` did it all itself before re-categorising moved to a
    background job (store/categorising.py: here its job is run to its end at once); with
    PYTHONPATH on a checkout from before, it still does."""
    if not hasattr(store, "recategorize_step"):
        return int(await store.set_categories(rules))
    from officepulse.store.categorising import recategorize_all

    return (await recategorize_all(store, rules, int(time.time() * 1000))).changed


async def time_recategorize(
    target: Target, fill: Fill, totals: dict[str, Totals], lo: int, hi: int
) -> Recategorized:
    """The rules changed to OTHER_RULES (``change_rules``) on the filled store while
    another agent commits a span every 10 ms (how long each commit waits is what ingest
    sees), then the answer by category checked against the spans; then the same rules
    again (nothing changes)."""
    store = target.store()
    await store.open()
    latencies: list[float] = []
    stop = asyncio.Event()

    async def writer() -> None:
        aid = "bench-live-writer"
        store.save_agent(AgentInfo(aid, aid, "bench-host", "Linux", "0.1", "UTC", True, 0))
        t = BASE_MS
        seq = 0
        while not stop.is_set():
            seq += 1
            t0 = time.perf_counter()
            await store.commit_spans(aid, [Span(t, t + 1_000, ACTIVE["Code"])], seq)
            latencies.append((time.perf_counter() - t0) * 1000)
            t += 1_000
            await asyncio.sleep(0.01)

    try:
        live = asyncio.create_task(writer())
        t0 = time.perf_counter()
        changed = await change_rules(store, OTHER_RULES)
        seconds = time.perf_counter() - t0
        stop.set()
        await live
        t0 = time.perf_counter()
        await change_rules(store, OTHER_RULES)
        unchanged = time.perf_counter() - t0
        rows = await store.usage(lo, hi, ["agent", "category"])
        rows = [r for r in rows if r.agent_id != "bench-live-writer"]
        exact = compare(rows, totals[OTHER_WINDOW], ["agent", "category"])
        await change_rules(store, DEFAULT_RULES)  # as it was, for whoever reads it next
    finally:
        await store.close()
    return Recategorized(
        target.label,
        fill.spans,
        changed,
        round(seconds, 1),
        round(fill.spans / seconds),
        round(unchanged, 1),
        len(latencies),
        round(statistics.median(latencies), 1) if latencies else 0.0,
        round(max(latencies), 1) if latencies else 0.0,
        exact,
    )


# --------------------------------------------------------------------------- aw-server


@dataclass
class AwResult:
    agents: int = 0
    days: int = 0
    events: int = 0
    fill_s: float = 0.0
    events_per_s: float = 0.0
    bucket_create_s: float = 0.0
    rows: list[QueryRow] = field(default_factory=list)
    per_bucket_ms: list[float] = field(default_factory=list)
    query_cpu_s: float = 0.0
    summed_s: float = 0.0
    estimate_s: float | None = None
    estimate_scale: str = ""
    rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    disk_mb: float = 0.0


def iso(ms: int) -> str:
    return (BASE + timedelta(milliseconds=ms - BASE_MS)).isoformat()


def post(url: str, body: Any, timeout: float = 120.0) -> Any:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def aw_query(base_url: str, bucket: str, lo: int, hi: int) -> tuple[float, list[Any]]:
    query = [
        f'events = query_bucket("{bucket}");',
        'RETURN = merge_events_by_keys(events, ["app"]);',
    ]
    body = {"query": query, "timeperiods": [f"{iso(lo)}/{iso(hi)}"]}
    t0 = time.perf_counter()
    (result,) = post(f"{base_url}/api/0/query/", body)
    return (time.perf_counter() - t0) * 1000, result


def run_aw(
    agents_spans: list[list[Span]], args: argparse.Namespace, lo: int, hi: int, sqlite_agents: int
) -> AwResult:
    exe = ingest.ensure_aw_venv()
    res = AwResult(days=args.days)
    with tempfile.TemporaryDirectory(prefix="bench-aw-query-") as tmp_name:
        tmp = Path(tmp_name)
        port = ingest.free_port()
        base_url = f"http://{ingest.LOOPBACK}:{port}"
        argv = [str(exe), "--testing", "--host", ingest.LOOPBACK, "--port", str(port)]
        with ingest.ServerProcess(argv, cwd=tmp, env=ingest.scratch_env(tmp)) as server:
            ingest.wait_until(lambda: ingest.http_ok(f"{base_url}/api/0/info"), server, "aw-server")
            buckets: list[str] = []
            t_fill = 0.0
            create_s = 0.0
            deadline = time.perf_counter() + args.aw_fill_seconds
            for n, spans in enumerate(agents_spans):
                if time.perf_counter() >= deadline:
                    break
                bucket = f"aw-watcher-window_{agent_id(n)}"
                t0 = time.perf_counter()
                post(
                    f"{base_url}/api/0/buckets/{bucket}",
                    {"client": "bench", "type": "currentwindow", "hostname": agent_id(n)},
                )
                create_s += time.perf_counter() - t0
                events = [
                    {
                        "timestamp": iso(s.start_ms),
                        "duration": s.duration_ms / 1000,
                        "data": {"app": s.activity.app, "title": s.activity.title},
                    }
                    for s in spans
                ]
                t0 = time.perf_counter()
                for i in range(0, len(events), AW_BATCH):
                    post(f"{base_url}/api/0/buckets/{bucket}/events", events[i : i + AW_BATCH])
                t_fill += time.perf_counter() - t0
                res.events += len(events)
                buckets.append(bucket)
                if len(buckets) % 25 == 0:
                    print(f"  aw-server: {len(buckets)} buckets, {res.events:,} events", flush=True)
            res.agents = len(buckets)
            res.fill_s = round(t_fill, 1)
            res.events_per_s = round(res.events / t_fill) if t_fill else 0
            res.bucket_create_s = round(create_s, 1)
            scale = f"{res.agents:,} agents × {args.days} d"
            # Per bucket, once each, and the answer checked against the spans.
            exact_all = True
            cpu0 = server.cpu_seconds()
            for n, bucket in enumerate(buckets):
                ms, result = aw_query(base_url, bucket, lo, hi)
                res.per_bucket_ms.append(ms)
                want: dict[str, int] = {}
                for s in agents_spans[n]:
                    want[s.activity.app] = want.get(s.activity.app, 0) + s.duration_ms
                got = {e["data"]["app"]: e["duration"] for e in result}
                if set(got) != set(want) or any(
                    abs(got[a] - want[a] / 1000) > 1e-6 * len(agents_spans[n]) for a in want
                ):
                    exact_all = False
            res.query_cpu_s = round(server.cpu_seconds() - cpu0, 2)
            res.summed_s = round(sum(res.per_bucket_ms) / 1000, 2)
            # Warm: the first bucket again.
            warm = [aw_query(base_url, buckets[0], lo, hi)[0] for _ in range(args.aw_warm)]
            res.rss_mb = round(server.rss_mb(), 1)
            res.peak_rss_mb = round(server.peak_rss_mb(), 1)
            res.disk_mb = round(ingest.store_mb(tmp), 1)
        exact = "= spans (±1 µs/event, float s)" if exact_all else "WRONG"
        per = res.per_bucket_ms
        res.rows.append(
            QueryRow(
                "aw-server query2",
                "by app, one bucket (= 1 agent)",
                f"1 agent × {args.days} d",
                len(result),
                round(per[0], 1),
                round(statistics.median(warm), 1),
                round(min(warm), 1),
                round(max(warm), 1),
                None,
                exact,
                f"median over {res.agents} buckets once each: {statistics.median(per):.1f} ms",
            )
        )
        res.rows.append(
            QueryRow(
                "aw-server query2",
                "by agent+app, one query per bucket, summed",
                scale,
                0,
                None,
                round(sum(per), 1),
                round(sum(per), 1),
                round(sum(per), 1),
                round(res.query_cpu_s * 1000, 1),
                exact,
                "measured; no cross-bucket merge",
            )
        )
        res.estimate_scale = f"{sqlite_agents:,} agents × {args.days} d"
        res.estimate_s = round(statistics.median(per) * sqlite_agents / 1000, 1)
    return res


# --------------------------------------------------------------------------- output


def save_kept(where: Path, fills: dict[str, tuple[Fill, dict[str, Totals]]]) -> None:
    """What --reuse needs besides the stores: each fill's figures and expected totals."""
    kept = {
        kind: {
            "fill": asdict(fill),
            "totals": {name: [[*key, ms] for key, ms in t.items()] for name, t in totals.items()},
        }
        for kind, (fill, totals) in fills.items()
    }
    (where / "kept.json").write_text(json.dumps({"stores": kept}))


def load_kept(where: Path) -> dict[str, tuple[Fill, dict[str, Totals]]]:
    kept = json.loads((where / "kept.json").read_text())
    # A directory kept before PostgreSQL was measured holds one SQLite store.
    stores = kept.get("stores", {"sqlite": kept})
    return {
        kind: (
            Fill(**one["fill"]),
            {
                name: {(a, app, c, bool(idle)): ms for a, app, c, idle, ms in rows}
                for name, rows in one["totals"].items()
            },
        )
        for kind, one in stores.items()
    }


def render(fills: dict[str, Fill], rows: Sequence[QueryRow], aw: AwResult | None, days: int) -> str:
    lines = [
        f"per-app totals, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    ]
    for kind, fill in fills.items():
        lines.append(
            f"{LABELS[kind]} fill: {fill.agents:,} agents × {fill.days} days = {fill.spans:,} "
            f"spans in {fill.seconds:,} s ({fill.spans_per_s:,} spans/s, commit_spans ×{BATCH}, "
            f"rollups kept), database {fill.db_mb:,} MB"
        )
        if fill.budget_hit:
            lines.append(
                f"  NOTE: the fill budget ran out: measured at {fill.agents:,} agents, "
                f"NOT the {fill.agents_asked:,} asked for"
            )
    if aw is not None:
        lines.append(
            f"aw-server fill: {aw.agents:,} buckets × {aw.days} days = {aw.events:,} events in "
            f"{aw.fill_s} s ({aw.events_per_s:,} events/s, POSTs of {AW_BATCH}; creating the "
            f"buckets {aw.bucket_create_s} s more), RSS {aw.rss_mb} MB (peak {aw.peak_rss_mb}), "
            f"disk {aw.disk_mb} MB"
        )
    head = (
        "system",
        "query",
        "scale",
        "rows",
        "cold ms",
        "warm p50",
        "min",
        "max",
        "CPU ms",
        "db CPU",
        "answer",
    )
    fmt = "{:<36} {:<43} {:<20} {:>6} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}  {}"
    lines += ["", fmt.format(*head)]
    for r in rows:
        lines.append(
            fmt.format(
                r.system,
                r.query,
                r.scale,
                f"{r.rows:,}" if r.rows else "—",
                "—" if r.cold_ms is None else f"{r.cold_ms:,.1f}",
                f"{r.warm_p50_ms:,.1f}",
                f"{r.warm_min_ms:,.1f}",
                f"{r.warm_max_ms:,.1f}",
                "—" if r.cpu_ms_per_call is None else f"{r.cpu_ms_per_call:,.1f}",
                "—" if r.db_cpu_ms_per_call is None else f"{r.db_cpu_ms_per_call:,.1f}",
                r.exact,
            )
        )
        if r.note:
            lines.append(f"{'':<36}   {r.note}")
    lines.append("")
    for whole in rows:
        if whole.system in (f"officepulse {LABELS[k]}" for k in fills) and (
            whole.query == "by app, whole period"
        ):
            ok = whole.warm_p50_ms < 100 and (whole.cold_ms or 0) < 100
            lines.append(
                f"target < 100 ms (by app, whole period, {whole.system}): "
                f"{'meets' if ok else 'misses'} it at {whole.scale} (cold {whole.cold_ms} ms, "
                f"warm p50 {whole.warm_p50_ms} ms)"
            )
    for r in rows:
        if r.system.startswith("officepulse HTTP"):
            limit = 3.0 if r.query.startswith("by app") else 50.0
            verdict = "meets" if r.warm_p50_ms < limit else "misses"
            lines.append(
                f"target < {limit:g} ms warm ({r.system}, {r.query}): {verdict} it "
                f"(warm p50 {r.warm_p50_ms} ms, server CPU {r.cpu_ms_per_call} ms per call"
                + (
                    ""
                    if r.db_cpu_ms_per_call is None
                    else f", PostgreSQL CPU {r.db_cpu_ms_per_call} ms per call"
                )
                + ")"
            )
    if aw is not None and aw.estimate_s is not None:
        med = statistics.median(aw.per_bucket_ms)
        lines.append(
            f"aw-server, measured at {aw.agents} buckets × {days} d: one query per bucket, "
            f"median {med:,.0f} ms, summed {aw.summed_s:,} s (server CPU {aw.query_cpu_s} s)"
        )
        lines.append(
            f"ESTIMATE (not measured) for {aw.estimate_scale}: {aw.estimate_s:,} s of "
            f"per-bucket queries (median per bucket × agents; events per bucket are the same)"
        )
    return "\n".join(lines)


def render_recategorized(r: Recategorized) -> str:
    return (
        f"re-categorisation ({r.store}): {r.spans:,} spans stored, {r.changed:,} changed, in "
        f"{r.seconds} s ({r.spans_per_s:,} spans/s); the same rules again (nothing changes) "
        f"{r.unchanged_pass_s} s; answer by agent+category afterwards: {r.exact}\n"
        f"a writer committing every 10 ms meanwhile: {r.commits_during:,} commits, p50 "
        f"{r.commit_p50_ms} ms, max {r.commit_max_ms} ms"
    )


def parse_stores(raw: str) -> list[str]:
    kinds = [k for k in raw.split(",") if k]
    for kind in kinds:
        if kind not in STORE_KINDS:
            raise argparse.ArgumentTypeError(
                f"--stores takes {' and/or '.join(STORE_KINDS)}, comma-separated, not {kind!r}"
            )
    return kinds


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument(
        "--stores",
        type=parse_stores,
        default=list(STORE_KINDS),
        help="which stores to fill and ask, comma-separated (default sqlite,postgres)",
    )
    p.add_argument("--writers", type=int, default=4, help="agents filled at once")
    p.add_argument(
        "--fill-budget",
        type=float,
        default=180.0,
        help="seconds per store; no new agent is started after it (default 180)",
    )
    p.add_argument("--warm", type=int, default=20, help="warm calls per query")
    p.add_argument("--aw-fill-seconds", type=float, default=60.0)
    p.add_argument("--aw-agents-max", type=int, default=400, help="buckets at most")
    p.add_argument("--aw-warm", type=int, default=5)
    p.add_argument("--skip-aw", action="store_true")
    p.add_argument("--skip-recategorize", action="store_true")
    p.add_argument("--skip-http", action="store_true", help="no /api/v1/usage of a real server")
    p.add_argument(
        "--skip-store", "--skip-sqlite", action="store_true", help="no usage() of the stores"
    )
    p.add_argument(
        "--fifo",
        action="store_true",
        help="time the HTTP calls with this script, the server and PostgreSQL at SCHED_FIFO "
        f"priority {ingest.FIFO_PRIORITY} (root), as bench/ingest.py --fifo: on a shared "
        "machine other programs then cannot delay them",
    )
    p.add_argument("--json", action="store_true", help="also write bench/results/")
    p.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="fill the stores in this directory and leave them there (PostgreSQL's cluster "
        "in DIR/pg, stopped), with their totals",
    )
    p.add_argument(
        "--reuse",
        type=Path,
        default=None,
        help="a directory left by --keep: measure its stores instead of filling them",
    )
    return p.parse_args(argv)


def raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def postgres_cluster(args: argparse.Namespace) -> Any:
    """The PostgreSQL cluster the run uses, if any: a scratch one, removed at the end; or
    the one kept in DIR/pg (made by --keep, started again by --reuse), stopped at the end."""
    if "postgres" not in args.stores:
        yield None
        return
    kept = args.reuse or args.keep
    if kept is None:
        cluster = PostgresCluster.create(fast=False)
        try:
            yield cluster
        finally:
            cluster.destroy()
        return
    root = kept.resolve() / "pg"
    if args.reuse is not None:
        cluster = PostgresCluster.existing(root, fast=False)
        cluster.start()
    else:
        cluster = PostgresCluster.create(fast=False, root=root)
        atexit.unregister(cluster.destroy)
        with psycopg.connect(cluster.url(), autocommit=True) as pg:
            pg.execute(f"CREATE DATABASE {PG_DATABASE} TEMPLATE template0")
    try:
        yield cluster
    finally:
        cluster.stop()


def targets(args: argparse.Namespace, cluster: PostgresCluster | None, where: Path) -> list[Target]:
    out: list[Target] = []
    for kind in args.stores:
        if kind == "sqlite":
            out.append(Target(kind, str(where / "query-bench.sqlite3")))
        else:
            assert cluster is not None
            url = cluster.url(PG_DATABASE) if args.reuse or args.keep else cluster.create_database()
            out.append(Target(kind, url, cluster))
    return out


async def main_async(
    args: argparse.Namespace, tmp: Path, cluster: PostgresCluster | None
) -> dict[str, Any]:
    lo, hi = BASE_MS, BASE_MS + args.days * DAY_MS
    windows = {
        "whole": (lo, hi),
        # Edges inside a minute and inside an hour: minute rollups and raw spans answer them.
        "unaligned": (lo + 8 * 3_600_000 + 37 * 60_000 + 12_345, hi - 14 * 3_600_000 - 3_210),
    }
    where = args.reuse or args.keep or tmp
    stores = targets(args, cluster, where)
    fills: dict[str, tuple[Fill, dict[str, Totals]]] = {}
    kept: list[list[Span]] = []  # the first agents' spans, for aw-server
    if args.reuse is not None:
        fills = load_kept(args.reuse)
        missing = [t.kind for t in stores if t.kind not in fills]
        if missing:
            raise SystemExit(f"{args.reuse} keeps no {', '.join(missing)} store; --stores")
        for t in stores:
            fill = fills[t.kind][0]
            print(f"reusing {t.database}: {fill.agents:,} agents × {fill.days} days", flush=True)
    else:
        where.mkdir(parents=True, exist_ok=True)
        for t in stores:
            print(
                f"filling {t.label}: {args.agents:,} agents × {args.days} days "
                f"(budget {args.fill_budget:.0f} s) ...",
                flush=True,
            )
            fill, totals, first = await fill_store(t, args, windows)
            fills[t.kind] = (fill, totals)
            kept = kept or first
        if args.keep is not None:
            save_kept(args.keep, fills)
    rows: list[QueryRow] = []
    recats: list[Recategorized] = []
    for t in stores:
        fill, totals = fills[t.kind]
        if not args.skip_store:
            rows += await time_store(t, fill, totals, windows, args.warm)
        if not args.skip_http:
            print(f"asking a real server on {t.label} over HTTP ...", flush=True)
            rows += time_http(t, fill, totals, windows["whole"], args.warm, tmp, args.fifo)
        if not args.skip_recategorize:
            print(f"re-categorising the whole history ({t.label}) ...", flush=True)
            recats.append(await time_recategorize(t, fill, totals, lo, hi))
    aw = None
    if not args.skip_aw:
        agents = max(fill.agents for fill, _ in fills.values())
        if not kept:
            kept = [
                workload(n, args.days, args.seed) for n in range(min(agents, args.aw_agents_max))
            ]
        print(f"filling aw-server for up to {args.aw_fill_seconds:.0f} s ...", flush=True)
        aw = run_aw(kept, args, lo, hi, agents)
        rows += aw.rows
    print()
    print(render({k: f for k, (f, _) in fills.items()}, rows, aw, args.days))
    for recat in recats:
        print(render_recategorized(recat))
    return {
        "fills": {k: asdict(f) for k, (f, _) in fills.items()},
        "recategorize": [asdict(r) for r in recats],
        "rows": [asdict(r) for r in rows],
        "aw": None if aw is None else asdict(aw),
        "args": vars(args),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_on_sigterm)
    ingest.pin_to(ingest.LOAD_CPU)
    with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp, postgres_cluster(args) as pg:
        result = asyncio.run(main_async(args, Path(tmp), pg))
    if args.json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"query-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(result, indent=2, default=str))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
