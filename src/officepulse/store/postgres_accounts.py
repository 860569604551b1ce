"""The accounts part of the PostgreSQL store (store/accounts.py): each write its own
transaction on a pooled connection, taken under a row lock where it must see the admins
left (so that two servers cannot together demote the last two admins)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

import psycopg
from psycopg_pool import AsyncConnectionPool

from officepulse.store.accounts import AccountError, AuditEntry, Person, Role, Visibility
from officepulse.store.sqlite_accounts import audit_from, person_from

_Pool = AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]
_Conn = psycopg.AsyncConnection[tuple[Any, ...]]

# Migration 6 (store/postgres.py).
ACCOUNT_TABLES: LiteralString = """
    CREATE TABLE people (
        id BIGSERIAL PRIMARY KEY,
        login TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
        password_hash TEXT NOT NULL,
        visibility TEXT NOT NULL CHECK (visibility IN ('full', 'app', 'category')),
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        person_id BIGINT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    );
    CREATE INDEX sessions_by_person ON sessions (person_id);
    CREATE TABLE agent_owners (
        agent_id TEXT PRIMARY KEY,
        person_id BIGINT NOT NULL REFERENCES people (id) ON DELETE CASCADE
    );
    CREATE TABLE audit (
        id BIGSERIAL PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_by_target ON audit (target, action, at_ms);
"""
_PERSON: LiteralString = (
    "SELECT id, login, name, role, password_hash, visibility, created_ms FROM people"
)
_LAST_ADMIN = "this is the last admin; make another admin first"


async def _role(conn: _Conn, person_id: int) -> str:
    # Every admin row locked: whoever changes admins next waits for this transaction.
    await conn.execute("SELECT id FROM people WHERE role = 'admin' FOR UPDATE")
    cur = await conn.execute("SELECT role FROM people WHERE id = %s", (person_id,))
    row = await cur.fetchone()
    if row is None:
        raise AccountError(f"no person with id {person_id}")
    return str(row[0])


async def _admins_left(conn: _Conn, without: int) -> int:
    cur = await conn.execute(
        "SELECT COUNT(*) FROM people WHERE role = 'admin' AND id <> %s", (without,)
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


class PostgresAccounts:
    _pool: _Pool | None

    # Provided by PostgresStore.
    async def _read(
        self, sql: LiteralString, params: Sequence[object] | Mapping[str, object] = ()
    ) -> list[Any]:
        raise NotImplementedError

    async def _write_one(self, sql: LiteralString, params: Sequence[object] = ()) -> None:
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(sql, params)

    async def count_people(self) -> int:
        return int((await self._read("SELECT COUNT(*) FROM people"))[0][0])

    async def add_person(
        self,
        login: str,
        name: str,
        role: Role,
        password_hash: str,
        visibility: Visibility,
        created_ms: int,
    ) -> Person:
        assert self._pool is not None, "store is not open"
        try:
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    "INSERT INTO people (login, name, role, password_hash, visibility, "
                    "created_ms) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (login, name, role, password_hash, visibility, created_ms),
                )
                row = await cur.fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise AccountError(f"the login {login!r} is taken") from exc
        assert row is not None
        return Person(int(row[0]), login, name, role, password_hash, visibility, created_ms)

    async def person(self, person_id: int) -> Person | None:
        rows = await self._read(_PERSON + " WHERE id = %s", (person_id,))
        return person_from(rows[0]) if rows else None

    async def person_by_login(self, login: str) -> Person | None:
        rows = await self._read(_PERSON + " WHERE login = %s", (login,))
        return person_from(rows[0]) if rows else None

    async def people(self) -> list[Person]:
        return [person_from(r) for r in await self._read(_PERSON + ' ORDER BY login COLLATE "C"')]

    async def update_person(
        self,
        person_id: int,
        *,
        name: str | None = None,
        role: Role | None = None,
        password_hash: str | None = None,
        visibility: Visibility | None = None,
    ) -> None:
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn, conn.transaction():
            was = await _role(conn, person_id)
            if was == "admin" and role == "member" and not await _admins_left(conn, person_id):
                raise AccountError(_LAST_ADMIN)
            # COALESCE keeps what is not given; one fixed statement, no SQL built from input.
            await conn.execute(
                "UPDATE people SET name = COALESCE(%s, name), role = COALESCE(%s, role), "
                "password_hash = COALESCE(%s, password_hash), "
                "visibility = COALESCE(%s, visibility) WHERE id = %s",
                (name, role, password_hash, visibility, person_id),
            )

    async def remove_person(self, person_id: int) -> None:
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn, conn.transaction():
            if await _role(conn, person_id) == "admin" and not await _admins_left(conn, person_id):
                raise AccountError(_LAST_ADMIN)
            # Sessions and agent links go with the person (ON DELETE CASCADE).
            await conn.execute("DELETE FROM people WHERE id = %s", (person_id,))

    async def assign_agent(self, agent_id: str, person_id: int | None) -> None:
        if person_id is None:
            await self._write_one("DELETE FROM agent_owners WHERE agent_id = %s", (agent_id,))
            return
        try:
            await self._write_one(
                "INSERT INTO agent_owners (agent_id, person_id) VALUES (%s, %s) "
                "ON CONFLICT (agent_id) DO UPDATE SET person_id = excluded.person_id",
                (agent_id, person_id),
            )
        except psycopg.errors.ForeignKeyViolation as exc:
            raise AccountError(f"no person with id {person_id}") from exc

    async def agent_owners(self) -> dict[str, int]:
        rows = await self._read("SELECT agent_id, person_id FROM agent_owners")
        return {str(a): int(p) for a, p in rows}

    async def create_session(
        self, token_hash: str, person_id: int, created_ms: int, expires_ms: int
    ) -> None:
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn, conn.transaction():
            # Expired sessions go as new ones come: the table holds live sessions only.
            await conn.execute("DELETE FROM sessions WHERE expires_ms <= %s", (created_ms,))
            await conn.execute(
                "INSERT INTO sessions (token_hash, person_id, created_ms, expires_ms) "
                "VALUES (%s, %s, %s, %s)",
                (token_hash, person_id, created_ms, expires_ms),
            )

    async def session_person(self, token_hash: str, now_ms: int) -> Person | None:
        rows = await self._read(
            "SELECT p.id, p.login, p.name, p.role, p.password_hash, p.visibility, p.created_ms "
            "FROM sessions s JOIN people p ON p.id = s.person_id "
            "WHERE s.token_hash = %s AND s.expires_ms > %s",
            (token_hash, now_ms),
        )
        return person_from(rows[0]) if rows else None

    async def revoke_session(self, token_hash: str) -> None:
        await self._write_one("DELETE FROM sessions WHERE token_hash = %s", (token_hash,))

    async def revoke_sessions(self, person_id: int) -> None:
        await self._write_one("DELETE FROM sessions WHERE person_id = %s", (person_id,))

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._write_one(
            "INSERT INTO audit (at_ms, actor, action, target, detail) VALUES (%s, %s, %s, %s, %s)",
            (entry.at_ms, entry.actor, entry.action, entry.target, entry.detail),
        )

    async def audit_log(
        self, *, target: str | None = None, action: str | None = None, limit: int = 500
    ) -> list[AuditEntry]:
        # NULL parameters match everything: one fixed statement for every filter.
        rows = await self._read(
            "SELECT at_ms, actor, action, target, detail FROM audit "
            "WHERE (%(target)s::text IS NULL OR target = %(target)s) "
            "AND (%(action)s::text IS NULL OR action = %(action)s) "
            "ORDER BY at_ms DESC, id DESC LIMIT %(limit)s",
            {"target": target, "action": action, "limit": limit},
        )
        return [audit_from(r) for r in rows]

    async def count_audit(self, target: str, action: str, since_ms: int) -> int:
        rows = await self._read(
            "SELECT COUNT(*) FROM audit WHERE target = %s AND action = %s AND at_ms >= %s",
            (target, action, since_ms),
        )
        return int(rows[0][0])
