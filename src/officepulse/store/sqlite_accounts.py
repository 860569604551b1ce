"""The accounts part of the SQLite store (store/accounts.py, most of it written once in
store/accounts_sql.py). Account writes are rare and small, so each is its own
transaction on the store's write connection, taken in turn with the span writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from officepulse.store.accounts import AccountError, NewPerson, Person, PersonChange
from officepulse.store.accounts_sql import LAST_ADMIN, SQLAccounts, Statement, no_person

T = TypeVar("T")


def _role(conn: sqlite3.Connection, person_id: int) -> str:
    row = conn.execute("SELECT role FROM people WHERE id = ?", (person_id,)).fetchone()
    if row is None:
        raise no_person(person_id)
    return str(row[0])


def _keeps_an_admin(conn: sqlite3.Connection, person_id: int) -> None:
    """Raises unless someone else is an admin (the writer's transaction holds the lock)."""
    (others,) = conn.execute(
        "SELECT COUNT(*) FROM people WHERE role = 'admin' AND id != ?", (person_id,)
    ).fetchone()
    if not others:
        raise AccountError(LAST_ADMIN)


class SQLiteAccounts(SQLAccounts):
    _mark = "?"

    # Provided by SQLiteStore.
    async def _read(
        self, sql: str, params: Sequence[object] = (), *, fresh: bool = True
    ) -> list[tuple[object, ...]]:
        raise NotImplementedError

    async def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def _select(self, sql: str, params: Sequence[object] = ()) -> list[Sequence[Any]]:
        # Accounts are written in transactions of their own, never queued.
        return list(await self._read(sql, params, fresh=False))

    async def _write_all(self, statements: Sequence[Statement]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            for sql, params in statements:
                conn.execute(sql, params)

        await self._transaction(work)

    async def add_person(self, person: NewPerson) -> Person:
        def work(conn: sqlite3.Connection) -> int:
            try:
                cur = conn.execute(
                    "INSERT INTO people (login, name, role, password_hash, visibility, "
                    "created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    person.row(),
                )
            except sqlite3.IntegrityError as exc:
                raise AccountError(f"the login {person.login!r} is taken") from exc
            assert cur.lastrowid is not None
            return cur.lastrowid

        return person.with_id(await self._transaction(work))

    async def update_person(self, person_id: int, change: PersonChange) -> None:
        given = change.given()

        def work(conn: sqlite3.Connection) -> None:
            if _role(conn, person_id) == "admin" and change.role == "member":
                _keeps_an_admin(conn, person_id)
            if given:
                sets = ", ".join(f"{k} = ?" for k in given)  # columns from PersonChange only
                conn.execute(f"UPDATE people SET {sets} WHERE id = ?", (*given.values(), person_id))

        await self._transaction(work)

    async def remove_person(self, person_id: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            if _role(conn, person_id) == "admin":
                _keeps_an_admin(conn, person_id)
            conn.execute("DELETE FROM sessions WHERE person_id = ?", (person_id,))
            conn.execute("DELETE FROM agent_owners WHERE person_id = ?", (person_id,))
            conn.execute("DELETE FROM people WHERE id = ?", (person_id,))

        await self._transaction(work)
