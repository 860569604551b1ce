"""The Store on PostgreSQL, for servers that outgrow one SQLite file.

psycopg 3, asynchronous, pooled (``AsyncConnectionPool``). One writer task owns every
write, as SQLite's writer thread does: it drains what is queued every ``flush_interval``
seconds, or at once when a caller waits (``commit_spans``, ``flush``, a read), and writes it
all in one transaction: agents with one multi-row upsert (``unnest`` of column arrays),
spans by binary COPY into a temporary table and one upsert from it (1.3-1.9x the rate of
the ``unnest`` upsert, 2-3x that of executemany, in bench/store.py's batches of 500), then
the ``acked_seq`` of each committed batch. Reads run on the other pooled connections.
Every write of spans, this writer's and the ActivityWatch projection's
(activitywatch/postgres.py, in its own transactions), goes through ``write_span_rows``,
which keeps the rollups.

Times are BIGINT milliseconds. The schema is a numbered list of steps recorded in the
``schema_version`` table, applied at ``open`` in one transaction under an advisory lock,
so servers starting together against one database take turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, LiteralString, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from officepulse.core.categories import (
    DEFAULT_RULES,
    CategoryError,
    Rule,
    RuleSet,
    compile_rules,
    rules_from_json,
    rules_to_json,
)
from officepulse.core.spans import Span
from officepulse.core.zones import by_agent, hull, in_place, marks_by_agent, repaint
from officepulse.errors import StoreUnavailable
from officepulse.store import categorising as jobs
from officepulse.store.agent_facts import SQLAgentFacts
from officepulse.store.agents_sql import SQLAgents, forget_agent
from officepulse.store.app_names import SQLAppNames
from officepulse.store.aw_erase import erase_aw_events_postgres
from officepulse.store.base import (
    FLUSH_INTERVAL,
    RECATEGORIZE_CHUNK,
    AgentInfo,
    BucketKey,
    Contribution,
    KeyIds,
    KeyNames,
    RollupKey,
    RunKey,
    UsagePlan,
    keys_of,
    learn_keys,
    missing_keys,
    rollup_delta,
    run_delta,
    shrank,
    team_delta,
)
from officepulse.store.categorising import CategoryJob, Cursor
from officepulse.store.categorising_sql import SQLCategorising
from officepulse.store.failures import FailureLog, StoreRefused, backoff, reason
from officepulse.store.migrations import (
    CATEGORY_REBUILD,
    CATEGORY_STEP,
    STEPS,
    pending,
)
from officepulse.store.migrations import (
    SCHEMA_VERSION as SCHEMA_VERSION,  # what tests compare
)
from officepulse.store.moment import settled
from officepulse.store.pool_check import check_if_stirred
from officepulse.store.postgres_accounts import PostgresAccounts
from officepulse.store.queued import Queued, Whose
from officepulse.store.reads_sql import OVERLAP, SQLReads
from officepulse.store.rows import SPAN_COLUMNS, SpanRow, span_row
from officepulse.store.sql import Dialect, Done, Script

log = logging.getLogger(__name__)
T = TypeVar("T")
# Errors that one write's data sets off, which trying again cannot mend (a constraint, a
# value PostgreSQL cannot hold): that write is refused (store/failures.py). Any other
# error (the connection was lost, the disk is full, a deadlock, a read-only standby) is
# transient: the writer keeps what it had and tries again.
_LASTING = (psycopg.IntegrityError, psycopg.DataError, ValueError, OverflowError)
_Pool = AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]

# The schema steps (store/migrations.py) as PostgreSQL runs them, by version (tests build
# old databases from these).
MIGRATIONS: dict[int, LiteralString] = {step.version: step.postgres for step in STEPS}
# pg_advisory_xact_lock key that serialises migrations (advisory locks are per database).
MIGRATION_LOCK = 0x6F70_7363_6865_6D61  # "opschema"

# Each row online names the gateway lease its writer holds it by (``PostgresStore.lease``,
# server/leases.py), in the same write: a hello on another gateway takes the agent at once.
_AGENT_UPSERT: LiteralString = (
    "INSERT INTO agents (id, name, host, platform, version, tz, online, last_seen_ms, lease) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::text[], %s::bool[], %s::bigint[], %s::text[]) "
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, host = excluded.host, "
    "platform = excluded.platform, version = excluded.version, tz = excluded.tz, "
    "online = excluded.online, last_seen_ms = excluded.last_seen_ms, lease = excluded.lease"
)
# Spans arrive by binary COPY into this per-session table, then one upsert moves them (it
# is named for the schema that last changed its columns, 7, which gave it the category
# after 6 gave it the zone: a pooled session of an older version may still hold an older
# one under the old name).
# ON COMMIT DELETE ROWS empties it in place (no new file, no catalog churn) at each commit.
# It is made, if missing, at the start of each write transaction rather than once per
# connection, so that a pooler in transaction mode (PgBouncer) works too; one round trip,
# with the "already exists" notice silenced.
_STAGING: LiteralString = (
    "SET LOCAL client_min_messages = warning; "
    "CREATE TEMP TABLE IF NOT EXISTS spans_in7 (agent_id TEXT, start_ms BIGINT, end_ms BIGINT, "
    "app TEXT, title TEXT, url TEXT, process TEXT, pid BIGINT, idle BOOLEAN, details BYTEA, "
    "tz TEXT, category TEXT) ON COMMIT DELETE ROWS"
)
# commit_spans promises durable. Where the database says synchronous_commit=off, the
# store's write transactions overrule it (a stronger setting is left alone).
_DURABLE: LiteralString = "; SET LOCAL synchronous_commit = on"
_STAGING_TYPES = (
    *("text", "int8", "int8", "text", "text", "text", "text", "int8", "bool", "bytea"),
    *("text", "text"),  # tz, category
)
_SPAN_COPY: LiteralString = (
    f"COPY spans_in7 (agent_id, {SPAN_COLUMNS}, category) FROM STDIN (FORMAT BINARY)"
)
_SPAN_UPSERT: LiteralString = (
    f"INSERT INTO spans (agent_id, {SPAN_COLUMNS}, category) "
    f"SELECT agent_id, {SPAN_COLUMNS}, category FROM spans_in7 "
    "ON CONFLICT (agent_id, start_ms) DO UPDATE SET end_ms = excluded.end_ms, "
    "app = excluded.app, title = excluded.title, url = excluded.url, "
    "process = excluded.process, pid = excluded.pid, idle = excluded.idle, "
    "details = excluded.details, tz = excluded.tz, category = excluded.category"
)
# Each written agent's runs near the hull [lo, hi] of its new spans: the last one that
# starts before lo, every one that starts within, the first one after hi (all that
# painting can change or join; core/zones.py). Under the per-agent lock below.
_ZONES_NEAR: LiteralString = (
    "SELECT v.agent_id, z.start_ms, z.end_ms, z.tz "
    "FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS v(agent_id, lo, hi) "
    "JOIN zone_runs z ON z.agent_id = v.agent_id AND z.start_ms >= COALESCE("
    "(SELECT MAX(start_ms) FROM zone_runs WHERE agent_id = v.agent_id AND start_ms < v.lo), v.lo) "
    "AND z.start_ms <= COALESCE("
    "(SELECT MIN(start_ms) FROM zone_runs WHERE agent_id = v.agent_id AND start_ms > v.hi), v.hi) "
    "ORDER BY v.agent_id, z.start_ms"
)
_ZONES_DELETE: LiteralString = (
    "DELETE FROM zone_runs z USING unnest(%s::text[], %s::bigint[]) AS v(agent_id, start_ms) "
    "WHERE z.agent_id = v.agent_id AND z.start_ms = v.start_ms"
)
_ZONES_UPDATE: LiteralString = (
    "UPDATE zone_runs z SET end_ms = v.end_ms, tz = v.tz "
    "FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[]) AS v(agent_id, start_ms, "
    "end_ms, tz) WHERE z.agent_id = v.agent_id AND z.start_ms = v.start_ms"
)
_ZONES_INSERT: LiteralString = (
    "INSERT INTO zone_runs (agent_id, start_ms, end_ms, tz) "
    "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[])"
)
# Every write that categorises takes this row FOR SHARE; set_categories updates it, so it
# waits for writes under the old rules to commit, and later writes see the new ones. Taken
# after the agents' locks below, in every transaction (the ActivityWatch projection holds
# its agent before it writes), so that no two transactions wait for each other.
_RULES_VERSION: LiteralString = "SELECT version FROM categories FOR SHARE"
# Changing the rules and each batch of their job take turns under this transaction-scoped
# lock (in every server process), taken first: then a batch's row locks (the job's, the
# agents', the rules' FOR SHARE, in the writers' order) never wait for a change of the
# rules that waits for them.
JOBS_LOCK = 0x6F70_6361_7473  # "opcats"
_JOBS_LOCK: LiteralString = "SELECT pg_advisory_xact_lock(%s)"
# Rollup deltas need each written row's old contribution, read in the writing transaction.
# Writers of one agent in other server processes take turns (a transaction-scoped lock
# per agent, taken in order), so no two read the same old row.
ROLLUP_LOCK = 0x6F70_726C  # "oprl"
_LOCK_LISTED: LiteralString = (
    "SELECT count(pg_advisory_xact_lock(%s, hashtext(agent_id))) "
    'FROM (SELECT DISTINCT agent_id COLLATE "C" AS agent_id FROM unnest(%s::text[]) '
    "AS w(agent_id) ORDER BY 1) a"
)
# Deleted rows, with what they contributed to the rollups (params: agent ids, starts).
_DELETE_ROWS: LiteralString = (
    "DELETE FROM spans s USING unnest(%s::text[], %s::bigint[]) AS g(agent_id, start_ms) "
    "WHERE s.agent_id = g.agent_id AND s.start_ms = g.start_ms "
    "RETURNING s.agent_id, s.start_ms, s.end_ms, s.app, s.category, s.idle"
)
_OLD_ROWS: LiteralString = (
    "SELECT s.agent_id, s.start_ms, s.end_ms, s.app, s.category, s.idle FROM spans_in7 i "
    "JOIN spans s ON s.agent_id = i.agent_id AND s.start_ms = i.start_ms"
)
_ROLLUP_ADD: LiteralString = (
    "INSERT INTO rollups (size_ms, bucket_ms, key_id, active_ms, idle_ms) "
    "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], "
    "%s::bigint[]) ON CONFLICT (size_ms, bucket_ms, key_id) DO UPDATE SET "
    "active_ms = rollups.active_ms + excluded.active_ms, "
    "idle_ms = rollups.idle_ms + excluded.idle_ms"
)
_ROLLUP_PRUNE: LiteralString = (
    "DELETE FROM rollups r USING unnest(%s::bigint[], %s::bigint[], %s::bigint[]) "
    "AS v(size_ms, bucket_ms, key_id) WHERE r.size_ms = v.size_ms "
    "AND r.bucket_ms = v.bucket_ms AND r.key_id = v.key_id AND r.active_ms = 0 AND r.idle_ms = 0"
)
_TEAM_ADD: LiteralString = (
    "INSERT INTO team_rollups (size_ms, bucket_ms, app, category, active_ms, idle_ms) "
    "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::bigint[], "
    "%s::bigint[]) ON CONFLICT (size_ms, bucket_ms, app, category) DO UPDATE SET "
    "active_ms = team_rollups.active_ms + excluded.active_ms, "
    "idle_ms = team_rollups.idle_ms + excluded.idle_ms"
)
_TEAM_PRUNE: LiteralString = (
    "DELETE FROM team_rollups r USING unnest(%s::bigint[], %s::bigint[], %s::text[], "
    "%s::text[]) AS v(size_ms, bucket_ms, app, category) "
    "WHERE r.size_ms = v.size_ms AND r.bucket_ms = v.bucket_ms AND r.app = v.app "
    "AND r.category = v.category AND r.active_ms = 0 AND r.idle_ms = 0"
)
_RUN_ADD: LiteralString = (
    "INSERT INTO rollup_runs (key_id, start_ms, end_ms, active_n, idle_n) "
    "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], "
    "%s::bigint[]) ON CONFLICT (key_id, start_ms, end_ms) DO UPDATE SET "
    "active_n = rollup_runs.active_n + excluded.active_n, "
    "idle_n = rollup_runs.idle_n + excluded.idle_n"
)
_RUN_PRUNE: LiteralString = (
    "DELETE FROM rollup_runs r USING unnest(%s::bigint[], %s::bigint[], %s::bigint[]) "
    "AS v(key_id, start_ms, end_ms) WHERE r.key_id = v.key_id AND r.start_ms = v.start_ms "
    "AND r.end_ms = v.end_ms AND r.active_n = 0 AND r.idle_n = 0"
)
_KEYS_VERSION: LiteralString = "SELECT version FROM rollup_keys_version"
_KEY_ADD: LiteralString = (
    "INSERT INTO rollup_keys (agent_id, app, category) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) ON CONFLICT DO NOTHING"
)
_KEY_IDS: LiteralString = (
    "SELECT k.id, k.agent_id, k.app, k.category FROM rollup_keys k "
    "JOIN unnest(%s::text[], %s::text[], %s::text[]) AS v(agent_id, app, category) "
    "ON k.agent_id = v.agent_id AND k.app = v.app AND k.category = v.category"
)
# Raises the stored longest span if this write has a longer one (no row lock otherwise).
_MAX_SPAN: LiteralString = (
    "UPDATE span_stats SET max_span_ms = m.ms FROM "
    "(SELECT MAX(end_ms - start_ms) AS ms FROM spans_in7) m WHERE m.ms > span_stats.max_span_ms"
)
# Retention (Store.prune), a chunk a transaction: the agents whose old spans go are locked
# as writers lock them (same lock, same order), so a write that reads a span's old row
# never races its deletion.
PRUNE_CHUNK = 10_000
_PRUNE_AGENTS: LiteralString = (
    'SELECT DISTINCT agent_id COLLATE "C" FROM (SELECT agent_id FROM spans '
    "WHERE start_ms < %s AND end_ms <= %s LIMIT %s) v ORDER BY 1"
)
_PRUNE_LOCK: LiteralString = (
    "SELECT count(pg_advisory_xact_lock(%s, hashtext(a))) FROM unnest(%s::text[]) a"
)
_PRUNE: LiteralString = (
    "DELETE FROM spans WHERE ctid IN (SELECT ctid FROM spans WHERE agent_id = ANY(%s) "
    "AND start_ms < %s AND end_ms <= %s LIMIT %s)"
)
_ACK: LiteralString = (
    "UPDATE agents SET acked_seq = GREATEST(agents.acked_seq, v.seq) "
    "FROM unnest(%s::text[], %s::bigint[]) AS v(id, seq) WHERE agents.id = v.id"
)
POSTGRES = Dialect(
    mark="%s",
    binary=' COLLATE "C"',  # code point order, as SQLite sorts, whatever the collation
    lock_row=" FOR UPDATE",
    lock_events="LOCK TABLE agent_events IN EXCLUSIVE MODE",
    least="LEAST",
    greatest="GREATEST",
    casts=True,
    agent_in="agent_id = ANY(%s::text[])",
    key_in="id = ANY(%s::bigint[])",
    ids=list,
    text=lambda value: _text(value),
    latest_span="LEFT JOIN LATERAL (SELECT * FROM spans WHERE spans.agent_id = a.id "
    "ORDER BY start_ms DESC LIMIT 1) s ON true",
)


async def run_script(conn: psycopg.AsyncConnection[tuple[Any, ...]], script: Script[T]) -> T:
    """Run a transaction's statements (store/sql.py) on ``conn``, in the caller's
    transaction."""
    try:
        statement = next(script)
        while True:
            cur = await conn.execute(*statement)
            rows = await cur.fetchall() if cur.description is not None else []
            statement = script.send(Done(rows, cur.rowcount))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; SQLite can. One bad title must not stop every write.
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _opt_text(value: str | None) -> str | None:
    return None if value is None else _text(value)


def pg_span_row(agent_id: str, span: Span) -> SpanRow:
    row = span_row(agent_id, span)
    return (
        row[0],
        row[1],
        row[2],
        _text(row[3]),
        _text(row[4]),
        _opt_text(row[5]),
        _opt_text(row[6]),
        row[7],
        row[8],
        row[9],
        _opt_text(row[10]),
    )


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows to one list per column (what ``unnest`` takes)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


async def _categorize_spans(conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
    """Migration 7: every stored span categorised by the default rules, each distinct
    (app, title, url) decided once; the defaults stored as the rules in force."""
    rules = compile_rules(DEFAULT_RULES)
    cur = await conn.execute("SELECT DISTINCT app, title, url FROM spans")
    decided = [
        (app, title, url, rules.categorize(app, title, url)) async for app, title, url in cur
    ]
    await conn.execute(
        "CREATE TEMP TABLE span_categories (app TEXT, title TEXT, url TEXT, category TEXT) "
        "ON COMMIT DROP"
    )
    async with conn.cursor() as copy_cur, copy_cur.copy("COPY span_categories FROM STDIN") as copy:
        for row in decided:
            await copy.write_row(row)
    await conn.execute(
        "UPDATE spans s SET category = c.category FROM span_categories c "
        "WHERE s.app = c.app AND s.title = c.title "
        "AND (s.url = c.url OR (s.url IS NULL AND c.url IS NULL))"
    )
    await conn.execute(
        "INSERT INTO categories (id, version, rules) VALUES (0, 1, %s)",
        (rules_to_json(rules.rules),),
    )


async def hold_agents(
    conn: psycopg.AsyncConnection[tuple[Any, ...]], agent_ids: Iterable[str]
) -> None:
    """Keep every other writer of these agents' spans waiting until this transaction
    ends: the lock ``write_span_rows`` takes (taking it again there is free)."""
    await conn.execute(_LOCK_LISTED, (ROLLUP_LOCK, sorted(set(agent_ids))))


async def _paint_zones(cur: psycopg.AsyncCursor[tuple[Any, ...]], rows: Iterable[SpanRow]) -> None:
    """Keep each agent's zone runs in step with the spans just written."""
    marks = marks_by_agent((r[0], r[1], r[2], r[10]) for r in rows)
    if not marks:
        return
    hulls = [(agent_id, *hull(m)) for agent_id, m in marks.items()]
    await cur.execute(_ZONES_NEAR, _columns(hulls, 3))
    near = by_agent(await cur.fetchall())
    # A run that only grew or changed zone (the common case) is updated in place.
    deletes, updates, inserts = in_place(*repaint(near, marks))
    if deletes:
        await cur.execute(_ZONES_DELETE, _columns(deletes, 2))
    if updates:
        await cur.execute(_ZONES_UPDATE, _columns(updates, 4))
    if inserts:
        await cur.execute(_ZONES_INSERT, _columns(inserts, 4))


class StoredRules:
    """The category rules in force in the database, kept by version: every writer of
    spans asks ``current`` inside its transaction, which reads the version FOR SHARE
    (``_RULES_VERSION``) and reads the rules again only when they changed (another server
    process may have changed them). Shared by the store's writer and the ActivityWatch
    projection of one PostgresStore."""

    def __init__(self) -> None:
        # Replaced together, never changed in place; version 0 is never stored.
        self.rules = compile_rules(DEFAULT_RULES)
        self.version = 0

    async def current(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> RuleSet:
        cur = await conn.execute(_RULES_VERSION)
        row = await cur.fetchone()
        assert row is not None, "migration 7 stores the rules"
        return await self.load(conn, int(row[0]))

    async def load(
        self, conn: psycopg.AsyncConnection[tuple[Any, ...]], version: int | None = None
    ) -> RuleSet:
        """The stored rules; read unless ``version`` is the one kept already."""
        if version is not None and version == self.version:
            return self.rules
        cur = await conn.execute("SELECT version, rules FROM categories")
        row = await cur.fetchone()
        assert row is not None, "migration 7 stores the rules"
        try:
            rules = compile_rules(rules_from_json(row[1]))
        except (CategoryError, msgspec.ValidationError) as exc:
            raise StoreUnavailable(
                f"the category rules stored in the database are bad: {exc}"
            ) from exc
        self.rules, self.version = rules, int(row[0])
        return rules


async def erase_spans(
    conn: psycopg.AsyncConnection[tuple[Any, ...]], agent_id: str, keys: KeyIds
) -> None:
    """Delete an agent's spans, zones, rollups and rollup keys, and take its time out of
    the team rollups, in the caller's write transaction. Its rollups are what it
    contributed, counting spans that retention already pruned (their rollups outlive
    them), so they are subtracted whole rather than span by span; team rows are taken in
    key order, as ``write_span_rows`` takes them, and the agent's lock first. Deleting
    keys raises the key dictionary's version (KeyIds)."""
    await hold_agents(conn, [agent_id])
    await conn.execute("DELETE FROM spans WHERE agent_id = %s", (agent_id,))
    await conn.execute("DELETE FROM zone_runs WHERE agent_id = %s", (agent_id,))
    cur = await conn.execute(
        "DELETE FROM rollup_keys WHERE agent_id = %s RETURNING id, app, category", (agent_id,)
    )
    named = {int(id_): (str(app), str(category)) for id_, app, category in await cur.fetchall()}
    if not named:
        return
    ids = list(named)
    await conn.execute("DELETE FROM rollup_runs WHERE key_id = ANY(%s::bigint[])", (ids,))
    cur = await conn.execute(
        "DELETE FROM rollups WHERE key_id = ANY(%s::bigint[]) "
        "RETURNING size_ms, bucket_ms, key_id, active_ms, idle_ms",
        (ids,),
    )
    team: dict[tuple[int, int, str, str], list[int]] = {}
    for size, bucket, key_id, active, idle in await cur.fetchall():
        pair = team.setdefault((int(size), int(bucket), *named[int(key_id)]), [0, 0])
        pair[0] -= int(active)
        pair[1] -= int(idle)
    rows = sorted((*key, active, idle) for key, (active, idle) in team.items())
    if rows:
        await conn.execute(_TEAM_ADD, _columns(rows, 6))
        await conn.execute(_TEAM_PRUNE, _columns([row[:4] for row in rows], 4))
    await conn.execute("UPDATE rollup_keys_version SET version = version + 1")


async def write_span_rows(
    conn: psycopg.AsyncConnection[tuple[Any, ...]],
    rows: Sequence[SpanRow],
    rules: StoredRules,
    *,
    removed: Sequence[tuple[str, int]] = (),
    keys: KeyIds | None = None,
) -> None:
    """Upsert span rows, each with its category by the rules in force, and delete the
    rows keyed (agent, start) in ``removed``, keeping the rollups in step, inside the
    caller's write transaction (``PostgresStore.transaction``): each row's old
    contribution is read and taken away, the new one added. A later row of the same key
    wins. Every writer of the ``spans`` table goes through here (the store's writer, the
    ActivityWatch projection). ``keys``: the rollup key ids the writer knows (none: each
    is looked up)."""
    final = {(r[0], r[1]): r for r in rows}
    gone_agents = [agent for agent, _ in removed]
    await hold_agents(conn, [*(agent for agent, _ in final), *gone_agents])
    old: list[Contribution] = []
    new: list[Contribution] = []
    async with conn.cursor() as cur:
        if removed:
            await cur.execute(_DELETE_ROWS, (gone_agents, [start for _, start in removed]))
            old += [
                (str(a), int(s), int(e), str(app), str(c), bool(idle))
                for a, s, e, app, c, idle in await cur.fetchall()
            ]
        if final:
            ruleset = await rules.current(conn)
            written = [(*r, ruleset.categorize(r[3], r[4], r[5])) for r in final.values()]
            # Empty unless this transaction wrote before (it is emptied at commit).
            await cur.execute("DELETE FROM spans_in7")
            async with cur.copy(_SPAN_COPY) as copy:
                copy.set_types(list(_STAGING_TYPES))
                for staged in written:
                    await copy.write_row(staged)
            await cur.execute(_OLD_ROWS)
            old += [
                (str(a), int(s), int(e), str(app), str(c), bool(idle))
                for a, s, e, app, c, idle in await cur.fetchall()
            ]
            await cur.execute(_SPAN_UPSERT)
            await cur.execute(_MAX_SPAN)
            await _paint_zones(cur, final.values())
            # The category is the last column written (after SpanRow, whose r[10] is tz).
            new = [(r[0], r[1], r[2], r[3], r[-1], bool(r[8])) for r in written]
    await _apply_rollups(conn, KeyIds() if keys is None else keys, old, new)


_RunRow = tuple[int, int, int, int, int]
_TeamRow = tuple[int, int, str, str, int, int]
_RollupRow = tuple[int, int, int, int, int]


def _rollup_rows(
    deltas: dict[int, dict[BucketKey, list[int]]],
    runs: dict[RunKey, list[int]],
    ids: dict[RollupKey, int],
) -> tuple[list[_RunRow], list[_TeamRow], list[_RollupRow]]:
    """The runs, team and rollup rows to add for a rollup and a run delta."""
    # Runs and rollups are the agent's own rows (its lock is held): any order will do.
    run_rows = [(ids[(a, app, c)], s, e, n[0], n[1]) for (a, s, e, app, c), n in runs.items()]
    # Team rows are shared by every agent's writers: taken in key order, so that writers
    # in other server processes cannot deadlock on them.
    team = sorted(
        (size, b, app, category, ms[0], ms[1])
        for size, t in team_delta(deltas).items()
        for (app, category, b), ms in t.items()
    )
    added = [
        (size, b, ids[(a, app, c)], ms[0], ms[1])
        for size, delta in deltas.items()
        for (a, app, c, b), ms in delta.items()
    ]
    return run_rows, team, added


async def _key_ids(
    conn: psycopg.AsyncConnection[tuple[Any, ...]], keys: KeyIds, wanted: set[RollupKey]
) -> dict[RollupKey, int]:
    """The ids of ``wanted`` (added to the dictionary if new), in the caller's write
    transaction, which holds the locks of the agents concerned: an erasure of one of
    them (the only deleter of keys) has committed before, or waits until this commits."""
    cur = await conn.execute(_KEYS_VERSION)
    row = await cur.fetchone()
    assert row is not None, "migration 11 stores the version"
    ids = keys.known(int(row[0]))
    missing = missing_keys(ids, wanted)
    if missing:
        columns = _columns(missing, 3)
        await conn.execute(_KEY_ADD, columns)
        cur = await conn.execute(_KEY_IDS, columns)
        learn_keys(ids, await cur.fetchall())
    return ids


async def _apply_rollups(
    conn: psycopg.AsyncConnection[tuple[Any, ...]],
    keys: KeyIds,
    old: Sequence[Contribution],
    new: Sequence[Contribution],
) -> None:
    """Add to the rollups what replacing ``old`` by ``new`` changes, in the caller's
    transaction (which holds the advisory locks of the agents concerned)."""
    # Cutting a batch's spans into buckets is CPU work (up to two partial hours of
    # minutes a span): on a thread, so that one big batch holds up no request.
    deltas, runs = await asyncio.to_thread(lambda: (rollup_delta(old, new), run_delta(old, new)))
    wanted = keys_of(deltas, runs)
    if not wanted:
        return
    ids = await _key_ids(conn, keys, wanted)
    run_rows, team, added = _rollup_rows(deltas, runs, ids)
    if run_rows:
        await conn.execute(_RUN_ADD, _columns(run_rows, 5))
        # A count may come back to 0 from below too (store/base.py): every key is looked at.
        await conn.execute(_RUN_PRUNE, _columns([row[:3] for row in run_rows], 3))
    if team:
        await conn.execute(_TEAM_ADD, _columns(team, 6))
        emptied_team = [row[:4] for row in team if shrank(row[4:])]
        if emptied_team:
            await conn.execute(_TEAM_PRUNE, _columns(emptied_team, 4))
    if added:
        await conn.execute(_ROLLUP_ADD, _columns(added, 5))
        emptied = [row[:3] for row in added if shrank(row[3:])]
        if emptied:
            await conn.execute(_ROLLUP_PRUNE, _columns(emptied, 3))


@dataclass
class _Commit:
    agent_id: str
    rows: list[SpanRow]
    seq: int
    done: asyncio.Future[None]


@dataclass
class _Batch(Queued[SpanRow, _Commit]):
    """Everything the writer takes from the queue for one transaction, and the callers of
    ``flush`` waiting for it."""

    waiters: list[asyncio.Future[None]] = field(default_factory=list)


_Writes = Queued[SpanRow, _Commit]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fail(future: asyncio.Future[None], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(RuntimeError(f"the store could not write: {exc}"))


class PostgresStore(
    PostgresAccounts, SQLAgents, SQLReads, SQLAgentFacts, SQLAppNames, SQLCategorising
):
    dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        flush_interval: float = FLUSH_INTERVAL,
        max_pending_commits: int = 256,
        min_connections: int = 1,
        max_connections: int = 8,
        connect_timeout: float = 30.0,
        recategorize_chunk: int = RECATEGORIZE_CHUNK,
    ) -> None:
        self.url = url
        self.recategorize_chunk = recategorize_chunk
        self.flush_interval = flush_interval
        self.max_pending_commits = max_pending_commits
        self.min_connections = min_connections
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self._queue = _Batch()
        self._whose = Whose()  # whose writes are queued or being written (``_fresh_for``)
        self._wake: asyncio.Event | None = None
        self._commit_slots: asyncio.Semaphore | None = None
        self._writing: _Batch | None = None
        self._stopping = False
        self._writer: asyncio.Task[None] | None = None
        self._pool: _Pool | None = None
        self._preamble: LiteralString = _STAGING
        # The rules in force, checked by every write of spans (the ActivityWatch
        # projection's too) against their version in the database.
        self.rules = StoredRules()
        # The rollup keys' ids this store's writes have used (store/base.py), its writer
        # task's and re-categorisation's alike (the event loop runs one at a time), and
        # the ActivityWatch projection's (server/aw_postgres.py).
        self.keys = KeyIds()
        # What the key ids that usage() reads name (store/base.py).
        self.names = KeyNames()
        self._name = f"the PostgreSQL store at {redact(url)}"
        self.failures = FailureLog(self._name, log)
        # Scaled out, the lease of the gateway process this store writes for (server/
        # leases.py): every agent's row written online names it. None elsewhere.
        self.lease: str | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        try:
            # One plain connection first: a wrong password or a missing database fails
            # at once with PostgreSQL's own words (a pool would retry until its timeout).
            conn = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=max(2, round(self.connect_timeout))
            )
            async with conn:
                await self._migrate(conn)
                cur = await conn.execute("SHOW synchronous_commit")
                row = await cur.fetchone()
                self._preamble = _STAGING + (_DURABLE if row and row[0] == "off" else "")
                await self.rules.load(conn)
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot open the PostgreSQL store at {redact(self.url)}: {str(exc).strip()}"
            ) from exc
        pool: _Pool = AsyncConnectionPool(
            self.url,
            min_size=self.min_connections,
            max_size=self.max_connections,
            kwargs={"autocommit": True},
            # A connection is checked with a query only when its socket has something
            # to read (a backend that ended says so and closes it): pool_check.py.
            check=check_if_stirred,
            timeout=self.connect_timeout,
            name="officepulse-store",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=self.connect_timeout)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, PoolTimeout):
                raise StoreUnavailable(
                    f"cannot open the PostgreSQL store at {redact(self.url)}: {exc}"
                ) from exc
            raise
        self._pool = pool
        self._stopping = False
        self._wake = asyncio.Event()
        self._commit_slots = asyncio.Semaphore(self.max_pending_commits)
        self._writer = asyncio.create_task(self._write_loop(), name="postgres-writer")

    async def _migrate(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        async with conn.transaction():
            # Whoever takes the lock first migrates; the others then find it done.
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            row = await cur.fetchone()
            version = int(row[0]) if row else 0
            for step in pending(version, redact(self.url)):
                await conn.execute(step.postgres)
                if step.version == CATEGORY_STEP:
                    await _categorize_spans(conn)
                    await conn.execute(CATEGORY_REBUILD)
                await conn.execute(
                    "INSERT INTO schema_version (version) VALUES (%s)", (step.version,)
                )
                log.info("PostgreSQL store: schema migrated to version %d", step.version)

    async def close(self) -> None:
        """Write what is queued, then close. Raises if that last write failed."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        self._stopping = True
        assert self._wake is not None
        self._wake.set()
        try:
            await writer
        finally:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None

    # -- writes --------------------------------------------------------------------

    def save_agent(self, agent: AgentInfo) -> None:
        self._queue.agents[agent.id] = agent
        self._whose.add(agent.id)

    def save_span(self, agent_id: str, span: Span) -> None:
        self._queue.spans[(agent_id, span.start_ms)] = pg_span_row(agent_id, span)
        self._whose.add(agent_id)

    async def commit_spans(self, agent_id: str, spans: Sequence[Span], seq: int) -> None:
        assert self._commit_slots is not None, "store is not open"
        assert self._wake is not None
        async with self._commit_slots:
            commit = _Commit(
                agent_id,
                [pg_span_row(agent_id, s) for s in spans],
                seq,
                asyncio.get_running_loop().create_future(),
            )
            self._queue.commits.append(commit)
            self._whose.add(agent_id)
            self._wake.set()
            await commit.done

    async def schema_version(self) -> tuple[int, int]:
        rows = await self._read("SELECT COALESCE(MAX(version), 0) FROM schema_version", fresh=False)
        return int(rows[0][0]), SCHEMA_VERSION

    async def written(self) -> None:
        # While the store fails, the writer keeps trying, and reads only read.
        if not self.failures.failing:
            await self.flush()

    async def flush(self) -> None:
        """Return once everything queued so far is durably stored."""
        assert self._wake is not None, "store is not open"
        if self._queue.empty() and self._writing is None:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.waiters.append(waiter)
        self._wake.set()
        # The writer task writes, so a caller that gives up (a cancelled request) loses
        # nothing: its future is cancelled, the write goes on.
        await waiter

    async def _write_loop(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._stopping:
                await self._pause()
            batch, self._queue = self._queue, _Batch()
            if batch.empty():
                # Nothing to write: waiters that came during the last write are done.
                for future in batch.waiters:
                    _resolve(future)
                if self._stopping:
                    return
                continue
            self._writing = batch
            self._whose.taken()
            try:
                await self._write_or_refuse(batch)
            except Exception as exc:
                self.failures.failed(reason(exc), loop.time())
                # What was not written is queued again (_write_or_refuse); commits wait in
                # the queue, so their agents are acknowledged once the database is back. A
                # flush fails: nobody waits on a database that is away.
                for future in batch.waiters:
                    _fail(future, exc)
                if self._stopping:
                    for commit in self._queue.commits:
                        _fail(commit.done, exc)
                    raise RuntimeError(f"the store could not write at close: {exc}") from exc
                continue
            finally:
                self._writing = None
                self._whose.written()
            self.failures.succeeded(loop.time())
            for future in batch.waiters:
                _resolve(future)

    async def _pause(self) -> None:
        """Until the next write is due: ``flush_interval``, or at once when a caller waits;
        while the database fails, a back-off that nothing but closing cuts short."""
        assert self._wake is not None
        failing = self.failures.failing
        delay = backoff(self.failures.attempts) if failing else self.flush_interval
        deadline = asyncio.get_running_loop().time() + delay
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                while True:
                    await self._wake.wait()
                    self._wake.clear()
                    if self._stopping or not failing:
                        return

    async def _write_or_refuse(self, batch: _Writes) -> None:
        """Write ``batch`` in one transaction; when that fails for a lasting reason,
        each part in its own, so that one write that can never be made is refused
        (store/failures.py) and the rest land. A transient error queues again what
        was not written, and is raised."""
        try:
            await self._write(batch)
        except _LASTING as exc:
            log.warning("%s: a write failed (%s); writing each apart", self._name, reason(exc))
        except Exception:
            self._put_back(batch)
            raise
        else:
            for commit in batch.commits:
                _resolve(commit.done)
            return
        parts = batch.parts()
        for n, part in enumerate(parts):
            try:
                await self._write_part(part)
            except Exception:
                self._put_back(_Writes.joined(parts[n:]))
                raise

    async def _write_part(self, part: _Writes) -> None:
        """One write; if it can never be made it is refused: an agent's details or a span
        not committed are dropped (nobody was told they were stored), a commit's spans
        are dropped and its sequence number recorded as taken (``StoreRefused``)."""
        try:
            await self._write(part)
        except _LASTING as exc:
            log.error("%s refused %s: %s", self._name, part.what(), reason(exc))
            refused = StoreRefused(f"{part.what()} could not be stored: {reason(exc)}")
        else:
            for commit in part.commits:
                _resolve(commit.done)
            return
        try:
            await self._write(_Writes(commits=[replace(c, rows=[]) for c in part.commits]))
        except _LASTING as exc:  # the agent sends the batch again, and is refused again
            log.error("%s could not take %s either: %s", self._name, part.what(), reason(exc))
        for commit in part.commits:
            if not commit.done.done():
                commit.done.set_exception(refused)

    def _put_back(self, batch: _Writes) -> None:
        """Queue again what was not written, before what came meanwhile (newer wins)."""
        self._queue.agents = {**batch.agents, **self._queue.agents}
        self._queue.spans = {**batch.spans, **self._queue.spans}
        self._queue.commits = batch.commits + self._queue.commits
        self._queue.mark_offline = batch.mark_offline or self._queue.mark_offline
        self._whose.put_back(batch)

    @contextlib.asynccontextmanager
    async def transaction(
        self, *, write: bool = True
    ) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        """One transaction on a pooled connection: committed when the block ends, rolled
        back if it raises. A write transaction is ready for ``write_span_rows`` (it has
        the staging table); a read transaction sees one snapshot from its first read."""
        assert self._pool is not None, "store is not open"
        try:
            async with self._pool.connection() as conn, conn.transaction():
                if write:
                    await conn.execute(self._preamble)
                else:
                    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                try:
                    yield conn
                except BaseException:
                    # Before the rollback releases the agents' locks: the rollup key ids
                    # this transaction gave are gone with it (KeyIds).
                    if write:
                        self.keys.forget()
                    raise
        except BaseException:
            if write:
                self.keys.forget()  # the commit failed, or the transaction could not begin
            raise

    async def _write(self, batch: _Writes) -> None:
        # The pending writes first, then each commit in order; a later write of the same
        # (agent, start) wins, as one upsert after another would.
        spans = dict(batch.spans)
        acked: dict[str, int] = {}
        for commit in batch.commits:
            for row in commit.rows:
                spans[(row[0], row[1])] = row
            acked[commit.agent_id] = max(acked.get(commit.agent_id, 0), commit.seq)
        async with self.transaction() as conn:
            if batch.mark_offline:
                await conn.execute("UPDATE agents SET online = false WHERE online")
            if batch.agents:
                agents = [
                    (
                        _text(a.id),
                        _text(a.name),
                        _text(a.host),
                        _text(a.platform),
                        _text(a.version),
                        _text(a.tz),
                        a.online,
                        a.last_seen_ms,
                        self.lease if a.online else None,
                    )
                    for a in batch.agents.values()
                ]
                await conn.execute(_AGENT_UPSERT, _columns(agents, 9))
            if spans:
                await write_span_rows(conn, list(spans.values()), self.rules, keys=self.keys)
            if acked:
                await conn.execute(_ACK, [list(acked), list(acked.values())])

    # -- reads ---------------------------------------------------------------------

    def _fresh_for(self, agent_id: str) -> bool:
        # Nothing of this agent queued nor being written (nor everyone's "offline"): its
        # rows are all in the database already, and the read need not wait for the
        # writer, which may be writing thousands of others' rows, or waiting on a lock.
        writing = self._writing
        return (
            self._whose.holds(agent_id)
            or self._queue.mark_offline
            or (writing is not None and writing.mark_offline)
        )

    async def _read(
        self,
        sql: LiteralString,
        params: Sequence[object] | Mapping[str, object] = (),
        *,
        fresh: bool = True,
    ) -> list[Any]:
        # Reads see every write queued before them (``written``; inside ``one_moment``
        # that was done on entry, store/moment.py). Not ``fresh``: a read of what is never
        # queued (accounts, rules, events), which must not cut short the writer's
        # coalescing of heartbeats.
        if fresh and not settled():
            await self.written()
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    # -- enrollment, credentials, blocking and removing --------------------------------

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        """A transaction of its own, after what is queued (so that, say, a removal comes
        after the agent's last queued write)."""
        await self.flush()
        async with self.transaction() as conn:
            yield conn

    async def _run(self, script: Script[T]) -> T:
        async with self._transaction() as conn:
            return await run_script(conn, script)

    async def remove_agent(self, agent_id: str, erase: bool, now_ms: int) -> bool:
        async with self._transaction() as conn:
            # Locks in the writer's order (_write: the agent's row, then its rollup lock),
            # so that removing an agent that is writing cannot deadlock with it.
            await conn.execute("SELECT 1 FROM agents WHERE id = %s FOR UPDATE", (agent_id,))
            if erase:
                await erase_spans(conn, agent_id, self.keys)
                await erase_aw_events_postgres(conn, agent_id)
            return await run_script(conn, forget_agent(POSTGRES, agent_id, erase, now_ms))

    async def mark_all_offline(self) -> None:
        # Agents queued before this call are written offline; those queued after it keep
        # what they say (the UPDATE runs first in the transaction, before the upserts).
        self._queue.agents = {
            k: AgentInfo(a.id, a.name, a.host, a.platform, a.version, a.tz, False, a.last_seen_ms)
            for k, a in self._queue.agents.items()
        }
        self._queue.mark_offline = True
        await self.flush()

    async def prune(self, before_ms: int) -> int:
        await self.flush()
        assert self._pool is not None, "store is not open"
        total = 0
        while True:
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(_PRUNE_AGENTS, (before_ms, before_ms, PRUNE_CHUNK))
                agents = [str(row[0]) for row in await cur.fetchall()]
                if not agents:
                    return total
                await conn.execute(_PRUNE_LOCK, (ROLLUP_LOCK, agents))
                cur = await conn.execute(_PRUNE, (agents, before_ms, before_ms, PRUNE_CHUNK))
                deleted = max(cur.rowcount, 0)
            total += deleted
            if deleted < PRUNE_CHUNK:
                return total

    def _raw_usage(
        self, plan: UsagePlan, only: str, only_param: list[object]
    ) -> tuple[list[str], list[object]]:
        # Every writer folds its spans into the rollups as it writes them: the raw edges
        # are all there is to add.
        parts: list[str] = []
        params: list[object] = []
        for lo, hi in plan.raw:
            parts.append(
                "SELECT agent_id, app, category, "
                "CASE WHEN idle THEN 0 ELSE LEAST(end_ms, ?) - GREATEST(start_ms, ?) END "
                "AS active_ms, "
                "CASE WHEN idle THEN LEAST(end_ms, ?) - GREATEST(start_ms, ?) ELSE 0 END "
                f"AS idle_ms FROM spans WHERE {OVERLAP}{only}"
            )
            params += [hi, lo, hi, lo, hi, lo, lo, *only_param]
        return parts, params

    # -- categories --------------------------------------------------------------------

    async def set_categories(self, rules: Sequence[Rule], now_ms: int) -> CategoryJob:
        ruleset = compile_rules(rules)  # a bad rule changes nothing
        await self.flush()
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(_JOBS_LOCK, (JOBS_LOCK,))
            # Waits for writes under the old rules to commit; later ones see these.
            cur = await conn.execute(
                "UPDATE categories SET version = version + 1, rules = %s RETURNING version",
                (rules_to_json(ruleset.rules),),
            )
            row = await cur.fetchone()
            assert row is not None
            version = int(row[0])
            await conn.execute(POSTGRES.sql(jobs.SUPERSEDE), (now_ms,))
            await conn.execute(POSTGRES.sql(jobs.START), (version, now_ms))
        return CategoryJob(
            id=version, state="running", total=None, done=0, changed=0, started_ms=now_ms
        )

    async def recategorize_step(
        self, job_id: int, now_ms: int, batch: int | None = None
    ) -> CategoryJob:
        size = batch or self.recategorize_chunk
        before = await self.category_job(job_id)
        if before is None:
            raise ValueError(f"there is no category job {job_id}")
        if before.state != "running":
            return before
        total = before.total
        if total is None:  # counted once, outside the batch's transaction
            total = int((await self._read(jobs.COUNT_SPANS, fresh=False))[0][0])
        assert self._pool is not None, "store is not open"
        async with self._pool.connection() as conn, conn.transaction():
            try:
                await conn.execute(_JOBS_LOCK, (JOBS_LOCK,))
                cur = await conn.execute(POSTGRES.sql(jobs.JOB), (job_id,))
                row = await cur.fetchone()
                assert row is not None, "jobs are never deleted"
                job, cursor = jobs.job_from(row)
                if job.state != "running":
                    return job
                done = await self._recategorize_chunk(conn, job.id, cursor, size)
                if done is None:  # newer rules came: their own job covers everything
                    await conn.execute(POSTGRES.sql(jobs.END), ("superseded", now_ms, job.id))
                    return msgspec.structs.replace(job, state="superseded", finished_ms=now_ms)
                read, changed, last = done
                await conn.execute(*_pg(jobs.advance(job, total, read, changed, last, now_ms)))
                return jobs.advanced(job, total, read, changed, last, now_ms)
            except BaseException:
                self.keys.forget()  # as in transaction()
                raise

    async def _recategorize_chunk(
        self,
        conn: psycopg.AsyncConnection[tuple[Any, ...]],
        version: int,
        after: Cursor,
        size: int,
    ) -> tuple[int, int, Cursor] | None:
        """The next ``size`` spans after the key ``after``, in the caller's transaction:
        those whose category changes rewritten and their time moved in the rollups.
        Returns how many were read, how many changed and the last key read (None: the
        end); None if the rules in force are no longer those of ``version``."""
        after_key: LiteralString = "(agent_id, start_ms) > (%s, %s)" if after else "TRUE"
        params: tuple[object, ...] = after or ()
        cur = await conn.execute(
            f"SELECT agent_id, start_ms FROM spans WHERE {after_key} "
            "ORDER BY agent_id, start_ms LIMIT %s",
            (*params, size),
        )
        keys = await cur.fetchall()
        # The agents' ingest locks (as every writer takes them), then the rules' version
        # (after them, as every writer reads it), then the rows as they are now: nobody
        # else rewrites them until this commits.
        agents = sorted({str(k[0]) for k in keys})
        await hold_agents(conn, agents)
        cur = await conn.execute(_RULES_VERSION)
        row = await cur.fetchone()
        if row is None or int(row[0]) != version:
            return None
        if not keys:
            return 0, 0, None
        rules = await self.rules.load(conn, version)
        last = (str(keys[-1][0]), int(keys[-1][1]))
        cur = await conn.execute(
            "SELECT agent_id, start_ms, end_ms, app, title, url, category, idle FROM spans "
            f"WHERE agent_id = ANY(%s) AND {after_key} "
            "AND (agent_id, start_ms) <= (%s, %s)",
            (agents, *params, *last),
        )
        old: list[Contribution] = []
        new: list[Contribution] = []
        for agent_id, start_ms, end_ms, app, title, url, category, idle in await cur.fetchall():
            now = rules.categorize(app, title, url)
            if now != category:
                old.append((agent_id, start_ms, end_ms, app, category, idle))
                new.append((agent_id, start_ms, end_ms, app, now, idle))
        if new:
            await conn.execute(
                "UPDATE spans s SET category = v.category FROM unnest(%s::text[], "
                "%s::bigint[], %s::text[]) AS v(agent_id, start_ms, category) "
                "WHERE s.agent_id = v.agent_id AND s.start_ms = v.start_ms",
                [[c[0] for c in new], [c[1] for c in new], [c[4] for c in new]],
            )
            await _apply_rollups(conn, self.keys, old, new)
        return len(keys), len(new), (last if len(keys) == size else None)


def _pg(statement: tuple[str, tuple[object, ...]]) -> tuple[str, tuple[object, ...]]:
    """A statement written with ``?`` (store/categorising.py), as PostgreSQL takes it."""
    sql, params = statement
    return POSTGRES.sql(sql), params
