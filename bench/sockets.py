#!/usr/bin/env python3
"""Idle and slow sockets against a real server: how many it takes to lock everyone out.

Starts ``officepulse server`` with a low descriptor limit (``--nofile``, soft and hard, so
the server cannot raise it), then opens idle TCP sockets (they connect and send nothing) in
steps of ``--step``; after each step a normal client asks for ``/api/v1/agents`` with a
``--probe-timeout`` deadline. It stops at ``--idle`` sockets or at the first step where the
normal client is not answered (a 503 counts as answered: the server said why). Then it keeps
``--slow`` more sockets sending a request head one byte a second, waits ``--hold`` seconds,
and asks once more, and counts how many of the idle and slow sockets the server has closed.

Run: .venv/bin/python bench/sockets.py [--nofile 512] [--idle 2000] [--slow 50] [--hold 5]
     [--server-arg=--header-timeout=2 ...]                              (bench/README.md)
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

OFFICEPULSE = str(Path(sys.executable).parent / "officepulse")


def start_server(tmp: Path, nofile: int, extra: list[str]) -> tuple[subprocess.Popen[str], int]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(
        [OFFICEPULSE, "--env-file", "/dev/null", "server", "--port", "0", "--database",
         str(tmp / "bench.sqlite3"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=limit,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("officepulse server listening on "):
            port = int(line.rsplit(":", 1)[1])
            threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True).start()
            return proc, port
    raise RuntimeError("the server did not start")


def probe(port: int, timeout: float) -> str:
    """What a normal client gets: the status, or why there is none."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/api/v1/agents")
        return str(conn.getresponse().status)
    except (TimeoutError, OSError) as exc:
        return type(exc).__name__
    finally:
        conn.close()


def still_open(socks: list[socket.socket]) -> int:
    """How many of ``socks`` the server has not closed (no EOF and no reset seen yet)."""
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            while True:
                if not s.recv(65536):
                    break  # EOF: the server closed it (after an answer, if any)
        except BlockingIOError:
            alive += 1
        except OSError:
            pass  # reset: closed
    return alive


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nofile", type=int, default=512)
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--step", type=int, default=50)
    ap.add_argument("--slow", type=int, default=50)
    ap.add_argument("--hold", type=float, default=5.0)
    ap.add_argument("--probe-timeout", type=float, default=3.0)
    ap.add_argument("--server-arg", action="append", default=[])
    args = ap.parse_args()
    own = max(resource.getrlimit(resource.RLIMIT_NOFILE)[0], args.idle + args.slow + 100)
    resource.setrlimit(resource.RLIMIT_NOFILE, (own, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_server(Path(tmp), args.nofile, args.server_arg)
        idle: list[socket.socket] = []
        slow: list[socket.socket] = []
        locked_out_at = None
        try:
            while len(idle) < args.idle:
                for _ in range(args.step):
                    idle.append(socket.create_connection(("127.0.0.1", port)))
                answer = probe(port, args.probe_timeout)
                print(f"idle={len(idle):5d} normal client: {answer}", flush=True)
                if not answer.isdigit():
                    locked_out_at = len(idle)
                    break
            for _ in range(args.slow):
                s = socket.create_connection(("127.0.0.1", port))
                s.setblocking(False)
                slow.append(s)
            head = b"GET /api/v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4096
            end = time.monotonic() + args.hold
            sent = 0
            while time.monotonic() < end:
                for s in slow:
                    with contextlib.suppress(OSError):
                        s.send(head[sent % len(head) : sent % len(head) + 1])
                sent += 1
                time.sleep(1.0)
            after = probe(port, args.probe_timeout)
            result = {
                "nofile": args.nofile,
                "server_args": args.server_arg,
                "locked_out_at_idle_sockets": locked_out_at,
                "idle_opened": len(idle),
                "slow_opened": len(slow),
                "after_hold_s": args.hold,
                "normal_client_after_hold": after,
                "idle_still_open": still_open(idle),
                "slow_still_open": still_open(slow),
            }
            print(json.dumps(result), flush=True)
        finally:
            for s in idle + slow:
                s.close()
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
