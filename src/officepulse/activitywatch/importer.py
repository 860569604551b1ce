"""Import an ActivityWatch export into officepulse.

An export is what aw-server's ``GET /api/0/export`` (or the web UI's "Export
all buckets as JSON") writes: ``{"buckets": {id: {id, type, client, hostname,
created, ..., "events": [...]}}}``. Its buckets and events go into the
ActivityWatch tables exactly as ``POST /api/0/import`` would put them, and
become the spans of the agents ``aw-<hostname>`` (the package's docstring says how).

Importing is idempotent: an event already there (same bucket, timestamp and
data) is not added again, only lengthened if the file has it longer (a later
export of a bucket that was still being written). So importing the same file
twice, or two overlapping exports, counts every moment once.

``officepulse import-aw FILE`` (cli/import_aw.py) runs ``import_file``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import msgspec

from officepulse.activitywatch.model import (
    AwBucket,
    AwError,
    AwEvent,
    agent_id_for,
    agent_info,
    check_plausible,
    parse_event,
    parse_instant,
)
from officepulse.activitywatch.operations import Touched, do_create_bucket, reproject_later
from officepulse.activitywatch.stores import aw_store_for
from officepulse.activitywatch.tables import AwStore, AwTables
from officepulse.bus.presence import AgentView
from officepulse.core.spans import Span
from officepulse.gateway.agents import Agents
from officepulse.store import store_from_url
from officepulse.store.base import AgentInfo

IMPORT_BATCH = 2_000  # events per transaction


@dataclass(frozen=True, slots=True)
class ImportBucket:
    bucket: AwBucket
    events: list[AwEvent]


@dataclass
class ImportReport:
    buckets_created: int = 0
    buckets_kept: int = 0
    events_added: int = 0
    events_extended: int = 0
    events_present: int = 0
    agents: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        return (
            f"{self.buckets_created} bucket(s) created, {self.buckets_kept} already there; "
            f"{self.events_added} event(s) added, {self.events_extended} lengthened, "
            f"{self.events_present} already there; agents: "
            f"{', '.join(sorted(self.agents)) or 'none'}"
        )


def parse_export(payload: object, *, now_us: int) -> list[ImportBucket]:
    """The buckets of an ActivityWatch export. ``{"buckets": {id: bucket}}`` is
    what aw-server and aw-server-rust write; a list of buckets is taken too.
    Event ids in the file are the exporter's and are dropped (as aw-server does)."""
    if not isinstance(payload, dict) or "buckets" not in payload:
        raise AwError(400, "not an ActivityWatch export: expected an object with 'buckets'")
    raw = payload["buckets"]
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = [(b.get("id") if isinstance(b, dict) else None, b) for b in raw]
    else:
        raise AwError(400, "'buckets' must be an object of buckets by id")
    result: list[ImportBucket] = []
    for key, body in items:
        where = f"bucket {key!r}"
        if not isinstance(body, dict):
            raise AwError(400, f"{where}: expected an object")
        bucket_id = body.get("id", key)
        if not isinstance(bucket_id, str) or not bucket_id:
            raise AwError(400, f"{where}: 'id' must be a non-empty string")
        texts: dict[str, str] = {}
        for name in ("type", "client", "hostname"):
            value = body.get(name)
            if not isinstance(value, str):
                raise AwError(400, f"{where}: '{name}' must be a string")
            texts[name] = value
        created = body.get("created")
        created_us = parse_instant(created, f"{where}.created") if created is not None else now_us
        events_raw = body.get("events", [])
        if not isinstance(events_raw, list):
            raise AwError(400, f"{where}: 'events' must be a list")
        events = [
            replace(
                parse_event(
                    raw_event, f"{where} event {n}", now_us=now_us, timestamp_required=True
                ),
                id=None,
            )
            for n, raw_event in enumerate(events_raw)
        ]
        check_plausible(((f"{where} event {n}", e) for n, e in enumerate(events)), now_us)
        bucket = AwBucket(
            id=bucket_id,
            type=texts["type"],
            client=texts["client"],
            hostname=texts["hostname"],
            created_us=created_us,
        )
        result.append(ImportBucket(bucket, events))
    return result


def _bucket_or_fail(tx: AwTables, bucket_id: str) -> AwBucket:
    bucket = tx.bucket(bucket_id)
    assert bucket is not None
    return bucket


def _created(tx: AwTables, bucket: AwBucket) -> bool:
    return do_create_bucket(tx, bucket)[0]


def _add_events(
    tx: AwTables, bucket: AwBucket, events: Sequence[AwEvent], report: ImportReport
) -> Touched:
    """Add the events that are not there yet; lengthen those the file has longer."""
    touched = Touched()
    for event in events:
        same = next((e for e in tx.events_at(bucket.id, event.ts_us) if e.data == event.data), None)
        if same is None:
            tx.insert_event(bucket.id, event)
            touched.add_event(bucket, event)
            report.events_added += 1
        elif event.duration_us > same.duration_us:
            tx.update_event(bucket.id, replace(same, duration_us=event.duration_us))
            touched.add(bucket, same.end_us, event.end_us)
            report.events_extended += 1
        else:
            report.events_present += 1
    return touched


def _new_agents(tx: AwTables, agents: set[str], now_ms: int) -> list[tuple[AgentInfo, Span | None]]:
    hosts = sorted({b.hostname for b in tx.buckets() if agent_id_for(b.hostname) in agents})
    found = []
    for host in hosts:
        agent = agent_id_for(host)
        if tx.agent_exists(agent):
            continue
        last = tx.last_span(agent)
        seen = last.end_ms if last is not None else now_ms
        found.append((agent_info(host, tx.host_clients(host), online=False, seen_ms=seen), last))
    return found


async def import_buckets(
    store: AwStore,
    buckets: Sequence[ImportBucket],
    *,
    now_ms: int,
    save_agent: Callable[[AgentInfo], None],
) -> tuple[ImportReport, list[AgentView]]:
    """Import buckets, idempotently. A bucket that exists keeps its metadata and
    gains the events it lacks (aw-server would refuse the whole import). Agents
    new to officepulse are saved offline, last seen at the end of their last
    span; their views are returned for the dashboard."""
    report = ImportReport()
    ranges: dict[str, tuple[int, int]] = {}
    for item in buckets:
        if await store.aw_transaction(functools.partial(_created, bucket=item.bucket), write=True):
            report.buckets_created += 1
        else:
            report.buckets_kept += 1
        bucket = await store.aw_transaction(
            functools.partial(_bucket_or_fail, bucket_id=item.bucket.id), write=False
        )
        for n in range(0, len(item.events), IMPORT_BATCH):
            touched = await store.aw_transaction(
                functools.partial(
                    _add_events,
                    bucket=bucket,
                    events=item.events[n : n + IMPORT_BATCH],
                    report=report,
                ),
                write=True,
            )
            for host, (lo, hi) in touched.ranges.items():
                old = ranges.get(host)
                ranges[host] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
        report.agents.add(agent_id_for(bucket.hostname))
    await reproject_later(store, [(h, lo, hi) for h, (lo, hi) in sorted(ranges.items())])
    views = []
    new = await store.aw_transaction(
        functools.partial(_new_agents, agents=report.agents, now_ms=now_ms), write=False
    )
    for info, last in new:
        save_agent(info)
        views.append(AgentView.of(info, last))
    return report, views


def read_export(path: Path) -> object:
    try:
        return msgspec.json.decode(path.read_bytes())
    except OSError as exc:
        raise AwError(400, f"cannot read {path}: {exc.strerror}") from None
    except msgspec.DecodeError as exc:
        raise AwError(400, f"{path} is not JSON: {exc}") from None


async def import_file(path: Path, database: str | Path) -> ImportReport:
    """Import the export at ``path`` into the officepulse database ``database``, a
    SQLite file or a postgresql:// URL (a running server may be using it: writers
    take turns)."""
    now = time.time()
    buckets = parse_export(read_export(path), now_us=int(now * 1_000_000))
    store = store_from_url(str(database))
    await store.open()  # makes the officepulse tables, or brings them up to date
    try:
        aw = aw_store_for(store)
        if aw is None:
            raise AwError(400, f"cannot import into {type(store).__name__}")
        await aw.open()
        try:
            report, _ = await import_buckets(
                aw, buckets, now_ms=int(now * 1000), save_agent=Agents(store, None).save
            )
        finally:
            await aw.close()
    finally:
        await store.close()
    return report
