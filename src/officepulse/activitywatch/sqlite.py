"""The ActivityWatch tables on SQLite: ``SQLiteAwStore`` runs ``aw_transaction`` on its
own connection to an officepulse SQLite file, and writes the ``spans`` rows itself (the
store's triggers note them for its rollups)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from officepulse.activitywatch.tables import NO_FLOOR, SQLITE, AwTables, SqlAwTables, schema
from officepulse.core.spans import Span

T = TypeVar("T")

AW_SCHEMA = schema(SQLITE)


@runtime_checkable
class SQLiteFile(Protocol):
    """What the SQLite side needs of its store (SQLiteStore provides it): the database
    file, whose ``spans`` and ``agents`` tables the store has made."""

    path: Path


class SQLiteAwTables(SqlAwTables):
    """AwTables on an SQLite connection that is inside a transaction. The spans
    are the rows of SQLiteStore's ``spans`` table."""

    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _all(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def _run(self, sql: str, params: Sequence[object] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    def hold_spans(self, agent_id: str) -> None:
        pass  # BEGIN IMMEDIATE: this transaction is the database's only writer

    def replace_spans(self, agent_id: str, lo_ms: int, hi_ms: int, spans: Sequence[Span]) -> None:
        self.conn.execute(
            "DELETE FROM spans WHERE agent_id = ? AND start_ms >= ? AND start_ms < ?",
            (agent_id, lo_ms, hi_ms),
        )
        self.conn.executemany(
            "INSERT OR REPLACE INTO spans "
            "(agent_id, start_ms, end_ms, app, title, url, process, pid, idle, details) "
            "VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, NULL)",
            [
                (
                    agent_id,
                    s.start_ms,
                    s.end_ms,
                    s.activity.app,
                    s.activity.title,
                    s.activity.url,
                    s.activity.idle,
                )
                for s in spans
            ],
        )


class SQLiteAwStore:
    """AwStore on its own connection to an officepulse SQLite database (whose
    ``spans`` and ``agents`` tables SQLiteStore has made). Its own connection, not the
    store's writer: the store's triggers note what it writes for the rollups."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.floor_us: Callable[[], int] = lambda: NO_FLOOR

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")  # as SQLiteStore: WAL, durable at checkpoints
        conn.execute("PRAGMA busy_timeout=10000")
        # A row that INSERT OR REPLACE replaces must fire the delete trigger that
        # feeds the store's rollups, or its time would be counted twice.
        conn.execute("PRAGMA recursive_triggers=ON")
        conn.executescript(AW_SCHEMA)
        self._conn = conn

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def aw_transaction(self, work: Callable[[AwTables], T], *, write: bool) -> T:
        return await asyncio.to_thread(self._run, work, write)

    def _run(self, work: Callable[[AwTables], T], write: bool) -> T:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError("the ActivityWatch tables are not open")
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                tables = SQLiteAwTables(conn)
                tables.floor_us = self.floor_us()
                result = work(tables)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
