"""ActivityWatch's events and buckets as officepulse reads them: the kinds of events
that count, times as aw-core writes them, parsing (each bad field a 400 that names it),
aw-server's heartbeat merge rule, and the agent a computer becomes. Pure."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from officepulse.core.plausible import span_refusal
from officepulse.errors import OfficepulseError
from officepulse.store.aw_erase import AW_PLATFORM
from officepulse.store.base import AgentInfo

log = logging.getLogger(__name__)

WINDOW = "currentwindow"
AFK = "afkstatus"
WEB = "web.tab.current"
PROJECTED_TYPES = (WINDOW, AFK, WEB)

AW_TZ = "UTC"  # watchers do not say where they are

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


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
