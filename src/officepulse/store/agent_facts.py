"""What agents told of themselves and their computers (core/gaps.py), in one table
written once for both SQL stores (as store/accounts_sql.py: the placeholder apart, the
statements are the same on SQLite and PostgreSQL).

One row per fact, keyed by agent, kind and start, so a fact told again (an agent tells its
sleeps and jumps on every connection) is stored once:

- ``run``: an agent process, from its start to when it was last heard of; ``value`` the
  seconds (ms) its computer had slept since boot by then; ``detail`` what its hello told
  (JSON, ``RunDetail``);
- ``sleep``: the computer slept from start to end;
- ``clock``: the clock was set at start (= end) by ``value`` ms.

Step 12 of the migration list (store/migrations.py) makes the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import msgspec

from officepulse.store.sql import SQLTable

FactKind = Literal["run", "sleep", "clock"]

# A run told again (a reconnection) keeps what its first hello said; its end and
# sleep count move on (never back: messages of one run may be taken out of order).
_UPSERT = (
    "INSERT INTO agent_facts (agent_id, kind, start_ms, end_ms, value, detail) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, kind, start_ms) DO UPDATE SET "
    "end_ms = CASE WHEN excluded.end_ms > agent_facts.end_ms THEN excluded.end_ms "
    "ELSE agent_facts.end_ms END, "
    "value = CASE WHEN excluded.end_ms >= agent_facts.end_ms THEN excluded.value "
    "ELSE agent_facts.value END"
)
_COLUMNS = "kind, start_ms, end_ms, value, detail"

# Retention: facts that ended before the horizon go with the spans they explained, except
# each agent's latest run, which the next start is compared with (core/gaps.py) however
# long ago it ended.
_OLD = (
    "FROM agent_facts WHERE end_ms < ? AND NOT (kind = 'run' AND start_ms = "
    "(SELECT max(latest.start_ms) FROM agent_facts latest "
    "WHERE latest.agent_id = agent_facts.agent_id AND latest.kind = 'run'))"
)


class RunDetail(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a run's hello told, kept as JSON in its row's ``detail``."""

    version: str
    boot_ms: int | None = None
    asleep_ms: int | None = None
    build: str | None = None
    journal_begun_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    kind: FactKind
    start_ms: int
    end_ms: int
    value: int | None = None
    detail: str = ""


def _fact(row: Sequence[Any]) -> Fact:
    kind, start, end, value, detail = row
    return Fact(kind, int(start), int(end), None if value is None else int(value), str(detail))


class AgentFacts(Protocol):
    """The store as honest gaps use it."""

    async def save_facts(self, agent_id: str, facts: Sequence[Fact]) -> None: ...

    async def facts(self, agent_id: str, lo_ms: int, hi_ms: int) -> list[Fact]: ...

    async def prune_facts(self, before_ms: int) -> int: ...


class SQLAgentFacts(SQLTable):
    """``AgentFacts`` for a store that gives what ``SQLTable`` needs."""

    async def save_facts(self, agent_id: str, facts: Sequence[Fact]) -> None:
        """Store each fact once (one transaction)."""
        sql = self._sql(_UPSERT)
        await self._write_all(
            [(sql, (agent_id, f.kind, f.start_ms, f.end_ms, f.value, f.detail)) for f in facts]
        )

    async def facts(self, agent_id: str, lo_ms: int, hi_ms: int) -> list[Fact]:
        """The facts that touch [lo_ms, hi_ms], and the run before the first of them
        (what a run is compared with), by start."""
        touching = await self._select(
            self._sql(
                f"SELECT {_COLUMNS} FROM agent_facts WHERE agent_id = ? AND start_ms <= ? "
                "AND end_ms >= ? ORDER BY start_ms"
            ),
            (agent_id, hi_ms, lo_ms),
        )
        before = await self._select(
            self._sql(
                f"SELECT {_COLUMNS} FROM agent_facts WHERE agent_id = ? AND kind = 'run' "
                "AND end_ms < ? ORDER BY start_ms DESC LIMIT 1"
            ),
            (agent_id, lo_ms),
        )
        return [_fact(r) for r in before] + [_fact(r) for r in touching]

    async def prune_facts(self, before_ms: int) -> int:
        """Delete the facts retention no longer keeps (``_OLD``); how many went."""
        (count,) = (await self._select(self._sql(f"SELECT count(*) {_OLD}"), (before_ms,)))[0]
        if count:
            await self._write_all([(self._sql(f"DELETE {_OLD}"), (before_ms,))])
        return int(count)
