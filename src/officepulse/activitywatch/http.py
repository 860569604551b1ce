"""ActivityWatch's REST API (``/api/0/``) on officepulse's store: the routes
aw-server 0.12 serves to watchers, ``aw-client`` and the aw-watcher-web extension,
each change one transaction (operations.py), then the computer's agent saved and
shown on the dashboard. Given what it needs, not the server: the officepulse store's
agents, the bus, the dashboards' view of an agent, the clock and retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol

import msgspec
from aiohttp import BodyPartReader, web

from officepulse import __version__
from officepulse.activitywatch.answers import (
    BucketOut,
    InfoOut,
    bucket_out,
    event_out,
    export_out,
    trim,
)
from officepulse.activitywatch.importer import import_buckets, parse_export
from officepulse.activitywatch.model import (
    AwBucket,
    AwError,
    AwEvent,
    agent_id_for,
    agent_info,
    check_plausible,
    iso,
    parse_duration,
    parse_event,
    parse_instant,
)
from officepulse.activitywatch.operations import (
    Outcome,
    Presence,
    do_create_bucket,
    do_delete_bucket,
    do_delete_event,
    do_heartbeat,
    do_insert,
    existing_bucket,
    reproject_later,
)
from officepulse.activitywatch.stores import aw_store_for
from officepulse.activitywatch.tables import NO_FLOOR, AwStore, AwTables, OwnAwStore
from officepulse.bus.presence import AgentView
from officepulse.security.guard import EXTENSION_ORIGINS
from officepulse.store.aw_erase import AW_PLATFORM
from officepulse.store.base import AgentInfo, AgentStatus
from officepulse.store.failures import FailureLog

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Prune = Callable[[int], Awaitable[int]]

# An ActivityWatch agent counts as offline this long after its last request:
# aw-client sends at least every commit_interval (10 s), aw-watcher-web every 60 s.
OFFLINE_AFTER = 180.0
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_IMPORT_BYTES = 256 * 1024 * 1024


class Agents(Protocol):
    """What the API reads of the officepulse store: its agents (``Store`` provides it)."""

    async def agents(self) -> list[AgentStatus]: ...


class AgentOwner(Protocol):
    """The one owner of agent state (gateway/agents.py's ``Agents``): it alone saves an
    agent's row and publishes its presence."""

    def save(self, info: AgentInfo) -> None: ...

    async def publish(self, view: AgentView) -> None: ...


class Retention(Protocol):
    """What the API needs of retention (server/retention.py's ``Retention`` provides it)."""

    days: int

    def horizon_ms(self) -> int:
        """The instant before which raw activity is no longer kept now."""
        ...

    def prune_also(self, prune: Prune) -> None: ...


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
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise AwError(400, f"the request body is not JSON: {exc}") from None


def _cors_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    if origin is not None and origin.startswith(EXTENSION_ORIGINS):
        return origin
    return None


class AwApi:
    """The /api/0/ routes of one server process, on ``officepulse``'s database (its
    agents; the ActivityWatch tables beside them, see ``aw_store_for``). ``view`` is an
    agent as the dashboards show it now; ``read_only``: a server that admits enrolled
    agents only (``agent_auth = required``) takes no writes through this API."""

    def __init__(
        self,
        officepulse: Agents,
        owner: AgentOwner,
        retention: Retention,
        *,
        view: Callable[[str], AgentView | None],
        clock: Callable[[], float],
        read_only: bool,
        offline_after: float = OFFLINE_AFTER,
    ) -> None:
        self.officepulse = officepulse
        self.owner = owner
        self.retention = retention
        self.view = view
        self.clock = clock
        self.read_only = read_only
        self.offline_after_ms = int(offline_after * 1000)
        self._store: AwStore | None = None
        self._own: OwnAwStore | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._device_id: str | None = None  # made once, kept in the store

    # -- life cycle

    async def startup(self, app: web.Application) -> None:
        store = self.officepulse
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
            if self.retention.days:
                own.floor_us = self.floor_us
            self._own = own
            self._store = own
            self.retention.prune_also(self.prune)
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
        return int(self.clock() * 1_000_000)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- retention

    def floor_us(self) -> int:
        """Raw activity before this instant is no longer kept (retention_days)."""
        if not self.retention.days:
            return NO_FLOOR
        return self.retention.horizon_ms() * 1000

    def check_floor(self, events: Iterable[tuple[str, AwEvent]]) -> None:
        """Refuse to change time whose raw activity is no longer kept: its totals are
        final (in the rollups), and recomputing it would count it twice."""
        floor = self.floor_us()
        for where, event in events:
            if event.end_us <= floor:
                raise AwError(
                    400,
                    f"{where} ends at {iso(event.end_us)}, before {iso(floor)}: this server "
                    f"keeps raw activity for {self.retention.days} days "
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
        now_ms = self.now_ms()
        for p in outcome.presence:
            shown = self.view(agent_id_for(p.hostname))
            if outcome.alive:
                info = agent_info(p.hostname, p.clients, online=True, seen_ms=now_ms)
            else:  # an edit through the API says nothing about the computer
                online = shown is not None and shown.online
                seen = shown.last_seen_ms if shown is not None else now_ms
                info = agent_info(p.hostname, p.clients, online=online, seen_ms=seen)
            self.owner.save(info)
            view = AgentView.of(info, p.current)
            if (
                shown is None
                or not shown.online
                or shown.name != view.name
                or shown.version != view.version
                or _changed(shown, view)
            ):
                await self.owner.publish(view)

    async def _sweep(self) -> None:
        """Mark ActivityWatch agents offline once they have been silent for long
        enough (they have no connection whose end would say so)."""
        failures = FailureLog("marking silent ActivityWatch agents offline", log)
        while True:
            await asyncio.sleep(min(10.0, max(0.1, self.offline_after_ms / 4000)))
            await failures.attempt(self.sweep_once)

    async def sweep_once(self) -> None:
        now_ms = self.now_ms()
        for status in stale_agents(await self.officepulse.agents(), now_ms, self.offline_after_ms):
            info = replace(status.info, online=False)
            self.owner.save(info)
            await self.owner.publish(AgentView.of(info, status.current))

    # -- routes

    def add_routes(self, app: web.Application) -> None:
        """Serve the routes on ``app`` (this AwApi is also ``app[AW_API]``); its start-up
        needs the officepulse store open, so add them after the store's."""
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
        app[AW_API] = self

    def _wrap(self, handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                if request.method != "GET" and self.read_only:
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
        bucket = await self.store.aw_transaction(
            lambda tx: existing_bucket(tx, bucket_id), write=False
        )
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
            existing_bucket(tx, bucket_id)
            return [] if limit == 0 else tx.events(bucket_id, limit, start, end)

        events = trim(await self.store.aw_transaction(read, write=False), start, end)
        return json_response([event_out(e) for e in events])

    async def count_events(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        start, end = self._range(request)

        def read(tx: AwTables) -> int:
            existing_bucket(tx, bucket_id)
            return tx.count_events(bucket_id, start, end)

        return json_response(await self.store.aw_transaction(read, write=False))

    async def get_event(self, request: web.Request) -> web.Response:
        bucket_id = request.match_info["bucket_id"]
        event_id = int(request.match_info["event_id"])

        def read(tx: AwTables) -> AwEvent | None:
            existing_bucket(tx, bucket_id)
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
            lambda tx: export_out(tx, existing_bucket(tx, bucket_id)), write=False
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
                now_ms=self.now_ms(),
                save_agent=self.owner.save,
            )
            for view in views:
                await self.owner.publish(view)
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
