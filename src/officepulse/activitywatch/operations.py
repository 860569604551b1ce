"""What the API does to the tables, each operation inside one transaction over
``AwTables``: change events as aw-server does, and recompute the spans of the time the
change touched (``reproject``), the same transaction for a short change and a day at a
time after it for a long one (``reproject_later``)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from officepulse.activitywatch.model import (
    PROJECTED_TYPES,
    AwBucket,
    AwEvent,
    agent_id_for,
    heartbeat_merge,
    no_such_bucket,
)
from officepulse.activitywatch.projection import GAP_MS, project
from officepulse.activitywatch.tables import AwStore, AwTables
from officepulse.core.spans import Span
from officepulse.store.base import DAY_MS


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


def existing_bucket(tx: AwTables, bucket_id: str) -> AwBucket:
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
    bucket = existing_bucket(tx, bucket_id)
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
    bucket = existing_bucket(tx, bucket_id)
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
    bucket = existing_bucket(tx, bucket_id)
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
    bucket = existing_bucket(tx, bucket_id)
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
