#!/usr/bin/env python3
"""A reconnect storm after an outage (issue 12, part 4): how long until every agent is back
once the server is ready again, with main's doubling back-off ("before") and with full
jitter capped at 4 s ("after"), in one run.

For each law: a real server (``officepulse server``, a scratch SQLite file) and ``--agents``
real agent links (the agent's ``Link``, each its own websocket and in-memory journal),
spread over ``--procs`` client processes. Once every link is connected the server is killed
(SIGKILL: no close frames), stays away ``--outage`` seconds, and is started again on the
same port. Measured from the moment it prints that it listens to the moment each link is
welcomed again (``time.monotonic``, one clock for every process on Linux). "before" runs
the same ``Link`` with the law main had (each wait from the upper half of
``[0, min(30, 0.5 * 2**(n - 1))]``) put in place of ``full_jitter``.

Run: .venv/bin/python bench/reconnect.py [--agents 2000] [--outage 10] [--procs 2]
     [--laws before after] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

OFFICEPULSE = str(Path(sys.executable).parent / "officepulse")
RESULTS = Path(__file__).parent / "results"


def doubling(attempt: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """main's law (agent/link.py ``backoff`` before full jitter), with main's 30 s ceiling."""
    top: float = min(30.0, base * 2.0 ** min(attempt - 1, 32))
    return top * (0.5 + rand() / 2)


def cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """``officepulse server`` on ``port`` (0: a free one), its output read by a thread."""

    def __init__(self, database: Path, port: int) -> None:
        self.proc = subprocess.Popen(
            [OFFICEPULSE, "--env-file", "/dev/null", "server", "--port", str(port),
             "--database", str(database)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=raise_nofile,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.ready_at = 0.0
        self.port = port
        for line in self.proc.stdout:
            if line.startswith("officepulse server listening on "):
                self.ready_at = time.monotonic()
                self.port = int(line.rsplit(":", 1)[1])
                break
        else:
            raise RuntimeError("the server did not start")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for _ in self.proc.stdout or ():
            pass

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def client(law: str, url: str, first: int, count: int, pipe: Connection) -> None:
    """One client process: ``count`` links; says when all are up, when all are down, and
    when each came back."""
    raise_nofile()
    # Thousands of links each saying it lost its connection: the figures are the output.
    logging.getLogger("officepulse").setLevel(logging.CRITICAL)
    from officepulse.agent import link as link_module
    from officepulse.agent.journal import Journal
    from officepulse.agent.link import Link
    from officepulse.protocol.messages import PROTOCOL_VERSION, Hello

    if law == "before":
        link_module.full_jitter = doubling  # the same Link, main's law

    async def run() -> None:
        links = [
            Link(
                url,
                Hello(
                    v=PROTOCOL_VERSION,
                    agent_id=f"storm-{i:05d}",
                    name=f"Storm {i}",
                    host="bench",
                    platform="Linux",
                    agent_version="bench",
                    tz="UTC",
                ),
                Journal(":memory:"),
            )
            for i in range(first, first + count)
        ]
        tasks = [asyncio.create_task(link.run()) for link in links]
        loop = asyncio.get_running_loop()

        await asyncio.gather(*(link.connected.wait() for link in links))
        pipe.send("up")
        await loop.run_in_executor(None, pipe.recv)  # "killed"
        # The link has no event for "lost": looked at every 5 ms, as the returns below.
        while any(link.connected.is_set() for link in links):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        pipe.send("down")
        back: dict[int, float] = {}
        while len(back) < len(links):
            now = time.monotonic()
            for i, link in enumerate(links):
                if i not in back and link.connected.is_set():
                    back[i] = now
            await asyncio.sleep(0.005)
        # When each began the attempt that got it in (the link's clock is time.time).
        offset = time.monotonic() - time.time()
        tried = sorted(link.attempt_at + offset for link in links)
        pipe.send({"back": sorted(back.values()), "tried": tried})
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())


def storm(law: str, agents: int, procs: int, outage: float, tmp: Path) -> dict[str, Any]:
    server = Server(tmp / f"{law}.sqlite3", 0)
    url = f"ws://127.0.0.1:{server.port}/agent"
    ctx = mp.get_context("spawn")
    pipes, children = [], []
    share = -(-agents // procs)
    for p in range(procs):
        mine, theirs = ctx.Pipe()
        count = min(share, agents - p * share)
        child = ctx.Process(target=client, args=(law, url, p * share, count, theirs))
        child.start()
        pipes.append(mine)
        children.append(child)
    try:
        for pipe in pipes:
            assert pipe.recv() == "up"
        killed_at = time.monotonic()
        server.kill()
        for pipe in pipes:
            pipe.send("killed")
        for pipe in pipes:
            assert pipe.recv() == "down"
        time.sleep(max(0.0, killed_at + outage - time.monotonic()))
        server = Server(tmp / f"{law}.sqlite3", server.port)
        # Whose CPU the return took: the server's, and the client processes' (the agents).
        watched = [psutil.Process(server.proc.pid)] + [psutil.Process(c.pid) for c in children]
        cpu_at_ready = [cpu(p) for p in watched]
        back: list[float] = []
        tried: list[float] = []
        for pipe in pipes:
            got = pipe.recv()
            back += [t - server.ready_at for t in got["back"]]
            tried += [t - server.ready_at for t in got["tried"]]
        used = [cpu(p) - at for p, at in zip(watched, cpu_at_ready, strict=True)]
        back.sort()
        return {
            "law": law,
            "agents": agents,
            "outage_s": outage,
            "all_back_s": round(back[-1], 2),
            "p50_s": round(statistics.median(back), 2),
            "p90_s": round(back[int(0.9 * (len(back) - 1))], 2),
            "first_back_s": round(back[0], 2),
            # The law's part: the last agent to begin the attempt that got it in.
            "last_tried_s": round(max(tried), 2),
            "server_cpu_s": round(used[0], 2),
            "clients_cpu_s": round(sum(used[1:]), 2),
            "load_average_1min": os.getloadavg()[0],
        }
    finally:
        server.kill()
        for child in children:
            child.join(30)
            if child.is_alive():
                child.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--outage", type=float, default=10.0)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--laws", nargs="+", default=["before", "after"])
    ap.add_argument("--json", action="store_true", help="also write bench/results/reconnect-*.json")
    ap.add_argument(
        "--raise-priority",
        type=int,
        default=0,
        help="lower the niceness of this run (server and clients inherit it) by N: on a "
        "shared machine, the others' processes then wait instead of the server (needs root)",
    )
    args = ap.parse_args()
    if args.raise_priority:
        os.nice(-args.raise_priority)
    raise_nofile()
    started = datetime.now(UTC)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-reconnect-") as tmp:
        for law in args.laws:
            row = storm(law, args.agents, args.procs, args.outage, Path(tmp))
            row["niceness"] = os.nice(0)
            print(json.dumps(row), flush=True)
            rows.append(row)
    head = f"{'law':8} {'agents':>6} {'outage':>7} {'first':>6} {'p50':>6} {'p90':>6}"
    tail = f"{'all back':>9} {'last tried':>10} {'server CPU':>10} {'agents CPU':>10} {'load':>5}"
    print(f"\n{head} {tail}")
    for r in rows:
        print(
            f"{r['law']:8} {r['agents']:6d} {r['outage_s']:6.0f}s {r['first_back_s']:5.2f}s "
            f"{r['p50_s']:5.2f}s {r['p90_s']:5.2f}s {r['all_back_s']:8.2f}s "
            f"{r['last_tried_s']:9.2f}s "
            f"{r['server_cpu_s']:9.2f}s {r['clients_cpu_s']:9.2f}s {r['load_average_1min']:5.1f}"
        )
    print("(seconds after the server printed that it listens again)")
    if args.json:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"reconnect-{started:%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps({"started": started.isoformat(), "rows": rows}, indent=1))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
