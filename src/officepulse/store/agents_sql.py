"""Agents, enrollment tokens, credentials and the agent events, written once for both SQL
stores (the protocols: store/agents.py, store/enrollment.py): reads through the store's
``_read``, changes as Scripts (store/sql.py) that the store runs in a transaction of its
own after what is queued. Each store gives its ``Dialect``; what the stores still do
their own way (queued agent writes, marking all offline, erasing an agent's history) stays
in them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from officepulse.core.spans import Span
from officepulse.store.records import (
    AgentEvent,
    AgentEventKind,
    AgentStatus,
    Blocked,
    Credential,
    EnrollmentToken,
    enroll_refusal,
)
from officepulse.store.rows import (
    CREDENTIAL_COLUMNS,
    SPAN_COLUMNS,
    TOKEN_COLUMNS,
    credential_from,
    event_from,
    span_from,
    status_from,
    token_from,
)
from officepulse.store.sql import Dialect, Done, Script

T = TypeVar("T")

# Block, unblock, revoke: one UPDATE each (their parameters: ``_change``'s callers).
CHANGES: dict[AgentEventKind, str] = {
    "revoke": "UPDATE agent_credentials SET revoked_ms = ? "
    "WHERE agent_id = ? AND revoked_ms IS NULL",
    "block": "UPDATE agents SET blocked_ms = ?, blocked_reason = ? WHERE id = ?",
    "unblock": "UPDATE agents SET blocked_ms = NULL, blocked_reason = NULL WHERE id = ?",
}


def agent_sql(d: Dialect) -> str:
    """Agents with their latest span and whether they are blocked (``status_from``)."""
    span = ", ".join("s." + c.strip() for c in SPAN_COLUMNS.split(","))
    return (
        "SELECT a.id, a.name, a.host, a.platform, a.version, a.tz, a.online, a.last_seen_ms, "
        f"{span}, a.blocked_ms, a.blocked_reason FROM agents a {d.latest_span}"
    )


def record_event(d: Dialect, agent_id: str, kind: AgentEventKind, now_ms: int) -> Script[None]:
    """What a team lead did to an agent, for every server to act on (``agent_events``)."""
    if d.lock_events:
        yield d.lock_events, ()
    yield (
        d.sql("INSERT INTO agent_events (agent_id, kind, at_ms) VALUES (?, ?, ?)"),
        (agent_id, kind, now_ms),
    )


def change(
    d: Dialect, agent_id: str, kind: AgentEventKind, now_ms: int, params: Sequence[object]
) -> Script[bool]:
    done = yield d.sql(CHANGES[kind]), d.texts(params)
    if done.rowcount > 0:
        yield from record_event(d, agent_id, kind, now_ms)
    return done.rowcount > 0


def forget_agent(d: Dialect, agent_id: str, erase: bool, now_ms: int) -> Script[bool]:
    """The agent's row, credential and owner deleted (its history, if erased, by the store
    before this, in the same transaction); whether there was such an agent."""
    yield d.sql("DELETE FROM agent_credentials WHERE agent_id = ?"), (agent_id,)
    # Whose it was goes with it: the same id enrolling later is nobody's yet.
    yield d.sql("DELETE FROM agent_owners WHERE agent_id = ?"), (agent_id,)
    if erase:
        # What the agent told of its computer (store/agent_facts.py) is its history too.
        yield d.sql("DELETE FROM agent_facts WHERE agent_id = ?"), (agent_id,)
    done = yield d.sql("DELETE FROM agents WHERE id = ?"), (agent_id,)
    if done.rowcount:
        yield from record_event(d, agent_id, "erase" if erase else "remove", now_ms)
    return done.rowcount > 0


def add_token(d: Dialect, token: EnrollmentToken, token_hash: str) -> Script[None]:
    yield (
        d.sql(
            f"INSERT INTO enrollment_tokens (hash, {TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ),
        (
            token_hash,
            token.id,
            d.text(token.label),
            token.created_ms,
            token.expires_ms,
            token.uses_left,
            token.revoked_ms,
        ),
    )


def revoke_token(d: Dialect, token_id: str, now_ms: int) -> Script[bool]:
    done = yield (
        d.sql("UPDATE enrollment_tokens SET revoked_ms = COALESCE(revoked_ms, ?) WHERE id = ?"),
        (now_ms, token_id),
    )
    return done.rowcount > 0


def enroll(
    d: Dialect, token_hash: str, agent_id: str, credential_hash: str, now_ms: int
) -> Script[str | None]:
    """The token checked and one use taken (its row locked until the end: two agents
    cannot take its last use), and the agent's credential set, replacing any other."""
    found: Done = yield (
        d.sql(f"SELECT {TOKEN_COLUMNS} FROM enrollment_tokens WHERE hash = ?{d.lock_row}"),
        (token_hash,),
    )
    token = token_from(found.rows[0]) if found.rows else None
    refusal = enroll_refusal(token, now_ms)
    if token is None or refusal is not None:
        return refusal
    yield (
        d.sql(
            "UPDATE enrollment_tokens SET uses_left = uses_left - 1 "
            "WHERE id = ? AND uses_left IS NOT NULL"
        ),
        (token.id,),
    )
    yield (
        d.sql(
            f"INSERT INTO agent_credentials ({CREDENTIAL_COLUMNS}) VALUES (?, ?, ?, ?, NULL) "
            "ON CONFLICT (agent_id) DO UPDATE SET hash = excluded.hash, "
            "created_ms = excluded.created_ms, token_id = excluded.token_id, revoked_ms = NULL"
        ),
        (agent_id, credential_hash, now_ms, token.id),
    )
    return None


class SQLAgents:
    """The agents' reads, tokens, credentials, blocking and events of a SQL store."""

    dialect: ClassVar[Dialect]

    # Provided by each store.
    async def _read(
        self, sql: Any, params: Sequence[object] = (), *, fresh: bool = True
    ) -> list[Any]:
        raise NotImplementedError

    async def _run(self, script: Script[T]) -> T:
        """``script`` in a write transaction of its own, after what is queued (so that,
        say, a removal comes after the agent's last queued write)."""
        raise NotImplementedError

    def _fresh_for(self, agent_id: str) -> bool:
        """Whether a read of one agent's rows must first write what is queued (``_read``'s
        ``fresh``): here always; a store that knows whose writes are queued says so for
        that agent alone, so that a reconnect storm's hellos do not each wait for the
        writer to write the others' queued rows (docs/performance.md, reconnect)."""
        return True

    async def acked_seq(self, agent_id: str) -> int:
        rows = await self._read(
            self.dialect.sql("SELECT acked_seq FROM agents WHERE id = ?"),
            (agent_id,),
            fresh=self._fresh_for(agent_id),
        )
        return int(rows[0][0]) if rows else 0

    async def last_span(self, agent_id: str) -> Span | None:
        rows = await self._read(
            self.dialect.sql(
                f"SELECT {SPAN_COLUMNS} FROM spans WHERE agent_id = ? "
                "ORDER BY start_ms DESC LIMIT 1"
            ),
            (agent_id,),
            fresh=self._fresh_for(agent_id),
        )
        return span_from(rows[0]) if rows else None

    async def agents(self) -> list[AgentStatus]:
        b = self.dialect.binary
        order = f" ORDER BY a.name{b}, a.host{b}, a.id{b}"
        return [status_from(r) for r in await self._read(agent_sql(self.dialect) + order)]

    async def agent_names(self) -> dict[str, str]:
        return {
            str(id_): str(name) for id_, name in await self._read("SELECT id, name FROM agents")
        }

    async def agent(self, agent_id: str) -> AgentStatus | None:
        rows = await self._read(
            agent_sql(self.dialect) + self.dialect.sql(" WHERE a.id = ?"),
            (agent_id,),
            fresh=self._fresh_for(agent_id),
        )
        return status_from(rows[0]) if rows else None

    async def blocked(self, agent_id: str) -> Blocked | None:
        rows = await self._read(
            self.dialect.sql("SELECT blocked_ms, blocked_reason FROM agents WHERE id = ?"),
            (agent_id,),
            # Blocking is a transaction of its own, never queued; but once the hello has
            # queued the agent's row, the check after it writes the row, so that a welcomed
            # agent is in the database (a team lead's ``agents block`` finds it).
            fresh=self._fresh_for(agent_id),
        )
        if not rows or rows[0][0] is None:
            return None
        return Blocked(str(rows[0][1] or ""), int(rows[0][0]))

    async def agent_events(self, after_seq: int) -> list[AgentEvent]:
        rows = await self._read(
            self.dialect.sql(
                "SELECT seq, agent_id, kind, at_ms FROM agent_events WHERE seq > ? ORDER BY seq"
            ),
            (after_seq,),
            fresh=False,  # polled twice a second by every server process
        )
        return [event_from(r) for r in rows]

    async def add_token(self, token: EnrollmentToken, token_hash: str) -> None:
        await self._run(add_token(self.dialect, token, token_hash))

    async def tokens(self) -> list[EnrollmentToken]:
        rows = await self._read(
            f"SELECT {TOKEN_COLUMNS} FROM enrollment_tokens "
            f"ORDER BY created_ms, id{self.dialect.binary}"
        )
        return [token_from(r) for r in rows]

    async def revoke_token(self, token_id: str, now_ms: int) -> bool:
        return await self._run(revoke_token(self.dialect, token_id, now_ms))

    async def enroll(
        self, token_hash: str, agent_id: str, credential_hash: str, now_ms: int
    ) -> str | None:
        return await self._run(enroll(self.dialect, token_hash, agent_id, credential_hash, now_ms))

    async def credential(self, agent_id: str) -> Credential | None:
        rows = await self._read(
            self.dialect.sql(
                f"SELECT {CREDENTIAL_COLUMNS} FROM agent_credentials WHERE agent_id = ?"
            ),
            (agent_id,),
            fresh=self._fresh_for(agent_id),
        )
        return credential_from(rows[0]) if rows else None

    async def revoke_credential(self, agent_id: str, now_ms: int) -> bool:
        return await self._run(change(self.dialect, agent_id, "revoke", now_ms, (now_ms, agent_id)))

    async def block_agent(self, agent_id: str, reason: str, now_ms: int) -> bool:
        params = (now_ms, reason, agent_id)
        return await self._run(change(self.dialect, agent_id, "block", now_ms, params))

    async def unblock_agent(self, agent_id: str, now_ms: int) -> bool:
        return await self._run(change(self.dialect, agent_id, "unblock", now_ms, (agent_id,)))
