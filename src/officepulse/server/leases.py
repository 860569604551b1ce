"""Leases, scaled out: one per gateway process (gateway/agents.py says what it holds).

Each gateway process, when it starts, takes a lease of its own in PostgreSQL, a row of
``gateway_leases`` named for this incarnation (its gateway id and a random part, so a
gateway restarted under the same name within a lease does not keep its dead predecessor's
agents online), and renews that one row every ``LEASE_RENEW_EVERY`` seconds (``Renewals``).
Each agent's row names the lease of the gateway that holds it (``agents.lease``), written by
the store in the same upsert that sets it online on its hello (store/postgres.py
``PostgresStore.lease``): an agent that reconnects elsewhere is held by the new gateway at
once.

Every gateway and panel process sweeps (``Sweeper``): in one transaction it locks, marks
offline and returns the agents online whose lease lapsed (not renewed for ``LEASE_SECONDS``) or
whose lease no row holds (rows from before the leases; a lease deleted), so whichever
process's sweep takes a row shows it offline, once; then it deletes the lapsed leases that
hold no agent online. A living gateway's agents are never swept, however late their own
rows were written: their one lease row is renewed. A row written in the last
``LEASE_SECONDS`` (a hello, a heartbeat's "last seen") is not swept either, whatever lease
it names, nor one whose hello a gateway claimed on the bus in the last ``LEASE_SECONDS``
(gateway/sessions.py ``CLAIMED``). So a hello on gateway B racing a sweep of dead gateway
A's agents leaves that agent B's: from the hello until B's write of its row (queued in
B's store, seconds late in a storm) by B's claim, while being written by the write's
lock (the sweep skips the row), and once written by its freshness, which the sweep
rechecks on the row it locks, even when its snapshot predates B's lease. Claims heard while
the sweep's select waited, and the agents connected to the sweeping gateway itself, are
left too, once the rows are locked: in a storm the select waits seconds, and B's claim
arrives meanwhile.

The renewal says the gateway lives, so it must not wait for the gateway's backlog: it is
one statement on a connection of its own (``Line``), behind neither the store's write queue
nor its pool. Queued, the per-agent renewals of 10,000 agents were 10,000 full rows every
3 s, and during a reconnect storm they waited behind the hellos' and the spans' writes until
3,300 of the living gateways' 6,600 leases lapsed; through the pool, behind the hellos'
reads, 13,229 of 13,266; and even one statement of all its agents' ids on its own connection
left 303-821 of them swept on a starved machine, as rows held by other writes were skipped
and renewals came late (docs/performance.md, "A reconnect storm"). One row a gateway is
not held by anyone else's write.

A gateway whose lease was deleted (it was stopped past the lease and a sweep took its
agents) finds so at its next renewal: it takes a new lease, writes each agent still
connected to it online again naming the new one, and shows it (``Renewals.renew``). The
sweep also says on ``EXPIRED`` which agents it took, and a gateway still holding one shows
it again (gateway/sessions.py).

Why rows in PostgreSQL and not NATS heartbeats: the database is the truth the panel's
pages, the REST API and a restarted panel read, and the UPDATE is atomic; a lease kept
only on the bus would leave rows saying "online" for ever after a gateway died while
the panel was down, and NATS going away (tests/server/test_cluster.py restarts it) would
look like every gateway dying.

Only on PostgreSQL: with SQLite there is one process (the embedded server), which marks
every agent offline when it starts; nothing renews or sweeps.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, LiteralString

import msgspec

from officepulse.bus.base import Bus, Subscription
from officepulse.gateway.agents import LEASE_RENEW_EVERY, LEASE_SECONDS, Agents
from officepulse.gateway.gateway import Gateway
from officepulse.gateway.sessions import CLAIMED, EXPIRED, Claim
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

# The agents online that no living lease holds and that nobody wrote for a lease (module
# docstring), locked; then those still lapsed once looked at again (``Sweeper.sweep``) are
# marked offline, "last seen" moved to their gateway's last renewal (when it last held them).
# Rows another transaction holds are skipped: a held row is being written now (most often
# the agent's hello on another gateway, which makes it fresh), and a sweep locking rows in
# its own order while a gateway's writer locks a storm's hellos in another deadlocked
# them. The next sweep looks again. Then the lapsed leases that hold no agent online end.
_LAPSED: LiteralString = (
    "SELECT a.id FROM agents a WHERE a.online AND a.last_seen_ms < %(before)s "
    "AND NOT EXISTS (SELECT 1 FROM gateway_leases l WHERE l.id = a.lease "
    "AND l.renewed_ms >= %(before)s) AND NOT a.id = ANY(%(claimed)s::text[]) "
    "FOR UPDATE OF a SKIP LOCKED"
)
_OFFLINE: LiteralString = (
    "UPDATE agents SET online = false, last_seen_ms = GREATEST(last_seen_ms, "
    "COALESCE((SELECT l.renewed_ms FROM gateway_leases l WHERE l.id = agents.lease), 0)) "
    "WHERE id = ANY(%(ids)s::text[]) RETURNING id"
)
_claim_decoder = msgspec.msgpack.Decoder(Claim)
# Skipping the leases another sweep is ending: two sweeps ending two gateways' leases in
# different orders must not deadlock (a failed sweep keeps its process quiet for a lease).
_END: LiteralString = (
    "DELETE FROM gateway_leases WHERE id IN (SELECT l.id FROM gateway_leases l "
    "WHERE l.renewed_ms < %s AND NOT EXISTS (SELECT 1 FROM agents a "
    "WHERE a.lease = l.id AND a.online) FOR UPDATE SKIP LOCKED) RETURNING id"
)
# A gateway's renewal: its one row; none when a sweep ended its lease.
_RENEW: LiteralString = "UPDATE gateway_leases SET renewed_ms = %s WHERE id = %s"
_TAKE: LiteralString = (
    "INSERT INTO gateway_leases (id, gateway, started_ms, renewed_ms) VALUES (%s, %s, %s, %s)"
)


def lease_id(gateway_id: str) -> str:
    """A new lease's name: the gateway's, and a random part for this incarnation (module
    docstring)."""
    return f"{gateway_id}/{secrets.token_hex(6)}"


class Line:
    """A connection of the renewals' own to the store's database, outside the store's
    pool (module docstring), opened when first used and again after it failed."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self._conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = None

    async def execute(self, sql: LiteralString, params: tuple[object, ...]) -> int:
        """``sql``, a transaction of its own (autocommit): how many rows it touched."""
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
            cur = await self._conn.execute(sql, params)
        except BaseException:
            # Broken, or cancelled mid-statement: the next renewal starts afresh.
            await self.close()
            raise
        return cur.rowcount

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


class Renewals:
    """A gateway's lease (module docstring): taken at start, renewed every
    ``LEASE_RENEW_EVERY`` seconds in one statement on a connection of its own, and taken
    anew when a sweep ended it. The store's ``lease`` names it in the agents' rows."""

    def __init__(
        self,
        gateway_id: str,
        gateway: Gateway,
        agents: Agents,
        clock: Callable[[], float],
        store: PostgresStore,
    ) -> None:
        self.gateway_id = gateway_id
        self.gateway = gateway
        self.agents = agents
        self.clock = clock
        self.store = store
        self.line = Line(store)
        self.failures = FailureLog(f"renewing gateway {gateway_id}'s lease", log)

    async def renew(self) -> None:
        """Renews this gateway's lease; takes one if it has none or a sweep ended it."""
        now_ms = int(self.clock() * 1000)
        lease = self.store.lease
        if lease is None or not await renew_lease(self.line, lease, now_ms):
            await self.take(now_ms, lost=lease)

    async def take(self, now_ms: int, lost: str | None = None) -> None:
        """A new lease from ``now_ms``. After ``lost`` ended (this gateway did not renew it
        for a lease: stopped, or starved), every agent still connected here is written
        online naming the new one, and shown so (a sweep took it meanwhile)."""
        lease = await take_lease(self.line, self.gateway_id, now_ms)
        self.store.lease = lease
        held = self.gateway.held()
        if lost is None:
            log.info("gateway %s holds lease %s", self.gateway_id, lease)
        else:
            log.warning(
                "gateway %s: its lease %s lapsed and was ended (not renewed for %.0f s); "
                "took lease %s, %d agent(s) connected here shown online again",
                self.gateway_id,
                lost,
                LEASE_SECONDS,
                lease,
                len(held),
            )
        for state in held:
            self.agents.renew(state, now_ms)
            await self.agents.show(state)

    async def start(self) -> None:
        """The lease taken before the gateway listens (or at the next renewal, if the
        database does not answer now)."""
        await self.failures.attempt(self.renew)

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(LEASE_RENEW_EVERY)
                await self.failures.attempt(self.renew)
        finally:
            await self.line.close()


async def take_lease(line: Line, gateway_id: str, now_ms: int) -> str:
    """A new lease of gateway ``gateway_id``'s, from ``now_ms``, on ``line``: its id."""
    lease = lease_id(gateway_id)
    await line.execute(_TAKE, (lease, gateway_id, now_ms, now_ms))
    return lease


async def renew_lease(line: Line, lease: str, now_ms: int) -> bool:
    """``lease`` runs from ``now_ms``: one statement of one row on ``line``, behind
    neither the store's write queue nor its pool (module docstring). False when a sweep
    ended it: it is not renewed, as its agents may have been shown offline."""
    return await line.execute(_RENEW, (now_ms, lease)) > 0


class Sweeper:
    """Ends lapsed leases and shows their agents offline."""

    def __init__(
        self,
        store: PostgresStore,
        agents: Agents,
        bus: Bus,
        clock: Callable[[], float],
        held: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self.store = store
        self.agents = agents
        self.bus = bus
        # The agents connected to this process (a gateway's; a panel holds none): never
        # swept from under it, whatever its row says meanwhile.
        self.held = held
        self.clock = clock
        self.failures = FailureLog("sweeping agents' lapsed leases", log)
        # After the database did not answer for a while (or this process did not run),
        # the gateways' renewals could not be written: no sweep until a whole lease has
        # passed with it answering again. So also for a lease after this process
        # started: the gateways may be starting too.
        self._answered_at = float("-inf")
        self._quiet_until = 0.0
        # Agents whose hello a gateway took (its claim on the bus), and when this process
        # heard it: not swept for a lease after, as their gateway's write of their rows
        # may still be in its queue (module docstring).
        self._claimed: dict[str, float] = {}
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self.bus.subscribe(CLAIMED, self._on_claim)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()

    async def _on_claim(self, payload: bytes) -> None:
        try:
            claim = _claim_decoder.decode(payload)
        except msgspec.DecodeError:
            return  # a gateway of another version: its sessions' handler says so
        now = self.clock()
        for agent_id, _ in claim.agents:
            self._claimed[agent_id] = now

    def just_claimed(self, now: float) -> list[str]:
        """The agents a gateway claimed within a lease before ``now``."""
        for agent_id, heard in list(self._claimed.items()):
            if now - heard >= LEASE_SECONDS:
                del self._claimed[agent_id]
        return list(self._claimed)

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
            claimed = self.just_claimed(now)
            cur = await conn.execute(_LAPSED, {"before": before_ms, "claimed": claimed})
            lapsed = [str(row[0]) for row in await cur.fetchall()]
            # Looked at again once the rows are locked: the claims heard while the select
            # waited (in a storm, seconds) and the sessions this process holds itself.
            # Without it, 2,119 agents a survivor had just welcomed from a killed
            # gateway were swept and shown again (19,900 agents, docs/performance.md).
            keep = {*self.just_claimed(self.clock()), *self.held()}
            ids = [agent_id for agent_id in lapsed if agent_id not in keep]
            if ids:
                cur = await conn.execute(_OFFLINE, {"ids": ids})
                ids = [str(row[0]) for row in await cur.fetchall()]
            cur = await conn.execute(_END, (before_ms,))
            ended = [str(row[0]) for row in await cur.fetchall()]
        if ended:
            log.info("gateway lease(s) %s lapsed and ended", ", ".join(sorted(ended)))
        if not ids:
            return []
        statuses = [s for s in await asyncio.gather(*map(self.store.agent, ids)) if s is not None]
        log.info(
            "lease lapsed (its gateway stopped renewing it): agent(s) %s shown offline",
            ", ".join(sorted(ids)),
        )
        await self.agents.expired(statuses)
        # A gateway that still holds one of them (its lease was late) shows it again.
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


def sweeper(
    store: Store,
    agents: Agents,
    bus: Bus,
    clock: Callable[[], float],
    held: Callable[[], Iterable[str]] = tuple,
) -> Sweeper | None:
    """The sweeper for ``store``, never sweeping the agents ``held`` lists (connected to
    this process); None when it is not PostgreSQL (module docstring)."""
    postgres = _postgres(store)
    return None if postgres is None else Sweeper(postgres, agents, bus, clock, held)


def renewals(
    store: Store, gateway_id: str, gateway: Gateway, agents: Agents, clock: Callable[[], float]
) -> Renewals | None:
    """Gateway ``gateway_id``'s lease on ``store``; None when it is not PostgreSQL (module
    docstring)."""
    postgres = _postgres(store)
    return None if postgres is None else Renewals(gateway_id, gateway, agents, clock, postgres)
