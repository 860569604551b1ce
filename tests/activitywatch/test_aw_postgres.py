"""ActivityWatch's API on PostgreSQL with several officepulse server processes sharing one
database (what SQLite's single file cannot show): heartbeats for one bucket that arrive at
different processes merge as one aw-server merges them, and a computer's spans are what
its events give, however the changes interleave."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from officepulse.activitywatch.model import (
    AFK,
    WEB,
    WINDOW,
    AwBucket,
    AwEvent,
    agent_id_for,
    parse_duration,
    parse_timestamp,
)
from officepulse.activitywatch.operations import do_create_bucket, do_heartbeat, do_insert
from officepulse.activitywatch.postgres import PostgresAwStore
from officepulse.activitywatch.projection import HostEvent, project
from officepulse.activitywatch.tables import AwTables
from officepulse.core.categories import Rule
from officepulse.store.categorising import recategorize_all
from officepulse.store.postgres import PostgresStore
from tests.support.aw import (
    T0,
    at,
    aw_server,
    events,
    needs_aw,
    officepulse,
    request,
    stored_spans,
    usage,
)
from tests.support.aw_heartbeats import post_all, random_beats, shape

pytest_plugins = ["tests.support.postgres"]

S = 1_000_000  # µs in a second


def fields(items: list[dict[str, Any]]) -> list[tuple[str, float, Any]]:
    return [(e["timestamp"], e["duration"], e["data"]) for e in items]


def projected(url: str, buckets: dict[str, str], host: str) -> list[tuple[Any, ...]]:
    """The spans officepulse should hold for ``host``: every event of its buckets (read
    back through the API) projected at once, in seconds from T0 as stored_spans gives."""
    every = [
        HostEvent(kind, bucket, "test", AwEvent(
            parse_timestamp(e["timestamp"], "t"), parse_duration(e["duration"], "d"),
            e["data"], e["id"]))
        for bucket, kind in buckets.items()
        for e in events(url, bucket)
    ]  # fmt: skip
    base = int(T0.timestamp() * 1000)
    day = 86_400_000
    return [
        ((s.start_ms - base) / 1000, (s.end_ms - base) / 1000, s.activity.app,
         s.activity.title, s.activity.url, s.activity.idle)
        for s in project(every, base - day, base + day)
    ]  # fmt: skip


@needs_aw
def test_two_servers_taking_turns_with_one_buckets_heartbeats_store_what_aw_server_does(
    tmp_path: Path, postgres_url: str
) -> None:
    beats = random_beats(20261130, 200)
    with (
        aw_server(tmp_path) as aw,
        officepulse(tmp_path, postgres_url) as one,
        officepulse(tmp_path, postgres_url) as two,
    ):
        theirs = post_all(aw.url, "shared", beats, "currentwindow")
        ours = post_all([one.url, two.url], "shared", beats, "currentwindow")
        assert shape(ours) == shape(theirs)
        want = fields(events(aw.url, "shared"))
        assert fields(events(one.url, "shared")) == want
        assert fields(events(two.url, "shared")) == want
        agent = agent_id_for("heartbeat-host")
        spans = stored_spans(postgres_url, agent, T0)
        assert spans == projected(one.url, {"shared": WINDOW}, "heartbeat-host")
        assert len({s[2] for s in spans}) == 3  # A, B and C all took turns in front
        assert usage(one.url, T0, agent) == usage(two.url, T0, agent)


def test_concurrent_changes_through_two_servers_lose_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    """Four senders at once: one window bucket's heartbeats through both servers (the
    same data, so that every order gives one event), and the same computer's AFK and
    browser buckets, one through each server."""
    host = "iris-laptop"
    buckets = {
        f"aw-watcher-window_{host}": WINDOW,
        f"aw-watcher-afk_{host}": AFK,
        f"aw-watcher-web-chrome_{host}": WEB,
    }
    with (
        officepulse(tmp_path, postgres_url) as one,
        officepulse(tmp_path, postgres_url) as two,
    ):
        for bucket, kind in buckets.items():
            meta = {"client": "test", "type": kind, "hostname": host}
            assert request("POST", f"{one.url}/api/0/buckets/{bucket}", meta)[0] == 200
        window, afk, web = buckets
        chrome = {"app": "Google-chrome", "title": "YouTube"}

        def beat(url: str, bucket: str, second: float, data: dict[str, Any], pulse: int) -> None:
            status, body, _ = request(
                "POST",
                f"{url}/api/0/buckets/{bucket}/heartbeat?pulsetime={pulse}",
                {"timestamp": at(T0, second), "data": data},
            )
            assert status == 200, body

        beat(one.url, window, 0, chrome, 1000)
        failures: list[BaseException] = []

        def run(url: str, bucket: str, plan: list[tuple[float, dict[str, Any], int]]) -> None:
            try:
                for second, data, pulse in plan:
                    beat(url, bucket, second, data, pulse)
            except BaseException as exc:
                failures.append(exc)

        cats = {"url": "https://c/", "title": "Cats", "audible": False, "incognito": False}
        dogs = {"url": "https://d/", "title": "Dogs", "audible": False, "incognito": False}
        plans = [
            (one.url, window, [(t, chrome, 1000) for t in range(1, 200, 2)]),
            (two.url, window, [(t, chrome, 1000) for t in range(2, 201, 2)]),
            (one.url, afk, [
                (t, {"status": "afk" if t // 37 % 2 else "not-afk"}, 2) for t in range(0, 200)
            ]),
            (two.url, web, [(t, cats if t // 23 % 2 else dogs, 2) for t in range(0, 200)]),
        ]  # fmt: skip
        senders = [threading.Thread(target=run, args=plan) for plan in plans]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(120)
        assert not failures, failures

        # Every order of those heartbeats gives aw-server's one event, 200 s long.
        assert fields(events(two.url, window)) == [(at(T0, 0), 200.0, chrome)]
        agent = agent_id_for(host)
        spans = stored_spans(postgres_url, agent, T0)
        assert spans == projected(one.url, buckets, host)
        seen = {(s[3], s[5]) for s in spans}
        assert {(t, i) for t in ("Cats", "Dogs") for i in (False, True)} <= seen
        totals = usage(one.url, T0, agent)
        assert totals == usage(two.url, T0, agent)
        assert sum(active + idle for active, idle in totals.values()) == 200.0


# -- the locks, made to matter: two transactions held at the same point ---------------------


class Meeting:
    """Holds each of two transactions at one point until the other gets there too (or a
    second has passed: a lock keeps it away). Without the lock both read the same state."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2)

    def meet(self, then_wait: float) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            self.barrier.wait(timeout=1.0)
        # Orders the two writes when nothing else does (it cannot make a correct run fail).
        time.sleep(then_wait)


class HeldTables:
    """An AwTables that stops at the meeting after ``method`` returns."""

    def __init__(self, tx: AwTables, method: str, meeting: Meeting, then_wait: float) -> None:
        self.tx, self.method, self.meeting, self.then_wait = tx, method, meeting, then_wait

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.tx, name)
        if name != self.method:
            return attr

        def held(*args: Any) -> Any:
            result = attr(*args)
            self.meeting.meet(self.then_wait)
            return result

        return held


@contextlib.asynccontextmanager
async def two_processes(url: str) -> AsyncIterator[tuple[PostgresAwStore, PostgresAwStore]]:
    """Two stores with their own pools on one database, as two server processes have."""
    stores = [PostgresStore(url), PostgresStore(url)]
    for store in stores:
        await store.open()
    aws = [PostgresAwStore(store) for store in stores]
    for aw in aws:
        await aw.open()
    try:
        yield aws[0], aws[1]
    finally:
        for store in stores:
            await store.close()


async def test_heartbeats_to_one_bucket_in_two_processes_take_turns(postgres_url: str) -> None:
    """Both would read the event at 0 s and write their own merge, the later write
    losing the other's (13 s against 24 s); the bucket's row lock makes them take turns."""
    async with two_processes(postgres_url) as (one, two):
        bucket = AwBucket("w", WINDOW, "test", "h", 0)
        await one.aw_transaction(functools.partial(do_create_bucket, bucket=bucket), write=True)
        code = {"app": "Code", "title": "a"}
        await one.aw_transaction(
            lambda tx: do_heartbeat(tx, "w", AwEvent(0, 0, code), 0), write=True
        )
        meeting = Meeting()

        def beat(tx: AwTables, at_s: int, duration_s: int, then_wait: float) -> Any:
            held = HeldTables(tx, "event", meeting, then_wait)
            return do_heartbeat(held, "w", AwEvent(at_s * S, duration_s * S, code), 100 * S)

        await asyncio.gather(
            one.aw_transaction(functools.partial(beat, at_s=3, duration_s=10, then_wait=0.3),
                               write=True),
            two.aw_transaction(functools.partial(beat, at_s=4, duration_s=20, then_wait=0),
                               write=True),
        )  # fmt: skip
        stored = await one.aw_transaction(lambda tx: tx.events("w", -1, None, None), write=False)
        assert [(e.ts_us, e.duration_us) for e in stored] == [(0, 24 * S)]


async def test_changes_to_one_computer_in_two_processes_project_in_turn(postgres_url: str) -> None:
    """A window event and an AFK event of one computer, added at once in two processes:
    each recomputation would see only its own event (a window all active), had the
    agent's span lock not made the second wait for the first."""
    async with two_processes(postgres_url) as (one, two):
        for bucket_id, kind in (("w", WINDOW), ("a", AFK)):
            bucket = AwBucket(bucket_id, kind, "test", "h", 0)
            await one.aw_transaction(functools.partial(do_create_bucket, bucket=bucket), write=True)
        meeting = Meeting()

        def insert(tx: AwTables, bucket_id: str, event: AwEvent) -> Any:
            return do_insert(HeldTables(tx, "host_events", meeting, 0), bucket_id, [event])

        window = AwEvent(0, 100 * S, {"app": "Code", "title": "a"})
        away = AwEvent(50 * S, 50 * S, {"status": "afk"})
        await asyncio.gather(
            one.aw_transaction(functools.partial(insert, bucket_id="w", event=window),
                               write=True),
            two.aw_transaction(functools.partial(insert, bucket_id="a", event=away), write=True),
        )  # fmt: skip
        spans = await one.store.spans(0, 10**6, "aw-h")
        assert [(s.start_ms, s.end_ms, s.activity.idle) for _, s in spans] == [
            (0, 50_000, False),
            (50_000, 100_000, True),
        ]
        rows = await one.store.usage(0, 10**6, ["agent", "app"])
        assert [(r.agent_id, r.app, r.active_ms, r.idle_ms) for r in rows] == [
            ("aw-h", "Code", 50_000, 50_000)
        ]


def test_what_postgresql_cannot_hold_is_refused_with_the_reason(
    tmp_path: Path, postgres_url: str
) -> None:
    with officepulse(tmp_path, postgres_url) as op:
        meta = {"client": "aw-watcher-window", "type": WINDOW, "hostname": "nul\u0000host"}
        status, body, _ = request("POST", f"{op.url}/api/0/buckets/nul", meta)
        assert status == 400
        assert "NUL" in body["message"]
        assert request("GET", f"{op.url}/api/0/buckets/nul")[0] == 404
        # In event data a NUL is only an escape in the JSON text, and is kept.
        meta["hostname"] = "nul-host"
        assert request("POST", f"{op.url}/api/0/buckets/nul", meta)[0] == 200
        beat = {"timestamp": at(T0, 0), "data": {"app": "Code", "title": "a\u0000b"}}
        status, body, _ = request("POST", f"{op.url}/api/0/buckets/nul/heartbeat?pulsetime=1", beat)
        assert status == 200, body
        assert events(op.url, "nul")[0]["data"] == beat["data"]


async def test_projected_spans_are_categorised_by_the_rules_in_force(postgres_url: str) -> None:
    """The projection writes spans through the store's one write path, which categorises
    them; rules changed by another process reach it (their version is read each write)."""
    async with two_processes(postgres_url) as (one, two):
        bucket = AwBucket("w", WINDOW, "test", "h", 0)
        await one.aw_transaction(functools.partial(do_create_bucket, bucket=bucket), write=True)

        async def add(event: AwEvent) -> None:
            await one.aw_transaction(lambda tx: do_insert(tx, "w", [event]), write=True)

        async def by_category() -> dict[str | None, int]:
            rows = await one.store.usage(0, 10**6, ["category"])
            return {r.category: r.active_ms for r in rows}

        await add(AwEvent(0, 100 * S, {"app": "Code", "title": "a"}))
        assert await by_category() == {"Work > Programming": 100_000}
        editing = [Rule(category="Editing", pattern="^code$", fields=("app",))]
        assert (await recategorize_all(two.store, editing, 0)).changed == 1
        assert await by_category() == {"Editing": 100_000}
        await add(AwEvent(100 * S, 50 * S, {"app": "Code", "title": "b"}))
        assert await by_category() == {"Editing": 150_000}
        rows = await one.store.usage(0, 10**6, ["agent", "category"])
        assert [(r.agent_id, r.category, r.active_ms) for r in rows] == [
            ("aw-h", "Editing", 150_000)
        ]
