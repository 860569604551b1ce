"""Gateways' leases (server/leases.py) on a real PostgreSQL, time a parameter: a sweep
takes only the agents of lapsed leases (or of none), each once, however old a living
lease's agents' rows are, shows them offline and ends those leases; it waits a whole lease
after the process starts and after the database was away; it leaves an agent whose hello
on another gateway is being written. A gateway's renewal is one statement of one row on a
connection of its own that waits neither for the store's write queue nor for its pool. And
the order in which two gateways' sessions of one agent give way (gateway/sessions.py)."""

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
from officepulse.gateway.sessions import CLAIMED, EXPIRED, Claim, older
from officepulse.server.leases import (
    QUIET_AFTER_GAP,
    SWEEP_EVERY,
    Line,
    Sweeper,
    renew_lease,
    take_lease,
)
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


async def held_by(store: PostgresStore, lease: str | None, *agents: AgentInfo) -> None:
    """``agents``' rows written as a gateway holding ``lease`` writes them (None: as
    before the leases)."""
    store.lease = lease
    for info in agents:
        store.save_agent(info)
    await store.flush()
    store.lease = None


async def lease_rows(store: PostgresStore) -> dict[str, int]:
    """Each lease and when it was renewed (ms)."""
    async with store.transaction(write=False) as conn:
        cur = await conn.execute("SELECT id, renewed_ms FROM gateway_leases ORDER BY id")
        return {str(i): int(str(ms)) for i, ms in await cur.fetchall()}


async def put_lease(store: PostgresStore, lease: str, renewed_s: float) -> None:
    async with store.transaction() as conn:
        await conn.execute(
            "INSERT INTO gateway_leases VALUES (%s, %s, 0, %s)",
            (lease, lease.split("/")[0], int(renewed_s * 1000)),
        )


async def test_a_sweep_takes_the_agents_of_lapsed_leases_once_never_a_living_leases(
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
    await put_lease(store, "dead/1", ready - LEASE_SECONDS - 1)  # renewed 11 s before
    await put_lease(store, "alive/1", ready - LEASE_SECONDS + 5)  # renewed 5 s before
    # A dead gateway's agent, heard from last long before its gateway's last renewal.
    await held_by(store, "dead/1", agent("dead", ready - 60))
    # A living gateway's agent whose row was written long ago (a starved gateway's late
    # writes): its gateway's lease holds it.
    await held_by(store, "alive/1", agent("alive", ready - 3600))
    # Rows no lease holds: from before the leases, written long ago, and one written just
    # now (a hello whose gateway's lease this sweep cannot see yet).
    await held_by(store, None, agent("old", ready - 3600), agent("new", ready - 1))
    await held_by(store, "dead/1", agent("left", ready - 3600, online=False))  # goodbye
    expected = {"dead": True, "alive": True, "old": True, "new": True, "left": False}
    assert await online(store) == expected

    # Just started: the gateways may be starting too, so no sweep for a lease.
    while clock.now < ready:
        assert await sweeper.sweep() == []
        clock.now += SWEEP_EVERY
    assert await online(store) == expected

    taken = await sweeper.sweep()
    assert sorted(s.info.id for s in taken) == ["dead", "old"]
    assert await online(store) == {**expected, "dead": False, "old": False}
    await until(lambda: len(shown) == 2 and expired, "the offline views and the ids on the bus")
    assert sorted((v.id, v.online) for v in shown) == [("dead", False), ("old", False)]
    assert [sorted(ids) for ids in expired] == [["dead", "old"]]  # for a gateway still holding
    # "Last seen": its gateway's last renewal, when that gateway still held it.
    dead = await store.agent("dead")
    assert dead is not None
    assert dead.info.last_seen_ms == int((ready - LEASE_SECONDS - 1) * 1000)
    # The lapsed lease holds no agent online any more: ended. The living one stays.
    assert list(await lease_rows(store)) == ["alive/1"]

    # Taken once; the living lease's agent stays online sweep after sweep, its gateway
    # renewing its lease; "new", whose lease never showed, is taken once written a lease
    # ago.
    later: list[str] = []
    while clock.now < ready + 3 * LEASE_SECONDS:
        clock.now += SWEEP_EVERY
        async with store.transaction() as conn:
            await conn.execute(
                "UPDATE gateway_leases SET renewed_ms = %s", (int(clock.now * 1000),)
            )
        later += [s.info.id for s in await sweeper.sweep()]
    assert later == ["new"]
    assert await online(store) == {**expected, "dead": False, "old": False, "new": False}
    await bus.close()


async def test_no_sweep_for_a_lease_after_the_database_was_away(store: PostgresStore) -> None:
    clock = Clock()
    sweeper = Sweeper(store, Agents(store, None), MemoryBus(), clock)
    clock.now += LEASE_SECONDS
    assert await sweeper.sweep() == []  # the start's quiet lease
    while clock.now < T0 + 2 * LEASE_SECONDS:
        clock.now += SWEEP_EVERY
        await sweeper.sweep()
    # A gateway renewed its lease just before PostgreSQL went away; by the time it answers
    # again the lease is older than a lease: not swept until the gateway has had a lease
    # to renew it.
    await put_lease(store, "g/1", clock.now - 1)
    await held_by(store, "g/1", agent("held", 0))
    clock.now += QUIET_AFTER_GAP + LEASE_SECONDS  # the sweeper heard nothing meanwhile
    assert await sweeper.sweep() == []
    assert await online(store) == {"held": True}
    # Still not renewed a lease later: its gateway is gone.
    while clock.now < T0 + 4 * LEASE_SECONDS + QUIET_AFTER_GAP:
        clock.now += SWEEP_EVERY
        await sweeper.sweep()
    assert await online(store) == {"held": False}
    assert await lease_rows(store) == {}


async def seen(db: psycopg.AsyncConnection[tuple[object, ...]]) -> dict[str, tuple[bool, int]]:
    """Each agent's (online, last_seen_ms), read beside the store (whose own reads would
    wait for its write queue)."""
    cur = await db.execute("SELECT id, online, last_seen_ms FROM agents ORDER BY id")
    return {str(i): (bool(o), int(str(ms))) for i, o, ms in await cur.fetchall()}


async def test_a_renewal_waits_neither_for_the_write_queue_nor_the_pool(
    store: PostgresStore, postgres_url: str
) -> None:
    line = Line(store)
    lease = await take_lease(line, "g1", 1000)
    assert lease.startswith("g1/")
    assert await take_lease(line, "g1", 1000) != lease  # each incarnation its own
    await held_by(store, lease, agent("held", 0))
    async with (
        await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as db,
        await psycopg.AsyncConnection.connect(postgres_url) as other,
        contextlib.AsyncExitStack() as taken,
    ):
        # Another transaction holds "held"'s row (a hello on another gateway), and the
        # store's writer waits for it with "held"'s new row: its queue is stuck.
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

        # Neither the stuck queue nor the full pool keeps the renewal waiting.
        assert await asyncio.wait_for(renew_lease(line, lease, 5000), 30)
        cur = await db.execute("SELECT renewed_ms FROM gateway_leases WHERE id = %s", (lease,))
        assert await cur.fetchall() == [(5000,)]

        await taken.aclose()
        await other.rollback()  # the other write ends; the queue drains
        await asyncio.wait_for(flushing, 30)
        assert await seen(db) == {"held": (True, 1000)}
        # A lease a sweep ended is not renewed: its gateway takes a new one.
        await db.execute("DELETE FROM gateway_leases WHERE id = %s", (lease,))
        assert not await renew_lease(line, lease, 8000)
    await line.close()


async def test_a_sweep_skips_the_rows_being_written_and_ends_their_lease_after_them(
    store: PostgresStore, postgres_url: str
) -> None:
    clock = Clock()
    sweeper = Sweeper(store, Agents(store, None), MemoryBus(), clock)
    await put_lease(store, "g1/1", T0)
    await held_by(store, "g1/1", *(agent(name, T0 - 60) for name in ("dropped", "held")))
    while clock.now < T0 + LEASE_SECONDS:  # the start's quiet lease
        assert await sweeper.sweep() == []
        clock.now += SWEEP_EVERY
    clock.now += 1  # g1's lease lapsed
    async with await psycopg.AsyncConnection.connect(postgres_url) as other:
        # Being written by another transaction (its hello elsewhere): left to the next
        # sweep, and the lease that still holds it online is not ended.
        await other.execute("SELECT 1 FROM agents WHERE id = 'held' FOR UPDATE")
        taken = await asyncio.wait_for(sweeper.sweep(), 30)
        assert [s.info.id for s in taken] == ["dropped"]
        assert list(await lease_rows(store)) == ["g1/1"]
    clock.now += SWEEP_EVERY
    assert [s.info.id for s in await sweeper.sweep()] == ["held"]
    assert await online(store) == {"dropped": False, "held": False}
    assert await lease_rows(store) == {}


async def test_a_hello_on_another_gateway_racing_a_sweep_keeps_the_agent(
    store: PostgresStore, postgres_url: str
) -> None:
    """Gateway A died; its agents say hello on gateway B while a sweep takes A's agents:
    one whose row B is writing, one whose row B has not written yet (queued)."""
    clock = Clock()
    bus = MemoryBus()
    await bus.start()
    sweeper = Sweeper(store, Agents(store, None), bus, clock)
    await sweeper.start()
    await put_lease(store, "a/1", T0 - 60)
    await put_lease(store, "b/1", T0)
    moved = ("writing", "queued")
    await held_by(store, "a/1", *(agent(name, T0 - 60) for name in (*moved, "stranded")))
    while clock.now < T0 + LEASE_SECONDS:  # the start's quiet lease
        assert await sweeper.sweep() == []
        clock.now += SWEEP_EVERY
    # B took both hellos and claimed both agents on the bus (gateway/sessions.py).
    claim = Claim(gateway="b", agents=[(name, int(clock.now * 1000)) for name in moved])
    await bus.publish(CLAIMED, msgspec.msgpack.encode(claim))
    await until(lambda: len(sweeper.just_claimed(clock.now)) == 2, "the sweeper to hear the claim")
    # B's writer, mid-transaction: one row says online, held by B's lease, seen now (what
    # B's store's upsert writes), not yet committed.
    async with (
        await psycopg.AsyncConnection.connect(postgres_url) as b,
        b.transaction(),
    ):
        await b.execute(
            "UPDATE agents SET online = true, last_seen_ms = %s, lease = 'b/1' "
            "WHERE id = 'writing'",
            (int(clock.now * 1000),),
        )
        # The sweep neither waits for it nor takes either: A's other agent only.
        taken = await asyncio.wait_for(sweeper.sweep(), 30)
        assert [s.info.id for s in taken] == ["stranded"]
    # B's write committed: the next sweeps leave it, for longer than a lease, B renewing
    # its lease. The row B never wrote (its queue lost with B, say) is taken a lease
    # after the claim, as one of A's.
    later: list[str] = []
    while clock.now < T0 + 4 * LEASE_SECONDS:
        clock.now += SWEEP_EVERY
        renewed = int(clock.now * 1000)
        async with store.transaction() as conn:
            await conn.execute(
                "UPDATE gateway_leases SET renewed_ms = %s WHERE id = 'b/1'", (renewed,)
            )
        later += [s.info.id for s in await sweeper.sweep()]
    assert later == ["queued"]
    assert await online(store) == {"writing": True, "queued": False, "stranded": False}
    # A's lease ended once it held no agent online.
    assert list(await lease_rows(store)) == ["b/1"]
    await sweeper.stop()
    await bus.close()


async def test_a_claim_heard_while_the_sweep_waited_and_the_sweepers_own_agents_are_kept(
    store: PostgresStore, postgres_url: str
) -> None:
    """In a storm the sweep's select waits seconds: a claim heard meanwhile keeps its
    agent, and the gateway sweeping never sweeps an agent connected to itself, whatever
    its row still says (its write queued, its claim not yet heard)."""
    clock = Clock()
    bus = MemoryBus()
    await bus.start()
    sweeper = Sweeper(store, Agents(store, None), bus, clock, held=lambda: ["mine"])
    await sweeper.start()
    await put_lease(store, "a/1", T0 - 60)
    await held_by(store, "a/1", *(agent(name, T0 - 60) for name in ("mine", "late", "stranded")))
    while clock.now < T0 + LEASE_SECONDS:  # the start's quiet lease
        assert await sweeper.sweep() == []
        clock.now += SWEEP_EVERY
    async with (
        await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as watch,
        await psycopg.AsyncConnection.connect(postgres_url) as other,
    ):

        async def select_waits() -> bool:
            cur = await watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'SELECT a.id FROM agents a%%'"
            )
            row = await cur.fetchone()
            return row is not None and int(str(row[0])) > 0

        async with other.transaction():
            # The select waits (here for a lock on the leases; in a storm, for PostgreSQL).
            await other.execute("LOCK TABLE gateway_leases IN ACCESS EXCLUSIVE MODE")
            sweep = asyncio.create_task(sweeper.sweep())
            await until_async(select_waits, "the sweep's select to wait")
            claim = Claim(gateway="b", agents=[("late", int(clock.now * 1000))])
            await bus.publish(CLAIMED, msgspec.msgpack.encode(claim))
            await until(lambda: "late" in sweeper.just_claimed(clock.now), "the claim heard")
        taken = await asyncio.wait_for(sweep, 30)
    assert [s.info.id for s in taken] == ["stranded"]
    assert await online(store) == {"mine": True, "late": True, "stranded": False}
    await sweeper.stop()
    await bus.close()


async def test_every_row_written_online_names_the_writers_lease_in_the_same_write(
    store: PostgresStore, postgres_url: str
) -> None:
    store.lease = "g1/1"
    store.save_agent(agent("on", 5))
    store.save_agent(agent("off", 5, online=False))
    await store.flush()
    async with await psycopg.AsyncConnection.connect(postgres_url) as db:
        cur = await db.execute("SELECT id, online, lease FROM agents ORDER BY id")
        assert await cur.fetchall() == [("off", False, None), ("on", True, "g1/1")]
        store.lease = "g2/1"  # it said hello on another gateway
        store.save_agent(agent("on", 6))
        await store.flush()
        cur = await db.execute("SELECT lease, last_seen_ms FROM agents WHERE id = 'on'")
        assert await cur.fetchall() == [("g2/1", 6000)]


def test_of_two_sessions_of_one_agent_the_older_gives_way_the_same_on_both_gateways() -> None:
    assert older((1000, "g2"), (2000, "g1"))
    assert not older((2000, "g1"), (1000, "g2"))
    # Begun the same millisecond: the gateway ids decide, the same way on each side.
    assert older((1000, "g1"), (1000, "g2")) != older((1000, "g2"), (1000, "g1"))
