#!/usr/bin/env python3
"""The gateway's own CPU per heartbeat: bench/ingest.py's paced workload fed straight to
``Gateway._take_now`` (what picows's data callback calls for each message), with no
socket, so that the figure is the Python of the heartbeat path alone (the limits, the
decode, ``Ingest.beat``, the store's ``save_span``) and moves little with the machine's
load.

``--agents`` connections (1,000) take turns, each heartbeat one simulated second after
its agent's last, a switch of app every 30 (bench/ingest.py's timeline, MessagePack); the
store is a real SQLiteStore whose writer thread runs as in the server. Each of
``--repeats`` passes of ``--rounds`` heartbeats per agent is timed by the thread's CPU
time; the store is flushed between passes, outside the timing. The least and the median
pass are reported (the least: what the code costs when nothing else gets in the way).
``--profile`` runs the passes under cProfile and prints the functions by their own time.

Run: .venv/bin/python bench/heartbeat_path.py [--agents 1000] [--rounds 60] [--repeats 15]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import PULSETIME_S, EncodedTimeline, encode_ws_heartbeat, timeline_base

from officepulse.gateway.agents import Agents
from officepulse.gateway.gateway import AgentConnection, Gateway
from officepulse.gateway.ingest import Ingest
from officepulse.gateway.limits import TokenBucket
from officepulse.protocol.messages import Hello, Welcome
from officepulse.settings import ServerSettings
from officepulse.store.sqlite import SQLiteStore

PEER = "127.0.0.1"


class NoSocket:
    """What the gateway sends through: nothing is sent (heartbeats get no reply)."""

    encoding = "msgpack"
    closed = False

    async def send_str(self, data: str) -> None:
        pass

    async def send_bytes(self, data: bytes) -> None:
        pass

    async def ping(self, message: bytes = b"") -> None:
        pass

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        return True


async def bench(args: argparse.Namespace) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        database = str(Path(tmp) / "bench.sqlite3")
        store = SQLiteStore(database)
        await store.open()
        try:
            return await passes(store, ServerSettings(database=database), args)
        finally:
            await store.close()


async def passes(
    store: SQLiteStore, settings: ServerSettings, args: argparse.Namespace
) -> list[float]:
    ingest = Ingest(store, Agents(store, None), pulsetime=PULSETIME_S, clock=time.time)
    # No admission: hellos are taken here, as ``Gateway`` would, without its checks.
    gateway = Gateway(settings, ingest, admission=None, clock=time.monotonic)  # type: ignore[arg-type]
    conns = []
    for n in range(args.agents):
        conn = AgentConnection(NoSocket(), 8, time.monotonic(), None)
        hello = Hello(
            v=1,
            agent_id=f"a{n}",
            name="bench",
            host="bench",
            platform="linux",
            agent_version="1",
            tz="UTC",
        )
        conn.conv.receive(msgspec.msgpack.encode(hello))
        conn.state = await ingest.connect(hello)
        conn.conv.accept(
            Welcome(
                v=1,
                session="bench",
                server_version="bench",
                heartbeat_interval=10.0,
                pulsetime=PULSETIME_S,
                max_frame_bytes=settings.max_frame_bytes,
            )
        )
        conn.conv.data_to_send()
        gateway.limits.admit(PEER, time.monotonic())
        conns.append(conn)
    await store.flush()
    frames = EncodedTimeline(timeline_base(), encode_ws_heartbeat)
    bucket = TokenBucket.full(1e9, 1e9, time.monotonic())
    take = gateway._take_now

    def feed(first: int, last: int) -> None:
        for index in range(first, last):
            frame = frames.get(index)
            for conn in conns:
                job = take(conn, PEER, bucket, frame)
                if job is not None:
                    job.close()  # a switch's show: not what is measured here

    feed(0, 5)  # warm
    profile = cProfile.Profile() if args.profile else None
    figures = []
    index = 5
    for _ in range(args.repeats):
        if profile is not None:
            profile.enable()
        started = time.thread_time()
        feed(index, index + args.rounds)
        spent = time.thread_time() - started
        if profile is not None:
            profile.disable()
        index += args.rounds
        figures.append(spent * 1e6 / (args.rounds * args.agents))
        await store.flush()
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=60, help="heartbeats per agent a pass")
    parser.add_argument("--repeats", type=int, default=15, help="passes")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    figures = asyncio.run(bench(args))
    print(
        f"heartbeat path, {args.agents} agents: {min(figures):.2f} µs CPU per heartbeat at "
        f"least, {statistics.median(figures):.2f} median ({args.repeats} passes of "
        f"{args.rounds * args.agents:,})"
    )


if __name__ == "__main__":
    main()
