#!/usr/bin/env python3
"""What one long span costs: in the store alone, and end to end through a server.

**store**: a fresh SQLite store (a child process per length, so its peak RSS is its own)
commits one span of each length with ``commit_spans``, as the server does for an agent's
batch, bypassing the server's checks. Printed: the commit's time, the process's peak RSS,
the longest the event loop went without running a 1 ms ticker meanwhile, the rollup rows
the store holds afterwards, and whether ``usage()`` over the span gives its length exactly.

**server**: a real ``officepulse server`` on a scratch database; a v2 agent sends one
``spans`` message with one span of each length while another client calls
``GET /api/v1/agents`` in a loop. Printed: how long until the server answered the batch
(``ack`` or an ``error``), which it was, the slowest API call meanwhile, and the server's
peak RSS (VmHWM).

Run: .venv/bin/python bench/long_span.py [--days 7 365 3650] [--part store server] [--timeout 600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from officepulse.core.spans import Span  # noqa: E402 - needs the repo on the path
from officepulse.protocol.messages import Activity  # noqa: E402
from officepulse.store.base import AgentInfo  # noqa: E402
from officepulse.store.sqlite import SQLiteStore  # noqa: E402
from tests.support.servers import start_server  # noqa: E402

DAY_MS = 86_400_000
# Spans end a day before now, so that only their length decides what happens.
END = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def _count(path: Path, table: str) -> int | None:
    with sqlite3.connect(path) as conn:
        try:
            (n,) = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        except sqlite3.OperationalError:
            return None  # a table this version does not have
    return int(n)


async def _store_once(path: Path, length_ms: int) -> dict[str, object]:
    store = SQLiteStore(path)
    await store.open()
    store.save_agent(AgentInfo("a", "a", "h", "Linux", "0", "UTC", True, 0))
    await store.flush()
    stall = 0.0
    running = True

    async def ticker() -> None:
        nonlocal stall
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            stall = max(stall, now - last)
            last = now

    end_ms = int(END.timestamp() * 1000)
    span = Span(end_ms - length_ms, end_ms, Activity(app="Code", title="long"))
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    began = time.perf_counter()
    await store.commit_spans("a", [span], 1)
    took = time.perf_counter() - began
    running = False
    await tick
    (row,) = await store.usage(span.start_ms, span.end_ms, [])
    await store.close()
    return {
        "commit_s": round(took, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "loop_stall_ms": round(stall * 1000, 1),
        "rollup_rows": _count(path, "rollups"),
        "team_rows": _count(path, "team_rollups"),
        "run_rows": _count(path, "rollup_runs"),
        "usage_exact": row.active_ms == length_ms,
    }


def store_part(days: float, timeout: float) -> dict[str, object]:
    """One child process per length: its peak RSS is this commit's alone."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(days), str(Path(tmp) / "s.sqlite3")],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=True,
            )
        except subprocess.TimeoutExpired:
            return {"commit_s": f"> {timeout:g} (stopped)"}
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _vm_hwm_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return -1


def server_part(days: float, timeout: float) -> dict[str, object]:
    from websockets.sync.client import connect

    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp))
        try:
            slowest = 0.0
            calls = 0
            stop = threading.Event()

            def poll() -> None:
                nonlocal slowest, calls
                while not stop.is_set():
                    began = time.perf_counter()
                    try:
                        with urllib.request.urlopen(server.url + "/api/v1/agents", timeout=timeout):
                            pass
                    except OSError:
                        pass
                    slowest = max(slowest, time.perf_counter() - began)
                    calls += 1
                    time.sleep(0.01)

            start = END - timedelta(days=days)
            hello = {
                "type": "hello",
                "v": 2,
                "agent_id": "long",
                "name": "Long",
                "host": "h",
                "platform": "Linux",
                "agent_version": "0",
                "tz": "UTC",
            }
            batch = {
                "type": "spans",
                "first_seq": 1,
                "spans": [[start.isoformat(), END.isoformat(), {"app": "Code"}]],
            }
            with connect(server.ws_url) as ws:
                ws.send(json.dumps(hello))
                ws.recv(timeout=10)
                poller = threading.Thread(target=poll, daemon=True)
                poller.start()
                time.sleep(0.2)
                began = time.perf_counter()
                ws.send(json.dumps(batch))
                try:
                    answer = json.loads(ws.recv(timeout=timeout))
                    answered = f"{answer['type']} {answer.get('code', answer.get('seq'))}"
                except TimeoutError:
                    answered = f"nothing within {timeout:g} s"
                took = time.perf_counter() - began
                time.sleep(0.2)
                stop.set()
                poller.join(timeout)
            return {
                "answer": answered,
                "answer_s": round(took, 3),
                "api_calls": calls,
                "slowest_api_s": round(slowest, 3),
                "server_peak_rss_mb": _vm_hwm_mb(server.proc.pid),
            }
        finally:
            server.stop()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        length = int(float(sys.argv[2]) * DAY_MS)
        print(json.dumps(asyncio.run(_store_once(Path(sys.argv[3]), length))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, nargs="+", default=[7, 365, 3650])
    parser.add_argument(
        "--part", nargs="+", choices=["store", "server"], default=["store", "server"]
    )
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    for part in args.part:
        for days in args.days:
            run = store_part if part == "store" else server_part
            print(f"{part:6} {days:g} days: {json.dumps(run(days, args.timeout))}", flush=True)


if __name__ == "__main__":
    main()
