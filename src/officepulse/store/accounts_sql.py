"""The accounts (store/accounts.py) written once for both SQL stores: the statements are
the same on SQLite and PostgreSQL but for the placeholder (``?`` or ``%s``). Each store
gives the placeholder, a read and a write of statements in one transaction, and the
writes whose checks and errors differ (adding, changing and removing people)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import msgspec

from officepulse.core.categories import Rule, rules_from_json
from officepulse.store.accounts import (
    AccountError,
    AuditEntry,
    NewPerson,
    Person,
    Role,
    Visibility,
)

PERSON_COLUMNS = "id, login, name, role, password_hash, visibility, created_ms"
LAST_ADMIN = "this is the last admin; make another admin first"
Statement = tuple[str, Sequence[object]]


def person_from(row: Sequence[object]) -> Person:
    """A row of PERSON_COLUMNS (the id first)."""
    return NewPerson(
        str(row[1]),
        str(row[2]),
        cast(Role, str(row[3])),
        str(row[4]),
        cast(Visibility, str(row[5])),
        int(cast(int, row[6])),
    ).with_id(int(cast(int, row[0])))


def audit_from(row: Sequence[object]) -> AuditEntry:
    return AuditEntry(int(cast(int, row[0])), str(row[1]), str(row[2]), str(row[3]), str(row[4]))


def no_person(person_id: int) -> AccountError:
    return AccountError(f"no person with id {person_id}")


class SQLAccounts:
    _mark = "?"  # the store's placeholder

    # A table's rows as one JSON array of arrays, in the store's SQL (SQLite's here;
    # PostgreSQL's in postgres_accounts.py), so that several tables are read in one
    # statement (``directory_rows``).
    _json_rows = "json_group_array(json_array({}))"

    async def _select(self, sql: str, params: Sequence[object] = ()) -> list[Sequence[Any]]:
        raise NotImplementedError

    async def _write_all(self, statements: Sequence[Statement]) -> None:
        """The statements in one transaction."""
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._mark)

    async def _count(self, sql: str, params: Sequence[object] = ()) -> int:
        return int((await self._select(self._sql(sql), params))[0][0])

    async def _person_where(self, where: str, value: object) -> Person | None:
        rows = await self._select(
            self._sql(f"SELECT {PERSON_COLUMNS} FROM people {where}"), (value,)
        )
        return person_from(rows[0]) if rows else None

    async def count_people(self) -> int:
        return await self._count("SELECT COUNT(*) FROM people")

    async def person(self, person_id: int) -> Person | None:
        return await self._person_where("WHERE id = ?", person_id)

    async def person_by_login(self, login: str) -> Person | None:
        return await self._person_where("WHERE login = ?", login)

    async def people(self) -> list[Person]:
        rows = await self._select(f"SELECT {PERSON_COLUMNS} FROM people")
        return sorted((person_from(r) for r in rows), key=lambda p: p.login)

    async def assign_agent(self, agent_id: str, person_id: int | None) -> None:
        if person_id is None:
            await self._write_all(
                [(self._sql("DELETE FROM agent_owners WHERE agent_id = ?"), (agent_id,))]
            )
            return
        if await self.person(person_id) is None:
            raise no_person(person_id)
        upsert = (
            "INSERT INTO agent_owners (agent_id, person_id) VALUES (?, ?) "
            "ON CONFLICT (agent_id) DO UPDATE SET person_id = excluded.person_id"
        )
        await self._write_all([(self._sql(upsert), (agent_id, person_id))])

    async def agent_owners(self) -> dict[str, int]:
        rows = await self._select("SELECT agent_id, person_id FROM agent_owners")
        return {str(a): int(p) for a, p in rows}

    async def directory_rows(
        self, token_hash: str | None = None, now_ms: int = 0
    ) -> tuple[dict[str, int], list[Person], list[Rule], int | None]:
        agg = self._json_rows
        rows = await self._select(
            self._sql(
                f"SELECT (SELECT {agg.format('agent_id, person_id')} FROM agent_owners), "
                f"(SELECT {agg.format(PERSON_COLUMNS)} FROM people), "
                "(SELECT rules FROM categories), "
                "(SELECT person_id FROM sessions WHERE token_hash = ? AND expires_ms > ?)"
            ),
            (token_hash or "", now_ms),
        )
        owners, people, rules, person_id = rows[0]
        return (
            {str(a): int(p) for a, p in msgspec.json.decode(owners)},
            sorted((person_from(r) for r in msgspec.json.decode(people)), key=lambda p: p.login),
            rules_from_json(str(rules)),
            None if person_id is None else int(person_id),
        )

    async def create_session(
        self, token_hash: str, person_id: int, created_ms: int, expires_ms: int
    ) -> None:
        insert = (
            "INSERT INTO sessions (token_hash, person_id, created_ms, expires_ms) "
            "VALUES (?, ?, ?, ?)"
        )
        await self._write_all(
            [
                # Expired sessions go as new ones come: the table holds live sessions only.
                (self._sql("DELETE FROM sessions WHERE expires_ms <= ?"), (created_ms,)),
                (self._sql(insert), (token_hash, person_id, created_ms, expires_ms)),
            ]
        )

    async def session_person(self, token_hash: str, now_ms: int) -> Person | None:
        columns = ", ".join("p." + c for c in PERSON_COLUMNS.split(", "))
        rows = await self._select(
            self._sql(
                f"SELECT {columns} FROM sessions s JOIN people p ON p.id = s.person_id "
                "WHERE s.token_hash = ? AND s.expires_ms > ?"
            ),
            (token_hash, now_ms),
        )
        return person_from(rows[0]) if rows else None

    async def revoke_session(self, token_hash: str) -> None:
        await self._write_all(
            [(self._sql("DELETE FROM sessions WHERE token_hash = ?"), (token_hash,))]
        )

    async def revoke_sessions(self, person_id: int) -> None:
        await self._write_all(
            [(self._sql("DELETE FROM sessions WHERE person_id = ?"), (person_id,))]
        )

    async def add_audit(self, entry: AuditEntry) -> None:
        insert = "INSERT INTO audit (at_ms, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)"
        values = (entry.at_ms, entry.actor, entry.action, entry.target, entry.detail)
        await self._write_all([(self._sql(insert), values)])

    async def audit_log(
        self, *, target: str | None = None, action: str | None = None, limit: int = 500
    ) -> list[AuditEntry]:
        parts: list[str] = []
        params: list[object] = []
        for column, value in (("target", target), ("action", action)):
            if value is not None:
                parts.append(f"{column} = ?")  # column names from this fixed list
                params.append(value)
        where = " WHERE " + " AND ".join(parts) if parts else ""
        rows = await self._select(
            self._sql(
                f"SELECT at_ms, actor, action, target, detail FROM audit{where} "
                "ORDER BY at_ms DESC, id DESC LIMIT ?"
            ),
            [*params, limit],
        )
        return [audit_from(r) for r in rows]

    async def count_audit(self, target: str, action: str, since_ms: int) -> int:
        return await self._count(
            "SELECT COUNT(*) FROM audit WHERE target = ? AND action = ? AND at_ms >= ?",
            (target, action, since_ms),
        )
