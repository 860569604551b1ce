"""What ``/api/0/`` answers, as aw-server 0.12 writes it: events, buckets and exports."""

from __future__ import annotations

from typing import Any

import msgspec

from officepulse.activitywatch.model import AwBucket, AwEvent, iso, seconds
from officepulse.activitywatch.tables import AwTables


class EventOut(msgspec.Struct):
    id: int
    timestamp: str
    duration: float
    data: msgspec.Raw


class ExportEventOut(msgspec.Struct):
    timestamp: str
    duration: float
    data: msgspec.Raw


class BucketFields(msgspec.Struct):
    """A bucket as aw-server writes it, before what each answer adds."""

    id: str
    created: str
    name: str | None
    type: str
    client: str
    hostname: str
    data: msgspec.Raw


class BucketOut(BucketFields):
    last_updated: str | msgspec.UnsetType = msgspec.UNSET


class BucketExportOut(BucketFields):
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


def _bucket_fields(bucket: AwBucket) -> dict[str, Any]:
    return {
        "id": bucket.id,
        "created": iso(bucket.created_us),
        "name": bucket.name,
        "type": bucket.type,
        "client": bucket.client,
        "hostname": bucket.hostname,
        "data": _raw(bucket.data),
    }


def bucket_out(
    bucket: AwBucket, last_updated: str | msgspec.UnsetType = msgspec.UNSET
) -> BucketOut:
    return BucketOut(**_bucket_fields(bucket), last_updated=last_updated)


def export_out(tx: AwTables, bucket: AwBucket) -> BucketExportOut:
    events = tx.events(bucket.id, -1, None, None)
    return BucketExportOut(
        **_bucket_fields(bucket),
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
