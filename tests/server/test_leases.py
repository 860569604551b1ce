"""Leases on agents (server/leases.py) on a real PostgreSQL, time a parameter: a sweep
ends only lapsed leases, each once, and shows those agents offline; it waits a whole lease
after the process starts and after the database was away. A gateway's renewals are one
statement on a connection of their own that waits neither for the store's write queue, nor
for its pool, nor for rows another write holds. And the
order in which two gateways' sessions of one agent give way (gateway/sessions.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import psycopg
import pytest

from officepulse.bus.memory import MemoryBus
from officepulse.bus.presence import PRESENCE_SUBJECT, AgentView, decode_view
from officepulse.gateway.agents import LEASE_SECONDS, Agents
from officepulse.gateway.sessions import EXPIRED, older
from officepulse.server.leases import QUIET_AFTER_GAP, SWEEP_EVERY, Line, Sweeper, renew_rows
from officepulse.store.base import AgentInfo
from officepulse.store.postgres import PostgresStore
from tests.support.links import until


async def until_async(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Polls ``condition`` until it holds; fails naming ``what`` after 30 s."""
    deadline = time.monotonic() + 30
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


pytest_plugins = ["tests.support.postgres"]

T0 = 1_800_000_000.0  # seconds: the sweeper's clock when the test starts


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def agent(agent_id: str, seen_s: float, online: bool = True) -> AgentInfo:
    return AgentInfo(agent_id, agent_id, "host", "Linux", "1", "UTC", online, int(seen_s * 1000))


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(postgres_url)
    await store.open()
    yield store
    await store.close()


async def online(store: PostgresStore) -> dict[str, bool]:
    return {s.info.id: s.info.online for s in await store.agents()}


async def test_a_sweep_ends_lapsed_leases_once_and_shows_those_agents_offline(
    store: PostgresStore,
) -> None:
    bus = MemoryBus()
    await bus.start()
    shown: list[AgentView] = []

    async def hear(payload: bytes) -> None:
        shown.append(decode_view(payload))

    await bus.subscribe(PRESENCE_SUBJECT, hear)
    expired: list[list[str]] = []

    async def hear_expired(payload: bytes) -> None:
        expired.append(msgspec.msgpack.decode(payload, type=list[str]))

    await bus.subscribe(EXPIRED, hear_expired)
    clock = Clock()
    sweeper = Sweeper(store, Agents(store, bus), bus, clock)
    ready = T0 + LEASE_SECONDS  # the first sweep after a lease from the start
    store.save_agent(agent("dead", ready - LEASE_SECONDS - 1))  # renewed 11 s before
    store.save_agent(agent("alive", ready - LEASE_SECONDS + 5))  # renewed 5 s before
    store.save_agent(agent("left", ready - 3600, online=False))  # said goodbye long ago
    await store.flush()

    # Just started: the gateways may be starting too, so no sweep for a lease.
    while clock.now < ready:
        assert await sweeper.sweep() == []
        clock.now += SWEEP_EVERY
    assert await online(store) == {"dead": True, "alive": True, "left": False}

    taken = await sweeper.sweep()
    assert [s.info.id for s in taken] == ["dead"]
    assert await online(store) == {"dead": False, "alive": True, "left": False}
    await until(lambda: shown and expired, "the offline view and the ids on the bus")
    assert [(v.id, v.online) for v in shown] == [("dead", False)]
    assert expired == [["dead"]]  # for a gateway that may still hold it

    # Taken once: the next sweep finds nothing lapsed.
    clock.now += SWEEP_EVERY
    assert await sweeper.sweep() == []
    await bus.close()


async def test_no_sweep_for_a_lease_after_the_database_was_away(store: PostgresStore) -> None:
    clock = Clock()
    sweeper = Sweeper(store, Agents(store, None), MemoryBus(), clock)
    clock.now += LEASE_SECONDS
    assert await sweeper.sweep() == []  # the start's quiet lease
    while clock.now < T0 + 2 * LEASE_SECONDS:
        clock.now += SWEEP_EVERY
        await sweeper.sweep()
    # A renewal queued on a gateway while PostgreSQL was away is older than a lease by
    # the time it answers again: not swept until the gateway has had a lease to write it.
    store.save_agent(agent("queued", clock.now - 1))
    await store.flush()
    clock.now += QUIET_AFTER_GAP + LEASE_SECONDS  # the sweeper heard nothing meanwhile
    assert await sweeper.sweep() == []
    assert await online(store) == {"queued": True}
    # Still not renewed a lease later: its gateway is gone.
    while clock.now < T0 + 4 * LEASE_SECONDS + QUIET_AFTER_GAP:
        clock.now += SWEEP_EVERY
        await sweeper.sweep()
    assert await online(store) == {"queued": False}


async def seen(db: psycopg.AsyncConnection[tuple[object, ...]]) -> dict[str, tuple[bool, int]]:
    """Each agent's (online, last_seen_ms), read beside the store (whose own reads would
    wait for its write queue)."""
    cur = await db.execute("SELECT id, online, last_seen_ms FROM agents ORDER BY id")
    return {str(i): (bool(o), int(str(ms))) for i, o, ms in await cur.fetchall()}


async def test_renewals_wait_neither_for_the_write_queue_nor_the_pool_and_skip_held_rows(
    store: PostgresStore, postgres_url: str
) -> None:
    store.save_agent(agent("held", 0))
    store.save_agent(agent("free", 0))
    store.save_agent(agent("left", 0, online=False))
    await store.flush()
    line = Line(store)
    async with (
        await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as db,
        await psycopg.AsyncConnection.connect(postgres_url) as other,
        contextlib.AsyncExitStack() as taken,
    ):
        # Another transaction holds "held"'s row (a hello on another gateway, a sweep),
        # and the store's writer waits for it with "held"'s new row: its queue is stuck.
        await other.execute("SELECT 1 FROM agents WHERE id = 'held' FOR UPDATE")
        store.save_agent(agent("held", 1))
        flushing = asyncio.create_task(store.flush())

        async def writer_waits() -> bool:
            cur = await db.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            row = await cur.fetchone()
            return row is not None and int(str(row[0])) > 0

        await until_async(writer_waits, "the store's writer waiting for the held row")
        # And every other connection of the store's pool is taken (a storm's hellos
        # reading): one more would wait.
        for _ in range(store.max_connections - 1):
            await taken.enter_async_context(store.transaction(write=False))

        # Neither the stuck queue, nor the full pool, nor the held row keeps the renewal
        # waiting; it moves only the rows it may: online, and not held.
        await asyncio.wait_for(renew_rows(line, ["free", "held", "left"], 5000), 30)
        assert await seen(db) == {"free": (True, 5000), "held": (True, 0), "left": (False, 0)}

        await taken.aclose()
        await other.rollback()  # the other write ends; the queue drains
        await asyncio.wait_for(flushing, 30)
        await renew_rows(line, ["free", "held", "left"], 8000)  # 3 s later: "held" too
        assert await seen(db) == {"free": (True, 8000), "held": (True, 8000), "left": (False, 0)}
    await line.close()


async def test_a_sweep_takes_the_leases_no_renewal_moved_and_skips_rows_being_written(
    store: PostgresStore, postgres_url: str
) -> None:
    clock = Clock()
    sweeper = Sweeper(store, Agents(store, None), MemoryBus(), clock)
    for name in ("kept", "dropped", "held"):
        store.save_agent(agent(name, T0 - 60))
    await store.flush()
    while clock.now < T0 + LEASE_SECONDS:  # the start's quiet lease
        assert await sweeper.sweep() == []
        clock.now += SWEEP_EVERY
    line = Line(store)
    await renew_rows(line, ["kept"], int((clock.now - 1) * 1000))
    await line.close()
    async with await psycopg.AsyncConnection.connect(postgres_url) as other:
        # Being written by another transaction (its hello elsewhere): left to the next sweep.
        await other.execute("SELECT 1 FROM agents WHERE id = 'held' FOR UPDATE")
        taken = await asyncio.wait_for(sweeper.sweep(), 30)
        assert [s.info.id for s in taken] == ["dropped"]
    clock.now += SWEEP_EVERY
    assert [s.info.id for s in await sweeper.sweep()] == ["held"]
    assert await online(store) == {"kept": True, "dropped": False, "held": False}


def test_of_two_sessions_of_one_agent_the_older_gives_way_the_same_on_both_gateways() -> None:
    assert older((1000, "g2"), (2000, "g1"))
    assert not older((2000, "g1"), (1000, "g2"))
    # Begun the same millisecond: the gateway ids decide, the same way on each side.
    assert older((1000, "g1"), (1000, "g2")) != older((1000, "g2"), (1000, "g1"))
