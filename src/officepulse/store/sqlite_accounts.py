"""The accounts part of the SQLite store (store/accounts.py). Account writes are rare
and small, so each is its own transaction on the store's write connection, taken in turn
with the span writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

from officepulse.store.accounts import AccountError, AuditEntry, Person, Role, Visibility

T = TypeVar("T")

# Migration 6 (store/sqlite.py runs these in one transaction).
ACCOUNT_TABLES: tuple[str, ...] = (
    "CREATE TABLE people (id INTEGER PRIMARY KEY, login TEXT NOT NULL UNIQUE, "
    "name TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('admin', 'member')), "
    "password_hash TEXT NOT NULL, "
    "visibility TEXT NOT NULL CHECK (visibility IN ('full', 'app', 'category')), "
    "created_ms INTEGER NOT NULL)",
    "CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, person_id INTEGER NOT NULL, "
    "created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL)",
    "CREATE INDEX sessions_by_person ON sessions (person_id)",
    "CREATE TABLE agent_owners (agent_id TEXT PRIMARY KEY, person_id INTEGER NOT NULL)",
    "CREATE TABLE audit (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, actor TEXT NOT NULL, "
    "action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL)",
    "CREATE INDEX audit_by_target ON audit (target, action, at_ms)",
)
_PERSON = "SELECT id, login, name, role, password_hash, visibility, created_ms FROM people"


def person_from(row: Sequence[object]) -> Person:
    return Person(
        int(cast(int, row[0])),
        str(row[1]),
        str(row[2]),
        cast(Role, str(row[3])),
        str(row[4]),
        cast(Visibility, str(row[5])),
        int(cast(int, row[6])),
    )


def audit_from(row: Sequence[object]) -> AuditEntry:
    return AuditEntry(int(cast(int, row[0])), str(row[1]), str(row[2]), str(row[3]), str(row[4]))


def _admins_left(conn: sqlite3.Connection, without: int) -> int:
    (n,) = conn.execute(
        "SELECT COUNT(*) FROM people WHERE role = 'admin' AND id != ?", (without,)
    ).fetchone()
    return int(n)


def _known(conn: sqlite3.Connection, person_id: int) -> str:
    row = conn.execute("SELECT role FROM people WHERE id = ?", (person_id,)).fetchone()
    if row is None:
        raise AccountError(f"no person with id {person_id}")
    return str(row[0])


class SQLiteAccounts:
    # Provided by SQLiteStore.
    async def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        raise NotImplementedError

    async def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def count_people(self) -> int:
        rows = await self._read("SELECT COUNT(*) FROM people")
        return int(cast(int, rows[0][0]))

    async def add_person(
        self,
        login: str,
        name: str,
        role: Role,
        password_hash: str,
        visibility: Visibility,
        created_ms: int,
    ) -> Person:
        def work(conn: sqlite3.Connection) -> int:
            try:
                cur = conn.execute(
                    "INSERT INTO people (login, name, role, password_hash, visibility, "
                    "created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    (login, name, role, password_hash, visibility, created_ms),
                )
            except sqlite3.IntegrityError as exc:
                raise AccountError(f"the login {login!r} is taken") from exc
            assert cur.lastrowid is not None
            return cur.lastrowid

        person_id = await self._transaction(work)
        return Person(person_id, login, name, role, password_hash, visibility, created_ms)

    async def person(self, person_id: int) -> Person | None:
        rows = await self._read(_PERSON + " WHERE id = ?", (person_id,))
        return person_from(rows[0]) if rows else None

    async def person_by_login(self, login: str) -> Person | None:
        rows = await self._read(_PERSON + " WHERE login = ?", (login,))
        return person_from(rows[0]) if rows else None

    async def people(self) -> list[Person]:
        return [person_from(r) for r in await self._read(_PERSON + " ORDER BY login")]

    async def update_person(
        self,
        person_id: int,
        *,
        name: str | None = None,
        role: Role | None = None,
        password_hash: str | None = None,
        visibility: Visibility | None = None,
    ) -> None:
        changes = {
            k: v
            for k, v in (
                ("name", name),
                ("role", role),
                ("password_hash", password_hash),
                ("visibility", visibility),
            )
            if v is not None
        }

        def work(conn: sqlite3.Connection) -> None:
            was = _known(conn, person_id)
            if was == "admin" and role == "member" and not _admins_left(conn, person_id):
                raise AccountError("this is the last admin; make another admin first")
            if changes:
                sets = ", ".join(f"{k} = ?" for k in changes)  # keys from the fixed list above
                conn.execute(
                    f"UPDATE people SET {sets} WHERE id = ?", (*changes.values(), person_id)
                )

        await self._transaction(work)

    async def remove_person(self, person_id: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            if _known(conn, person_id) == "admin" and not _admins_left(conn, person_id):
                raise AccountError("this is the last admin; make another admin first")
            conn.execute("DELETE FROM sessions WHERE person_id = ?", (person_id,))
            conn.execute("DELETE FROM agent_owners WHERE person_id = ?", (person_id,))
            conn.execute("DELETE FROM people WHERE id = ?", (person_id,))

        await self._transaction(work)

    async def assign_agent(self, agent_id: str, person_id: int | None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            if person_id is None:
                conn.execute("DELETE FROM agent_owners WHERE agent_id = ?", (agent_id,))
                return
            _known(conn, person_id)
            conn.execute(
                "INSERT INTO agent_owners (agent_id, person_id) VALUES (?, ?) "
                "ON CONFLICT (agent_id) DO UPDATE SET person_id = excluded.person_id",
                (agent_id, person_id),
            )

        await self._transaction(work)

    async def agent_owners(self) -> dict[str, int]:
        rows = await self._read("SELECT agent_id, person_id FROM agent_owners")
        return {str(a): int(cast(int, p)) for a, p in rows}

    async def create_session(
        self, token_hash: str, person_id: int, created_ms: int, expires_ms: int
    ) -> None:
        def work(conn: sqlite3.Connection) -> None:
            # Expired sessions go as new ones come: the table holds live sessions only.
            conn.execute("DELETE FROM sessions WHERE expires_ms <= ?", (created_ms,))
            conn.execute(
                "INSERT INTO sessions (token_hash, person_id, created_ms, expires_ms) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, person_id, created_ms, expires_ms),
            )

        await self._transaction(work)

    async def session_person(self, token_hash: str, now_ms: int) -> Person | None:
        rows = await self._read(
            "SELECT p.id, p.login, p.name, p.role, p.password_hash, p.visibility, p.created_ms "
            "FROM sessions s JOIN people p ON p.id = s.person_id "
            "WHERE s.token_hash = ? AND s.expires_ms > ?",
            (token_hash, now_ms),
        )
        return person_from(rows[0]) if rows else None

    async def revoke_session(self, token_hash: str) -> None:
        await self._transaction(
            lambda conn: conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
        )

    async def revoke_sessions(self, person_id: int) -> None:
        await self._transaction(
            lambda conn: conn.execute("DELETE FROM sessions WHERE person_id = ?", (person_id,))
        )

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._transaction(
            lambda conn: conn.execute(
                "INSERT INTO audit (at_ms, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (entry.at_ms, entry.actor, entry.action, entry.target, entry.detail),
            )
        )

    async def audit_log(
        self, *, target: str | None = None, action: str | None = None, limit: int = 500
    ) -> list[AuditEntry]:
        where, params = _audit_filter(target, action, "?")
        rows = await self._read(
            f"SELECT at_ms, actor, action, target, detail FROM audit{where} "
            "ORDER BY at_ms DESC, id DESC LIMIT ?",
            [*params, limit],
        )
        return [audit_from(r) for r in rows]

    async def count_audit(self, target: str, action: str, since_ms: int) -> int:
        rows = await self._read(
            "SELECT COUNT(*) FROM audit WHERE target = ? AND action = ? AND at_ms >= ?",
            (target, action, since_ms),
        )
        return int(cast(int, rows[0][0]))


def _audit_filter(target: str | None, action: str | None, mark: str) -> tuple[str, list[object]]:
    """The WHERE clause of an audit query, with ``mark`` as the placeholder (both stores)."""
    parts: list[str] = []
    params: list[object] = []
    for column, value in (("target", target), ("action", action)):
        if value is not None:
            parts.append(f"{column} = {mark}")
            params.append(value)
    return (" WHERE " + " AND ".join(parts) if parts else ""), params
