#!/usr/bin/env python3
"""Memory per idle agent connection, by compression option (issue 12, part 5).

Part 1, on real connections: a real server (``officepulse server``, a scratch SQLite file,
``--agent-deflate true`` where the option needs the server to accept permessage-deflate)
and ``--agents`` websocket connections from one client process, each as an agent's: the
hello (MessagePack), the welcome, a presence, one span in a batch, its ack; then idle.
The server's RSS is read after one such connection (the baseline: everything warmed up)
and again once all are idle; (after - baseline) / agents is the cost of one connection.
Server CPU (user + system) over the connecting phase, per connection, beside it.

  none            the server declines compression (the default), the agent as it ships
  deflate         permessage-deflate as main had it: 32 KiB windows, context kept
  window-9        the agent offers server_max_window_bits=9 and client_max_window_bits=9
                  (512-byte windows, the least zlib takes)
  no-context      the agent offers server_ and client_no_context_takeover

Part 2, bytes on the wire per agent-hour (bench/link.py's model of the standard workload:
the live hour, and the same hour sent at once after an outage, MessagePack) for the same
options, plus "agent-zlib": the agent compressing each spans batch itself (one zlib stream
per batch, nothing kept between messages; the other messages plain).

Part 3 (``--ten-thousand``): 10,000 idle agents (``--big``) on one server with the default
option, its RSS at the end. The client raises its descriptor limit to the hard one, as
the server does (server/fdlimit.py).

Run: .venv/bin/python bench/idle_memory.py [--agents 1000] [--ten-thousand] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from officepulse.agent.link import DEFLATE, deflate_offer
from officepulse.protocol.codec import encode
from officepulse.protocol.messages import Activity, Hello, Presence, SpanOut, Spans

sys.path.insert(0, str(Path(__file__).resolve().parent))
import link as model  # bench/link.py, beside this file

OFFICEPULSE = str(Path(sys.executable).parent / "officepulse")
RESULTS = Path(__file__).parent / "results"
CONNECTING_AT_ONCE = 100


@dataclass(frozen=True)
class Option:
    name: str
    server_deflate: bool
    offer: list[ClientPerMessageDeflateFactory] | None


def options() -> list[Option]:
    def offer(**params: Any) -> list[ClientPerMessageDeflateFactory]:
        return [ClientPerMessageDeflateFactory(compress_settings=DEFLATE, **params)]

    return [
        Option("none", False, deflate_offer(True)),
        Option("deflate", True, deflate_offer(True)),
        Option("window-9", True, offer(server_max_window_bits=9, client_max_window_bits=9)),
        Option(
            "no-context",
            True,
            offer(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                client_max_window_bits=True,
            ),
        ),
    ]


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_server(database: Path, deflate: bool) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [OFFICEPULSE, "--env-file", "/dev/null", "server", "--port", "0", "--database",
         str(database), "--agent-deflate", "true" if deflate else "false"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=raise_nofile,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("officepulse server listening on "):
            threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True).start()
            return proc, int(line.rsplit(":", 1)[1])
    raise RuntimeError("the server did not start")


async def idle_agent(url: str, i: int, option: Option) -> ClientConnection:
    """One agent's connection: hello, welcome, presence, a batch of one span, its ack."""
    # From 127.0.0.2-9 in turn: as many agents from one address as the server takes
    # (max_connections_per_ip, 5,000) would stop the 10,000.
    ws = await connect(url, compression=None, extensions=option.offer, proxy=None,
                       ping_interval=None, open_timeout=120,
                       local_addr=(f"127.0.0.{2 + i % 8}", 0))  # fmt: skip
    hello = Hello(v=2, agent_id=f"idle-{i:05d}", name=f"Idle {i}", host="bench",
                  platform="Linux", agent_version="bench", tz="UTC")  # fmt: skip
    await ws.send(encode(hello, "msgpack"))
    await ws.recv()  # the welcome
    now = datetime.now(UTC)
    work = Activity(app="Code", title="link.py - officepulse - Visual Studio Code")
    await ws.send(encode(Presence(since=now, activity=work), "msgpack"))
    span = SpanOut(start=now - timedelta(seconds=60), end=now - timedelta(seconds=30),
                   activity=work, tz="UTC")  # fmt: skip
    await ws.send(encode(Spans(first_seq=1, spans=[span]), "msgpack"))
    await ws.recv()  # the ack
    return ws


def cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


async def measure(option: Option, agents: int, tmp: Path) -> dict[str, Any]:
    server, port = start_server(tmp / f"{option.name}-{agents}.sqlite3", option.server_deflate)
    watched = psutil.Process(server.pid)
    url = f"ws://127.0.0.1:{port}/agent"
    conns: list[ClientConnection] = []
    try:
        conns.append(await idle_agent(url, 0, option))
        negotiated = [type(e).__name__ for e in conns[0].protocol.extensions]
        await asyncio.sleep(1)
        base_rss, base_cpu = watched.memory_info().rss, cpu(watched)
        gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

        async def one(i: int) -> None:
            async with gate:
                conns.append(await idle_agent(url, i, option))

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(1, agents + 1)))
        took = time.monotonic() - started
        used_cpu = cpu(watched) - base_cpu
        await asyncio.sleep(2)  # idle: whatever the server frees after a message is freed
        rss = watched.memory_info().rss
        return {
            "option": option.name,
            "agents": agents,
            "connections_open": agents + 1,
            "negotiated": negotiated,
            "server_rss_mb": round(rss / 2**20, 1),
            "baseline_rss_mb": round(base_rss / 2**20, 1),
            "kb_per_connection": round((rss - base_rss) / agents / 1024, 1),
            "server_cpu_ms_per_connection": round(used_cpu / agents * 1000, 2),
            "connecting_s": round(took, 1),
        }
    finally:
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
        server.kill()
        server.wait()


# ----------------------------------------------------------------------- bytes on the wire


class Compressor:
    """One direction of one connection under an option (control frames are never compressed;
    a compressed message's 00 00 ff ff tail is not sent, RFC 7692)."""

    def __init__(self, option: str) -> None:
        self.option = option
        self.kept = zlib.compressobj(
            model.DEFLATE_LEVEL, zlib.DEFLATED, -9 if option == "window-9" else -15
        )

    def payload(self, m: model.Msg) -> bytes:
        if m.opcode >= model.OP_CLOSE or self.option == "none":
            return m.payload
        if self.option in ("deflate", "window-9"):
            out = self.kept.compress(m.payload) + self.kept.flush(zlib.Z_SYNC_FLUSH)
            return out.removesuffix(model.DEFLATE_TAIL)
        if self.option == "no-context":
            fresh = zlib.compressobj(model.DEFLATE_LEVEL, zlib.DEFLATED, -15)
            return (fresh.compress(m.payload) + fresh.flush(zlib.Z_SYNC_FLUSH)).removesuffix(
                model.DEFLATE_TAIL
            )
        # agent-zlib: a spans batch in one zlib stream of its own (a MessagePack map with
        # "type": "spans"), at zlib's default level; everything else as it is.
        if m.up and b"spans" in m.payload[:16]:
            return zlib.compress(m.payload, 6)
        return m.payload


def wire_bytes(msgs: Sequence[model.Msg], option: str) -> int:
    up, down = Compressor(option), Compressor(option)
    total = 0
    for m in msgs:
        n = len((up if m.up else down).payload(m))
        total += model.header_bytes(n, masked=m.up) + n
    return total


def compress_cpu_us(msgs: Sequence[model.Msg], option: str, reps: int = 20) -> float:
    """CPU to compress an hour's messages both ways (the senders' side), in µs."""
    started = time.process_time()
    for _ in range(reps):
        wire_bytes(msgs, option)
    none = time.process_time()
    for _ in range(reps):
        wire_bytes(msgs, "none")  # framing alone, taken off
    return max(0.0, (2 * none - started - time.process_time()) / reps * 1e6)


def wire_rows() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-idle-model-") as tmp:
        timeline = model.write_timeline(Path(tmp) / "hour.jsonl", "standard", 1)
    rec = model.record(timeline, model.timeline_start(1), model.OBSERVE_EVERY_S)
    live = model.v2_live_messages(rec, timeline.duration, "msgpack")
    backfill = model.v2_backfill_messages(rec, "msgpack")
    return [
        {
            "option": name,
            "live_bytes_per_hour": wire_bytes(live, name),
            "backfill_bytes_per_hour": wire_bytes(backfill, name),
            "live_compress_cpu_us_per_hour": round(compress_cpu_us(live, name)),
        }
        for name in ("none", "deflate", "window-9", "no-context", "agent-zlib")
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--options", nargs="*", default=[o.name for o in options()])
    ap.add_argument("--ten-thousand", action="store_true", help="also 10,000 with the default")
    ap.add_argument("--big", type=int, default=10_000)
    ap.add_argument("--json", action="store_true", help="also write bench/results/idle-*.json")
    args = ap.parse_args()
    raise_nofile()
    started = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        for option in options():
            if option.name in args.options:
                rows.append(asyncio.run(measure(option, args.agents, Path(tmp))))
                print(json.dumps(rows[-1]), flush=True)
        if args.ten_thousand:
            # The baseline connection and big - 1 more: big open, the server's default limit.
            rows.append(asyncio.run(measure(options()[0], args.big - 1, Path(tmp))))
            print(json.dumps(rows[-1]), flush=True)
    wire = wire_rows()
    for row in wire:
        print(json.dumps(row), flush=True)
    head = f"{'option':11} {'agents':>6} {'KB/conn':>8} {'CPU ms/conn':>11} {'RSS MB':>7}"
    print(f"\n{head}  negotiated")
    for r in rows:
        print(
            f"{r['option']:11} {r['agents']:6d} {r['kb_per_connection']:8.1f} "
            f"{r['server_cpu_ms_per_connection']:11.2f} {r['server_rss_mb']:7.1f}  "
            f"{','.join(r['negotiated']) or '-'}"
        )
    print(f"\n{'option':11} {'live B/h':>9} {'back-fill B/h':>14} {'live CPU µs/h':>14}")
    for w in wire:
        print(
            f"{w['option']:11} {w['live_bytes_per_hour']:9d} {w['backfill_bytes_per_hour']:14d} "
            f"{w['live_compress_cpu_us_per_hour']:14d}"
        )
    if args.json:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"idle-{started:%Y%m%dT%H%M%SZ}.json"
        out.write_text(
            json.dumps({"started": started.isoformat(), "rows": rows, "wire": wire}, indent=1)
        )
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
