"""Leases on agents, scaled out (gateway/agents.py says what a lease is).

A gateway renews the lease of every agent connected to it (``Renewals``); every gateway
and panel process sweeps lapsed leases (``Sweeper``): one conditional UPDATE marks
offline the agents online whose ``last_seen_ms`` is older than ``LEASE_SECONDS``, and
returns them, so whichever process's sweep takes a row shows it offline, once. An agent
that reconnected to another gateway first has a fresh row, which the UPDATE's condition
leaves alone: no race between a sweep and a reconnect.

On PostgreSQL a gateway renews all its leases in one statement of their own, every
``LEASE_RENEW_EVERY`` seconds: the ids and one time, not each agent's whole row through
the store's write queue. Queued, the renewals of 10,000 agents were 10,000 full rows
every 3 s, and during a reconnect storm they waited behind the hellos' and the spans'
writes until 3,300 of the living gateways' 6,600 leases lapsed (docs/performance.md, "A
reconnect storm"): the renewal is what says the gateway lives, so it must not wait for
its backlog. Nor for the store's pool: the renewals have a connection of their own
(``Line``). Through the pool, in a storm of 6,634 agents moving, each renewal waited
behind the hellos' reads for one of its eight connections until 13,229 of the living
gateways' 13,266 leases lapsed. Rows another transaction holds (a hello on another
gateway, a sweep) are skipped rather than waited for, so a renewal never waits for, nor
deadlocks with, a write of the same agents; the skipped ones are renewed 3 s later.

Why rows in PostgreSQL and not NATS heartbeats: the database is the truth the panel's
pages, the REST API and a restarted panel read, and the UPDATE is atomic; a lease kept
only on the bus would leave rows saying "online" for ever after a gateway died while
the panel was down, and NATS going away (tests/server/test_cluster.py restarts it) would
look like every gateway dying.

Only on PostgreSQL: with SQLite there is one process (the embedded server), which marks
every agent offline when it starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, LiteralString

import msgspec

from officepulse.bus.base import Bus
from officepulse.gateway.agents import LEASE_RENEW_EVERY, LEASE_SECONDS, Agents, AgentState
from officepulse.gateway.gateway import Gateway
from officepulse.gateway.sessions import EXPIRED
from officepulse.store.base import AgentStatus, Store
from officepulse.store.failures import FailureLog

if TYPE_CHECKING:
    import psycopg

    from officepulse.store.postgres import PostgresStore

log = logging.getLogger(__name__)

# How often each process sweeps. Several sweep at once harmlessly: a row is taken once.
SWEEP_EVERY = 2.0
# A sweep that finds the database answered last longer ago than this was away.
QUIET_AFTER_GAP = 3 * SWEEP_EVERY

# Rows another transaction holds are skipped, as by the renewals, for the same reasons: a
# held row is being written now (most often the agent's hello on another gateway, which
# makes its lease fresh), and a sweep locking lapsed rows in its own order while a
# gateway's writer locks a storm's hellos in another deadlocked them. The next sweep looks
# again.
_EXPIRE: LiteralString = (
    "UPDATE agents SET online = false WHERE id IN (SELECT id FROM agents "
    "WHERE online AND last_seen_ms < %s FOR UPDATE SKIP LOCKED) RETURNING id"
)
# One gateway's renewals (module docstring): rows locked by another write are skipped.
_RENEW: LiteralString = (
    "UPDATE agents SET last_seen_ms = %s WHERE id IN (SELECT id FROM agents "
    "WHERE id = ANY(%s) AND online FOR UPDATE SKIP LOCKED)"
)


class Line:
    """A connection of the renewals' own to the store's database, outside the store's
    pool (module docstring), opened when first used and again after it failed."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self._conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = None

    async def execute(self, sql: LiteralString, params: tuple[object, ...]) -> None:
        """``sql``, a transaction of its own (autocommit)."""
        # Imported here: psycopg is the postgresql extra's, and a Line exists only with
        # a PostgreSQL store.
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.store.url,
                autocommit=True,
                connect_timeout=max(2, round(self.store.connect_timeout)),
            )
        try:
            await self._conn.execute(sql, params)
        except BaseException:
            # Broken, or cancelled mid-statement: the next renewal starts afresh.
            await self.close()
            raise

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


class Renewals:
    """A gateway's leases on its agents, renewed every ``LEASE_RENEW_EVERY`` seconds: in
    one statement on PostgreSQL (``store``), on a connection of their own, else queued
    row by row (one process, whose leases nobody sweeps: the rows' ``last_seen_ms``
    alone moves)."""

    def __init__(
        self,
        gateway: Gateway,
        agents: Agents,
        clock: Callable[[], float],
        store: PostgresStore | None = None,
    ) -> None:
        self.gateway = gateway
        self.agents = agents
        self.clock = clock
        self.line = None if store is None else Line(store)
        self.failures = FailureLog("renewing the leases on this gateway's agents", log)

    def held(self) -> list[AgentState]:
        """The agents connected here whose leases are this gateway's to renew."""
        return [
            conn.state
            for conn in list(self.gateway.connections.values())
            if conn.state is not None and not conn.ws.closed and conn.state.gone is None
        ]

    async def renew(self) -> int:
        """Renews every lease held here; how many."""
        now_ms = int(self.clock() * 1000)
        states = self.held()
        if self.line is None:
            for state in states:
                self.agents.renew(state, now_ms)
            return len(states)
        ids = self.agents.renewed(states, now_ms)
        await renew_rows(self.line, ids, now_ms)
        return len(ids)

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(LEASE_RENEW_EVERY)
                await self.failures.attempt(self.renew)
        finally:
            if self.line is not None:
                await self.line.close()


async def renew_rows(line: Line, agent_ids: list[str], now_ms: int) -> None:
    """The leases of ``agent_ids`` run from ``now_ms``: one statement on ``line``, behind
    neither the store's write queue nor its pool; rows another transaction holds, and
    rows that say offline, are left as they are (module docstring)."""
    if agent_ids:
        await line.execute(_RENEW, (now_ms, agent_ids))


class Sweeper:
    """Ends lapsed leases and shows those agents offline."""

    def __init__(
        self, store: PostgresStore, agents: Agents, bus: Bus, clock: Callable[[], float]
    ) -> None:
        self.store = store
        self.agents = agents
        self.bus = bus
        self.clock = clock
        self.failures = FailureLog("sweeping agents' lapsed leases", log)
        # After the database did not answer for a while (or this process did not run),
        # the gateways' renewals could not be written: no sweep until a whole lease has
        # passed with it answering again. So also for a lease after this process
        # started: the gateways may be starting too.
        self._answered_at = float("-inf")
        self._quiet_until = 0.0

    def _heard_database(self, now: float) -> bool:
        """The database answered at ``now``: whether a sweep may run."""
        if now - self._answered_at > QUIET_AFTER_GAP:
            self._quiet_until = now + LEASE_SECONDS
        self._answered_at = now
        return now >= self._quiet_until

    async def sweep(self) -> list[AgentStatus]:
        """The agents this sweep marked offline (their views published)."""
        async with self.store.transaction() as conn:
            # Read once the pool gave a connection, which waits while PostgreSQL is away.
            now = self.clock()
            if not self._heard_database(now):
                return []
            before_ms = int((now - LEASE_SECONDS) * 1000)
            cur = await conn.execute(_EXPIRE, (before_ms,))
            ids = [str(row[0]) for row in await cur.fetchall()]
        if not ids:
            return []
        statuses = [s for s in await asyncio.gather(*map(self.store.agent, ids)) if s is not None]
        log.info(
            "lease lapsed (its gateway stopped renewing it): agent(s) %s shown offline",
            ", ".join(sorted(ids)),
        )
        await self.agents.expired(statuses)
        # A gateway that still holds one of them (its renewals were late) shows it again.
        await self.bus.publish(EXPIRED, msgspec.msgpack.encode(ids))
        return statuses

    async def _attempt(self) -> None:
        await self.failures.attempt(self.sweep)
        if self.failures.failing:
            self._quiet_until = self.clock() + LEASE_SECONDS

    async def run(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            await self._attempt()


def _postgres(store: Store) -> PostgresStore | None:
    # Imported here: psycopg is the postgresql extra's; without it no store is PostgreSQL.
    try:
        from officepulse.store.postgres import PostgresStore
    except ImportError:
        return None
    return store if isinstance(store, PostgresStore) else None


def sweeper(store: Store, agents: Agents, bus: Bus, clock: Callable[[], float]) -> Sweeper | None:
    """The sweeper for ``store``; None when it is not PostgreSQL (module docstring)."""
    postgres = _postgres(store)
    return None if postgres is None else Sweeper(postgres, agents, bus, clock)


def renewals(
    store: Store, gateway: Gateway, agents: Agents, clock: Callable[[], float]
) -> Renewals:
    """A gateway's renewals: one statement each time on PostgreSQL (module docstring)."""
    return Renewals(gateway, agents, clock, _postgres(store))
