"""ActivityWatch compatibility: the part of aw-server's REST API (``/api/0/``)
that ActivityWatch's watchers, ``aw-client`` and the aw-watcher-web extension
use, on officepulse's store, agents and spans. docs/activitywatch.md is the
user's guide; this is how it works.

**Two layers.** ActivityWatch's buckets and events are kept as they are, in
their own tables (``aw_buckets``, ``aw_events``), so that everything read back
through ``/api/0/`` (events, exports) is exactly what aw-server 0.12 would
answer, ids and float durations included. The officepulse side (the agent
``aw-<hostname>`` on the dashboard, its spans in the totals) is a
*projection* of those events, recomputed for the stretch of time an event
changed, in the same transaction:

- ``currentwindow`` events (aw-watcher-window) give the app and title;
- ``afkstatus`` events (aw-watcher-afk) mark that time idle;
- ``web.tab.current`` events (aw-watcher-web) give the tab's title and URL while
  the window in front is that browser, and the browser alone on a computer
  with no window watcher;
- the three overlap in time, and events of one bucket may overlap each other,
  so a moment counts once: the latest-starting event that covers it wins, and a
  gap of at most ``GAP_MS`` between two events of a kind belongs to the
  earlier one (officepulse's own rule: what was seen lasts until something
  else is seen; no time is lost at a switch).

**Heartbeats** merge exactly as aw-server's ``heartbeat()`` does
(aw_server/api.py and aw_transform/heartbeats.py): with the bucket's last
event when the data are equal and the heartbeat's timestamp is within
``[last.timestamp, last.timestamp + last.duration + pulsetime]``; the new
duration is ``max(last.duration, heartbeat.timestamp + heartbeat.duration -
last.timestamp)``. Timestamps are cut to milliseconds and durations kept in
microseconds, as aw-core does. "The last event" is the one the bucket's last
heartbeat wrote (aw-server keeps it in memory; here it is a column, so every
server process sharing the database agrees, and a restart changes nothing),
or, before any heartbeat, the newest event.

**The store.** Everything goes through one Store capability, ``AwStore``
(one transaction over ``AwTables``). Until the stores implement it,
``SQLiteAwStore`` does on its own connection to SQLiteStore's file, and
``PostgresAwStore`` (server/aw_postgres.py) on PostgresStore's pool, writing
spans through that store's ``write_span_rows``; ``aw_store_for`` picks one.
Concurrency: a write transaction holds its bucket (SQLite: the database's one
writer; PostgreSQL: the bucket's row, locked before the last event is read) and,
before recomputing a computer's spans, that computer's spans (``hold_spans``),
so two server processes on one database merge and project as one would.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import hashlib
import heapq
import itertools
import logging
import re
import socket
import sqlite3
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import msgspec
from aiohttp import BodyPartReader, web

from officepulse import __version__
from officepulse.bus.presence import AgentView
from officepulse.core.plausible import span_refusal
from officepulse.core.spans import Span
from officepulse.errors import OfficepulseError
from officepulse.protocol.messages import Activity
from officepulse.security.guard import EXTENSION_ORIGINS
from officepulse.server.retention import horizon_ms
from officepulse.store.base import AgentInfo, AgentStatus, Store
from officepulse.store.failures import FailureLog

if TYPE_CHECKING:
    from officepulse.server.app import Server

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

WINDOW = "currentwindow"
AFK = "afkstatus"
WEB = "web.tab.current"
PROJECTED_TYPES = (WINDOW, AFK, WEB)

AW_PLATFORM = "ActivityWatch"
AW_TZ = "UTC"  # watchers do not say where they are
# A gap this short between two events of one kind belongs to the earlier event
# (aw-webui floods gaps of up to 5 s too).
GAP_MS = 5_000
# An ActivityWatch agent counts as offline this long after its last request:
# aw-client sends at least every commit_interval (10 s), aw-watcher-web every 60 s.
OFFLINE_AFTER = 180.0
# The retention floor when nothing is pruned (µs): before any instant anyone can write.
NO_FLOOR = -(2**62)
DAY_MS = 86_400_000
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_IMPORT_BYTES = 256 * 1024 * 1024
IMPORT_BATCH = 2_000  # events per transaction when importing

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
# aw-server's event query skips events that start more than a day before
# ``start`` (aw_datastore/storages/peewee.py, _where_range); kept for identical answers.
AW_QUERY_LOOKBACK_US = 86_400_000_000

# Window app names per browser, as aw-client's queries.py / aw-webui list them.
BROWSER_APPS: dict[str, tuple[str, ...]] = {
    "chrome": (
        "google chrome",
        "google-chrome",
        "chrome",
        "google-chrome-stable",
        "chromium",
        "chromium-browser",
        "chromium-browser-chromium",
        "google-chrome-beta",
        "google-chrome-unstable",
        "brave-browser",
    ),
    "firefox": (
        "firefox",
        "firefox developer edition",
        "firefoxdeveloperedition",
        "firefox-esr",
        "firefox beta",
        "nightly",
        "org.mozilla.firefox",
        "navigator",
    ),
    "opera": ("opera",),
    "brave": ("brave", "brave-browser"),
    "edge": ("msedge", "microsoft edge", "microsoft-edge"),
    "vivaldi": ("vivaldi-stable", "vivaldi-snapshot", "vivaldi"),
    "safari": ("safari",),
    "arc": ("arc",),
}
WEB_BUCKET_PREFIX = "aw-watcher-web-"


class AwError(OfficepulseError):
    """An answer other than 200, with aw-server's ``{"message": ...}`` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def no_such_bucket(bucket_id: str) -> AwError:
    return AwError(404, f"There's no bucket named {bucket_id}")


# -- times ---------------------------------------------------------------------


def iso(us: int) -> str:
    """An instant as aw-core writes it: UTC, ``+00:00``, microseconds when not zero."""
    return (EPOCH + timedelta(microseconds=us)).isoformat()


def seconds(us: int) -> float:
    """A duration as aw-core writes it (``timedelta.total_seconds()``)."""
    return us / 1_000_000


def parse_instant(value: object, where: str) -> int:
    """An ISO 8601 date-time as microseconds since the epoch; no zone means UTC
    (as iso8601.parse_date assumes)."""
    if not isinstance(value, str):
        raise AwError(400, f"{where}: expected an ISO 8601 date-time string, got {value!r}")
    try:
        ts = datetime.fromisoformat(value.strip())
    except ValueError:
        raise AwError(400, f"{where}: {value!r} is not an ISO 8601 date-time") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return (ts - EPOCH) // US


def parse_timestamp(value: object, where: str) -> int:
    """An event timestamp: aw-core keeps whole milliseconds (it drops the rest)."""
    us = parse_instant(value, where)
    return us - us % 1000


def parse_duration(value: object, where: str) -> int:
    """Seconds as microseconds, rounded the way ``timedelta(seconds=x)`` rounds."""
    if not isinstance(value, int | float):
        raise AwError(400, f"{where}: expected a number of seconds, got {value!r}")
    try:
        return timedelta(seconds=value) // US
    except (OverflowError, ValueError):
        raise AwError(400, f"{where}: {value!r} is not a usable number of seconds") from None


# -- events and buckets ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AwEvent:
    """One ActivityWatch event: ``data`` from ``ts_us`` for ``duration_us``."""

    ts_us: int
    duration_us: int
    data: dict[str, Any]
    id: int | None = None

    @property
    def end_us(self) -> int:
        return self.ts_us + self.duration_us


@dataclass(frozen=True, slots=True)
class AwBucket:
    id: str
    type: str
    client: str
    hostname: str
    created_us: int
    name: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    last_event_id: int | None = None


_EVENT_KEYS = frozenset({"id", "timestamp", "duration", "data"})


def parse_event(raw: object, where: str, *, now_us: int, timestamp_required: bool) -> AwEvent:
    """An event as aw-core's ``Event(**raw)`` reads it: a missing duration is 0,
    missing data is ``{}``, a missing timestamp is now (refused where aw-server's
    JSON schema requires one: heartbeats)."""
    if not isinstance(raw, dict):
        raise AwError(400, f"{where}: expected an event object, got {raw!r}")
    unknown = sorted(set(raw) - _EVENT_KEYS)
    if unknown:
        raise AwError(
            400,
            f"{where}: unexpected field {unknown[0]!r} (an event has id, timestamp, "
            "duration and data)",
        )
    raw_ts = raw.get("timestamp")
    if raw_ts is None:
        if timestamp_required:
            raise AwError(400, f"{where}: 'timestamp' is a required property")
        ts_us = now_us - now_us % 1000
    else:
        ts_us = parse_timestamp(raw_ts, f"{where}.timestamp")
    duration_us = parse_duration(raw.get("duration", 0), f"{where}.duration")
    data = raw.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AwError(400, f"{where}.data: expected an object, got {data!r}")
    event_id = raw.get("id")
    if event_id is not None and (not isinstance(event_id, int) or isinstance(event_id, bool)):
        raise AwError(400, f"{where}.id: expected an integer, got {event_id!r}")
    return AwEvent(ts_us, duration_us, data, event_id)


def check_plausible(events: Iterable[tuple[str, AwEvent]], now_us: int) -> None:
    """Refuse (400, naming the event and the rule) an event that no watcher can have
    seen, by the rules every agent's span is held to (core/plausible.py): too long, in
    the future, before 2000. Its time would otherwise be projected, stored and rolled up
    like any span's. (A heartbeat merged into a longer event is many requests, each
    checked.)"""
    for where, event in events:
        start_ms, end_ms = event.ts_us // 1000, -(-event.end_us // 1000)
        why = span_refusal(start_ms, end_ms, now_us // 1000)
        if why is not None:
            raise AwError(
                400,
                f"{where} ({iso(event.ts_us)}, {seconds(event.duration_us)} s) refused: {why}",
            )


def heartbeat_merge(last: AwEvent, heartbeat: AwEvent, pulsetime_us: int) -> AwEvent | None:
    """aw_transform.heartbeat_merge: the last event extended by the heartbeat,
    or None when they do not merge."""
    if last.data != heartbeat.data:
        return None
    pulse_end = last.ts_us + last.duration_us + pulsetime_us
    if not last.ts_us <= heartbeat.ts_us <= pulse_end:
        return None
    if last.duration_us < 0:
        log.warning("merging heartbeats would result in a negative duration; not merged")
        return None
    new_duration = heartbeat.ts_us - last.ts_us + heartbeat.duration_us
    return replace(last, duration_us=max(last.duration_us, new_duration))


# -- agents ----------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def agent_id_for(hostname: str) -> str:
    """``aw-<hostname>``, kept to the agent-id alphabet; a hostname that had to
    be changed to fit gets a short hash, so two never share an id."""
    safe = _UNSAFE.sub("-", hostname)[:50]
    if safe != hostname or not safe:
        safe += "-" + hashlib.sha1(hostname.encode()).hexdigest()[:8]
    return "aw-" + safe


def agent_info(hostname: str, clients: Iterable[str], *, online: bool, seen_ms: int) -> AgentInfo:
    return AgentInfo(
        id=agent_id_for(hostname),
        name=hostname[:256],
        host=hostname[:256],
        platform=AW_PLATFORM,
        version=", ".join(sorted(set(clients)))[:256],
        tz=AW_TZ,
        online=online,
        last_seen_ms=seen_ms,
    )


def browser_of(bucket_id: str, client: str) -> str:
    """The browser a web bucket reports on: ``aw-watcher-web-<browser>[_<host>]``."""
    if bucket_id.startswith(WEB_BUCKET_PREFIX):
        name = bucket_id[len(WEB_BUCKET_PREFIX) :].split("_", 1)[0]
        if name:
            return name
    return client or "browser"


def is_browser(app: str, browser: str) -> bool:
    """Whether the window app ``app`` is the browser a web bucket calls ``browser``."""
    a = app.lower().removesuffix(".exe")
    b = browser.lower()
    return (len(b) >= 4 and b in a) or a in BROWSER_APPS.get(b, ()) or a == b


# -- the projection: events → spans ------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowSeen:
    app: str
    title: str
    url: str | None


@dataclass(frozen=True, slots=True)
class TabSeen:
    browser: str
    title: str
    url: str
    incognito: bool


@dataclass(frozen=True, slots=True)
class HostEvent:
    """An event of a projected bucket, with what the projection needs of the bucket."""

    type: str
    bucket_id: str
    client: str
    event: AwEvent


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int
    value: object


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _value(item: HostEvent) -> object:
    """What an event says, for its kind; None: nothing usable."""
    data = item.event.data
    if item.type == WINDOW:
        app = _text(data.get("app")) or "unknown"
        url = data.get("url")
        return WindowSeen(app, _text(data.get("title")), url if isinstance(url, str) else None)
    if item.type == AFK:
        status = data.get("status")
        return {"afk": True, "not-afk": False}.get(status) if isinstance(status, str) else None
    url = data.get("url")
    if not isinstance(url, str):
        return None
    return TabSeen(
        browser_of(item.bucket_id, item.client),
        _text(data.get("title")),
        url,
        data.get("incognito") is True,
    )


def timeline(items: Sequence[HostEvent], lo: int, hi: int) -> list[_Piece]:
    """One kind's state over [lo, hi) in ms: at each moment the latest-starting
    event that covers it; then each gap of at most GAP_MS between two pieces
    belongs to the piece before it."""
    intervals: list[tuple[int, int, tuple[int, int], object]] = []
    for item in items:
        value = _value(item)
        if value is None:
            continue
        e = item.event
        start = max(e.ts_us // 1000, lo)
        end = min(e.end_us // 1000, hi)
        if end > start:
            intervals.append((start, end, (e.ts_us, e.id or 0), value))
    intervals.sort(key=lambda i: i[0])
    points = sorted({p for i in intervals for p in (i[0], i[1])})
    pieces: list[_Piece] = []
    heap: list[tuple[tuple[int, int], int, int, object]] = []  # (-order, end, n, value)
    n = 0
    for a, b in itertools.pairwise(points):
        while n < len(intervals) and intervals[n][0] <= a:
            start, end, order, value = intervals[n]
            heapq.heappush(heap, ((-order[0], -order[1]), end, n, value))
            n += 1
        while heap and heap[0][1] <= a:
            heapq.heappop(heap)
        if not heap:
            continue
        value = heap[0][3]
        if pieces and pieces[-1].end == a and pieces[-1].value == value:
            pieces[-1] = _Piece(pieces[-1].start, b, value)
        else:
            pieces.append(_Piece(a, b, value))
    filled: list[_Piece] = []
    for piece in pieces:
        if filled:
            last = filled[-1]
            if last.end < piece.start <= last.end + GAP_MS:
                last = filled[-1] = _Piece(last.start, piece.start, last.value)
            if last.end == piece.start and last.value == piece.value:
                filled[-1] = _Piece(last.start, piece.end, last.value)
                continue
        filled.append(piece)
    return filled


def _activity(window: object, afk: object, tab: object) -> Activity | None:
    idle = afk is True
    if isinstance(window, WindowSeen):
        app, title, url = window.app, window.title, window.url
        if isinstance(tab, TabSeen) and not tab.incognito and is_browser(app, tab.browser):
            title, url = tab.title, tab.url
    elif isinstance(tab, TabSeen):
        app = tab.browser
        title, url = ("", None) if tab.incognito else (tab.title, tab.url)
    else:
        return None
    return Activity(app=app[:256], title=title[:4096], url=url[:4096] if url else None, idle=idle)


def project(events: Sequence[HostEvent], lo: int, hi: int) -> list[Span]:
    """The spans of one computer over [lo, hi) (ms): maximal runs of one activity.
    ``events`` must hold every projected event overlapping [lo - GAP_MS, hi + GAP_MS)."""
    kinds: dict[str, list[_Piece]] = {}
    for kind in PROJECTED_TYPES:
        pieces = timeline([e for e in events if e.type == kind], lo - GAP_MS, hi + GAP_MS)
        kinds[kind] = [
            _Piece(max(p.start, lo), min(p.end, hi), p.value)
            for p in pieces
            if p.end > lo and p.start < hi
        ]
    points = sorted({lo, hi} | {x for ps in kinds.values() for p in ps for x in (p.start, p.end)})
    cursor = dict.fromkeys(PROJECTED_TYPES, 0)
    spans: list[Span] = []
    for a, b in itertools.pairwise(points):
        values: dict[str, object] = {}
        for kind, pieces in kinds.items():
            i = cursor[kind]
            while i < len(pieces) and pieces[i].end <= a:
                i += 1
            cursor[kind] = i
            values[kind] = pieces[i].value if i < len(pieces) and pieces[i].start <= a else None
        activity = _activity(values[WINDOW], values[AFK], values[WEB])
        if activity is None:
            continue
        if spans and spans[-1].end_ms == a and spans[-1].activity == activity:
            spans[-1] = replace(spans[-1], end_ms=b)
        else:
            spans.append(Span(a, b, activity))
    return spans


# -- the store capability ------------------------------------------------------------


class AwTables(Protocol):
    """The ActivityWatch tables and the spans they project to, inside one
    transaction (``AwStore.aw_transaction``). Times are microseconds for events,
    milliseconds for spans."""

    def meta(self, key: str, default: str) -> str:
        """The value kept under ``key``, storing ``default`` first if there is none."""
        ...

    def buckets(self) -> list[AwBucket]: ...

    def bucket(self, bucket_id: str) -> AwBucket | None: ...

    def create_bucket(self, bucket: AwBucket) -> bool:
        """Store the bucket unless one with its id exists; whether it was stored."""
        ...

    def delete_bucket(self, bucket_id: str) -> tuple[int, int] | None:
        """Delete the bucket and its events; the [start, end) in µs they covered."""
        ...

    def host_clients(self, hostname: str) -> list[str]: ...

    def set_last_event(self, bucket_id: str, event_id: int | None) -> None:
        """Which event the bucket's last heartbeat wrote (aw-server's ``last_event``)."""
        ...

    def event(self, bucket_id: str, event_id: int) -> AwEvent | None: ...

    def newest_event(self, bucket_id: str) -> AwEvent | None:
        """The event with the latest timestamp (ties: the latest inserted)."""
        ...

    def insert_event(self, bucket_id: str, event: AwEvent) -> int: ...

    def update_event(self, bucket_id: str, event: AwEvent) -> None:
        """Rewrite the event with ``event.id``."""
        ...

    def delete_event(self, bucket_id: str, event_id: int) -> int: ...

    def events(
        self, bucket_id: str, limit: int, start_us: int | None, end_us: int | None
    ) -> list[AwEvent]:
        """Newest first: events ending at or after ``start_us`` that start at or
        before ``end_us`` (aw-server's range, inclusive at both ends)."""
        ...

    def count_events(self, bucket_id: str, start_us: int | None, end_us: int | None) -> int: ...

    def events_at(self, bucket_id: str, ts_us: int) -> list[AwEvent]:
        """The bucket's events with this exact timestamp."""
        ...

    def host_events(
        self, hostname: str, types: Sequence[str], lo_us: int, hi_us: int
    ) -> list[HostEvent]:
        """Events of the host's buckets of these types that overlap [lo_us, hi_us)."""
        ...

    def hold_spans(self, agent_id: str) -> None:
        """Keep other writers of the agent's spans waiting until this transaction
        ends, so that a recomputation reads events and spans no other one is changing."""
        ...

    def run_bounds(self, agent_id: str, lo_ms: int, hi_ms: int) -> tuple[int, int]:
        """[lo, hi) widened to the agent's stored spans that contain or touch
        ``lo`` and ``hi``."""
        ...

    def replace_spans(self, agent_id: str, lo_ms: int, hi_ms: int, spans: Sequence[Span]) -> None:
        """Delete the agent's spans that start in [lo, hi) and store ``spans``."""
        ...

    def last_span(self, agent_id: str) -> Span | None: ...

    def agent_exists(self, agent_id: str) -> bool: ...

    # Retention (server/retention.py): raw activity before ``floor_us`` is no longer
    # kept, and spans there are never recomputed (their time is in the rollups already).
    floor_us: int

    def prune_events(self, before_us: int) -> int:
        """Delete the events that ended by ``before_us``; how many."""
        ...


@runtime_checkable
class AwStore(Protocol):
    """What the ActivityWatch API needs of a store (proposed for ``Store``)."""

    async def aw_transaction(self, work: Callable[[AwTables], T], *, write: bool) -> T:
        """Run ``work`` in one transaction, all of it or nothing; write
        transactions are serialised with every other writer of the database."""
        ...


# The ActivityWatch tables on either database; only the event id is declared apart
# (on SQLite a rowid that is never reused: AUTOINCREMENT).
AW_TABLES = """
CREATE TABLE IF NOT EXISTS aw_buckets (
    id TEXT PRIMARY KEY,
    name TEXT,
    type TEXT NOT NULL,
    client TEXT NOT NULL,
    hostname TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    data TEXT NOT NULL DEFAULT '{{}}',
    last_event_id BIGINT,
    max_duration_us BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS aw_events (
    id {event_id},
    bucket_id TEXT NOT NULL,
    ts_us BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS aw_events_by_bucket ON aw_events (bucket_id, ts_us);
CREATE TABLE IF NOT EXISTS aw_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
AW_SCHEMA = AW_TABLES.format(event_id="INTEGER PRIMARY KEY AUTOINCREMENT")

_json_encode = msgspec.json.Encoder().encode


def _json_decode(text: str | bytes) -> Any:
    return msgspec.json.decode(text)


def dump_data(data: dict[str, Any]) -> str:
    return _json_encode(data).decode()


def event_from_row(row: Sequence[Any]) -> AwEvent:
    event_id, ts, duration, data = row
    return AwEvent(int(ts), int(duration), _json_decode(data), int(event_id))


def bucket_from_row(row: Sequence[Any]) -> AwBucket:
    bucket_id, name, type_, client, hostname, created, data, last = row
    return AwBucket(
        id=bucket_id,
        type=type_,
        client=client,
        hostname=hostname,
        created_us=int(created),
        name=name,
        data=_json_decode(data),
        last_event_id=last,
    )


_BUCKET_COLUMNS = "id, name, type, client, hostname, created_us, data, last_event_id"
_EVENT_COLUMNS = "id, ts_us, duration_us, data"


class SqlAwTables(abc.ABC):
    """AwTables in the SQL that SQLite and PostgreSQL both take (``?`` placeholders).
    A subclass runs the statements inside its transaction, and keeps a computer's
    spans its database's way (``hold_spans``, ``replace_spans``)."""

    # Appended to ORDER BY where code point order is wanted (SQLite's default).
    BINARY = ""
    # The LIMIT that means none.
    NO_LIMIT: int | None = -1
    # No retention: nothing is too old to recompute. The AwStore sets it per transaction.
    floor_us: int = NO_FLOOR

    @abc.abstractmethod
    def _all(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    def _run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run a statement; how many rows it changed."""

    def _one(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def prune_events(self, before_us: int) -> int:
        return self._run("DELETE FROM aw_events WHERE ts_us + duration_us <= ?", (before_us,))

    def _for_update(self) -> str:
        """What locks the bucket row ``bucket()`` reads, where locking it is needed."""
        return ""

    def meta(self, key: str, default: str) -> str:
        self._run(
            "INSERT INTO aw_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (key, default),
        )
        row = self._one("SELECT value FROM aw_meta WHERE key = ?", (key,))
        assert row is not None
        return str(row[0])

    def buckets(self) -> list[AwBucket]:
        rows = self._all(f"SELECT {_BUCKET_COLUMNS} FROM aw_buckets ORDER BY id{self.BINARY}")
        return [bucket_from_row(r) for r in rows]

    def bucket(self, bucket_id: str) -> AwBucket | None:
        row = self._one(
            f"SELECT {_BUCKET_COLUMNS} FROM aw_buckets WHERE id = ?{self._for_update()}",
            (bucket_id,),
        )
        return bucket_from_row(row) if row is not None else None

    def create_bucket(self, bucket: AwBucket) -> bool:
        created = self._run(
            "INSERT INTO aw_buckets (id, name, type, client, hostname, created_us, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                bucket.id,
                bucket.name,
                bucket.type,
                bucket.client,
                bucket.hostname,
                bucket.created_us,
                dump_data(bucket.data),
            ),
        )
        return created == 1

    def delete_bucket(self, bucket_id: str) -> tuple[int, int] | None:
        row = self._one(
            "SELECT MIN(ts_us), MAX(ts_us + duration_us) FROM aw_events WHERE bucket_id = ?",
            (bucket_id,),
        )
        self._run("DELETE FROM aw_events WHERE bucket_id = ?", (bucket_id,))
        self._run("DELETE FROM aw_buckets WHERE id = ?", (bucket_id,))
        if row is None or row[0] is None:
            return None
        return int(row[0]), int(row[1])

    def host_clients(self, hostname: str) -> list[str]:
        rows = self._all("SELECT DISTINCT client FROM aw_buckets WHERE hostname = ?", (hostname,))
        return [str(r[0]) for r in rows]

    def set_last_event(self, bucket_id: str, event_id: int | None) -> None:
        self._run("UPDATE aw_buckets SET last_event_id = ? WHERE id = ?", (event_id, bucket_id))

    def event(self, bucket_id: str, event_id: int) -> AwEvent | None:
        row = self._one(
            f"SELECT {_EVENT_COLUMNS} FROM aw_events WHERE bucket_id = ? AND id = ?",
            (bucket_id, event_id),
        )
        return event_from_row(row) if row is not None else None

    def newest_event(self, bucket_id: str) -> AwEvent | None:
        row = self._one(
            f"SELECT {_EVENT_COLUMNS} FROM aw_events WHERE bucket_id = ? "
            "ORDER BY ts_us DESC, id DESC LIMIT 1",
            (bucket_id,),
        )
        return event_from_row(row) if row is not None else None

    def _widen(self, bucket_id: str, duration_us: int) -> None:
        # The bucket's longest event bounds host_events' index range; the row is
        # written only when it grows.
        self._run(
            "UPDATE aw_buckets SET max_duration_us = ? WHERE id = ? AND max_duration_us < ?",
            (duration_us, bucket_id, duration_us),
        )

    def insert_event(self, bucket_id: str, event: AwEvent) -> int:
        row = self._one(
            "INSERT INTO aw_events (bucket_id, ts_us, duration_us, data) "
            "VALUES (?, ?, ?, ?) RETURNING id",
            (bucket_id, event.ts_us, event.duration_us, dump_data(event.data)),
        )
        assert row is not None
        self._widen(bucket_id, event.duration_us)
        return int(row[0])

    def update_event(self, bucket_id: str, event: AwEvent) -> None:
        self._run(
            "UPDATE aw_events SET ts_us = ?, duration_us = ?, data = ? "
            "WHERE bucket_id = ? AND id = ?",
            (event.ts_us, event.duration_us, dump_data(event.data), bucket_id, event.id),
        )
        self._widen(bucket_id, event.duration_us)

    def delete_event(self, bucket_id: str, event_id: int) -> int:
        return self._run(
            "DELETE FROM aw_events WHERE bucket_id = ? AND id = ?", (bucket_id, event_id)
        )

    @staticmethod
    def _range(start_us: int | None, end_us: int | None) -> tuple[str, list[int]]:
        sql, params = "", []
        if start_us is not None:
            sql += " AND ts_us >= ? AND ts_us + duration_us >= ?"
            params += [start_us - AW_QUERY_LOOKBACK_US, start_us]
        if end_us is not None:
            sql += " AND ts_us <= ?"
            params.append(end_us)
        return sql, params

    def events(
        self, bucket_id: str, limit: int, start_us: int | None, end_us: int | None
    ) -> list[AwEvent]:
        where, params = self._range(start_us, end_us)
        rows = self._all(
            f"SELECT {_EVENT_COLUMNS} FROM aw_events WHERE bucket_id = ?{where} "
            "ORDER BY ts_us DESC, id DESC LIMIT ?",
            (bucket_id, *params, limit if limit >= 0 else self.NO_LIMIT),
        )
        return [event_from_row(r) for r in rows]

    def count_events(self, bucket_id: str, start_us: int | None, end_us: int | None) -> int:
        where, params = self._range(start_us, end_us)
        row = self._one(
            f"SELECT COUNT(*) FROM aw_events WHERE bucket_id = ?{where}", (bucket_id, *params)
        )
        assert row is not None
        return int(row[0])

    def events_at(self, bucket_id: str, ts_us: int) -> list[AwEvent]:
        rows = self._all(
            f"SELECT {_EVENT_COLUMNS} FROM aw_events WHERE bucket_id = ? AND ts_us = ? ORDER BY id",
            (bucket_id, ts_us),
        )
        return [event_from_row(r) for r in rows]

    def host_events(
        self, hostname: str, types: Sequence[str], lo_us: int, hi_us: int
    ) -> list[HostEvent]:
        marks = ", ".join("?" for _ in types)
        # max_duration_us bounds how early an overlapping event can start, so
        # the (bucket_id, ts_us) index serves the range.
        rows = self._all(
            "SELECT b.type, b.id, b.client, e.id, e.ts_us, e.duration_us, e.data "
            "FROM aw_buckets b JOIN aw_events e ON e.bucket_id = b.id "
            f"WHERE b.hostname = ? AND b.type IN ({marks}) "
            "AND e.ts_us >= ? - b.max_duration_us AND e.ts_us < ? "
            "AND e.ts_us + e.duration_us > ?",
            (hostname, *types, lo_us, hi_us, lo_us),
        )
        return [HostEvent(str(r[0]), str(r[1]), str(r[2]), event_from_row(r[3:])) for r in rows]

    @abc.abstractmethod
    def hold_spans(self, agent_id: str) -> None: ...

    def run_bounds(self, agent_id: str, lo_ms: int, hi_ms: int) -> tuple[int, int]:
        row = self._one(
            "SELECT start_ms, end_ms FROM spans WHERE agent_id = ? AND start_ms < ? "
            "ORDER BY start_ms DESC LIMIT 1",
            (agent_id, lo_ms),
        )
        if row is not None and row[1] >= lo_ms:
            lo_ms = int(row[0])
        row = self._one(
            "SELECT start_ms, end_ms FROM spans WHERE agent_id = ? AND start_ms <= ? "
            "ORDER BY start_ms DESC LIMIT 1",
            (agent_id, hi_ms),
        )
        if row is not None and row[1] > hi_ms:
            hi_ms = int(row[1])
        return lo_ms, hi_ms

    @abc.abstractmethod
    def replace_spans(
        self, agent_id: str, lo_ms: int, hi_ms: int, spans: Sequence[Span]
    ) -> None: ...

    def last_span(self, agent_id: str) -> Span | None:
        row = self._one(
            "SELECT start_ms, end_ms, app, title, url, idle FROM spans WHERE agent_id = ? "
            "ORDER BY start_ms DESC LIMIT 1",
            (agent_id,),
        )
        if row is None:
            return None
        start, end, app, title, url, idle = row
        activity = Activity(app=app, title=title, url=url, idle=bool(idle))
        return Span(int(start), int(end), activity)

    def agent_exists(self, agent_id: str) -> bool:
        return self._one("SELECT 1 FROM agents WHERE id = ?", (agent_id,)) is not None


class SQLiteAwTables(SqlAwTables):
    """AwTables on an SQLite connection that is inside a transaction. The spans
    are the rows of SQLiteStore's ``spans`` table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _all(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def _run(self, sql: str, params: Sequence[object] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    def hold_spans(self, agent_id: str) -> None:
        pass  # BEGIN IMMEDIATE: this transaction is the database's only writer

    def replace_spans(self, agent_id: str, lo_ms: int, hi_ms: int, spans: Sequence[Span]) -> None:
        self.conn.execute(
            "DELETE FROM spans WHERE agent_id = ? AND start_ms >= ? AND start_ms < ?",
            (agent_id, lo_ms, hi_ms),
        )
        self.conn.executemany(
            "INSERT OR REPLACE INTO spans "
            "(agent_id, start_ms, end_ms, app, title, url, process, pid, idle, details) "
            "VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, NULL)",
            [
                (
                    agent_id,
                    s.start_ms,
                    s.end_ms,
                    s.activity.app,
                    s.activity.title,
                    s.activity.url,
                    s.activity.idle,
                )
                for s in spans
            ],
        )


class SQLiteAwStore:
    """AwStore on its own connection to an officepulse SQLite database (whose
    ``spans`` and ``agents`` tables SQLiteStore has made): the stand-in until
    SQLiteStore runs ``aw_transaction`` on its writer connection itself."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.floor_us: Callable[[], int] = lambda: NO_FLOOR

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")  # as SQLiteStore: WAL, durable at checkpoints
        conn.execute("PRAGMA busy_timeout=10000")
        # A row that INSERT OR REPLACE replaces must fire the delete trigger that
        # feeds the store's rollups, or its time would be counted twice.
        conn.execute("PRAGMA recursive_triggers=ON")
        conn.executescript(AW_SCHEMA)
        self._conn = conn

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def aw_transaction(self, work: Callable[[AwTables], T], *, write: bool) -> T:
        return await asyncio.to_thread(self._run, work, write)

    def _run(self, work: Callable[[AwTables], T], write: bool) -> T:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError("the ActivityWatch tables are not open")
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                tables = SQLiteAwTables(conn)
                tables.floor_us = self.floor_us()
                result = work(tables)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result


class OwnAwStore(AwStore, Protocol):
    """An AwStore made for an officepulse store, opened and closed by whoever made it."""

    floor_us: Callable[[], int]  # the retention floor now (AwTables.floor_us)

    async def open(self) -> None: ...

    async def close(self) -> None: ...


def aw_store_for(store: Store) -> OwnAwStore | None:
    """The AwStore for an officepulse store that lacks ``aw_transaction``: its
    tables on SQLite's file (SQLiteAwStore) or on PostgreSQL through the store's
    own pool (server/aw_postgres.py); None for any other store."""
    from officepulse.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        return SQLiteAwStore(store.path)
    try:
        from officepulse.server.aw_postgres import PostgresAwStore
        from officepulse.store.postgres import PostgresStore
    except ImportError:  # no psycopg, so it is no PostgresStore
        return None
    if isinstance(store, PostgresStore):
        return PostgresAwStore(store)
    return None


# -- operations (each runs inside one transaction) -------------------------------------


@dataclass
class Touched:
    """Which computers' spans must be recomputed, and over what (µs)."""

    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    hosts: set[str] = field(default_factory=set)

    def add(self, bucket: AwBucket, lo_us: int, hi_us: int) -> None:
        self.hosts.add(bucket.hostname)
        if bucket.type not in PROJECTED_TYPES or hi_us < lo_us:
            return
        old = self.ranges.get(bucket.hostname)
        self.ranges[bucket.hostname] = (
            (lo_us, hi_us) if old is None else (min(old[0], lo_us), max(old[1], hi_us))
        )

    def add_event(self, bucket: AwBucket, event: AwEvent) -> None:
        self.add(bucket, event.ts_us, max(event.ts_us, event.end_us))


def reproject(tx: AwTables, hostname: str, lo_us: int, hi_us: int) -> None:
    """Recompute the spans an event change in [lo_us, hi_us) can have changed."""
    # Before the retention floor the raw spans are gone and their time is in the rollups:
    # recomputing there would count it again. A span that crosses the floor is kept whole,
    # so run_bounds may still reach back to its start, which is safe (it is all there).
    lo_us = max(lo_us, tx.floor_us)
    if hi_us <= lo_us:
        return
    agent = agent_id_for(hostname)
    tx.hold_spans(agent)
    lo, hi = tx.run_bounds(agent, lo_us // 1000 - GAP_MS, -(-hi_us // 1000) + GAP_MS)
    events = tx.host_events(hostname, PROJECTED_TYPES, (lo - GAP_MS) * 1000, (hi + GAP_MS) * 1000)
    tx.replace_spans(agent, lo, hi, project(events, lo, hi))


def _reproject(tx: AwTables, *, hostname: str, lo_us: int, hi_us: int) -> None:
    reproject(tx, hostname, lo_us, hi_us)


def _bucket(tx: AwTables, bucket_id: str) -> AwBucket:
    bucket = tx.bucket(bucket_id)
    if bucket is None:
        raise no_such_bucket(bucket_id)
    return bucket


@dataclass(frozen=True, slots=True)
class Presence:
    """What the dashboard is told about one computer after a change."""

    hostname: str
    clients: list[str]
    current: Span | None


@dataclass
class Outcome:
    """What a change did: spans still to recompute (``later``), what to show,
    and whether it came from a watcher (``alive``: the computer is online)."""

    touched: Touched
    later: list[tuple[str, int, int]] = field(default_factory=list)
    presence: list[Presence] = field(default_factory=list)
    alive: bool = True


def finish(tx: AwTables, touched: Touched) -> Outcome:
    """Recompute the spans of short changes now (in this transaction); leave long
    ones (a deleted bucket, an import) to ``reproject_later``, a day at a time."""
    outcome = Outcome(touched)
    for host, (lo, hi) in touched.ranges.items():
        if hi - lo <= DAY_MS * 1000:
            reproject(tx, host, lo, hi)
        else:
            outcome.later.append((host, lo, hi))
    for host in sorted(touched.hosts):
        outcome.presence.append(
            Presence(host, tx.host_clients(host), tx.last_span(agent_id_for(host)))
        )
    return outcome


async def reproject_later(store: AwStore, later: Iterable[tuple[str, int, int]]) -> None:
    for host, lo, hi in later:
        start = lo
        while start < hi:
            end = min(hi, start + DAY_MS * 1000)
            await store.aw_transaction(
                functools.partial(_reproject, hostname=host, lo_us=start, hi_us=end), write=True
            )
            start = end


def do_heartbeat(
    tx: AwTables, bucket_id: str, heartbeat: AwEvent, pulsetime_us: int
) -> tuple[AwEvent, Outcome]:
    bucket = _bucket(tx, bucket_id)
    touched = Touched()
    touched.hosts.add(bucket.hostname)
    last = tx.event(bucket_id, bucket.last_event_id) if bucket.last_event_id is not None else None
    if last is None:
        last = tx.newest_event(bucket_id)
    if last is not None:
        merged = heartbeat_merge(last, heartbeat, pulsetime_us)
        if merged is not None:
            if merged.duration_us != last.duration_us:
                tx.update_event(bucket_id, merged)
                touched.add(bucket, last.end_us, merged.end_us)
            if bucket.last_event_id != merged.id:
                tx.set_last_event(bucket_id, merged.id)
            return merged, finish(tx, touched)
    inserted = replace(heartbeat, id=tx.insert_event(bucket_id, heartbeat))
    tx.set_last_event(bucket_id, inserted.id)
    touched.add_event(bucket, inserted)
    return inserted, finish(tx, touched)


def do_insert(tx: AwTables, bucket_id: str, events: Sequence[AwEvent]) -> Outcome:
    """aw-server's insert: events with an id replace that event (one that does
    not exist is dropped, as peewee's save() does), the rest are added in order."""
    bucket = _bucket(tx, bucket_id)
    touched = Touched()
    touched.hosts.add(bucket.hostname)
    for event in events:
        if event.id is None:
            continue
        old = tx.event(bucket_id, event.id)
        if old is None:
            continue
        tx.update_event(bucket_id, event)
        touched.add_event(bucket, old)
        touched.add_event(bucket, event)
    for event in events:
        if event.id is None:
            tx.insert_event(bucket_id, event)
            touched.add_event(bucket, event)
    return finish(tx, touched)


def do_delete_event(tx: AwTables, bucket_id: str, event_id: int) -> tuple[int, Outcome]:
    bucket = _bucket(tx, bucket_id)
    touched = Touched()
    old = tx.event(bucket_id, event_id)
    deleted = tx.delete_event(bucket_id, event_id)
    if old is not None:
        touched.add_event(bucket, old)
        if bucket.last_event_id == event_id:
            tx.set_last_event(bucket_id, None)
    outcome = finish(tx, touched)
    outcome.alive = False
    return deleted, outcome


def do_delete_bucket(tx: AwTables, bucket_id: str) -> Outcome:
    bucket = _bucket(tx, bucket_id)
    touched = Touched()
    extent = tx.delete_bucket(bucket_id)
    touched.hosts.add(bucket.hostname)
    if extent is not None:
        touched.add(bucket, extent[0], extent[1])
    outcome = finish(tx, touched)
    outcome.alive = False
    return outcome


def do_create_bucket(tx: AwTables, bucket: AwBucket) -> tuple[bool, Outcome]:
    touched = Touched()
    if tx.bucket(bucket.id) is not None or not tx.create_bucket(bucket):
        return False, Outcome(touched)
    touched.hosts.add(bucket.hostname)
    return True, finish(tx, touched)


# -- HTTP --------------------------------------------------------------------------------


class EventOut(msgspec.Struct):
    id: int
    timestamp: str
    duration: float
    data: msgspec.Raw


class ExportEventOut(msgspec.Struct):
    timestamp: str
    duration: float
    data: msgspec.Raw


class BucketOut(msgspec.Struct):
    id: str
    created: str
    name: str | None
    type: str
    client: str
    hostname: str
    data: msgspec.Raw
    last_updated: str | msgspec.UnsetType = msgspec.UNSET


class BucketExportOut(msgspec.Struct):
    id: str
    created: str
    name: str | None
    type: str
    client: str
    hostname: str
    data: msgspec.Raw
    events: list[ExportEventOut]


class InfoOut(msgspec.Struct):
    hostname: str
    version: str
    testing: bool
    device_id: str


_encoder = msgspec.json.Encoder()


def _raw(data: dict[str, Any]) -> msgspec.Raw:
    return msgspec.Raw(_encoder.encode(data))


def event_out(event: AwEvent) -> EventOut:
    assert event.id is not None
    return EventOut(event.id, iso(event.ts_us), seconds(event.duration_us), _raw(event.data))


def bucket_out(
    bucket: AwBucket, last_updated: str | msgspec.UnsetType = msgspec.UNSET
) -> BucketOut:
    return BucketOut(
        id=bucket.id,
        created=iso(bucket.created_us),
        name=bucket.name,
        type=bucket.type,
        client=bucket.client,
        hostname=bucket.hostname,
        data=_raw(bucket.data),
        last_updated=last_updated,
    )


def export_out(tx: AwTables, bucket: AwBucket) -> BucketExportOut:
    events = tx.events(bucket.id, -1, None, None)
    return BucketExportOut(
        id=bucket.id,
        created=iso(bucket.created_us),
        name=bucket.name,
        type=bucket.type,
        client=bucket.client,
        hostname=bucket.hostname,
        data=_raw(bucket.data),
        events=[ExportEventOut(iso(e.ts_us), seconds(e.duration_us), _raw(e.data)) for e in events],
    )


def trim(events: list[AwEvent], start_us: int | None, end_us: int | None) -> list[AwEvent]:
    """aw-server cuts the events it returns to the range asked for."""
    out = []
    for e in events:
        if start_us is not None and e.ts_us < start_us:
            e = AwEvent(start_us, e.end_us - start_us, e.data, e.id)
        if end_us is not None and e.end_us > end_us:
            e = AwEvent(e.ts_us, end_us - e.ts_us, e.data, e.id)
        out.append(e)
    return out


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=_encoder.encode(body), status=status, content_type="application/json", headers=headers
    )


def _error(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, streamed (aiohttp's own limit is 1 MiB)."""
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise AwError(413, f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    try:
        return _json_decode(body)
    except msgspec.DecodeError as exc:
        raise AwError(400, f"the request body is not JSON: {exc}") from None


def _cors_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    if origin is not None and origin.startswith(EXTENSION_ORIGINS):
        return origin
    return None


class AwApi:
    """The /api/0/ routes of one server process."""

    def __init__(self, server: Server, *, offline_after: float = OFFLINE_AFTER) -> None:
        self.server = server
        self.offline_after_ms = int(offline_after * 1000)
        self._store: AwStore | None = None
        self._own: OwnAwStore | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._device_id: str | None = None  # made once, kept in the store

    # -- life cycle

    async def startup(self, app: web.Application) -> None:
        store = self.server.store
        if isinstance(store, AwStore):
            self._store = store
        else:
            own = aw_store_for(store)
            if own is None:
                log.error(
                    "the ActivityWatch API needs a store with aw_transaction(); %s has none, "
                    "so /api/0/ answers 501",
                    type(store).__name__,
                )
                return
            await own.open()
            if self.server.settings.retention_days:
                own.floor_us = self.floor_us
            self._own = own
            self._store = own
            self.server.retention.prune_also(self.prune)
        self._sweeper = asyncio.create_task(self._sweep())

    async def shutdown(self, app: web.Application) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def cleanup(self, app: web.Application) -> None:
        if self._own is not None:
            await self._own.close()

    @property
    def store(self) -> AwStore:
        if self._store is None:
            raise AwError(501, "the ActivityWatch API is not available on this store")
        return self._store

    def now_us(self) -> int:
        return int(self.server.clock() * 1_000_000)

    # -- retention

    def floor_us(self) -> int:
        """Raw activity before this instant is no longer kept (retention_days)."""
        days = self.server.settings.retention_days
        if not days:
            return NO_FLOOR
        return horizon_ms(self.server.now_ms(), days) * 1000

    def check_floor(self, events: Iterable[tuple[str, AwEvent]]) -> None:
        """Refuse to change time whose raw activity is no longer kept: its totals are
        final (in the rollups), and recomputing it would count it twice."""
        floor = self.floor_us()
        for where, event in events:
            if event.end_us <= floor:
                raise AwError(
                    400,
                    f"{where} ends at {iso(event.end_us)}, before {iso(floor)}: this server "
                    f"keeps raw activity for {self.server.settings.retention_days} days "
                    "(retention_days), and time before then cannot be changed",
                )

    async def prune(self, before_ms: int) -> int:
        """Retention: ActivityWatch's raw events go with the spans (Retention.prune_also)."""
        return await self.store.aw_transaction(
            lambda tx: tx.prune_events(before_ms * 1000), write=True
        )

    # -- presence

    async def _after(self, outcome: Outcome) -> None:
        if outcome.later:
            await reproject_later(self.store, outcome.later)
            hosts = {h for h, _, _ in outcome.later}
            outcome.presence = await self.store.aw_transaction(
                lambda tx: [
                    Presence(h, tx.host_clients(h), tx.last_span(agent_id_for(h)))
                    for h in sorted(hosts)
                ],
                write=False,
            ) + [p for p in outcome.presence if p.hostname not in hosts]
        now_ms = self.server.now_ms()
        for p in outcome.presence:
            shown = self.server.hub.view(agent_id_for(p.hostname))
            if outcome.alive:
                info = agent_info(p.hostname, p.clients, online=True, seen_ms=now_ms)
            else:  # an edit through the API says nothing about the computer
                online = shown is not None and shown.online
                seen = shown.last_seen_ms if shown is not None else now_ms
                info = agent_info(p.hostname, p.clients, online=online, seen_ms=seen)
            self.server.agents.save(info)
            view = AgentView.of(info, p.current)
            if (
                shown is None
                or not shown.online
                or shown.name != view.name
                or shown.version != view.version
                or _changed(shown, view)
            ):
                await self.server.agents.publish(view)

    async def _sweep(self) -> None:
        """Mark ActivityWatch agents offline once they have been silent for long
        enough (they have no connection whose end would say so)."""
        failures = FailureLog("marking silent ActivityWatch agents offline", log)
        while True:
            await asyncio.sleep(min(10.0, max(0.1, self.offline_after_ms / 4000)))
            await failures.attempt(self.sweep_once)

    async def sweep_once(self) -> None:
        now_ms = self.server.now_ms()
        for status in stale_agents(await self.server.store.agents(), now_ms, self.offline_after_ms):
            info = replace(status.info, online=False)
            self.server.agents.save(info)
            await self.server.agents.publish(AgentView.of(info, status.current))

    # -- routes

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/0/info", self._wrap(self.info))
        r.add_get("/api/0/buckets/", self._wrap(self.buckets))
        r.add_get("/api/0/buckets", self._wrap(self.buckets))
        bucket = "/api/0/buckets/{bucket_id}"
        r.add_get(bucket, self._wrap(self.get_bucket))
        r.add_post(bucket, self._wrap(self.create_bucket))
        r.add_delete(bucket, self._wrap(self.delete_bucket))
        r.add_get(bucket + "/events", self._wrap(self.get_events))
        r.add_post(bucket + "/events", self._wrap(self.post_events))
        r.add_get(bucket + "/events/count", self._wrap(self.count_events))
        r.add_get(bucket + "/events/{event_id:\\d+}", self._wrap(self.get_event))
        r.add_delete(bucket + "/events/{event_id:\\d+}", self._wrap(self.delete_event))
        r.add_post(bucket + "/heartbeat", self._wrap(self.heartbeat))
        r.add_get(bucket + "/export", self._wrap(self.export_bucket))
        r.add_get("/api/0/export", self._wrap(self.export_all))
        r.add_post("/api/0/import", self._wrap(self.import_all))
        r.add_route("OPTIONS", "/api/0/{tail:.*}", self.preflight)
        app.on_startup.append(self.startup)
        app.on_shutdown.append(self.shutdown)
        app.on_cleanup.append(self.cleanup)

    def _wrap(self, handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                if request.method != "GET" and self.server.auth_mode == "required":
                    # ActivityWatch's clients have no credential to present (its API key
                    # is not one): a server that admits enrolled agents only takes no
                    # writes from them.
                    raise AwError(
                        403,
                        "this server admits enrolled officepulse agents only (agent_auth = "
                        "required); the ActivityWatch API takes no writes here",
                    )
                response: web.StreamResponse = await handler(request)
            except AwError as exc:
                response = _error(exc.status, exc.message)
            origin = _cors_origin(request)
            if origin is not None:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Vary"] = "Origin"
            return response

        return run

    async def preflight(self, request: web.Request) -> web.Response:
        origin = _cors_origin(request)
        if origin is None:
            return web.Response(status=403, text="origin not allowed")
        return web.Response(
            status=200,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
                "Access-Control-Allow-Headers": request.headers.get(
                    "Access-Control-Request-Headers", "Content-Type"
                ),
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            },
        )

    async def info(self, request: web.Request) -> web.Response:
        if self._device_id is None:
            self._device_id = await self.store.aw_transaction(
                lambda tx: tx.meta("device_id", str(uuid.uuid4())), write=True
            )
        device_id = self._device_id
        return json_response(
            InfoOut(
                hostname=socket.gethostname(),
                version=f"officepulse {__version__}",
                testing=False,
                device_id=device_id,
            )
        )

    async def buckets(self, request: web.Request) -> web.Response:
        def read(tx: AwTables) -> dict[str, BucketOut]:
            out = {}
            for b in tx.buckets():
                newest = tx.newest_event(b.id)
                last = iso(newest.end_us) if newest is not None else msgspec.UNSET
                out[b.id] = bucket_out(b, last)
            return out

        return json_response(await self.store.aw_transaction(read, write=False))

    async def get_bucket(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        bucket = await self.store.aw_transaction(lambda tx: _bucket(tx, bucket_id), write=False)
        return json_response(bucket_out(bucket))

    async def create_bucket(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        body = decode_json(await read_body(request, MAX_BODY_BYTES))
        if not isinstance(body, dict):
            raise AwError(400, "expected a bucket object with client, type and hostname")
        fields: dict[str, str] = {}
        for name in ("client", "type", "hostname"):
            value = body.get(name)
            if not isinstance(value, str):
                raise AwError(400, f"'{name}' is a required property (a string)")
            fields[name] = value
        bucket = AwBucket(
            id=bucket_id,
            type=fields["type"],
            client=fields["client"],
            hostname=fields["hostname"],
            created_us=self.now_us(),
        )
        created, outcome = await self.store.aw_transaction(
            lambda tx: do_create_bucket(tx, bucket), write=True
        )
        if not created:
            return web.Response(status=304)
        await self._after(outcome)
        return json_response({})

    async def delete_bucket(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        if request.query.get("force") != "1":
            raise AwError(
                401,
                "Deleting buckets is only permitted if aw-server is running in testing mode "
                "or if ?force=1",
            )
        outcome = await self.store.aw_transaction(
            lambda tx: do_delete_bucket(tx, bucket_id), write=True
        )
        await self._after(outcome)
        return json_response({})

    def _range(self, request: web.Request) -> tuple[int | None, int | None]:
        q = request.query
        start = parse_instant(q["start"], "start") if "start" in q else None
        end = parse_instant(q["end"], "end") if "end" in q else None
        return start, end

    async def get_events(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        raw_limit = request.query.get("limit")
        try:
            limit = int(raw_limit) if raw_limit is not None else -1
        except ValueError:
            raise AwError(400, f"'limit' must be an integer, not {raw_limit!r}") from None
        start, end = self._range(request)
        # As aw-datastore's Bucket.get: start down to the millisecond, end up to the next one.
        if start is not None:
            start -= start % 1000
        if end is not None:
            end = end - end % 1000 + 1000

        def read(tx: AwTables) -> list[AwEvent]:
            _bucket(tx, bucket_id)
            return [] if limit == 0 else tx.events(bucket_id, limit, start, end)

        events = trim(await self.store.aw_transaction(read, write=False), start, end)
        return json_response([event_out(e) for e in events])

    async def count_events(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        start, end = self._range(request)

        def read(tx: AwTables) -> int:
            _bucket(tx, bucket_id)
            return tx.count_events(bucket_id, start, end)

        return json_response(await self.store.aw_transaction(read, write=False))

    async def get_event(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        event_id = int(request.match_info["event_id"])

        def read(tx: AwTables) -> AwEvent | None:
            _bucket(tx, bucket_id)
            return tx.event(bucket_id, event_id)

        event = await self.store.aw_transaction(read, write=False)
        if event is None:
            return json_response(None, 404)
        return json_response(event_out(event))

    async def delete_event(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        event_id = int(request.match_info["event_id"])
        deleted, outcome = await self.store.aw_transaction(
            lambda tx: do_delete_event(tx, bucket_id, event_id), write=True
        )
        await self._after(outcome)
        return json_response({"success": deleted})

    async def post_events(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        body = decode_json(await read_body(request, MAX_BODY_BYTES))
        now = self.now_us()
        if isinstance(body, dict):
            events = [parse_event(body, "event", now_us=now, timestamp_required=False)]
        elif isinstance(body, list):
            events = [
                parse_event(e, f"event {n}", now_us=now, timestamp_required=False)
                for n, e in enumerate(body)
            ]
        else:
            raise AwError(400, "Invalid POST data: expected an event or a list of events")
        check_plausible(((f"event {n}", e) for n, e in enumerate(events)), now)
        self.check_floor((f"event {n}", e) for n, e in enumerate(events))
        outcome = await self.store.aw_transaction(
            lambda tx: do_insert(tx, bucket_id, events), write=True
        )
        await self._after(outcome)
        return json_response(None)

    async def heartbeat(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        body = decode_json(await read_body(request, MAX_BODY_BYTES))
        now = self.now_us()
        event = parse_event(body, "heartbeat", now_us=now, timestamp_required=True)
        event = replace(event, id=None)
        check_plausible([("the heartbeat", event)], now)
        raw_pulse = request.query.get("pulsetime")
        if raw_pulse is None:
            raise AwError(400, "Missing required parameter pulsetime")
        try:
            pulsetime = float(raw_pulse)
        except ValueError:
            raise AwError(400, f"'pulsetime' must be a number, not {raw_pulse!r}") from None
        pulsetime_us = parse_duration(pulsetime, "pulsetime")
        self.check_floor([("the heartbeat", event)])
        result, outcome = await self.store.aw_transaction(
            lambda tx: do_heartbeat(tx, bucket_id, event, pulsetime_us), write=True
        )
        await self._after(outcome)
        return json_response(event_out(result))

    async def export_bucket(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        out = await self.store.aw_transaction(
            lambda tx: export_out(tx, _bucket(tx, bucket_id)), write=False
        )
        return json_response(
            {"buckets": {bucket_id: out}},
            headers={
                "Content-Disposition": f"attachment; filename=aw-bucket-export_{bucket_id}.json"
            },
        )

    async def export_all(self, request: web.Request) -> web.Response:
        out = await self.store.aw_transaction(
            lambda tx: {b.id: export_out(tx, b) for b in tx.buckets()}, write=False
        )
        return json_response(
            {"buckets": out},
            headers={"Content-Disposition": "attachment; filename=aw-buckets-export.json"},
        )

    async def import_all(self, request: web.Request) -> web.Response:
        from officepulse.aw_import import import_buckets, parse_export

        payloads: list[Any] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                chunks, size = [], 0
                while chunk := await part.read_chunk():
                    size += len(chunk)
                    if size > MAX_IMPORT_BYTES:
                        raise AwError(413, f"the file is larger than {MAX_IMPORT_BYTES} bytes")
                    chunks.append(chunk)
                payloads.append(decode_json(b"".join(chunks)))
        else:
            payloads.append(decode_json(await read_body(request, MAX_IMPORT_BYTES)))
        for payload in payloads:
            buckets = parse_export(payload, now_us=self.now_us())
            self.check_floor(
                (f"event {n} of bucket {b.bucket.id!r}", e)
                for b in buckets
                for n, e in enumerate(b.events)
            )
            _, views = await import_buckets(
                self.store,
                buckets,
                now_ms=self.server.now_ms(),
                save_agent=self.server.agents.save,
            )
            for view in views:
                await self.server.agents.publish(view)
        return json_response(None)


def _changed(shown: AgentView, view: AgentView) -> bool:
    a, b = shown.current, view.current
    if a is None or b is None:
        return a is not b
    return a.start_ms != b.start_ms or a.activity != b.activity


def stale_agents(statuses: Iterable[AgentStatus], now_ms: int, after_ms: int) -> list[AgentStatus]:
    """ActivityWatch agents still marked online but silent for longer than ``after_ms``."""
    return [
        s
        for s in statuses
        if s.info.platform == AW_PLATFORM
        and s.info.online
        and now_ms - s.info.last_seen_ms > after_ms
    ]


AW_API = web.AppKey("officepulse_aw_api", AwApi)


def add_routes(
    app: web.Application, server: Server, *, offline_after: float = OFFLINE_AFTER
) -> AwApi:
    """Serve ActivityWatch's REST API under /api/0/ on ``server``'s store. The
    AwApi is also ``app[AW_API]``."""
    api = AwApi(server, offline_after=offline_after)
    api.add_routes(app)
    app[AW_API] = api
    return api
