"""The ActivityWatch tables (tables.py) on PostgreSQL: ``PostgresAwStore`` runs
``aw_transaction`` on a PostgresStore's pool, and its projection writes spans through that
store's ``write_span_rows``, which keeps the rollups.

The operations (operations.py) are plain functions over ``AwTables`` (one code path for both
databases; SQLite's driver is synchronous). Here they run on a worker thread, and each
table method hands its statement to the event loop, where the store's asynchronous
connection runs it; the transaction is begun and committed on the loop.

Two server processes on one database agree because every write transaction locks its
bucket's row (``SELECT ... FOR UPDATE``) before it reads the bucket's last event, so the
heartbeats of one bucket take turns whichever process receives them; and it takes the
agent's span lock (``postgres.hold_agents``, the lock the store's writer takes) before it
reads the events it projects, so changes to one computer's buckets recompute its spans one
after the other, each from the events the other committed. Locks are taken in one order
(bucket, agent, then what write_span_rows takes: the agent again, then the category rules'
version), so transactions do not deadlock.

The tables are made at ``open`` if missing, under the store's migration lock; they are the
ActivityWatch module's, as on SQLite, not a step of the store's schema.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar, runtime_checkable

import psycopg

from officepulse.activitywatch.model import AwError
from officepulse.activitywatch.tables import NO_FLOOR, POSTGRES, AwTables, SqlAwTables, schema
from officepulse.core.spans import Span
from officepulse.store.base import KeyIds
from officepulse.store.postgres import (
    MIGRATION_LOCK,
    StoredRules,
    hold_agents,
    pg_span_row,
    write_span_rows,
)

T = TypeVar("T")
_Conn = psycopg.AsyncConnection[tuple[Any, ...]]

AW_SCHEMA = schema(POSTGRES)
# Data are kept as the JSON text they arrived as (not jsonb, which would reorder keys),
# so that they read back as aw-server answers them. The statements are tables.py's
# SqlAwTables', the same on both databases.


@runtime_checkable
class PostgresSpans(Protocol):
    """What the PostgreSQL side needs of its store (PostgresStore provides it): a
    transaction on the store's pool, the category rules its spans are written by, and
    its rollup key ids."""

    rules: StoredRules
    keys: KeyIds

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[_Conn]: ...


class PostgresAwTables(SqlAwTables):
    """AwTables on a connection inside a transaction, called from a worker thread."""

    dialect = POSTGRES

    def __init__(
        self,
        conn: _Conn,
        loop: asyncio.AbstractEventLoop,
        *,
        write: bool,
        rules: StoredRules,
        keys: KeyIds,
    ) -> None:
        self.conn = conn
        self.loop = loop
        self.write = write
        self.rules = rules  # the store's: projected spans are categorised as ingested ones
        self.keys = keys  # the store's rollup key ids (store/base.py KeyIds)

    def _await(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def _all(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        async def run() -> list[tuple[Any, ...]]:
            cur = await self.conn.execute(_placeholders(sql), params)
            return await cur.fetchall()

        return self._await(run())

    def _run(self, sql: str, params: Sequence[object] = ()) -> int:
        async def run() -> int:
            cur = await self.conn.execute(_placeholders(sql), params)
            return cur.rowcount

        return self._await(run())

    def hold_spans(self, agent_id: str) -> None:
        self._await(hold_agents(self.conn, [agent_id]))

    def replace_spans(self, agent_id: str, lo_ms: int, hi_ms: int, spans: Sequence[Span]) -> None:
        stored = self._all(
            "SELECT start_ms FROM spans WHERE agent_id = ? AND start_ms >= ? AND start_ms < ?",
            (agent_id, lo_ms, hi_ms),
        )
        kept = {s.start_ms for s in spans}
        removed = [(agent_id, int(r[0])) for r in stored if int(r[0]) not in kept]
        rows = [pg_span_row(agent_id, s) for s in spans]
        self._await(write_span_rows(self.conn, rows, self.rules, removed=removed, keys=self.keys))


@functools.cache
def _placeholders(sql: str) -> str:
    """The statement with psycopg's placeholders (no statement here has a literal ``?``)."""
    return sql.replace("?", "%s")


class PostgresAwStore:
    """AwStore on an open PostgreSQL store (its pool, its span writes)."""

    def __init__(self, store: PostgresSpans) -> None:
        self.store = store
        self.floor_us: Callable[[], int] = lambda: NO_FLOOR

    async def open(self) -> None:
        async with self.store.transaction() as conn:
            # Servers starting together take turns, as with the store's migrations
            # (CREATE ... IF NOT EXISTS alone can still collide).
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(AW_SCHEMA)

    async def close(self) -> None:
        pass  # the pool is the store's

    async def aw_transaction(self, work: Callable[[AwTables], T], *, write: bool) -> T:
        # Shielded: a caller that gives up (a cancelled request) must not end the
        # transaction under the thread that is still using its connection.
        return await asyncio.shield(self._transaction(work, write))

    async def _transaction(self, work: Callable[[AwTables], T], write: bool) -> T:
        loop = asyncio.get_running_loop()
        try:
            async with self.store.transaction(write=write) as conn:
                tables = PostgresAwTables(
                    conn, loop, write=write, rules=self.store.rules, keys=self.store.keys
                )
                tables.floor_us = self.floor_us()
                return await asyncio.to_thread(work, tables)
        except psycopg.DataError as exc:
            # A value PostgreSQL cannot hold (a NUL in a text, a number out of range).
            raise AwError(400, f"the database cannot store this: {str(exc).strip()}") from None
