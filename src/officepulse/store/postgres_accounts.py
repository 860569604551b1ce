"""The accounts part of the PostgreSQL store (store/accounts.py, most of it written once
in store/accounts_sql.py): each write its own transaction on a pooled connection; the
admins' rows are locked where a change must see how many admins are left, so that two
servers cannot together demote the last two."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

import psycopg
from psycopg_pool import AsyncConnectionPool

from officepulse.store.accounts import AccountError, NewPerson, Person, PersonChange
from officepulse.store.accounts_sql import LAST_ADMIN, SQLAccounts, Statement, no_person

_Pool = AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]
_Conn = psycopg.AsyncConnection[tuple[Any, ...]]


async def _role(conn: _Conn, person_id: int) -> str:
    # Every admin row locked: whoever changes admins next waits for this transaction.
    await conn.execute("SELECT id FROM people WHERE role = 'admin' FOR UPDATE")
    cur = await conn.execute("SELECT role FROM people WHERE id = %s", (person_id,))
    row = await cur.fetchone()
    if row is None:
        raise no_person(person_id)
    return str(row[0])


async def _keeps_an_admin(conn: _Conn, person_id: int) -> None:
    cur = await conn.execute(
        "SELECT COUNT(*) FROM people WHERE role = 'admin' AND id <> %s", (person_id,)
    )
    row = await cur.fetchone()
    if not row or not row[0]:
        raise AccountError(LAST_ADMIN)


class PostgresAccounts(SQLAccounts):
    _mark = "%s"
    _json_rows = "coalesce(json_agg(json_build_array({})), '[]')::text"
    _pool: _Pool | None

    # Provided by PostgresStore.
    async def _read(
        self,
        sql: LiteralString,
        params: Sequence[object] | Mapping[str, object] = (),
        *,
        fresh: bool = True,
    ) -> list[Any]:
        raise NotImplementedError

    async def _select(self, sql: str, params: Sequence[object] = ()) -> list[Sequence[Any]]:
        # The statements are this package's own (accounts_sql.py), never built from input.
        # Accounts are written in transactions of their own, never queued.
        return await self._read(sql, params, fresh=False)

    async def _write_all(self, statements: Sequence[Statement]) -> None:
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn, conn.transaction():
            for sql, params in statements:
                await conn.execute(sql, params)

    async def add_person(self, person: NewPerson) -> Person:
        assert self._pool is not None, "store is not open"
        try:
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    "INSERT INTO people (login, name, role, password_hash, visibility, "
                    "created_ms) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    person.row(),
                )
                row = await cur.fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise AccountError(f"the login {person.login!r} is taken") from exc
        assert row is not None
        return person.with_id(int(row[0]))

    async def update_person(self, person_id: int, change: PersonChange) -> None:
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn, conn.transaction():
            if await _role(conn, person_id) == "admin" and change.role == "member":
                await _keeps_an_admin(conn, person_id)
            # COALESCE keeps what is not given; one fixed statement, no SQL built from input.
            await conn.execute(
                "UPDATE people SET name = COALESCE(%s, name), role = COALESCE(%s, role), "
                "password_hash = COALESCE(%s, password_hash), "
                "visibility = COALESCE(%s, visibility) WHERE id = %s",
                (change.name, change.role, change.password_hash, change.visibility, person_id),
            )

    async def remove_person(self, person_id: int) -> None:
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn, conn.transaction():
            if await _role(conn, person_id) == "admin":
                await _keeps_an_admin(conn, person_id)
            # Sessions and agent links go with the person (ON DELETE CASCADE).
            await conn.execute("DELETE FROM people WHERE id = %s", (person_id,))
