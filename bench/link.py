#!/usr/bin/env python3
"""The loss-free link, measured (issue 4, part 8): bytes per agent-hour, batched ingest rate,
back-fill speed. One run, three parts, a table each:

  1. wire       Bytes on the wire per agent-hour for the standard workload (one observation per
                second, a switch of app every 30 s, ingest.py's APPS): protocol v1 (a heartbeat
                per message) and v2 (what the real agent sends: spans made by the real Spanner,
                batched as the Link batches them, presence on each switch), JSON vs
                MessagePack, plain vs permessage-deflate emulated exactly as aiohttp does it
                (zstd per frame too when `zstandard` is importable). Then a check against real
                connections: the real agent replays one hour to the real server through a
                counting TCP proxy in this file, with and without compression.
  2. ingest     Heartbeats per second represented when N agents send batched, compressed
                MessagePack spans to one real server process (CPU 0; generator on CPU 1), the
                stored seconds checked through the REST API; plus a protocol-only null sink
                that shows the generator's ceiling.
  3. back-fill  A real agent replays a day while no server listens (its journal fills), then
                the server starts: how fast the journal drains, at the default --backfill-rate
                and unthrottled, the stored totals checked against the timeline.

Run: .venv/bin/python bench/link.py --help   (details in bench/README.md)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import json
import math
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self

import aiohttp
import msgspec
from aiohttp import web

from officepulse import __version__
from officepulse.agent.link import Link, from_ms
from officepulse.agent.recorder import HEARTBEAT_INTERVAL, MAX_GAP_MS
from officepulse.agent.spanner import Spanner
from officepulse.agent.timeline import Timeline
from officepulse.core.spans import Span, to_ms
from officepulse.protocol import (
    Ack,
    Activity,
    Error,
    Hello,
    Presence,
    ProtocolError,
    SpanOut,
    Spans,
    Welcome,
    decode_agent_message,
    decode_server_message,
    encode,
)
from officepulse.protocol.codec import Encoding
from officepulse.protocol.session import HelloReceived, ServerConversation, SpansReceived
from officepulse.settings import AgentSettings, ServerSettings

# The ingest bench's helpers (server process pinned to CPU 0, load workers on CPU 1, CPU
# accounting, scratch environments) are reused as they are, so both benches measure alike.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest

LOOPBACK = ingest.LOOPBACK
SERVER_CPU = ingest.SERVER_CPU
LOAD_CPU = ingest.LOAD_CPU
REPO = ingest.REPO
RESULTS_DIR = ingest.RESULTS_DIR
OFFICEPULSE = Path(sys.executable).parent / "officepulse"

# --------------------------------------------------------------------------- the workload

HOUR_S = 3600
SWITCH_S = ingest.SWITCH_EVERY  # a switch of app every 30 s, as in ingest.py
OBSERVE_EVERY_S = 1.0  # one observation per second (the desktop driver's poll interval)
HEARTBEATS_PER_SPAN = SWITCH_S  # a 30-s span stands for 30 one-per-second heartbeats

# What the agent and server do by default, read from the code so the model follows changes.
_LINK_DEFAULTS = inspect.signature(Link).parameters
BATCH_MAX = int(_LINK_DEFAULTS["batch_max"].default)
BATCH_DELAY_S = float(_LINK_DEFAULTS["batch_delay"].default)
LINK_WINDOW = int(_LINK_DEFAULTS["window"].default)
AGENT_DEFAULTS = AgentSettings()
SERVER_DEFAULTS = ServerSettings()
DEFAULT_BACKFILL_RATE = AGENT_DEFAULTS.backfill_rate
# agent/main.py gives the Recorder this much in hand to cut a span back when idle is learnt late.
HOLD_MS = int((AGENT_DEFAULTS.idle_threshold + 20) * 1000)
CHECKPOINT_MS = 60_000  # the Recorder's default: long spans go out in 60-s chunks
MAX_FRAME_BYTES = SERVER_DEFAULTS.max_frame_bytes
KEEPALIVE_S = 30.0  # the Link's ws_connect(heartbeat=30): a Ping after 30 s with nothing received
ACK_DELAY_S = 0.05  # the store commits every 50 ms; in the model it only orders the frames

# aiohttp compresses websocket messages at Z_BEST_SPEED with a 15-bit window, context takeover,
# each message ended by a sync flush whose 00 00 ff ff tail is not sent (RFC 7692 §7.2.1).
DEFLATE_LEVEL = zlib.Z_BEST_SPEED
DEFLATE_WBITS = 15
DEFLATE_TAIL = b"\x00\x00\xff\xff"
ZSTD_LEVEL = 3

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10
TCP_IP_HEADER_BYTES = 52  # IPv4 20 + TCP 20 + timestamps option 12, per segment

Act = tuple[str, str, str | None]  # app, title, url

STANDARD: tuple[Act, ...] = tuple((app, title, None) for app, title in ingest.APPS)
# For a sensitivity check only: titles that change as they do in a working day, and browser tabs
# with their URL (the agent sends it). Compression gains less when fewer strings repeat.
_TABS = (
    ("Pull requests · acme/officepulse", "https://github.com/acme/officepulse/pulls"),
    (
        "Agent link v2: spans from the journal · Pull Request #41 · acme/officepulse",
        "https://github.com/acme/officepulse/pull/41/files",
    ),
    ("RFC 7692 - Compression Extensions for WebSocket", "https://www.rfc-editor.org/rfc/rfc7692"),
    ("msgspec — Usage — Structs", "https://jcristharif.com/msgspec/structs.html"),
    ("Inbox (12) - alice@acme.example - Acme Mail", "https://mail.acme.example/inbox"),
    ("Sprint board - Jira", "https://acme.atlassian.net/jira/software/projects/OP/boards/3"),
)
_FILES = ("link.py", "journal.py", "gateway.py", "ingest.py", "spanner.py", "performance.md")
_SHELL = ("pytest -x tests/agent/test_faults.py", "git log --oneline", "htop", "vim notes.md")
_CHANNELS = ("#engineering", "#general", "#incidents", "Bob Smith", "#random")
VARIED: tuple[Act, ...] = (
    *(("firefox", f"{t} — Mozilla Firefox", u) for t, u in _TABS),
    *(("code", f"{f} — officepulse — Visual Studio Code", None) for f in _FILES),
    *(("kitty", f"~/work/officepulse: {c}", None) for c in _SHELL),
    *(("slack", f"Slack | {c} | Acme", None) for c in _CHANNELS),
)
VARIED_SEED = 7


def activities(workload: str, count: int) -> list[Act]:
    """The activity of each of ``count`` 30-s stretches. "standard" cycles ingest.py's four apps;
    "varied" draws from VARIED (seeded), never the same twice in a row."""
    if workload == "standard":
        return [STANDARD[i % len(STANDARD)] for i in range(count)]
    rng = random.Random(VARIED_SEED)
    out: list[Act] = []
    for _ in range(count):
        out.append(rng.choice([a for a in VARIED if not out or a != out[-1]]))
    return out


def activity_of(act: Act) -> Activity:
    app, title, url = act
    return Activity(app=app, title=title, url=url)


def write_timeline(path: Path, workload: str, hours: float) -> Timeline:
    """A scripted-source timeline (JSON lines): a switch every SWITCH_S seconds, then the end."""
    switches = int(hours * HOUR_S) // SWITCH_S
    lines: list[dict[str, Any]] = []
    for i, (app, title, url) in enumerate(activities(workload, switches)):
        entry: dict[str, Any] = {"offset": i * SWITCH_S, "app": app, "title": title}
        if url is not None:
            entry["url"] = url
        lines.append(entry)
    lines.append({"offset": switches * SWITCH_S, "end": True})
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    return Timeline.load(path)


def timeline_start(hours: float) -> datetime:
    """Timelines end at least an hour ago: the server drops spans ahead of its clock."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(hours=hours + 1)


# --------------------------------------------------------------------------- what the agent sends


@dataclass(frozen=True, slots=True)
class Closed:
    at_s: float  # when the agent closed it, seconds from the timeline's start
    span: Span
    checkpoint: bool  # handed on while the activity went on (a 60-s chunk), not at a switch


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the agent's Recorder makes of a timeline: closed spans and presence updates."""

    observations: int
    closed: list[Closed]
    presences: list[tuple[float, Presence]]

    @property
    def checkpoints(self) -> int:
        return sum(c.checkpoint for c in self.closed)


def record(timeline: Timeline, start: datetime, every: float) -> Recorded:
    """Observations every ``every`` seconds through the real Spanner, with the Recorder's
    settings and its rule for presence (at every switch, and for the first observation)."""
    spanner = Spanner(max_gap_ms=MAX_GAP_MS, checkpoint_ms=CHECKPOINT_MS, hold_ms=HOLD_MS)
    closed: list[Closed] = []
    presences: list[tuple[float, Presence]] = []
    observations = 0
    for beat in timeline.heartbeats(start, every):
        observations += 1
        at = (beat.ts - start).total_seconds()
        observed = spanner.observe(to_ms(beat.ts), beat.activity)
        closed += [Closed(at, span, not observed.switched) for span in observed.closed]
        current = spanner.open
        if current is not None and (observed.switched or not presences):
            presences.append(
                (at, Presence(since=from_ms(current.start_ms), activity=current.activity))
            )
    closed += [Closed(timeline.duration, span, False) for span in spanner.close()]
    return Recorded(observations, closed, presences)


@dataclass(frozen=True, slots=True)
class Msg:
    """One websocket message as the application hands it over (before compression)."""

    up: bool  # agent → server
    at_s: float
    opcode: int
    payload: bytes


def msg(up: bool, at_s: float, message: msgspec.Struct, encoding: Encoding) -> Msg:
    frame = encode(message, encoding)
    if isinstance(frame, str):
        return Msg(up, at_s, OP_TEXT, frame.encode())
    return Msg(up, at_s, OP_BINARY, frame)


def bench_hello(version: int, agent_id: str = "b0b-laptop-7f3c") -> Hello:
    return Hello(
        v=version,
        agent_id=agent_id,
        name="Alice Example",
        host="alice-laptop",
        platform="Linux 6.8",
        agent_version=__version__,
        tz="Europe/Paris",
    )


def bench_welcome(version: int) -> Welcome:
    return Welcome(
        v=version,
        session=uuid.UUID(int=VARIED_SEED).hex,  # the server's are uuid4().hex: same length
        server_version=__version__,
        heartbeat_interval=SERVER_DEFAULTS.heartbeat_interval,
        pulsetime=SERVER_DEFAULTS.pulsetime,
        max_frame_bytes=MAX_FRAME_BYTES,
    )


def with_keepalive(msgs: Sequence[Msg], end_s: float) -> list[Msg]:
    """aiohttp's client (heartbeat=30) pings when nothing has been received for 30 s (the due
    time rounded up to a whole second); the server's Pong resets the timer."""
    out: list[Msg] = []
    last_rx = 0.0

    def pings_until(t: float) -> None:
        nonlocal last_rx
        while (due := math.ceil(last_rx + KEEPALIVE_S)) < t:
            out.extend((Msg(True, due, OP_PING, b""), Msg(False, due, OP_PONG, b"")))
            last_rx = due

    for m in sorted(msgs, key=lambda m: m.at_s):
        pings_until(m.at_s)
        out.append(m)
        if not m.up:
            last_rx = m.at_s
    pings_until(end_s)
    return out


def v1_messages(timeline: Timeline, start: datetime, every: float, enc: Encoding) -> list[Msg]:
    """Protocol v1: a heartbeat per message, nothing back but the welcome."""
    msgs = [msg(True, 0, bench_hello(1), enc), msg(False, 0, bench_welcome(1), enc)]
    for beat in timeline.heartbeats(start, every):
        msgs.append(msg(True, (beat.ts - start).total_seconds(), beat, enc))
    return with_keepalive(msgs, timeline.duration)


@dataclass(frozen=True, slots=True)
class Batch:
    at_s: float
    first_seq: int
    spans: list[Span]


def live_batches(closed: Sequence[Closed]) -> list[Batch]:
    """The Link's rule: a batch goes when it is full, or BATCH_DELAY_S after its oldest span was
    closed, with whatever was closed by then."""
    batches: list[Batch] = []
    pending: list[Span] = []
    due = 0.0
    seq = 1

    def send(at: float) -> None:
        nonlocal pending, seq
        batches.append(Batch(at, seq, pending))
        seq += len(pending)
        pending = []

    for c in closed:
        if pending and c.at_s >= due:
            send(due)
        if not pending:
            due = c.at_s + BATCH_DELAY_S
        pending.append(c.span)
        if len(pending) == BATCH_MAX:
            send(c.at_s)
    if pending:
        send(due)
    return batches


def spans_message(batch: Batch) -> Spans:
    spans = [
        SpanOut(start=from_ms(s.start_ms), end=from_ms(s.end_ms), activity=s.activity)
        for s in batch.spans
    ]
    return Spans(first_seq=batch.first_seq, spans=spans)


def batch_messages(batches: Sequence[Batch], enc: Encoding) -> list[Msg]:
    out: list[Msg] = []
    for b in batches:
        out.append(msg(True, b.at_s, spans_message(b), enc))
        out.append(msg(False, b.at_s + ACK_DELAY_S, Ack(seq=b.first_seq + len(b.spans) - 1), enc))
    return out


def v2_live_messages(rec: Recorded, end_s: float, enc: Encoding) -> list[Msg]:
    """Protocol v2 as the agent sends it live: presence at once on every switch, the closed span
    a second later in its own batch (switches are 30 s apart), an Ack back for each."""
    msgs = [msg(True, 0, bench_hello(2), enc), msg(False, 0, bench_welcome(2), enc)]
    msgs += [msg(True, at, p, enc) for at, p in rec.presences]
    msgs += batch_messages(live_batches(rec.closed), enc)
    return with_keepalive(msgs, end_s)


def v2_backfill_messages(rec: Recorded, enc: Encoding) -> list[Msg]:
    """The same hour sent at once after an outage: the latest presence, then full batches."""
    msgs = [msg(True, 0, bench_hello(2), enc), msg(False, 0, bench_welcome(2), enc)]
    msgs.append(msg(True, 0, rec.presences[-1][1], enc))
    spans = [c.span for c in rec.closed]
    batches = [Batch(0, i + 1, spans[i : i + BATCH_MAX]) for i in range(0, len(spans), BATCH_MAX)]
    return msgs + batch_messages(batches, enc)


# --------------------------------------------------------------------------- bytes on the wire

Codec = Literal["none", "deflate", "zstd"]


def header_bytes(payload_len: int, masked: bool) -> int:
    """RFC 6455 frame header: 2 bytes, +2 or +8 for longer payloads, +4 for a client's mask."""
    size = 2 if payload_len < 126 else 4 if payload_len < 65536 else 10
    return size + (4 if masked else 0)


def _zstd_module() -> Any:
    """zstandard is optional (not a dependency): zstd rows appear only when it is importable."""
    try:
        return importlib.import_module("zstandard")
    except ImportError:
        return None


ZSTD = _zstd_module()


class Sender:
    """One direction of one connection: its compressor keeps its context across messages
    (context takeover), as permessage-deflate does by default."""

    def __init__(self, codec: Codec, masked: bool) -> None:
        self.codec = codec
        self.masked = masked
        self.deflate = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -DEFLATE_WBITS)
        self.zstd: Any = ZSTD.ZstdCompressor(level=ZSTD_LEVEL) if codec == "zstd" else None

    def payload(self, m: Msg) -> bytes:
        if m.opcode >= OP_CLOSE or self.codec == "none":  # control frames are never compressed
            return m.payload
        if self.codec == "zstd":
            out: bytes = self.zstd.compress(m.payload)
            return out
        data = self.deflate.compress(m.payload) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        return data.removesuffix(DEFLATE_TAIL)

    def frame_bytes(self, m: Msg) -> int:
        n = len(self.payload(m))
        return header_bytes(n, self.masked) + n


@dataclass(frozen=True, slots=True)
class Wire:
    msgs_up: int
    msgs_down: int
    bytes_up: int
    bytes_down: int

    @property
    def total(self) -> int:
        return self.bytes_up + self.bytes_down

    def __add__(self, other: Wire) -> Wire:
        return Wire(
            self.msgs_up + other.msgs_up,
            self.msgs_down + other.msgs_down,
            self.bytes_up + other.bytes_up,
            self.bytes_down + other.bytes_down,
        )


def on_wire(msgs: Sequence[Msg], codec: Codec) -> Wire:
    """Bytes of websocket frames, both ways, for messages sent in this order."""
    up, down = Sender(codec, masked=True), Sender(codec, masked=False)
    bytes_up = sum(up.frame_bytes(m) for m in msgs if m.up)
    bytes_down = sum(down.frame_bytes(m) for m in msgs if not m.up)
    return Wire(sum(m.up for m in msgs), sum(not m.up for m in msgs), bytes_up, bytes_down)


@dataclass(frozen=True, slots=True)
class WireRow:
    workload: str
    case: str
    encoding: str
    codec: str
    observations: int
    wire: Wire


def codecs() -> list[Codec]:
    extra: list[Codec] = ["zstd"] if ZSTD is not None else []
    return ["none", "deflate", *extra]


def wire_rows(workload: str) -> tuple[list[WireRow], Recorded]:
    """Every case of part 1 for one workload, over one hour, through the model."""
    with tempfile.TemporaryDirectory(prefix="bench-link-model-") as tmp:
        timeline = write_timeline(Path(tmp) / "hour.jsonl", workload, 1)
    start = timeline_start(1)
    rec = record(timeline, start, OBSERVE_EVERY_S)
    cases: list[tuple[str, Callable[[Encoding], list[Msg]]]] = [
        ("v1 heartbeat per observation (1/s)", lambda e: v1_messages(timeline, start, 1.0, e)),
        (
            f"v1 heartbeat on change + every {HEARTBEAT_INTERVAL:.0f} s",
            lambda e: v1_messages(timeline, start, HEARTBEAT_INTERVAL, e),
        ),
        ("v2 live (real agent's batching)", lambda e: v2_live_messages(rec, timeline.duration, e)),
        ("v2 same hour as one back-fill", lambda e: v2_backfill_messages(rec, e)),
    ]
    rows: list[WireRow] = []
    for case, build in cases:
        for enc in ("json", "msgpack"):
            msgs = build(enc)
            for codec in codecs():
                rows.append(
                    WireRow(workload, case, enc, codec, rec.observations, on_wire(msgs, codec))
                )
    return rows, rec


def largest_batch(workload: str, enc: Encoding) -> int:
    """The largest full batch of this workload: the server refuses a message (after inflating)
    larger than max_frame_bytes, and the Link batches by count only."""
    acts = activities(workload, 4 * BATCH_MAX)
    base = timeline_start(48)
    spans = [
        Span(
            to_ms(base) + i * SWITCH_S * 1000,
            to_ms(base) + (i + 1) * SWITCH_S * 1000,
            activity_of(a),
        )
        for i, a in enumerate(acts)
    ]
    sizes = []
    for i in range(0, len(spans), BATCH_MAX):
        frame = encode(spans_message(Batch(0, i + 1, spans[i : i + BATCH_MAX])), enc)
        sizes.append(len(frame.encode() if isinstance(frame, str) else frame))
    return max(sizes)


# --------------------------------------------------------------------------- real connections


@dataclass(slots=True)
class Capture:
    """Everything one proxied connection carried, each way."""

    up: bytearray = field(default_factory=bytearray)
    down: bytearray = field(default_factory=bytearray)


class CountingProxy:
    """A TCP proxy on loopback that keeps a copy of every byte, each way, per connection.
    It runs its own event loop in a thread so the rest of this script can stay synchronous."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = ingest.free_port()
        self.captures: list[Capture] = []
        self.loop = asyncio.new_event_loop()
        self._open = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name="counting-proxy")
        self._ready = threading.Event()

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the counting proxy did not start")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def settle(self, timeout: float = 3.0) -> None:
        """Wait until every proxied connection has closed, so the captures are complete."""
        deadline = time.monotonic() + timeout
        while self._open and time.monotonic() < deadline:
            time.sleep(0.02)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._client, LOOPBACK, self.port)
        )
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.run_until_complete(asyncio.sleep(0))
            self.loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        capture = Capture()
        self.captures.append(capture)
        try:
            up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self.upstream)
            await asyncio.gather(
                self._pump(reader, up_writer, capture.up),
                self._pump(up_reader, writer, capture.down),
                return_exceptions=True,
            )
        finally:
            writer.close()
            self._open -= 1

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sink: bytearray
    ) -> None:
        try:
            while data := await reader.read(65536):
                sink += data
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


@dataclass(frozen=True, slots=True)
class WsFrame:
    opcode: int
    fin: bool
    rsv1: bool  # permessage-deflate: this message is compressed
    wire_bytes: int
    payload: bytes  # unmasked, as sent (compressed if rsv1)


def split_handshake(data: bytes) -> tuple[bytes, bytes]:
    """The HTTP upgrade request or response, and the websocket frames after it."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return bytes(data), b""
    return bytes(data[: end + 4]), bytes(data[end + 4 :])


def unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def parse_frames(data: bytes) -> list[WsFrame]:
    """RFC 6455 frames, back to back; a frame cut short by the end of the capture is left out."""
    frames: list[WsFrame] = []
    i = 0
    while i + 2 <= len(data):
        b0, b1 = data[i], data[i + 1]
        n, j = b1 & 0x7F, i + 2
        if n >= 126:
            width = 2 if n == 126 else 8
            n, j = int.from_bytes(data[j : j + width], "big"), j + width
        mask = b""
        if b1 & 0x80:
            mask, j = data[j : j + 4], j + 4
        if j + n > len(data):
            break
        payload = data[j : j + n]
        frames.append(
            WsFrame(
                b0 & 0x0F,
                bool(b0 & 0x80),
                bool(b0 & 0x40),
                j + n - i,
                unmask(payload, mask) if mask else payload,
            )
        )
        i = j + n
    return frames


def messages_of(frames: Sequence[WsFrame], up: bool) -> list[Msg]:
    """Reassemble and inflate what one direction carried (one inflater: context takeover)."""
    inflater = zlib.decompressobj(-DEFLATE_WBITS)
    out: list[Msg] = []
    parts: list[bytes] = []
    first: WsFrame | None = None
    for f in frames:
        if f.opcode >= OP_CLOSE:
            out.append(Msg(up, 0, f.opcode, f.payload))
            continue
        first = first or f
        parts.append(f.payload)
        if not f.fin:
            continue
        payload = b"".join(parts)
        if first.rsv1:
            payload = inflater.decompress(payload + DEFLATE_TAIL)
        out.append(Msg(up, 0, first.opcode, payload))
        parts, first = [], None
    return out


@dataclass(frozen=True, slots=True)
class RealRow:
    """One real agent run through the counting proxy."""

    encoding: str
    compress: bool
    deflate_negotiated: bool
    connections: int
    frames_up: int
    frames_down: int
    handshake_up: int
    handshake_down: int
    frame_bytes_up: int
    frame_bytes_down: int
    emulated: Wire  # the same messages through this file's emulation
    model: Wire  # the model's "same hour as one back-fill"
    presences: int
    batches: int
    spans: int
    stored_s: float
    expected_s: float

    @property
    def tcp_bytes(self) -> int:
        return self.handshake_up + self.handshake_down + self.frame_bytes_up + self.frame_bytes_down

    @property
    def exact(self) -> bool:
        return (self.emulated.bytes_up, self.emulated.bytes_down) == (
            self.frame_bytes_up,
            self.frame_bytes_down,
        )


def count_kinds(msgs: Sequence[Msg]) -> tuple[int, int, int]:
    """Presence messages, span batches and spans among what the agent sent."""
    presences = batches = spans = 0
    for m in msgs:
        if m.opcode not in (OP_TEXT, OP_BINARY):
            continue
        data: bytes | str = m.payload.decode() if m.opcode == OP_TEXT else m.payload
        message = decode_agent_message(data)
        if isinstance(message, Presence):
            presences += 1
        elif isinstance(message, Spans):
            batches += 1
            spans += len(message.spans)
    return presences, batches, spans


def analyse(
    captures: Sequence[Capture],
    encoding: str,
    compress: bool,
    model: Wire,
    seconds: tuple[float, float],
) -> RealRow:
    codec: Codec = "deflate" if compress else "none"
    hs_up = hs_down = 0
    up_frames: list[WsFrame] = []
    down_frames: list[WsFrame] = []
    up_msgs: list[Msg] = []
    emulated = Wire(0, 0, 0, 0)
    negotiated = True
    for cap in captures:
        req, up_data = split_handshake(bytes(cap.up))
        resp, down_data = split_handshake(bytes(cap.down))
        hs_up, hs_down = hs_up + len(req), hs_down + len(resp)
        negotiated &= b"permessage-deflate" in resp.lower()
        up_f, down_f = parse_frames(up_data), parse_frames(down_data)
        up_frames += up_f
        down_frames += down_f
        sent = messages_of(up_f, True)
        up_msgs += sent
        # Re-compressed per connection: each has its own compression contexts.
        emulated += on_wire([*sent, *messages_of(down_f, False)], codec)
    presences, batches, spans = count_kinds(up_msgs)
    return RealRow(
        encoding=encoding,
        compress=compress,
        deflate_negotiated=negotiated,
        connections=len(captures),
        frames_up=len(up_frames),
        frames_down=len(down_frames),
        handshake_up=hs_up,
        handshake_down=hs_down,
        frame_bytes_up=sum(f.wire_bytes for f in up_frames),
        frame_bytes_down=sum(f.wire_bytes for f in down_frames),
        emulated=emulated,
        model=model,
        presences=presences,
        batches=batches,
        spans=spans,
        stored_s=seconds[0],
        expected_s=seconds[1],
    )


class Child:
    """A process of ours (an agent) in its own session, so that a Ctrl-C reaches this script
    first and we stop it ourselves (TERM, then KILL). Its output is read line by line with the
    time each line arrived: the agent's log has whole seconds only."""

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: dict[str, str]) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.env = env
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._popen: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        assert self._popen.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self._popen.stdout,), daemon=True)
        self._reader.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def wait_for(self, text: str, timeout: float) -> tuple[float, str]:
        """The arrival time and text of the first output line containing ``text``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for at, line in self.lines:
                    if text in line:
                        return at, line
                left = deadline - time.monotonic()
                if left <= 0 or not self.running():
                    raise RuntimeError(f"no {text!r} from the agent:\n{self.output()[-3000:]}")
                self._cond.wait(min(left, 0.2))

    def wait(self, timeout: float) -> int:
        assert self._popen is not None
        code = self._popen.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return code

    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def stop(self) -> None:
        if self._popen is None or self._popen.poll() is not None:
            return
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(grace)
                return


def server_argv(args: argparse.Namespace) -> Callable[[int, Path], list[str]]:
    def argv(port: int, tmp: Path) -> list[str]:
        db = str(tmp / "bench.sqlite3")
        base = [
            str(OFFICEPULSE),
            "server",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--database",
            db,
        ]
        return base + list(args.server_arg)

    return argv


def agent_argv(
    port: int, tmp: Path, agent_id: str, timeline: Path, start: datetime, *extra: str
) -> list[str]:
    return [
        str(OFFICEPULSE),
        "agent",
        "--server-url",
        f"ws://{LOOPBACK}:{port}/agent",
        "--agent-id",
        agent_id,
        "--name",
        agent_id,
        "--state-dir",
        str(tmp / agent_id),
        "--source",
        "scripted",
        "--timeline",
        str(timeline),
        "--speed",
        "0",
        "--start",
        start.isoformat(),
        *extra,
    ]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def usage(port: int, start: datetime, end: datetime, group_by: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode(
        {"start": start.isoformat(), "end": end.isoformat(), "group_by": group_by}
    )
    rows: list[dict[str, Any]] = get_json(f"http://{LOOPBACK}:{port}/api/v1/usage?{query}")["rows"]
    return rows


def seconds_by_agent(port: int, start: datetime, end: datetime) -> dict[str, float]:
    """Stored seconds (active + idle) per agent, from the REST API."""
    rows = usage(port, start, end, "agent")
    return {r["agent"]: r["seconds"] + r["idle_seconds"] for r in rows}


@contextlib.contextmanager
def real_server(args: argparse.Namespace, tmp: Path, port: int) -> Iterator[ingest.ServerProcess]:
    """The real server, pinned to CPU 0, with a scratch SQLite file; ready when its API answers."""
    with ingest.ServerProcess(
        server_argv(args)(port, tmp), cwd=tmp, env=ingest.scratch_env(tmp)
    ) as server:
        url = f"http://{LOOPBACK}:{port}/api/v1/agents"
        ingest.wait_until(lambda: ingest.http_ok(url), server, "officepulse server")
        yield server


AGENT_TIMEOUT_S = 60.0
REAL_CASES: tuple[tuple[Encoding, bool], ...] = (
    ("msgpack", True),
    ("msgpack", False),
    ("json", True),
    ("json", False),
)


def run_real_wire(
    args: argparse.Namespace, model: dict[tuple[str, str, str], Wire]
) -> list[RealRow]:
    """The real agent replays one hour (--speed 0) to the real server through the proxy."""
    rows: list[RealRow] = []
    with tempfile.TemporaryDirectory(prefix="bench-link-wire-") as tmp_name:
        tmp = Path(tmp_name)
        timeline_path = tmp / "hour.jsonl"
        timeline = write_timeline(timeline_path, "standard", 1)
        start = timeline_start(1)
        port = ingest.free_port()
        env = ingest.scratch_env(tmp)
        with real_server(args, tmp, port):
            for enc, compress in REAL_CASES:
                agent_id = f"wire-{enc}-{'deflate' if compress else 'plain'}"
                extra = ("--encoding", enc, "--compress", str(compress).lower())
                with CountingProxy(port) as proxy:
                    argv = agent_argv(proxy.port, tmp, agent_id, timeline_path, start, *extra)
                    with Child(argv, cwd=tmp, env=env) as agent:
                        code = agent.wait(AGENT_TIMEOUT_S)
                        if code != 0 or "every span was acknowledged" not in agent.output():
                            raise RuntimeError(
                                f"agent {agent_id} failed ({code}):\n{agent.output()}"
                            )
                    proxy.settle()
                    captures = list(proxy.captures)
                stored = seconds_by_agent(
                    port, start - timedelta(hours=1), start + timedelta(hours=2)
                )
                backfill = model[("standard", "v2 same hour as one back-fill", enc)]
                seconds = (stored.get(agent_id, 0.0), timeline.duration)
                rows.append(analyse(captures, enc, compress, backfill, seconds))
    return rows


# --------------------------------------------------------------------------- part 2: ingest rate


@dataclass(frozen=True, slots=True)
class SpanPlan:
    url: str
    agent_ids: tuple[str, ...]
    seconds: float
    window: int  # unacknowledged batches a connection may have
    batch_spans: int
    base_ms: int  # where every agent's timeline starts
    max_spans: int  # per agent: the whole timeline lies in the past


@dataclass(frozen=True, slots=True)
class SpanReport:
    spans: dict[str, int]  # spans sent (and acknowledged) per agent
    batches: int
    errors: int
    error_sample: str
    deflate: bool  # permessage-deflate negotiated on every connection
    first_send: float
    last_send: float
    last_ack: float
    cpu_seconds: float


class BatchCache:
    """Batch k of the timeline, encoded once: every agent follows the same timeline, so the
    generator's cost per batch is the websocket send (and its compression) alone."""

    def __init__(self, plan: SpanPlan) -> None:
        self.plan = plan
        self.acts = [activity_of(a) for a in STANDARD]
        self.frames: list[bytes] = []

    def get(self, k: int) -> bytes:
        while k >= len(self.frames):
            self.frames.append(self._encode(len(self.frames)))
        return self.frames[k]

    def _encode(self, k: int) -> bytes:
        size, base, step = self.plan.batch_spans, self.plan.base_ms, SWITCH_S * 1000
        first = k * size
        spans = [
            SpanOut(
                start=from_ms(base + i * step),
                end=from_ms(base + (i + 1) * step),
                activity=self.acts[i % len(self.acts)],
            )
            for i in range(first, first + size)
        ]
        return msgspec.msgpack.encode(Spans(first_seq=first + 1, spans=spans))


@dataclass(slots=True)
class SpanAgent:
    agent_id: str
    ws: aiohttp.ClientWebSocketResponse
    progress: asyncio.Event  # shared by a worker's agents: set on every Ack
    batches: int = 0
    spans: int = 0
    acked: int = 0  # highest sequence number acknowledged
    acks: int = 0
    last_ack: float = 0.0
    errors: int = 0
    error_sample: str = ""
    reader: asyncio.Task[None] | None = field(default=None, repr=False)


async def read_acks(agent: SpanAgent) -> None:
    async for message in agent.ws:
        if message.type is not aiohttp.WSMsgType.BINARY:
            continue
        try:
            reply = decode_server_message(message.data)
        except ProtocolError as exc:
            reply = Error(code="undecodable", message=exc.message, fatal=False)
        if isinstance(reply, Ack):
            agent.acked = max(agent.acked, reply.seq)
            agent.acks += 1
            agent.last_ack = time.monotonic()
        elif isinstance(reply, Error):
            agent.errors += 1
            agent.error_sample = agent.error_sample or f"{reply.code}: {reply.message}"
        agent.progress.set()
    agent.progress.set()  # closed: let the sender see it


async def connect_span_agent(
    session: aiohttp.ClientSession,
    url: str,
    agent_id: str,
    gate: asyncio.Semaphore,
    progress: asyncio.Event,
) -> SpanAgent:
    async with gate:
        # compress=15: permessage-deflate with a 15-bit window, as the officepulse agent asks.
        ws = await session.ws_connect(url, compress=15, max_msg_size=0)
        hello = Hello(
            v=2,
            agent_id=agent_id,
            name=agent_id,
            host="bench",
            platform="linux",
            agent_version="bench",
            tz="UTC",
        )
        await ws.send_bytes(msgspec.msgpack.encode(hello))
        reply = await ws.receive(timeout=30)
    if reply.type is not aiohttp.WSMsgType.BINARY:
        raise RuntimeError(
            f"{agent_id}: expected a MessagePack Welcome, got {reply.type!r} {reply.data!r}"
        )
    welcome = decode_server_message(reply.data)
    if not isinstance(welcome, Welcome) or welcome.v != 2 or welcome.resume_from_seq != 0:
        raise RuntimeError(f"{agent_id}: expected a fresh v2 Welcome, got {welcome!r}")
    agent = SpanAgent(agent_id, ws, progress)
    agent.reader = asyncio.create_task(read_acks(agent))
    return agent


async def send_batches(agents: Sequence[SpanAgent], cache: BatchCache, plan: SpanPlan) -> float:
    """Round-robin over the connections, each at most ``plan.window`` batches ahead of its
    Acks, until ``plan.seconds`` have passed. Returns the time of the first send."""
    start = time.monotonic()
    deadline = start + plan.seconds
    progress = agents[0].progress
    size = plan.batch_spans
    while time.monotonic() < deadline:
        progress.clear()
        sent = False
        for agent in agents:
            while (
                agent.batches - agent.acked // size < plan.window and agent.spans < plan.max_spans
            ):
                await agent.ws.send_bytes(cache.get(agent.batches))
                agent.batches += 1
                agent.spans += size
                sent = True
            if agent.ws.closed:
                raise ConnectionError(
                    f"{agent.agent_id}: closed ({agent.ws.close_code}) {agent.error_sample}"
                )
        if not sent:  # every connection is a full window ahead: wait for an Ack
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await progress.wait()
    return start


async def wait_all(
    agents: Sequence[SpanAgent], done: Callable[[SpanAgent], bool], limit_s: float
) -> None:
    """Until ``done`` holds for every agent; woken by each Ack."""
    progress = agents[0].progress
    async with asyncio.timeout(limit_s):
        while True:
            progress.clear()  # before looking, so an Ack arriving meanwhile is not missed
            if all(done(a) for a in agents):
                return
            if any(a.reader is None or a.reader.done() for a in agents):
                raise ConnectionError("a connection closed before its last Ack")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await progress.wait()


async def spans_worker(plan: SpanPlan, pipe: Connection) -> None:
    """A load worker (spawned, pinned to CPU 1): connect, Hello, then on "go" send batches for
    plan.seconds and report once everything sent is acknowledged; on "resend", send every
    agent's first batch again (the server must store nothing twice)."""
    cache = BatchCache(plan)
    for k in range(4 * plan.window):  # encode outside the measured phase
        cache.get(k)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate, progress = asyncio.Semaphore(ingest.CONNECT_CONCURRENCY), asyncio.Event()
        agents = list(
            await asyncio.gather(
                *(connect_span_agent(session, plan.url, a, gate, progress) for a in plan.agent_ids)
            )
        )
        await ingest.wait_for_go(pipe)
        cpu_start = time.process_time()
        first_send = await send_batches(agents, cache, plan)
        last_send = time.monotonic()
        await wait_all(agents, lambda a: a.acked >= a.spans, max(60.0, 6 * plan.seconds))
        report = SpanReport(
            spans={a.agent_id: a.spans for a in agents},
            batches=sum(a.batches for a in agents),
            errors=sum(a.errors for a in agents),
            error_sample=next((a.error_sample for a in agents if a.error_sample), ""),
            deflate=all(a.ws.compress == DEFLATE_WBITS for a in agents),
            first_send=first_send,
            last_send=last_send,
            last_ack=max(a.last_ack for a in agents),
            cpu_seconds=time.process_time() - cpu_start,
        )
        pipe.send(("report", report))
        command = await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        if command == "resend":
            acks = {a.agent_id: a.acks for a in agents}
            for agent in agents:
                await agent.ws.send_bytes(cache.get(0))
            await wait_all(agents, lambda a: a.acks > acks[a.agent_id], 60)
            pipe.send(("resent", sum(a.errors for a in agents)))
        await asyncio.gather(*(a.ws.close() for a in agents), return_exceptions=True)


@dataclass(slots=True)
class IngestResult:
    system: str
    agents: int
    batches: int
    spans: int
    wall_s: float
    drain_s: float
    server_cpu_s: float
    server_rss_mb: float
    server_peak_rss_mb: float
    store_mb: float
    generator_cpu_s: float
    setup_s: float
    others_cpu_pct: float
    load_core_pct: float
    errors: int
    error_sample: str
    deflate: bool
    sent_s: float
    stored_s: float | None = None  # None: not checked (the null sink stores nothing)
    agents_mismatched: int = 0
    resend_errors: int = 0

    @property
    def spans_per_s(self) -> float:
        return self.spans / self.wall_s

    @property
    def heartbeats_per_s(self) -> float:
        return self.spans_per_s * HEARTBEATS_PER_SPAN

    @property
    def server_cpu_pct(self) -> float:
        return 100 * self.server_cpu_s / self.wall_s

    @property
    def us_per_span(self) -> float:
        return 1e6 * self.server_cpu_s / self.spans

    @property
    def us_per_heartbeat(self) -> float:
        return self.us_per_span / HEARTBEATS_PER_SPAN

    @property
    def generator_us_per_span(self) -> float:
        return 1e6 * self.generator_cpu_s / self.spans

    @property
    def exact(self) -> bool | None:
        if self.stored_s is None:
            return None
        return (
            self.stored_s == self.sent_s and self.agents_mismatched == 0 and not self.resend_errors
        )

    def as_json(self) -> dict[str, Any]:
        derived = ("spans_per_s", "heartbeats_per_s", "server_cpu_pct", "us_per_span")
        more = ("us_per_heartbeat", "generator_us_per_span", "exact")
        return {**asdict(self), **{k: getattr(self, k) for k in (*derived, *more)}}


TIMELINE_DAYS = 360  # the usage API answers for at most 400 days


@dataclass(frozen=True, slots=True)
class Drive:
    reports: list[SpanReport]
    server_cpu_s: float
    setup_s: float
    others_cpu_pct: float
    load_core_pct: float
    resend_errors: int


def drive_spans(plans: Sequence[SpanPlan], server: ingest.ServerProcess, seconds: float) -> Drive:
    """ingest.drive, plus a re-send after the measured phase (outside the CPU sample)."""
    run_timeout = ingest.READY_TIMEOUT_S + max(60.0, 6 * seconds) + seconds
    with ingest.load_workers(spans_worker, plans) as pipes:
        began = time.monotonic()
        for pipe in pipes:
            ingest.receive(pipe, "ready", ingest.READY_TIMEOUT_S)
        setup_s = time.monotonic() - began
        cpu_before = server.cpu_seconds()
        core_before, load_before = ingest.core_busy_s(SERVER_CPU), ingest.core_busy_s(LOAD_CPU)
        wall_before = time.monotonic()
        for pipe in pipes:
            pipe.send("go")
        reports: list[SpanReport] = [ingest.receive(pipe, "report", run_timeout) for pipe in pipes]
        server_cpu = server.cpu_seconds() - cpu_before
        core_busy = ingest.core_busy_s(SERVER_CPU) - core_before
        load_busy = ingest.core_busy_s(LOAD_CPU) - load_before
        wall = time.monotonic() - wall_before
        for pipe in pipes:
            pipe.send("resend")
        resend_errors = sum(int(ingest.receive(pipe, "resent", 90)) for pipe in pipes)
    others = 100 * max(0.0, core_busy - server_cpu) / wall
    return Drive(reports, server_cpu, setup_s, others, 100 * load_busy / wall, resend_errors)


def span_plans(url: str, agents: int, args: argparse.Namespace, base: datetime) -> list[SpanPlan]:
    tag = os.urandom(3).hex()
    ids = [f"bench-{tag}-{i:05d}" for i in range(agents)]
    workers = max(1, min(args.generators, agents))
    max_spans = TIMELINE_DAYS * 86_400 // SWITCH_S // args.batch_spans * args.batch_spans
    return [
        SpanPlan(
            url=url,
            agent_ids=tuple(ids[w::workers]),
            seconds=args.seconds,
            window=args.window,
            batch_spans=args.batch_spans,
            base_ms=to_ms(base),
            max_spans=max_spans,
        )
        for w in range(workers)
    ]


def summarize_ingest(
    system: str, agents: int, run: Drive, server: ingest.ServerProcess, tmp: Path
) -> IngestResult:
    reports = run.reports
    spans = sum(sum(r.spans.values()) for r in reports)
    start = min(r.first_send for r in reports)
    end = max(r.last_ack for r in reports)
    return IngestResult(
        system=system,
        agents=agents,
        batches=sum(r.batches for r in reports),
        spans=spans,
        wall_s=end - start,
        drain_s=end - max(r.last_send for r in reports),
        server_cpu_s=run.server_cpu_s,
        server_rss_mb=server.rss_mb(),
        server_peak_rss_mb=server.peak_rss_mb(),
        store_mb=ingest.store_mb(tmp),
        generator_cpu_s=sum(r.cpu_seconds for r in reports),
        setup_s=run.setup_s,
        others_cpu_pct=run.others_cpu_pct,
        load_core_pct=run.load_core_pct,
        errors=sum(r.errors for r in reports),
        error_sample=next((r.error_sample for r in reports if r.error_sample), ""),
        deflate=all(r.deflate for r in reports),
        sent_s=float(spans * SWITCH_S),
        resend_errors=run.resend_errors,
    )


def run_ingest(system: str, agents: int, args: argparse.Namespace) -> IngestResult:
    """One row of part 2: a fresh server (the real one or the null sink), N agents, checked."""
    seconds = args.sink_seconds if system == "null sink" else args.seconds
    run_args = argparse.Namespace(**{**vars(args), "seconds": seconds})
    with tempfile.TemporaryDirectory(prefix="bench-link-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        port = ingest.free_port()
        url = f"ws://{LOOPBACK}:{port}/agent"
        base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        base -= timedelta(days=TIMELINE_DAYS + 1)
        plans = span_plans(url, agents, run_args, base)
        if system == "null sink":
            argv = [sys.executable, str(Path(__file__).resolve()), "--serve-sink", str(port)]
            with ingest.ServerProcess(argv, cwd=tmp, env=ingest.scratch_env(tmp)) as server:
                ingest.wait_until(lambda: ingest.tcp_open(port), server, "null sink")
                return summarize_ingest(
                    system, agents, drive_spans(plans, server, seconds), server, tmp
                )
        with real_server(args, tmp, port) as server:
            run = drive_spans(plans, server, seconds)
            result = summarize_ingest(system, agents, run, server, tmp)
            check_stored(result, run, port, base)
            result.store_mb = ingest.store_mb(tmp)
            return result


def check_stored(result: IngestResult, run: Drive, port: int, base: datetime) -> None:
    """Through the REST API: each agent's stored seconds must be 30 s per span it sent, even
    though its first batch was sent twice (after the measured phase)."""
    stored = seconds_by_agent(port, base, datetime.now(UTC) + timedelta(minutes=1))
    sent = {a: n * SWITCH_S for r in run.reports for a, n in r.spans.items()}
    result.stored_s = float(sum(stored.values()))
    result.agents_mismatched = sum(stored.get(a) != s for a, s in sent.items()) + len(
        set(stored) - set(sent)
    )


def serve_sink(port: int) -> None:
    """A protocol-only server (aiohttp + uvloop, permessage-deflate, the project's codec and
    ServerConversation): inflates and decodes every batch and acknowledges it at once, stores
    nothing. It shows the generator's ceiling, and what transport + decoding alone cost."""
    ingest.pin_to(SERVER_CPU)
    welcome = Welcome(
        v=2,
        session="sink",
        server_version="sink",
        heartbeat_interval=SERVER_DEFAULTS.heartbeat_interval,
        pulsetime=SERVER_DEFAULTS.pulsetime,
        max_frame_bytes=MAX_FRAME_BYTES,
    )

    async def agent(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=True, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        conversation = ServerConversation()
        async for message in ws:
            if message.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                continue
            for event in conversation.receive(message.data):
                if isinstance(event, HelloReceived):
                    conversation.accept(welcome)
                elif isinstance(event, SpansReceived):
                    batch = event.spans
                    conversation.ack(batch.first_seq + len(batch.spans) - 1)
            for frame in conversation.data_to_send():
                await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        return ws

    app = web.Application()
    app.router.add_get("/agent", agent)
    web.run_app(
        app, host=LOOPBACK, port=port, print=None, loop=ingest._new_loop(), handle_signals=True
    )


# --------------------------------------------------------------------------- part 3: back-fill


@dataclass(frozen=True, slots=True)
class BackfillResult:
    label: str
    backfill_rate: float
    hours: float
    spans: int  # waiting in the journal when the agent connected (it says so in its log)
    fill_s: float  # agent started → the whole timeline in its journal, no server listening
    boot_s: float  # server started → its API answers
    reconnect_s: float  # server up → the agent connected (its back-off was still running)
    backfill_s: float  # connected → "every span was acknowledged by the server"
    server_cpu_s: float
    stored_s: float
    expected_s: float
    apps_match: bool

    @property
    def spans_per_s(self) -> float:
        return self.spans / self.backfill_s

    @property
    def us_per_span(self) -> float:
        return 1e6 * self.server_cpu_s / self.spans

    @property
    def start_to_done_s(self) -> float:
        return self.boot_s + self.reconnect_s + self.backfill_s

    @property
    def exact(self) -> bool:
        return self.apps_match and self.stored_s == self.expected_s

    def as_json(self) -> dict[str, Any]:
        more = ("spans_per_s", "us_per_span", "start_to_done_s", "exact")
        return {**asdict(self), **{k: getattr(self, k) for k in more}}


def journal_spans(path: Path) -> int:
    """Spans waiting in an agent's journal, read beside the running agent (WAL allows it)."""
    if not path.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
            return int(db.execute("SELECT COUNT(*) FROM spans").fetchone()[0])
    except sqlite3.Error:  # not created yet, or busy for a moment
        return 0


def wait_journal(path: Path, spans: int, agent: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while journal_spans(path) < spans:
        if not agent.running() or time.monotonic() > deadline:
            raise RuntimeError(f"the journal never held {spans} spans:\n{agent.output()[-3000:]}")
        time.sleep(0.05)


def seconds_by_app(timeline: Timeline) -> dict[str, float]:
    """What the server must store, reckoned from the timeline alone (not the product's code)."""
    totals: dict[str, float] = {}
    for entry, following in zip(timeline.entries, timeline.entries[1:], strict=False):
        assert entry.app is not None
        totals[entry.app] = totals.get(entry.app, 0.0) + following.offset - entry.offset
    return totals


def run_backfill(label: str, rate: float, args: argparse.Namespace) -> BackfillResult:
    """A real agent replays the day with no server listening; then the server starts."""
    with tempfile.TemporaryDirectory(prefix="bench-link-backfill-") as tmp_name:
        tmp = Path(tmp_name)
        timeline_path = tmp / "day.jsonl"
        timeline = write_timeline(timeline_path, "standard", args.backfill_hours)
        start = timeline_start(args.backfill_hours)
        # The agent's scripted source observes every HEARTBEAT_INTERVAL seconds and at changes.
        expected_spans = len(record(timeline, start, HEARTBEAT_INTERVAL).closed)
        port = ingest.free_port()  # nothing listens there until the journal is full
        agent_id = f"backfill-{label.split()[0]}"
        argv = agent_argv(port, tmp, agent_id, timeline_path, start, "--backfill-rate", f"{rate:g}")
        with Child(argv, cwd=tmp, env=ingest.scratch_env(tmp)) as agent:
            began = time.monotonic()
            wait_journal(tmp / agent_id / "journal.sqlite3", expected_spans, agent, 120)
            server_started = time.monotonic()
            fill_s = server_started - began
            with real_server(args, tmp, port) as server:
                ready = time.monotonic()
                cpu_before = server.cpu_seconds()
                connected, line = agent.wait_for("connected to", 60)
                done, _ = agent.wait_for("every span was acknowledged by the server", 300)
                server_cpu = server.cpu_seconds() - cpu_before
                if agent.wait(30) != 0:
                    raise RuntimeError(f"the back-fill agent failed:\n{agent.output()[-3000:]}")
                found = re.search(r"(\d+) spans to send", line)
                window = (
                    start - timedelta(hours=1),
                    start + timedelta(hours=args.backfill_hours + 1),
                )
                rows = usage(port, *window, "agent,app")
        stored = {
            r["app"]: r["seconds"] + r["idle_seconds"] for r in rows if r["agent"] == agent_id
        }
        want = seconds_by_app(timeline)
        return BackfillResult(
            label=label,
            backfill_rate=rate,
            hours=args.backfill_hours,
            spans=int(found.group(1)) if found else expected_spans,
            fill_s=fill_s,
            boot_s=ready - server_started,
            reconnect_s=connected - ready,
            backfill_s=done - connected,
            server_cpu_s=server_cpu,
            stored_s=sum(stored.values()),
            expected_s=sum(want.values()),
            apps_match=stored == want,
        )


# --------------------------------------------------------------------------- output


def fmt(value: float | None, digits: int = 0) -> str:
    return ingest.fmt(value, digits)


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    table = [list(headers), *(list(r) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([line(table[0]), "  ".join("-" * w for w in widths), *map(line, table[1:])])


ENCODING_NAMES = {"json": "JSON", "msgpack": "MessagePack"}
CODEC_NAMES = {"none": "none", "deflate": "deflate", "zstd": "zstd/frame"}
V1_PER_SECOND = "v1 heartbeat per observation (1/s)"
V2_LIVE = "v2 live (real agent's batching)"


def reference(rows: Sequence[WireRow]) -> WireRow:
    """v1, a JSON heartbeat per observation, uncompressed: what the ratios compare against."""
    return next(
        r for r in rows if r.case == V1_PER_SECOND and r.encoding == "json" and r.codec == "none"
    )


def render_wire(rows: Sequence[WireRow]) -> str:
    ref = reference(rows).wire.total
    headers = [
        "case",
        "encoding",
        "compression",
        "frames ↑",
        "frames ↓",
        "bytes ↑",
        "bytes ↓",
        "bytes/h",
        "B/obs",
        "÷ v1 JSON",
    ]
    body = [
        [
            r.case,
            ENCODING_NAMES[r.encoding],
            CODEC_NAMES[r.codec],
            f"{r.wire.msgs_up:,}",
            f"{r.wire.msgs_down:,}",
            f"{r.wire.bytes_up:,}",
            f"{r.wire.bytes_down:,}",
            f"{r.wire.total:,}",
            fmt(r.wire.total / r.observations, 1),
            fmt(ref / r.wire.total, 1),
        ]
        for r in rows
    ]
    return render(headers, body)


def render_sensitivity(rows: Sequence[WireRow]) -> str:
    """Totals only, one column per compression, for the cases that matter."""
    keys = [(c, e) for c in (V1_PER_SECOND, V2_LIVE) for e in ("json", "msgpack")]
    by = {(r.case, r.encoding, r.codec): r.wire.total for r in rows}
    headers = [
        "case (varied titles + URLs)",
        "encoding",
        *(f"bytes/h {CODEC_NAMES[c]}" for c in codecs()),
    ]
    body = [[c, ENCODING_NAMES[e], *(f"{by[(c, e, k)]:,}" for k in codecs())] for c, e in keys]
    return render(headers, body)


def render_real(rows: Sequence[RealRow]) -> str:
    headers = [
        "real agent, --speed 0", "deflate", "conns", "frames ↑/↓", "presence", "batches/spans",
        "HTTP upgrade B", "frames B ↑", "frames B ↓", "emulated ↑", "emulated ↓", "exact",
        "model ↑", "model ↓", "stored s",
    ]  # fmt: skip
    body = [
        [
            f"{ENCODING_NAMES[r.encoding]}{', --compress false' if not r.compress else ''}",
            "yes" if r.deflate_negotiated else "no",
            str(r.connections),
            f"{r.frames_up}/{r.frames_down}",
            str(r.presences),
            f"{r.batches}/{r.spans}",
            f"{r.handshake_up + r.handshake_down:,}",
            f"{r.frame_bytes_up:,}",
            f"{r.frame_bytes_down:,}",
            f"{r.emulated.bytes_up:,}",
            f"{r.emulated.bytes_down:,}",
            "yes" if r.exact else "NO",
            f"{r.model.bytes_up:,}",
            f"{r.model.bytes_down:,}",
            f"{fmt(r.stored_s)}/{fmt(r.expected_s)}",
        ]
        for r in rows
    ]
    return render(headers, body)


def render_ingest(rows: Sequence[IngestResult]) -> str:
    headers = [
        "server", "agents", "batches", "spans", "wall s", "spans/s", "hb/s represented", "drain s",
        "srv CPU %", "µs CPU/span", "µs CPU/hb", "RSS MB", "peak MB", "disk MB", "gen µs/span",
        "CPU0 others %", "CPU1 busy %", "deflate", "stored = sent",
    ]  # fmt: skip
    body = [
        [
            r.system,
            str(r.agents),
            f"{r.batches:,}",
            f"{r.spans:,}",
            fmt(r.wall_s, 2),
            fmt(r.spans_per_s),
            fmt(r.heartbeats_per_s),
            fmt(r.drain_s, 2),
            fmt(r.server_cpu_pct),
            fmt(r.us_per_span, 1),
            fmt(r.us_per_heartbeat, 2),
            fmt(r.server_rss_mb, 1),
            fmt(r.server_peak_rss_mb, 1),
            fmt(r.store_mb, 1),
            fmt(r.generator_us_per_span, 1),
            fmt(r.others_cpu_pct),
            fmt(r.load_core_pct),
            "yes" if r.deflate else "NO",
            "—" if r.exact is None else "exact" if r.exact else "MISMATCH",
        ]
        for r in rows
    ]
    return render(headers, body)


def render_backfill(rows: Sequence[BackfillResult]) -> str:
    headers = [
        "back-fill", "--backfill-rate", "spans", "journal fill s", "server boot s", "reconnect s",
        "back-fill s", "spans/s", "srv µs/span", "server start → done s", "stored s", "totals",
    ]  # fmt: skip
    body = [
        [
            r.label,
            fmt(r.backfill_rate),
            f"{r.spans:,}",
            fmt(r.fill_s, 2),
            fmt(r.boot_s, 2),
            fmt(r.reconnect_s, 2),
            fmt(r.backfill_s, 2),
            fmt(r.spans_per_s),
            fmt(r.us_per_span, 1),
            fmt(r.start_to_done_s, 2),
            f"{fmt(r.stored_s)}/{fmt(r.expected_s)}",
            "exact" if r.exact else "MISMATCH",
        ]
        for r in rows
    ]
    return render(headers, body)


@dataclass(slots=True)
class Results:
    wire: list[WireRow] = field(default_factory=list)
    varied: list[WireRow] = field(default_factory=list)
    recorded: dict[str, tuple[int, int, int, int]] = field(
        default_factory=dict
    )  # spans, chunks, presences, observations
    batch_bytes: dict[str, dict[str, int]] = field(default_factory=dict)
    real: list[RealRow] = field(default_factory=list)
    ingest: list[IngestResult] = field(default_factory=list)
    backfill: list[BackfillResult] = field(default_factory=list)


def wire_notes(results: Results) -> list[str]:
    rows = results.wire
    by = {(r.case, r.encoding, r.codec): r.wire for r in rows}
    ref = reference(rows).wire
    live = by[(V2_LIVE, "msgpack", "deflate")]
    v1_mp = by[(V1_PER_SECOND, "msgpack", "none")]
    spans, chunks, presences, observations = results.recorded["standard"]
    notes = [
        f"The hour: {observations:,} observations → {spans} spans from the real Spanner ({chunks} "
        f"60-s checkpoint chunks: a span is handed on in chunks only once it is older than "
        f"{HOLD_MS // 1000} s + 60 s) and {presences} presence updates; the Link sends each span "
        f"{BATCH_DELAY_S:g} s after it closed, so live batches hold one span each.",
        f"v2 live, MessagePack + deflate: {live.total:,} B/h, {ref.total / live.total:,.0f}x less "
        f"than v1 JSON heartbeats ({ref.total:,} B/h) and {v1_mp.total / live.total:,.0f}x less "
        f"than v1 MessagePack ({v1_mp.total:,} B/h).",
        f"Below the websocket, each TCP segment adds {TCP_IP_HEADER_BYTES} B of TCP/IPv4 headers "
        f"and live messages travel one per segment: at least "
        f"{TCP_IP_HEADER_BYTES * (ref.msgs_up + ref.msgs_down):,} B/h more for v1 at 1/s, "
        f"{TCP_IP_HEADER_BYTES * (live.msgs_up + live.msgs_down):,} B/h for v2 live "
        "(not in the table).",
    ]
    for workload, sizes in results.batch_bytes.items():
        over = [e for e, n in sizes.items() if n > MAX_FRAME_BYTES]
        verdict = f"OVER the limit in {', '.join(over)}" if over else "within the limit"
        notes.append(
            f"Largest full batch ({BATCH_MAX} spans), {workload} workload: "
            f"{sizes['msgpack']:,} B MessagePack, {sizes['json']:,} B JSON; the server refuses "
            f"messages over {MAX_FRAME_BYTES:,} B after inflating: {verdict}."
        )
    if ZSTD is None:
        notes.append(
            "zstandard is not importable here: no zstd rows (pip install zstandard adds them)."
        )
    return notes


def real_notes(rows: Sequence[RealRow]) -> list[str]:
    if not rows:
        return []
    exact = all(r.exact for r in rows)
    notes = [
        "Emulation check: the proxy's frames, inflated and re-compressed by this file's emulation, "
        + ("give exactly the bytes seen on the wire in every run."
           if exact else "DIFFER from the bytes on the wire (see 'exact').")
    ]  # fmt: skip
    presences = sorted({r.presences for r in rows})
    notes.append(
        "At --speed 0 the agent replays the hour in well under a second: presence updates are "
        f"coalesced ({', '.join(map(str, presences))} sent instead of one per switch) and the "
        "spans "
        "go in full batches, as after an outage; the 'model' columns are the model's 'same hour as "
        "one back-fill' (one presence). The HTTP upgrade is per connection, not per hour."
    )
    return notes


def bottleneck(r: IngestResult) -> str:
    """Which core ran out, from CPU use: on a shared machine the rate alone cannot tell."""
    core = r.server_cpu_pct + r.others_cpu_pct
    if core >= 90:
        return (
            f"CPU {SERVER_CPU} full: server {fmt(r.server_cpu_pct)} %, other programs "
            f"{fmt(r.others_cpu_pct)} %"
        )
    if r.load_core_pct >= 90:
        return f"CPU {LOAD_CPU} full: generator-bound, a lower bound"
    return f"neither core full (CPU {SERVER_CPU} {fmt(core)} %): bounded by the ack window"


def ingest_notes(rows: Sequence[IngestResult], args: argparse.Namespace) -> list[str]:
    notes: list[str] = []
    for r in rows:
        if r.system == "null sink":
            continue
        verdict = "meets" if r.heartbeats_per_s >= args.target else "MISSES"
        per_core = 1e6 / r.us_per_span * HEARTBEATS_PER_SPAN
        note = (
            f"N={r.agents}: {fmt(r.heartbeats_per_s)} heartbeats/s represented {verdict} the "
            f"{fmt(args.target)}/s target ({bottleneck(r)}); {fmt(r.us_per_span, 1)} µs server "
            f"CPU per span = {fmt(per_core)} hb/s per core it had to itself."
        )
        if r.exact is not None:
            note += (
                f" Stored {fmt(r.stored_s)} s: {'exactly' if r.exact else 'NOT'} the "
                f"{fmt(r.sent_s)} s sent ({r.agents_mismatched} agents off), although every "
                "agent's first batch was sent twice."
            )
        if r.errors:
            note += f" {r.errors} errors, e.g. {r.error_sample}"
        notes.append(note)
    sink = next((r for r in rows if r.system == "null sink"), None)
    if sink is not None:
        ceiling = 1e6 / sink.generator_us_per_span * HEARTBEATS_PER_SPAN
        notes.append(
            f"Generator: {fmt(sink.generator_us_per_span, 1)} µs CPU per span, compression "
            f"included = a ceiling of {fmt(ceiling)} hb/s on CPU {LOAD_CPU}; it delivered "
            f"{fmt(sink.heartbeats_per_s)} hb/s to the null sink, whose transport + inflate + "
            f"decode cost {fmt(sink.us_per_span, 1)} µs per span."
        )
    return notes


def backfill_notes(rows: Sequence[BackfillResult]) -> list[str]:
    notes = [
        f"{r.label}: {r.spans:,} spans ({fmt(r.hours)} h) acknowledged "
        f"{fmt(r.backfill_s, 2)} s after "
        f"connecting = {fmt(r.spans_per_s)} spans/s; the agent's back-off added "
        f"{fmt(r.reconnect_s, 1)} s before it; totals {'exact' if r.exact else 'WRONG'}."
        for r in rows
    ]
    return notes


def paragraph(text: str, first: str = "", rest: str = "   ") -> str:
    return textwrap.fill(" ".join(text.split()), 100, initial_indent=first, subsequent_indent=rest)


def bullets(notes: Sequence[str]) -> list[str]:
    return [paragraph(note, "- ", "  ") for note in notes]


def headings(args: argparse.Namespace) -> tuple[str, str, str]:
    wire = f"""Bytes on the wire per agent-hour. Model: the real Spanner and the Link's batching
        rule; websocket frame headers with the client's 4-byte mask; permessage-deflate as aiohttp
        does it (zlib level {DEFLATE_LEVEL}, {DEFLATE_WBITS}-bit window, context takeover, sync
        flush, 00 00 ff ff dropped); a keep-alive Ping/Pong after {KEEPALIVE_S:.0f} s without a
        received frame; hello + welcome counted, the HTTP upgrade not. Workload: one observation
        per second, a switch every {SWITCH_S} s among ingest.py's {len(STANDARD)} APPS."""
    rate = f"""Batched, compressed MessagePack spans to one server process (CPU {SERVER_CPU};
        generator on CPU {LOAD_CPU}): {args.batch_spans} spans per batch, at most {args.window}
        unacknowledged batches per connection, aiohttp compress=15. 1 span = {SWITCH_S} s =
        {HEARTBEATS_PER_SPAN} heartbeats represented; rate = spans acknowledged / (first send →
        last Ack)."""
    backfill = f"""Back-fill of {args.backfill_hours:g} h offline: the real agent replays the
        timeline (--speed 0) with no server listening; then the server starts."""
    return paragraph(wire, "1. "), paragraph(rate, "2. "), paragraph(backfill, "3. ")


def report(results: Results, args: argparse.Namespace) -> str:
    wire, rate, backfill = headings(args)
    out: list[str] = []
    if results.wire:
        out += [wire, "", render_wire(results.wire), "", *bullets(wire_notes(results))]
    if results.varied:
        intro = paragraph(
            f"The same hour with titles that vary ({len(VARIED)} activities, browser tabs with "
            "their URL): compression gains less when fewer strings repeat.",
            "   ",
        )
        out += ["", intro, "", render_sensitivity(results.varied)]
    if results.real:
        out += ["", render_real(results.real), "", *bullets(real_notes(results.real))]
    if results.ingest:
        table = render_ingest(results.ingest)
        out += ["", rate, "", table, "", *bullets(ingest_notes(results.ingest, args))]
    if results.backfill:
        table = render_backfill(results.backfill)
        out += ["", backfill, "", table, "", *bullets(backfill_notes(results.backfill))]
    return "\n".join(out)


def write_json(results: Results, args: argparse.Namespace) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"link-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    payload = {
        "machine": ingest.machine_info(),
        "config": {k: v for k, v in vars(args).items() if k != "serve_sink"},
        "method": {
            "deflate_level": DEFLATE_LEVEL,
            "deflate_window_bits": DEFLATE_WBITS,
            "batch_max": BATCH_MAX,
            "batch_delay_s": BATCH_DELAY_S,
            "keepalive_s": KEEPALIVE_S,
            "max_frame_bytes": MAX_FRAME_BYTES,
            "zstd": ZSTD is not None,
        },
        "wire": [{**asdict(r), "total": r.wire.total} for r in [*results.wire, *results.varied]],
        "recorded": results.recorded,
        "batch_bytes": results.batch_bytes,
        "real": [{**asdict(r), "tcp_bytes": r.tcp_bytes, "exact": r.exact} for r in results.real],
        "ingest": [r.as_json() for r in results.ingest],
        "backfill": [r.as_json() for r in results.backfill],
    }
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--agents",
        type=int,
        nargs="+",
        default=[10, 100],
        help="part 2 agent counts (default: 10 100)",
    )
    p.add_argument(
        "--seconds", type=float, default=10.0, help="part 2 send phase per run (default 10)"
    )
    p.add_argument(
        "--window",
        type=int,
        default=LINK_WINDOW,
        help=f"part 2: unacknowledged batches per connection (default {LINK_WINDOW}, the Link's)",
    )
    p.add_argument(
        "--batch-spans",
        type=int,
        default=BATCH_MAX,
        help=f"part 2: spans per batch (default {BATCH_MAX}, the Link's)",
    )
    p.add_argument(
        "--generators", type=int, default=1, help=f"part 2 load processes, all on CPU {LOAD_CPU}"
    )
    p.add_argument(
        "--target", type=float, default=100_000, help="heartbeats/s represented (default 100000)"
    )
    p.add_argument("--sink-seconds", type=float, default=4.0, help="null-sink run (default 4)")
    p.add_argument(
        "--backfill-hours", type=float, default=24.0, help="part 3 offline stretch (default 24)"
    )
    p.add_argument(
        "--backfill-rates",
        type=float,
        nargs="+",
        default=[DEFAULT_BACKFILL_RATE, 1_000_000],
        help=f"part 3 --backfill-rate values (default: {DEFAULT_BACKFILL_RATE:g}, the agent's, and "
        "1000000, unthrottled)",
    )
    p.add_argument("--skip-wire", action="store_true", help="skip part 1")
    p.add_argument("--skip-real", action="store_true", help="skip part 1's real-connection check")
    p.add_argument("--skip-ingest", action="store_true", help="skip part 2")
    p.add_argument("--skip-sink", action="store_true", help="skip part 2's null sink")
    p.add_argument("--skip-backfill", action="store_true", help="skip part 3")
    p.add_argument(
        "--server-arg", action="append", default=[], help="extra `officepulse server` argument"
    )
    p.add_argument("--json", action="store_true", help="also write bench/results/link-<time>.json")
    p.add_argument("--serve-sink", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def step(text: str) -> None:
    print(f"  {text}", flush=True)


def run_wire(args: argparse.Namespace, results: Results) -> None:
    for workload in ("standard", "varied"):
        rows, rec = wire_rows(workload)
        (results.wire if workload == "standard" else results.varied).extend(rows)
        results.recorded[workload] = (
            len(rec.closed),
            rec.checkpoints,
            len(rec.presences),
            rec.observations,
        )
        results.batch_bytes[workload] = {e: largest_batch(workload, e) for e in ("msgpack", "json")}
    step(f"part 1: model done ({len(results.wire) + len(results.varied)} cases)")
    if not args.skip_real:
        model = {
            (r.workload, r.case, r.encoding): r.wire for r in results.wire if r.codec == "none"
        }
        results.real = run_real_wire(args, model)
        step(f"part 1: {len(results.real)} real agent runs through the proxy done")


def run_all(args: argparse.Namespace) -> Results:
    results = Results()
    if not args.skip_wire:
        run_wire(args, results)
    if not args.skip_ingest:
        runs = [("officepulse", n) for n in args.agents]
        if not args.skip_sink:
            runs.append(("null sink", max(args.agents)))
        for system, n in runs:
            result = run_ingest(system, n, args)
            results.ingest.append(result)
            step(
                f"part 2: {system:<11} N={n:<4} {fmt(result.heartbeats_per_s):>11} hb/s "
                "represented, "
                f"{fmt(result.us_per_span, 1)} µs CPU/span (setup {result.setup_s:.1f} s)"
            )
    if not args.skip_backfill:
        for rate in args.backfill_rates:
            label = (
                "default"
                if rate == DEFAULT_BACKFILL_RATE
                else "unthrottled"
                if rate >= 1e6
                else f"{rate:g}/s"
            )
            result_b = run_backfill(label, rate, args)
            results.backfill.append(result_b)
            step(f"part 3: {label:<11} {result_b.spans:,} spans in {fmt(result_b.backfill_s, 2)} s")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_sink is not None:
        serve_sink(args.serve_sink)
        return 0
    signal.signal(signal.SIGTERM, ingest.raise_on_sigterm)
    ingest.pin_to(LOAD_CPU)  # this process, the agents and the workers stay off the server's core
    info = ingest.machine_info()
    print(
        f"link bench: Python {info['python']}, {info['cpus']} CPUs ({info['cpu']}); server on CPU "
        f"{SERVER_CPU}, agents and load on CPU {LOAD_CPU}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        flush=True,
    )
    began = time.monotonic()
    try:
        results = run_all(args)
    except KeyboardInterrupt:
        print(
            "\ninterrupted; servers, agents and workers stopped, temp dirs removed", file=sys.stderr
        )
        return 130
    print(f"  all parts: {time.monotonic() - began:.0f} s\n")
    print(report(results, args))
    if args.json:
        print(f"\nwrote {write_json(results, args).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
