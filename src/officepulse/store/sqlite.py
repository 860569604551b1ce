"""The embedded default store: one SQLite file in WAL mode.

One write connection owned by a writer thread drains the queued writes every
``flush_interval`` seconds in one ``BEGIN IMMEDIATE`` transaction (Datasette's
habit), so a thousand heartbeats that extend a span cost one UPDATE. Reads run
on worker threads with their own connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import msgspec

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
from officepulse.store.aw_erase import erase_aw_events_sqlite
from officepulse.store.base import (
    FLUSH_INTERVAL,
    FOLD_INTERVAL,
    RECATEGORIZE_CHUNK,
    AgentInfo,
    Contribution,
    KeyIds,
    KeyNames,
    RollupKey,
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
from officepulse.store.migrations import SCHEMA_VERSION as SCHEMA_VERSION  # for tests
from officepulse.store.migrations import STEPS, SchemaTooNew, pending
from officepulse.store.moment import settled
from officepulse.store.queued import Queued, Whose
from officepulse.store.reads_sql import OVERLAP, SQLReads
from officepulse.store.rows import SPAN_COLUMNS, SpanRow, span_row
from officepulse.store.sql import Dialect, Done, Script
from officepulse.store.sqlite_accounts import SQLiteAccounts

log = logging.getLogger(__name__)
_T = TypeVar("_T")
# Errors that one write's data sets off, which trying again cannot mend (a constraint, a
# value SQLite cannot hold, text it cannot encode): that write is refused
# (store/failures.py). Any other error (full, locked, I/O) is transient: kept, retried.
_LASTING = (sqlite3.IntegrityError, sqlite3.DataError, ValueError, OverflowError)

# Views of the schema steps (store/migrations.py) as SQLite runs them: step 1 as one
# script, then each later step's first statement and the rest (tests build old databases
# from these).
SCHEMA = ";\n".join(STEPS[0].sqlite) + ";\n"
MIGRATIONS: dict[int, str] = {step.version: step.sqlite[0] for step in STEPS[1:]}
BACKFILLS: dict[int, tuple[str, ...]] = {step.version: step.sqlite[1:] for step in STEPS[1:]}
# Retention (Store.prune): spans that ended by then, a chunk a transaction; the start index
# finds them (a span ends after it starts).
PRUNE_CHUNK = 10_000
_PRUNE = (
    "DELETE FROM spans WHERE (agent_id, start_ms) IN (SELECT agent_id, start_ms FROM spans "
    "WHERE start_ms < ? AND end_ms <= ? LIMIT ?)"
)


_SPAN_UPSERT = (
    f"INSERT INTO spans (agent_id, {SPAN_COLUMNS}, category) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (agent_id, start_ms) DO UPDATE SET end_ms=excluded.end_ms, "
    "app=excluded.app, title=excluded.title, url=excluded.url, "
    "process=excluded.process, pid=excluded.pid, idle=excluded.idle, "
    "details=excluded.details, tz=excluded.tz, category=excluded.category"
)
# The runs near each written agent's hull [lo, hi], for every agent of a write at once
# (one JSON parameter: [[agent, lo, hi], ...]): the last run that starts before lo, every
# one that starts within, and the first one after hi, which are all that painting
# [lo, hi) can change or join.
_ZONES_NEAR = (
    "WITH v(agent_id, lo, hi) AS (SELECT value ->> 0, value ->> 1, value ->> 2 "
    "FROM json_each(?)) "
    "SELECT v.agent_id, z.start_ms, z.end_ms, z.tz FROM v JOIN zone_runs z "
    "ON z.agent_id = v.agent_id AND z.start_ms >= "
    "COALESCE((SELECT MAX(start_ms) FROM zone_runs WHERE agent_id = v.agent_id "
    "AND start_ms < v.lo), v.lo) "
    "AND z.start_ms <= "
    "COALESCE((SELECT MIN(start_ms) FROM zone_runs WHERE agent_id = v.agent_id "
    "AND start_ms > v.hi), v.hi) "
    "ORDER BY v.agent_id, z.start_ms"
)
_ROLLUP_ADD = (
    "INSERT INTO rollups (size_ms, bucket_ms, key_id, active_ms, idle_ms) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (size_ms, bucket_ms, key_id) "
    "DO UPDATE SET active_ms = active_ms + excluded.active_ms, "
    "idle_ms = idle_ms + excluded.idle_ms"
)
_ROLLUP_PRUNE = (
    "DELETE FROM rollups WHERE size_ms = ? AND bucket_ms = ? AND key_id = ? "
    "AND active_ms = 0 AND idle_ms = 0"
)
_TEAM_ADD = (
    "INSERT INTO team_rollups (size_ms, bucket_ms, app, category, active_ms, idle_ms) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (size_ms, bucket_ms, app, category) "
    "DO UPDATE SET active_ms = active_ms + excluded.active_ms, "
    "idle_ms = idle_ms + excluded.idle_ms"
)
_TEAM_PRUNE = (
    "DELETE FROM team_rollups WHERE size_ms = ? AND bucket_ms = ? AND app = ? "
    "AND category = ? AND active_ms = 0 AND idle_ms = 0"
)
_RUN_ADD = (
    "INSERT INTO rollup_runs (key_id, start_ms, end_ms, active_n, idle_n) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id, start_ms, end_ms) "
    "DO UPDATE SET active_n = active_n + excluded.active_n, idle_n = idle_n + excluded.idle_n"
)
_RUN_PRUNE = (
    "DELETE FROM rollup_runs WHERE key_id = ? AND start_ms = ? AND end_ms = ? "
    "AND active_n = 0 AND idle_n = 0"
)
_KEY_ADD = "INSERT OR IGNORE INTO rollup_keys (agent_id, app, category) VALUES (?, ?, ?)"
# The ids of the keys in one JSON parameter ([[agent, app, category], ...]).
_KEY_IDS = (
    "SELECT k.id, k.agent_id, k.app, k.category FROM json_each(?) v JOIN rollup_keys k "
    "ON k.agent_id = v.value ->> 0 AND k.app = v.value ->> 1 AND k.category = v.value ->> 2"
)
_AGENT_KEYS = "SELECT id FROM rollup_keys WHERE agent_id = ?"


def write_span_rows(
    conn: sqlite3.Connection,
    rows: Sequence[SpanRow],
    rules: RuleSet,
    keys: KeyIds,
    *,
    fold: bool,
) -> None:
    """Upsert span rows, each with its category by ``rules``, and keep the rollups in
    step, inside the caller's transaction (a later row of the same key wins, as one
    upsert after another would). Every writer of the ``spans`` table must go through
    here or leave its changes in ``rollup_pending`` (the triggers do).

    The triggers note each row's old and new contribution in ``rollup_pending`` as the
    upserts run, so the rollups are kept by one fold of the whole batch: what other
    writers left and what this write changed, netted per rollup key, each key written
    once (none whose change adds up to zero) rather than read and written span by span.
    With ``fold`` False the changes stay noted for a later fold (the reads count them)."""
    final: dict[tuple[str, int], SpanRow] = {}
    for row in rows:
        final[(row[0], row[1])] = row
    if final:
        conn.executemany(
            _SPAN_UPSERT, [(*r, rules.categorize(r[3], r[4], r[5])) for r in final.values()]
        )
    if fold:
        fold_pending(conn, rules, keys)
    if final:
        _paint_zones(conn, marks_by_agent((r[0], r[1], r[2], r[10]) for r in final.values()))


def _paint_zones(conn: sqlite3.Connection, marks: dict[str, list[tuple[int, int, str]]]) -> None:
    """Keep each agent's zone runs in step with the spans just written (core/zones.py):
    the runs near every written agent read in one statement, and a run that only grows
    or changes zone updated in place."""
    if not marks:
        return
    hulls = [(agent_id, *hull(agent_marks)) for agent_id, agent_marks in marks.items()]
    near = by_agent(conn.execute(_ZONES_NEAR, (msgspec.json.encode(hulls).decode(),)).fetchall())
    deletes, updates, inserts = in_place(*repaint(near, marks))
    conn.executemany("DELETE FROM zone_runs WHERE agent_id = ? AND start_ms = ?", deletes)
    conn.executemany(
        "UPDATE zone_runs SET end_ms = ?, tz = ? WHERE agent_id = ? AND start_ms = ?",
        [(end_ms, tz, agent_id, start_ms) for agent_id, start_ms, end_ms, tz in updates],
    )
    conn.executemany(
        "INSERT INTO zone_runs (agent_id, start_ms, end_ms, tz) VALUES (?, ?, ?, ?)", inserts
    )


def erase_spans(conn: sqlite3.Connection, agent_id: str, rules: RuleSet, keys: KeyIds) -> None:
    """Delete an agent's spans, zones, rollups and rollup keys, and take its time out of
    the team rollups. Its rollups are what it contributed, counting spans that retention
    already pruned (their rollups outlive them), so they are subtracted whole rather than
    span by span. Deleting keys raises the key dictionary's version (KeyIds)."""
    fold_pending(conn, rules, keys)  # other writers' changes first: the delete's own must not count
    conn.execute("DELETE FROM spans WHERE agent_id = ?", (agent_id,))
    conn.execute("DELETE FROM rollup_pending")  # what the delete trigger noted of this
    conn.execute("DELETE FROM zone_runs WHERE agent_id = ?", (agent_id,))
    named = {
        int(id_): (str(app), str(category))
        for id_, app, category in conn.execute(
            "SELECT id, app, category FROM rollup_keys WHERE agent_id = ?", (agent_id,)
        )
    }
    if not named:
        return
    conn.execute(f"DELETE FROM rollup_runs WHERE key_id IN ({_AGENT_KEYS})", (agent_id,))
    left = conn.execute(
        f"DELETE FROM rollups WHERE key_id IN ({_AGENT_KEYS}) "
        "RETURNING size_ms, bucket_ms, key_id, active_ms, idle_ms",
        (agent_id,),
    ).fetchall()
    team: dict[tuple[int, int, str, str], list[int]] = {}
    for size, bucket, key_id, active, idle in left:
        pair = team.setdefault((size, bucket, *named[key_id]), [0, 0])
        pair[0] -= active
        pair[1] -= idle
    conn.executemany(_TEAM_ADD, [(*key, active, idle) for key, (active, idle) in team.items()])
    conn.executemany(_TEAM_PRUNE, list(team))
    conn.execute("DELETE FROM rollup_keys WHERE agent_id = ?", (agent_id,))
    conn.execute("UPDATE rollup_keys_version SET version = version + 1")


def fold_pending(
    conn: sqlite3.Connection, rules: RuleSet, keys: KeyIds, span: tuple[str, int] | None = None
) -> None:
    """Fold what is noted in rollup_pending (by other writers, or by this store's writes
    not folded yet) into the rollups; ``span`` (agent, start): that span's notes alone.
    Other writers' spans have no category yet: it is decided here, by ``rules``, and
    written to the span."""
    old: list[Contribution] = []
    new: list[Contribution] = []
    unset: list[tuple[str, int]] = []
    where, params = ("WHERE agent_id = ? AND start_ms = ?", span) if span else ("", ())
    for sign, agent_id, start_ms, end_ms, app, title, url, category, idle in conn.execute(
        "SELECT sign, agent_id, start_ms, end_ms, app, title, url, category, idle "
        f"FROM rollup_pending {where}",
        params,
    ).fetchall():
        if category is None:
            # A row deleted or rewritten before it was folded is categorised as its
            # insertion is, in this same fold: the two cancel out.
            category = rules.categorize(app, title, url)
            if sign > 0:
                unset.append((agent_id, start_ms))
        (new if sign > 0 else old).append(
            (str(agent_id), int(start_ms), int(end_ms), str(app), str(category), bool(idle))
        )
    if not (old or new):
        return
    for agent_id, start_ms in unset:
        found = conn.execute(
            "SELECT app, title, url FROM spans WHERE agent_id = ? AND start_ms = ? "
            "AND category IS NULL",
            (agent_id, start_ms),
        ).fetchone()
        if found is not None:
            conn.execute(
                "UPDATE spans SET category = ? WHERE agent_id = ? AND start_ms = ?",
                (rules.categorize(*found), agent_id, start_ms),
            )
    _apply_rollups(conn, keys, old, new)
    conn.execute(f"DELETE FROM rollup_pending {where}", params)


def undo_pending(conn: sqlite3.Connection, agent_id: str, start_ms: int) -> None:
    """Put a span back as the rollups last counted it, and drop its notes: what was
    changed of it since the last fold is refused (a fold of it can never succeed). Its
    first note is the row as folded (taken away, -1) if it was there then; else it
    came after, and goes."""
    key = (agent_id, start_ms)
    first = conn.execute(
        "SELECT sign, end_ms, app, title, url, category, idle FROM rollup_pending "
        "WHERE agent_id = ? AND start_ms = ? ORDER BY rowid LIMIT 1",
        key,
    ).fetchone()
    if first is not None and first[0] < 0:
        restored = (*first[1:], *key)
        put = conn.execute(
            "UPDATE spans SET end_ms = ?, app = ?, title = ?, url = ?, category = ?, idle = ? "
            "WHERE agent_id = ? AND start_ms = ?",
            restored,
        )
        if put.rowcount == 0:
            conn.execute(
                "INSERT INTO spans (end_ms, app, title, url, category, idle, agent_id, "
                "start_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                restored,
            )
    elif first is not None:
        conn.execute("DELETE FROM spans WHERE agent_id = ? AND start_ms = ?", key)
    # What the triggers noted of the undoing too: the rollups count the span as it is now.
    conn.execute("DELETE FROM rollup_pending WHERE agent_id = ? AND start_ms = ?", key)


def _key_ids(
    conn: sqlite3.Connection, keys: KeyIds, wanted: set[RollupKey]
) -> dict[RollupKey, int]:
    """The ids of ``wanted`` (added to the dictionary if new), inside the write
    transaction: SQLite's one writer at a time serialises this with any erasure."""
    (version,) = conn.execute("SELECT version FROM rollup_keys_version").fetchone()
    ids = keys.known(int(version))
    missing = missing_keys(ids, wanted)
    if missing:
        conn.executemany(_KEY_ADD, missing)
        learn_keys(ids, conn.execute(_KEY_IDS, (json.dumps(missing),)).fetchall())
    return ids


def _apply_rollups(
    conn: sqlite3.Connection,
    keys: KeyIds,
    old: Sequence[Contribution],
    new: Sequence[Contribution],
) -> None:
    deltas = rollup_delta(old, new)
    runs = run_delta(old, new)
    wanted = keys_of(deltas, runs)
    if not wanted:
        return
    ids = _key_ids(conn, keys, wanted)
    conn.executemany(
        _RUN_ADD,
        [(ids[(a, app, c)], s, e, n[0], n[1]) for (a, s, e, app, c), n in runs.items()],
    )
    # A count may come back to 0 from below too (store/base.py): every key is looked at.
    conn.executemany(_RUN_PRUNE, [(ids[(a, app, c)], s, e) for a, s, e, app, c in runs])
    for size, team in team_delta(deltas).items():
        conn.executemany(
            _TEAM_ADD, [(size, b, app, c, ms[0], ms[1]) for (app, c, b), ms in team.items()]
        )
        conn.executemany(
            _TEAM_PRUNE, [(size, b, app, c) for (app, c, b), ms in team.items() if shrank(ms)]
        )
    for size, delta in deltas.items():
        conn.executemany(
            _ROLLUP_ADD,
            [(size, b, ids[(a, app, c)], ms[0], ms[1]) for (a, app, c, b), ms in delta.items()],
        )
        conn.executemany(
            _ROLLUP_PRUNE,
            [(size, b, ids[(a, app, c)]) for (a, app, c, b), ms in delta.items() if shrank(ms)],
        )


def recategorize_chunk(
    conn: sqlite3.Connection,
    rules: RuleSet,
    keys: KeyIds,
    after: Cursor,
    size: int,
) -> tuple[int, int, Cursor]:
    """One transaction's share of a re-categorisation (the caller's transaction): the
    next ``size`` spans after the key ``after`` (None: from the first), those
    whose category changes rewritten, their time moved in the rollups. Returns how many
    were read, how many changed, and the last key read (None: the end)."""
    fold_pending(conn, rules, keys)
    where, params = ("WHERE (agent_id, start_ms) > (?, ?) ", after) if after else ("", ())
    rows = conn.execute(
        "SELECT agent_id, start_ms, end_ms, app, title, url, category, idle FROM spans "
        f"{where}ORDER BY agent_id, start_ms LIMIT ?",
        (*params, size),
    ).fetchall()
    old: list[Contribution] = []
    new: list[Contribution] = []
    for agent_id, start_ms, end_ms, app, title, url, category, idle in rows:
        now = rules.categorize(app, title, url)
        if now != category:
            old.append((agent_id, start_ms, end_ms, app, category, bool(idle)))
            new.append((agent_id, start_ms, end_ms, app, now, bool(idle)))
    conn.executemany(
        "UPDATE spans SET category = ? WHERE agent_id = ? AND start_ms = ?",
        [(c[4], c[0], c[1]) for c in new],
    )
    _apply_rollups(conn, keys, old, new)
    last = (str(rows[-1][0]), int(rows[-1][1])) if len(rows) == size else None
    return len(rows), len(new), last


SQLITE = Dialect(
    mark="?",
    binary="",
    lock_row="",  # one writer at a time: a write transaction holds the whole file
    lock_events="",
    least="MIN",
    greatest="MAX",
    casts=False,
    agent_in="agent_id IN (SELECT value FROM json_each(?))",
    key_in="id IN (SELECT value FROM json_each(?))",
    ids=lambda values: json.dumps(list(values)),
    text=lambda value: value,
    latest_span="LEFT JOIN spans s ON s.agent_id = a.id AND s.start_ms = "
    "(SELECT MAX(start_ms) FROM spans WHERE agent_id = a.id)",
)


def run_script(conn: sqlite3.Connection, script: Script[_T]) -> _T:
    """Run a transaction's statements (store/sql.py) on ``conn``, in the caller's
    transaction."""
    try:
        statement = next(script)
        while True:
            cur = conn.execute(*statement)
            statement = script.send(Done(cur.fetchall(), cur.rowcount))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


@dataclass
class _Commit:
    agent_id: str
    rows: list[SpanRow]
    seq: int
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]

    def settle(self, refused: StoreRefused | None) -> None:
        """Tell the waiting caller (on its own loop) that the batch is stored or refused."""
        self.loop.call_soon_threadsafe(_settle, self.done, refused)


def _settle(future: asyncio.Future[None], refused: StoreRefused | None) -> None:
    if future.done():
        return
    if refused is None:
        future.set_result(None)
    else:
        future.set_exception(refused)


# Heartbeats' spans are queued as Spans and made rows by the writer: of the ten versions
# of a span that a second of heartbeats queues, only the last is made a row.
_Batch = Queued[Span, _Commit]


class SQLiteStore(SQLiteAccounts, SQLAgents, SQLReads, SQLAgentFacts, SQLAppNames, SQLCategorising):
    dialect = SQLITE
    # A span another writer made has no category until it is folded: decided on the fly.
    span_category = "COALESCE(category, op_category(app, title, url))"

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval: float = FLUSH_INTERVAL,
        fold_interval: float = FOLD_INTERVAL,
        max_pending_commits: int = 256,
        recategorize_chunk: int = RECATEGORIZE_CHUNK,
    ) -> None:
        self.path = Path(path)
        self.recategorize_chunk = recategorize_chunk
        self.flush_interval = flush_interval
        self.fold_interval = fold_interval
        self.max_pending_commits = max_pending_commits
        self._commits: list[_Commit] = []
        self._commit_slots: asyncio.Semaphore | None = None
        self._spans: dict[tuple[str, int], Span] = {}
        self._agents: dict[str, AgentInfo] = {}
        self._whose = Whose()  # whose writes are queued or being written: under the queue lock
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._written_at = 0.0  # when what was queued was last written (monotonic)
        # When the rollups last took in everything noted (monotonic; never: the first write
        # folds what an earlier run left), and whether a write has noted more since. Only
        # the writer, under the write lock.
        self._folded_at = -float("inf")
        self._unfolded = True
        self._stopping = False
        self._writer: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._stopped = threading.Event()  # ends a back-off wait at close
        self._name = f"the SQLite store at {self.path}"
        self.failures = FailureLog(self._name, log)
        # The rules in force: the defaults until open() reads the stored ones (migration 7
        # categorises existing spans with the defaults). Replaced, never changed in place.
        self._rules = compile_rules(DEFAULT_RULES)
        self._rules_version = 0  # their version in the database (0: not read yet)
        # The rollup keys' ids this store's writes have used (store/base.py): only the
        # writer connection, under the write lock, reads and changes it.
        self._keys = KeyIds()
        # What the key ids that usage() reads name (store/base.py), for every reader.
        self.names = KeyNames()

    def _register(self, conn: sqlite3.Connection) -> None:
        # op_category(app, title, url): the category of a span written by another writer
        # and not folded yet (its category is NULL), by the rules in force now.
        conn.create_function("op_category", 3, lambda a, t, u: self._rules.categorize(a, t, u))

    # -- lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        self._commit_slots = asyncio.Semaphore(self.max_pending_commits)
        await asyncio.to_thread(self._open_sync)
        self._thread = threading.Thread(target=self._write_loop, name="sqlite-writer", daemon=True)
        self._thread.start()

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        self._register(conn)
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        try:
            steps = pending(version, str(self.path))
        except SchemaTooNew:
            conn.close()
            raise
        for step in steps:
            conn.execute("BEGIN IMMEDIATE")
            for statement in step.sqlite:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={step.version}")
            conn.execute("COMMIT")
        try:
            self._load_rules(conn)
        except StoreUnavailable:
            conn.close()
            raise
        self._writer = conn

    def _load_rules(self, conn: sqlite3.Connection) -> None:
        """The rules in force, as stored."""
        version, stored = conn.execute("SELECT version, rules FROM categories").fetchone()
        try:
            self._rules = compile_rules(rules_from_json(stored))
        except (CategoryError, msgspec.ValidationError) as exc:
            raise StoreUnavailable(
                f"the category rules stored in {self.path} are bad: {exc}"
            ) from exc
        self._rules_version = int(version)

    async def close(self) -> None:
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        try:
            self._write_pending(fold=True)  # raises if what is left cannot be written now
        finally:
            with self._queue_lock:
                readers, self._readers = self._readers, []
            for conn in readers:
                conn.close()
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    # -- writes --------------------------------------------------------------------

    def save_agent(self, agent: AgentInfo) -> None:
        with self._queue_lock:
            self._agents[agent.id] = agent
            self._whose.add(agent.id)

    def save_span(self, agent_id: str, span: Span) -> None:
        with self._queue_lock:
            self._spans[(agent_id, span.start_ms)] = span
            self._whose.add(agent_id)

    async def commit_spans(self, agent_id: str, spans: Sequence[Span], seq: int) -> None:
        assert self._commit_slots is not None, "store is not open"
        async with self._commit_slots:
            loop = asyncio.get_running_loop()
            commit = _Commit(
                agent_id, [span_row(agent_id, s) for s in spans], seq, loop, loop.create_future()
            )
            with self._queue_lock:
                self._commits.append(commit)
                self._whose.add(agent_id)
            self._wake.set()
            await commit.done

    async def flush(self) -> None:
        """Write what is queued and fold every change into the rollups now."""
        await asyncio.to_thread(self._write_pending, True)

    async def written(self) -> None:
        await asyncio.to_thread(self._write_for_read)

    def _write_for_read(self) -> None:
        # What a fresh read does first: write what is queued, unless the store is failing
        # (locked, full): then the writer thread keeps trying, and the read only reads.
        if not self.failures.failing:
            with contextlib.suppress(Exception):  # the writer logs it
                self._write_pending()

    async def schema_version(self) -> tuple[int, int]:
        rows = await self._read("PRAGMA user_version", fresh=False)
        return int(str(rows[0][0])), SCHEMA_VERSION

    def _write_loop(self) -> None:
        while not self._stopping:
            # Due ``flush_interval`` after what was queued was last written, whoever wrote
            # it: a read that wrote it (the office's tick, a report) puts the next write
            # off, rather than every agent's open span being written twice in a second.
            # Nothing queued waits longer than ``flush_interval`` and one write.
            woken = self._wake.wait(self._written_at + self.flush_interval - time.monotonic())
            if not woken and time.monotonic() < self._written_at + self.flush_interval:
                continue  # written meanwhile: not due yet
            self._wake.clear()
            try:
                self._write_pending()
            except Exception:
                # Kept and logged (store/failures.py); wait longer each time before the
                # next try, whatever wakes the writer meanwhile, so that a full disk is not
                # hammered by every commit that arrives.
                self._stopped.wait(backoff(self.failures.attempts))

    def _write_pending(self, fold: bool = False) -> None:
        """Write what is queued, in one transaction, folded into the rollups if it holds a
        commit, if a fold is due (``fold_interval``) or if ``fold``; else its changes
        stay noted for a later fold (the reads count them). With ``fold``, what other
        writers noted is folded too, even if nothing is queued."""
        with self._write_lock:
            with self._queue_lock:
                batch = _Batch(agents=self._agents, spans=self._spans, commits=self._commits)
                self._spans, self._agents, self._commits = {}, {}, []
                self._whose.taken()
            try:
                due = time.monotonic() >= self._folded_at + self.fold_interval
                if not batch.empty():
                    # Committed batches fold as they are written, so that one whose rollups
                    # can never be written is refused with its commit (``_write_part``).
                    self._write_taken(batch, fold or due or bool(batch.commits))
                elif fold or (due and self._unfolded):
                    try:
                        self._fold_alone()
                    except Exception as exc:
                        self.failures.failed(reason(exc), time.monotonic())
                        raise
                    self.failures.succeeded(time.monotonic())
            finally:
                # Written (or nothing was waiting): what comes next is due an interval on.
                self._written_at = time.monotonic()
                with self._queue_lock:
                    self._whose.written()

    def _write_taken(self, batch: _Batch, fold: bool) -> None:
        """Write the batch ``_write_pending`` took (under the write lock)."""
        conn = self._writer
        assert conn is not None, "store is not open"
        try:
            self._write_batch(conn, batch, fold)
        except _LASTING as exc:
            # One write in the batch can never be made. Each on its own, so that it
            # alone is refused and the rest land.
            log.warning("%s: a write failed (%s); writing each apart", self._name, reason(exc))
            self._write_apart(conn, batch)
        except Exception as exc:
            # Transient (full, locked, I/O): put everything back so that nothing
            # accepted is lost (newer writes win) and try again later: a slow or
            # failing store slows agents down, their commits wait, nobody is dropped.
            self._put_back(batch)
            self.failures.failed(reason(exc), time.monotonic())
            raise
        else:
            for commit in batch.commits:
                commit.settle(None)
            self._noted(fold)
        self.failures.succeeded(time.monotonic())

    def _noted(self, folded: bool) -> None:
        """After a write: everything folded, or more noted for a later fold."""
        if folded:
            self._folded_at, self._unfolded = time.monotonic(), False
        else:
            self._unfolded = True

    def _fold_alone(self) -> None:
        """Fold everything noted, in its own transaction (under the write lock); a span
        whose fold can never succeed is refused alone (``_fold_apart``). A transient error
        is raised (the writer tries again later)."""
        conn = self._writer
        assert conn is not None, "store is not open"
        try:
            with _transaction(conn, self._keys):
                fold_pending(conn, self._rules, self._keys)
        except _LASTING as exc:
            log.warning("%s: a fold failed (%s); folding each span apart", self._name, reason(exc))
            self._fold_apart(conn)
        self._noted(True)

    def _fold_apart(self, conn: sqlite3.Connection) -> None:
        """Fold each span's notes in a transaction of its own; one that can never be
        folded is put back as the rollups last counted it (``undo_pending``), so that it
        holds up no other write."""
        spans = conn.execute("SELECT DISTINCT agent_id, start_ms FROM rollup_pending").fetchall()
        for agent_id, start_ms in spans:
            span = (str(agent_id), int(start_ms))
            try:
                with _transaction(conn, self._keys):
                    fold_pending(conn, self._rules, self._keys, span)
            except _LASTING as exc:
                log.error(
                    "%s refused the change to agent %s's span at %d (ms): %s",
                    self._name,
                    *span,
                    reason(exc),
                )
                try:
                    with _transaction(conn, self._keys):
                        undo_pending(conn, *span)
                except _LASTING as again:
                    # Not even put back (the spans table refuses its old row): its notes
                    # go, so that no later write waits on them; the span's time may then
                    # differ between raw reads and totals, as this says.
                    log.error(
                        "%s could not put agent %s's span at %d (ms) back either (%s); its "
                        "change is left out of the totals",
                        self._name,
                        *span,
                        reason(again),
                    )
                    with _transaction(conn, self._keys):
                        conn.execute(
                            "DELETE FROM rollup_pending WHERE agent_id = ? AND start_ms = ?", span
                        )

    def _write_batch(self, conn: sqlite3.Connection, batch: _Batch, fold: bool) -> None:
        """Everything in ``batch`` in one transaction (its callers settle its commits),
        folded into the rollups if ``fold``."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO agents (id, name, host, platform, version, tz, online, "
                "last_seen_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
                "SET name=excluded.name, host=excluded.host, platform=excluded.platform, "
                "version=excluded.version, tz=excluded.tz, online=excluded.online, "
                "last_seen_ms=excluded.last_seen_ms",
                [
                    (a.id, a.name, a.host, a.platform, a.version, a.tz, a.online, a.last_seen_ms)
                    for a in batch.agents.values()
                ],
            )
            # The pending writes, then each commit in order (a later write of one
            # (agent, start) wins), with their rollups, in this one transaction.
            write_span_rows(
                conn,
                [
                    *(span_row(agent_id, span) for (agent_id, _), span in batch.spans.items()),
                    *(row for c in batch.commits for row in c.rows),
                ],
                self._rules,
                self._keys,
                fold=fold,
            )
            for commit in batch.commits:
                conn.execute(
                    "UPDATE agents SET acked_seq = MAX(acked_seq, ?) WHERE id = ?",
                    (commit.seq, commit.agent_id),
                )
            conn.execute("COMMIT")
        except BaseException:
            self._keys.forget()  # the ids this transaction gave keys are gone with it
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _write_apart(self, conn: sqlite3.Connection, batch: _Batch) -> None:
        """Each part of ``batch`` in its own transaction, in order, refusing those that
        fail for a lasting reason (``_write_part``), after what earlier writes noted is
        folded on its own (each part folds only its own rows then). A transient error puts
        back what is left and is raised."""
        parts = batch.parts()
        try:
            self._fold_alone()
        except Exception as exc:
            self._put_back(batch)
            self.failures.failed(reason(exc), time.monotonic())
            raise
        for n, part in enumerate(parts):
            try:
                self._write_part(conn, part)
            except Exception as exc:
                self._put_back(_Batch.joined(parts[n:]))
                self.failures.failed(reason(exc), time.monotonic())
                raise

    def _write_part(self, conn: sqlite3.Connection, part: _Batch) -> None:
        """One write; if it can never be made it is refused: an agent's details or a span
        not committed are dropped (nobody was told they were stored), a commit's spans
        are dropped and its sequence number recorded as taken (``StoreRefused``)."""
        try:
            self._write_batch(conn, part, True)  # apart, each part folds: refused alone
        except _LASTING as exc:
            log.error("%s refused %s: %s", self._name, part.what(), reason(exc))
            refused = StoreRefused(f"{part.what()} could not be stored: {reason(exc)}")
        else:
            for commit in part.commits:
                commit.settle(None)
            return
        try:
            self._write_batch(
                conn, _Batch(commits=[replace(c, rows=[]) for c in part.commits]), True
            )
        except _LASTING as exc:  # the agent sends the batch again, and is refused again
            log.error("%s could not take %s either: %s", self._name, part.what(), reason(exc))
        for commit in part.commits:
            commit.settle(refused)

    def _put_back(self, batch: _Batch) -> None:
        with self._queue_lock:
            self._whose.put_back(batch)
            self._spans = {**batch.spans, **self._spans}
            self._agents = {**batch.agents, **self._agents}
            self._commits = batch.commits + self._commits

    # -- reads ---------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            self._register(conn)
            self._local.conn = conn
            with self._queue_lock:
                self._readers.append(conn)
        return conn

    def _fresh_for(self, agent_id: str) -> bool:
        # Nothing of this agent queued nor being written: its rows are all in the database
        # already, and the read need not write the others' queued rows first (a storm of
        # hellos would otherwise take turns with the writer, one small transaction each).
        with self._queue_lock:
            return self._whose.holds(agent_id)

    async def _read(
        self, sql: str, params: Sequence[object] = (), *, fresh: bool = True
    ) -> list[tuple[object, ...]]:
        def run() -> list[tuple[object, ...]]:
            # Reads see every write queued before them (inside ``one_moment`` that was
            # done on entry, store/moment.py). Not ``fresh``: a read of what is never
            # queued (accounts, rules, events), which must not cut short the writer's
            # coalescing of heartbeats.
            if fresh and not settled():
                self._write_for_read()
            return self._reader().execute(sql, params).fetchall()

        return await asyncio.to_thread(run)

    # -- enrollment, credentials, blocking and removing --------------------------------

    async def _transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in its own transaction on the write connection, after what is
        queued (so that, say, a removal comes after the agent's last queued write)."""
        await self.flush()

        def run() -> _T:
            with self._write_lock:
                conn = self._writer
                assert conn is not None, "store is not open"
                with _transaction(conn, self._keys):
                    return work(conn)

        return await asyncio.to_thread(run)

    async def _run(self, script: Script[_T]) -> _T:
        return await self._transaction(lambda conn: run_script(conn, script))

    async def remove_agent(self, agent_id: str, erase: bool, now_ms: int) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            if erase:
                erase_spans(conn, agent_id, self._rules, self._keys)
                erase_aw_events_sqlite(conn, agent_id)
            return run_script(conn, forget_agent(SQLITE, agent_id, erase, now_ms))

        return await self._transaction(work)

    async def mark_all_offline(self) -> None:
        await self.flush()

        def run() -> None:
            with self._write_lock:
                assert self._writer is not None
                self._writer.execute("UPDATE agents SET online = 0 WHERE online = 1")

        await asyncio.to_thread(run)

    async def prune(self, before_ms: int) -> int:
        await self.flush()
        total = 0
        while True:
            deleted = await asyncio.to_thread(self._prune_chunk, before_ms, PRUNE_CHUNK)
            total += deleted
            if deleted < PRUNE_CHUNK:
                return total

    def _prune_chunk(self, before_ms: int, chunk: int) -> int:
        with self._write_lock:
            conn = self._writer
            assert conn is not None, "store is not open"
            with _transaction(conn, self._keys):
                # What other writers left for the rollups is folded first, so that what the
                # delete triggers note next is only this delete, which must not count.
                fold_pending(conn, self._rules, self._keys)
                deleted = conn.execute(_PRUNE, (before_ms, before_ms, chunk)).rowcount
                conn.execute("DELETE FROM rollup_pending")
            return max(deleted, 0)

    def _raw_usage(
        self, plan: UsagePlan, only: str, only_param: list[object]
    ) -> tuple[list[str], list[object]]:
        # By name, with the idle flag: (agent_id, app, category, idle, ms). A span another
        # writer made has no category until it is folded: decided now.
        category = "COALESCE(category, op_category(app, title, url)) AS category"
        named: list[str] = []
        params: list[object] = []
        for lo, hi in plan.raw:
            named.append(
                f"SELECT agent_id, app, {category}, idle, MIN(end_ms, ?) - MAX(start_ms, ?) "
                f"AS ms FROM spans WHERE {OVERLAP}{only}"
            )
            params += [hi, lo, hi, lo, lo, *only_param]
        # Changes by other writers not folded yet, clipped to the ranges read from rollups
        # (the raw edges read the spans table, which has them already).
        for _, ranges in plan.by_size():
            for lo, hi in ranges:
                named.append(
                    f"SELECT agent_id, app, {category}, idle, "
                    "sign * (MIN(end_ms, ?) - MAX(start_ms, ?)) AS ms FROM rollup_pending "
                    f"WHERE start_ms < ? AND end_ms > ?{only}"
                )
                params += [hi, lo, hi, lo, *only_param]
        if not named:
            return [], []
        part = (
            "SELECT agent_id, app, category, CASE WHEN idle THEN 0 ELSE ms END AS active_ms, "
            f"CASE WHEN idle THEN ms ELSE 0 END AS idle_ms FROM ({' UNION ALL '.join(named)})"
        )
        return [part], params

    # -- categories --------------------------------------------------------------------

    async def set_categories(self, rules: Sequence[Rule], now_ms: int) -> CategoryJob:
        ruleset = compile_rules(rules)  # a bad rule changes nothing
        return await asyncio.to_thread(self._set_categories, ruleset, now_ms)

    def _set_categories(self, rules: RuleSet, now_ms: int) -> CategoryJob:
        self._write_pending()  # what was queued is written by the rules it came under
        with self._write_lock:
            conn = self._writer
            assert conn is not None, "store is not open"
            with _transaction(conn):
                (version,) = conn.execute(
                    "UPDATE categories SET version = version + 1, rules = ? RETURNING version",
                    (rules_to_json(rules.rules),),
                ).fetchone()
                conn.execute(jobs.SUPERSEDE, (now_ms,))
                conn.execute(jobs.START, (version, now_ms))
            # From here every write uses the new rules; the job fixes what came before.
            self._rules, self._rules_version = rules, int(version)
        return CategoryJob(
            id=int(version), state="running", total=None, done=0, changed=0, started_ms=now_ms
        )

    async def recategorize_step(
        self, job_id: int, now_ms: int, batch: int | None = None
    ) -> CategoryJob:
        size = batch or self.recategorize_chunk
        return await asyncio.to_thread(self._recategorize_step, job_id, now_ms, size)

    def _recategorize_step(self, job_id: int, now_ms: int, size: int) -> CategoryJob:
        reader = self._reader()
        found = reader.execute(jobs.JOB, (job_id,)).fetchone()
        if found is None:
            raise ValueError(f"there is no category job {job_id}")
        if found[1] != "running":
            return jobs.job_from(found)[0]
        # Counted once, by a reader: the writer's lock is not held for a whole scan.
        total = found[2] if found[2] is not None else reader.execute(jobs.COUNT_SPANS).fetchone()[0]
        # Ingest's queued writes go first (the writer thread may not get the lock back in
        # time: a lock is not fair), so a commit waits one batch at most.
        self._write_pending()
        with self._write_lock:
            conn = self._writer
            assert conn is not None, "store is not open"
            with _transaction(conn, self._keys):
                job, cursor = jobs.job_from(conn.execute(jobs.JOB, (job_id,)).fetchone())
                if job.state != "running":
                    return job
                (version,) = conn.execute("SELECT version FROM categories").fetchone()
                if version != job.id:  # newer rules came: their own job covers everything
                    conn.execute(jobs.END, ("superseded", now_ms, job.id))
                    return msgspec.structs.replace(job, state="superseded", finished_ms=now_ms)
                if version != self._rules_version:
                    self._load_rules(conn)
                read, changed, last = recategorize_chunk(
                    conn, self._rules, self._keys, cursor, size
                )
                conn.execute(*jobs.advance(job, total, read, changed, last, now_ms))
                return jobs.advanced(job, total, read, changed, last, now_ms)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, keys: KeyIds | None = None) -> Iterator[None]:
    """A write transaction; ``keys``: the writer's rollup key ids, forgotten if it fails."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if keys is not None:
            keys.forget()
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
