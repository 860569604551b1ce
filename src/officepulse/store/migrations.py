"""Every schema version, in one numbered list: what each step does to a database at the
version before it, in SQLite's statements and PostgreSQL's script side by side (the
numbers name the same tables in both). A new database gets every step; an older one the
steps after its version; one newer than this list is refused (``SchemaTooNew``): this
code would misread it. Each store runs the steps its way (store/sqlite.py: ``PRAGMA
user_version``, one transaction a step; store/postgres.py: the ``schema_version`` table,
one transaction under an advisory lock).

The oldest supported schema is step 1's: every database officepulse ever made migrates
from there (tests/store/test_migrations.py builds one from step 1 and upgrades it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import LiteralString

from officepulse.core.categories import DEFAULT_RULES, rules_to_json
from officepulse.errors import StoreUnavailable
from officepulse.store.base import DAY_MS, HOUR_MS, MINUTE_MS, WEEK_MS


class SchemaTooNew(StoreUnavailable):
    """The database was migrated by a newer officepulse than this one: its schema version
    is past the last step this code has, and reading or writing it could lose data."""


# The pending note that adds the row an UPDATE trigger's ``old`` is (step 16).
PENDING_OLD = (
    "sign = 1 AND agent_id = old.agent_id AND start_ms = old.start_ms "
    "AND end_ms = old.end_ms AND app = old.app AND title = old.title "
    "AND url IS old.url AND category IS old.category AND idle = old.idle"
)


@dataclass(frozen=True, slots=True)
class Step:
    """One schema version: SQLite's statements (run in order in one transaction) and
    PostgreSQL's script (one ``execute``), each taking a database from ``version - 1``."""

    version: int
    sqlite: tuple[str, ...]
    postgres: LiteralString


# Step 1, SQLite: IF NOT EXISTS, as databases made before versions were recorded
# (user_version 0) have these tables already.
SQLITE_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    platform TEXT NOT NULL,
    version TEXT NOT NULL,
    tz TEXT NOT NULL,
    online INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS spans (
    agent_id TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    app TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT,
    process TEXT,
    pid INTEGER,
    idle INTEGER NOT NULL,
    PRIMARY KEY (agent_id, start_ms)
) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS spans_by_start ON spans (start_ms)",
)
# People, sessions, agents' owners and the audit log (store/accounts.py): step 9.
SQLITE_ACCOUNT_TABLES: tuple[str, ...] = (
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
POSTGRES_ACCOUNT_TABLES: LiteralString = """
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
# SQL: the start of the ``size`` bucket holding the instant ``column`` (a floor, also
# before the epoch).
_FLOOR = "{column} - (({column} % {size}) + {size}) % {size}"
_ACTIVE = "SUM(CASE WHEN {t}.idle THEN 0 ELSE {t}.{ms} END)"
_IDLE = "SUM(CASE WHEN {t}.idle THEN {t}.{ms} ELSE 0 END)"
_PIVOT = f"{_ACTIVE}, {_IDLE}"
_SOME = f"HAVING {_ACTIVE} != 0 OR {_IDLE} != 0"
# Schema 11 from schema 10's rows, nothing recomputed from spans (rollups outlive the spans
# that retention pruned): every key numbered in key order, then each table's rows summed
# per new key (old rows come in their key order, so the sums stream), week rows from the
# day rows, and the tables swapped.
_KEYED = (
    "JOIN rollup_keys k ON k.agent_id = r.agent_id AND k.app = r.app AND k.category = r.category"
)
_PIVOT_11: tuple[str, ...] = (
    "CREATE TABLE rollup_keys_version (id INTEGER PRIMARY KEY CHECK (id = 0), "
    "version INTEGER NOT NULL)",
    "INSERT INTO rollup_keys_version VALUES (0, 0)",
    "INSERT INTO rollup_keys (agent_id, app, category) SELECT agent_id, app, category "
    "FROM rollups UNION SELECT agent_id, app, category FROM rollup_runs ORDER BY 1, 2, 3",
    "CREATE TABLE rollups_11 (size_ms INTEGER NOT NULL, bucket_ms INTEGER NOT NULL, "
    "key_id INTEGER NOT NULL, active_ms INTEGER NOT NULL, idle_ms INTEGER NOT NULL, "
    "PRIMARY KEY (size_ms, bucket_ms, key_id)) WITHOUT ROWID",
    f"INSERT INTO rollups_11 SELECT r.size_ms, r.bucket_ms, k.id, "
    f"{_PIVOT.format(t='r', ms='ms')} FROM rollups r {_KEYED} "
    "GROUP BY r.size_ms, r.bucket_ms, r.agent_id, r.app, r.category "
    f"{_SOME.format(t='r', ms='ms')}",
    "DROP TABLE rollups",
    "ALTER TABLE rollups_11 RENAME TO rollups",
    f"INSERT INTO rollups SELECT {WEEK_MS}, "
    f"{_FLOOR.format(column='bucket_ms', size=WEEK_MS)} AS week, key_id, SUM(active_ms), "
    f"SUM(idle_ms) FROM rollups WHERE size_ms = {DAY_MS} GROUP BY week, key_id",
    "CREATE TABLE team_rollups_11 (size_ms INTEGER NOT NULL, bucket_ms INTEGER NOT NULL, "
    "app TEXT NOT NULL, category TEXT NOT NULL, active_ms INTEGER NOT NULL, "
    "idle_ms INTEGER NOT NULL, PRIMARY KEY (size_ms, bucket_ms, app, category)) WITHOUT ROWID",
    f"INSERT INTO team_rollups_11 SELECT r.size_ms, r.bucket_ms, r.app, r.category, "
    f"{_PIVOT.format(t='r', ms='ms')} FROM team_rollups r "
    f"GROUP BY r.size_ms, r.bucket_ms, r.app, r.category {_SOME.format(t='r', ms='ms')}",
    "DROP TABLE team_rollups",
    "ALTER TABLE team_rollups_11 RENAME TO team_rollups",
    f"INSERT INTO team_rollups SELECT {WEEK_MS}, "
    f"{_FLOOR.format(column='bucket_ms', size=WEEK_MS)} AS week, app, category, "
    f"SUM(active_ms), SUM(idle_ms) FROM team_rollups WHERE size_ms = {DAY_MS} "
    "GROUP BY week, app, category",
    "CREATE TABLE rollup_runs_11 (key_id INTEGER NOT NULL, start_ms INTEGER NOT NULL, "
    "end_ms INTEGER NOT NULL, active_n INTEGER NOT NULL, idle_n INTEGER NOT NULL, "
    "PRIMARY KEY (key_id, start_ms, end_ms)) WITHOUT ROWID",
    f"INSERT INTO rollup_runs_11 SELECT k.id, r.start_ms, r.end_ms, "
    f"{_PIVOT.format(t='r', ms='n')} FROM rollup_runs r {_KEYED} "
    f"GROUP BY k.id, r.start_ms, r.end_ms {_SOME.format(t='r', ms='n')}",
    "DROP TABLE rollup_runs",
    "ALTER TABLE rollup_runs_11 RENAME TO rollup_runs",
    "CREATE INDEX rollup_runs_by_start ON rollup_runs (start_ms)",
)

# Step N takes a database from step N - 1 to N; a new database gets every step.
STEPS: tuple[Step, ...] = (
    Step(
        1,
        sqlite=SQLITE_SCHEMA,
        postgres="""
        CREATE TABLE agents (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            host TEXT NOT NULL,
            platform TEXT NOT NULL,
            version TEXT NOT NULL,
            tz TEXT NOT NULL,
            online BOOLEAN NOT NULL,
            last_seen_ms BIGINT NOT NULL
        );
        CREATE TABLE spans (
            agent_id TEXT NOT NULL,
            start_ms BIGINT NOT NULL,
            end_ms BIGINT NOT NULL,
            app TEXT NOT NULL,
            title TEXT NOT NULL,
            url TEXT,
            process TEXT,
            pid BIGINT,
            idle BOOLEAN NOT NULL,
            PRIMARY KEY (agent_id, start_ms)
        );
        CREATE INDEX spans_by_start ON spans (start_ms);
    """,
    ),
    Step(
        2,
        sqlite=("ALTER TABLE spans ADD COLUMN details BLOB",),
        postgres="ALTER TABLE spans ADD COLUMN details BYTEA",
    ),
    Step(
        3,
        sqlite=("ALTER TABLE agents ADD COLUMN acked_seq INTEGER NOT NULL DEFAULT 0",),
        postgres="ALTER TABLE agents ADD COLUMN acked_seq BIGINT NOT NULL DEFAULT 0",
    ),
    Step(
        4,
        # Rollups (store/base.py): milliseconds per (agent, app, idle) per bucket of size_ms
        # (minutes and hours), bucket_ms the UTC epoch ms of the bucket's start.
        sqlite=(
            "CREATE TABLE rollups (size_ms INTEGER NOT NULL, bucket_ms INTEGER NOT NULL, "
            "agent_id TEXT NOT NULL, app TEXT NOT NULL, idle INTEGER NOT NULL, "
            "ms INTEGER NOT NULL, "
            "PRIMARY KEY (size_ms, bucket_ms, agent_id, app, idle)) WITHOUT ROWID",
            # Each span cut into the minutes it touches (recursively), summed per minute...
            "WITH RECURSIVE b(agent_id, app, idle, s, e, bucket) AS ("
            "SELECT agent_id, app, idle, start_ms, end_ms, "
            f"start_ms - ((start_ms % {MINUTE_MS}) + {MINUTE_MS}) % {MINUTE_MS} "
            "FROM spans WHERE end_ms > start_ms "
            f"UNION ALL SELECT agent_id, app, idle, s, e, bucket + {MINUTE_MS} FROM b "
            f"WHERE bucket + {MINUTE_MS} < e) "
            "INSERT INTO rollups (size_ms, bucket_ms, agent_id, app, idle, ms) "
            f"SELECT {MINUTE_MS}, bucket, agent_id, app, idle, "
            f"SUM(MIN(e, bucket + {MINUTE_MS}) - MAX(s, bucket)) FROM b "
            "GROUP BY bucket, agent_id, app, idle",
            # ...and the minutes summed per hour (a minute lies in one hour).
            "INSERT INTO rollups (size_ms, bucket_ms, agent_id, app, idle, ms) "
            f"SELECT {HOUR_MS}, "
            f"bucket_ms - ((bucket_ms % {HOUR_MS}) + {HOUR_MS}) % {HOUR_MS} AS h, "
            f"agent_id, app, idle, SUM(ms) FROM rollups WHERE size_ms = {MINUTE_MS} "
            "GROUP BY h, agent_id, app, idle",
            # Writers of spans other than this store (activitywatch/sqlite.py) leave what they
            # changed here, in their own transaction; usage() counts it and the store's next
            # write folds it into the rollups.
            "CREATE TABLE rollup_pending (sign INTEGER NOT NULL, agent_id TEXT NOT NULL, "
            "start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, app TEXT NOT NULL, "
            "idle INTEGER NOT NULL)",
            "CREATE TRIGGER spans_rollup_ins AFTER INSERT ON spans BEGIN "
            "INSERT INTO rollup_pending VALUES (1, new.agent_id, new.start_ms, new.end_ms, "
            "new.app, new.idle); END",
            "CREATE TRIGGER spans_rollup_del AFTER DELETE ON spans BEGIN "
            "INSERT INTO rollup_pending VALUES (-1, old.agent_id, old.start_ms, old.end_ms, "
            "old.app, old.idle); END",
            "CREATE TRIGGER spans_rollup_upd AFTER UPDATE ON spans BEGIN "
            "INSERT INTO rollup_pending VALUES (-1, old.agent_id, old.start_ms, old.end_ms, "
            "old.app, old.idle); "
            "INSERT INTO rollup_pending VALUES (1, new.agent_id, new.start_ms, new.end_ms, "
            "new.app, new.idle); END",
        ),
        # Rollups (store/base.py), as SQLite's: milliseconds per (agent, app, idle) per bucket
        # of size_ms (minutes and hours), filled from the spans already stored.
        postgres="""
        CREATE TABLE rollups (
            size_ms BIGINT NOT NULL,
            bucket_ms BIGINT NOT NULL,
            agent_id TEXT NOT NULL,
            app TEXT NOT NULL,
            idle BOOLEAN NOT NULL,
            ms BIGINT NOT NULL,
            PRIMARY KEY (size_ms, bucket_ms, agent_id, app, idle)
        );
        INSERT INTO rollups (size_ms, bucket_ms, agent_id, app, idle, ms)
        SELECT 60000, b, agent_id, app, idle,
               SUM(LEAST(end_ms, b + 60000) - GREATEST(start_ms, b))
        FROM spans, generate_series(start_ms - mod(mod(start_ms, 60000) + 60000, 60000),
                                    end_ms - 1, 60000::bigint) AS b
        WHERE end_ms > start_ms
        GROUP BY b, agent_id, app, idle;
        INSERT INTO rollups (size_ms, bucket_ms, agent_id, app, idle, ms)
        SELECT 3600000, h, agent_id, app, idle, SUM(ms)
        FROM (SELECT bucket_ms - mod(mod(bucket_ms, 3600000) + 3600000, 3600000) AS h,
                     agent_id, app, idle, ms FROM rollups WHERE size_ms = 60000) m
        GROUP BY h, agent_id, app, idle;
    """,
    ),
    Step(
        5,
        # Team rollups (store/base.py): the rollups summed over agents, for usage() not
        # grouped by agent; and day buckets in both (the backfill below).
        sqlite=(
            "CREATE TABLE team_rollups (size_ms INTEGER NOT NULL, bucket_ms INTEGER NOT NULL, "
            "app TEXT NOT NULL, idle INTEGER NOT NULL, ms INTEGER NOT NULL, "
            "PRIMARY KEY (size_ms, bucket_ms, app, idle)) WITHOUT ROWID",
            # Day buckets from the hour buckets (an hour lies in one UTC day)...
            "INSERT INTO rollups (size_ms, bucket_ms, agent_id, app, idle, ms) "
            f"SELECT {DAY_MS}, bucket_ms - ((bucket_ms % {DAY_MS}) + {DAY_MS}) % {DAY_MS} AS d, "
            f"agent_id, app, idle, SUM(ms) FROM rollups WHERE size_ms = {HOUR_MS} "
            "GROUP BY d, agent_id, app, idle",
            # ...then every size summed over agents.
            "INSERT INTO team_rollups (size_ms, bucket_ms, app, idle, ms) "
            "SELECT size_ms, bucket_ms, app, idle, SUM(ms) FROM rollups "
            "GROUP BY size_ms, bucket_ms, app, idle HAVING SUM(ms) != 0",
            # The longest span ever stored (an upper bound: never lowered), kept by triggers
            # so that every writer keeps it; usage() reads raw spans that overlap [lo, hi)
            # as start_ms in [lo - max_span_ms, hi), which the start index bounds both sides.
            "CREATE TABLE span_stats (id INTEGER PRIMARY KEY CHECK (id = 0), "
            "max_span_ms INTEGER NOT NULL)",
            "INSERT INTO span_stats SELECT 0, COALESCE(MAX(end_ms - start_ms), 0) FROM spans",
            "CREATE TRIGGER spans_max_ins AFTER INSERT ON spans "
            "WHEN new.end_ms - new.start_ms > (SELECT max_span_ms FROM span_stats) BEGIN "
            "UPDATE span_stats SET max_span_ms = new.end_ms - new.start_ms; END",
            "CREATE TRIGGER spans_max_upd AFTER UPDATE OF start_ms, end_ms ON spans "
            "WHEN new.end_ms - new.start_ms > (SELECT max_span_ms FROM span_stats) BEGIN "
            "UPDATE span_stats SET max_span_ms = new.end_ms - new.start_ms; END",
        ),
        # Day buckets from the hour buckets; team rollups (every size summed over agents, for
        # usage() not grouped by agent); the longest span ever stored (never lowered), which
        # bounds the raw-span edge query on both sides of the start index.
        postgres="""
        INSERT INTO rollups (size_ms, bucket_ms, agent_id, app, idle, ms)
        SELECT 86400000, d, agent_id, app, idle, SUM(ms)
        FROM (SELECT bucket_ms - mod(mod(bucket_ms, 86400000) + 86400000, 86400000) AS d,
                     agent_id, app, idle, ms FROM rollups WHERE size_ms = 3600000) h
        GROUP BY d, agent_id, app, idle;
        CREATE TABLE team_rollups (
            size_ms BIGINT NOT NULL,
            bucket_ms BIGINT NOT NULL,
            app TEXT NOT NULL,
            idle BOOLEAN NOT NULL,
            ms BIGINT NOT NULL,
            PRIMARY KEY (size_ms, bucket_ms, app, idle)
        );
        INSERT INTO team_rollups (size_ms, bucket_ms, app, idle, ms)
        SELECT size_ms, bucket_ms, app, idle, SUM(ms) FROM rollups
        GROUP BY size_ms, bucket_ms, app, idle HAVING SUM(ms) <> 0;
        CREATE TABLE span_stats (
            id INTEGER PRIMARY KEY CHECK (id = 0),
            max_span_ms BIGINT NOT NULL
        );
        INSERT INTO span_stats SELECT 0, COALESCE(MAX(end_ms - start_ms), 0) FROM spans;
    """,
    ),
    Step(
        6,
        # Time zones (core/zones.py): the zone each span was recorded in, and each agent's
        # zone history as runs, kept in the same transaction as the spans (the backfill).
        sqlite=(
            "ALTER TABLE spans ADD COLUMN tz TEXT",
            # Spans stored before zones were recorded were in the agent's current zone, as
            # far as anyone can tell now: one run per agent over all of them.
            "UPDATE spans SET tz = (SELECT tz FROM agents WHERE agents.id = spans.agent_id)",
            "CREATE TABLE zone_runs (agent_id TEXT NOT NULL, start_ms INTEGER NOT NULL, "
            "end_ms INTEGER NOT NULL, tz TEXT NOT NULL, PRIMARY KEY (agent_id, start_ms)) "
            "WITHOUT ROWID",
            "INSERT INTO zone_runs (agent_id, start_ms, end_ms, tz) "
            "SELECT s.agent_id, MIN(s.start_ms), MAX(s.end_ms), a.tz FROM spans s "
            "JOIN agents a ON a.id = s.agent_id GROUP BY s.agent_id",
        ),
        # Time zones (core/zones.py): the zone each span was recorded in, and each agent's
        # zone history as runs, kept in the same transaction as the spans. Spans stored
        # before zones were recorded were in the agent's current zone, as far as anyone
        # can tell now: one run per agent over all of them.
        postgres="""
        ALTER TABLE spans ADD COLUMN tz TEXT;
        UPDATE spans SET tz = a.tz FROM agents a WHERE a.id = spans.agent_id;
        CREATE TABLE zone_runs (
            agent_id TEXT NOT NULL,
            start_ms BIGINT NOT NULL,
            end_ms BIGINT NOT NULL,
            tz TEXT NOT NULL,
            PRIMARY KEY (agent_id, start_ms)
        );
        INSERT INTO zone_runs (agent_id, start_ms, end_ms, tz)
        SELECT s.agent_id, MIN(s.start_ms), MAX(s.end_ms), a.tz FROM spans s
        JOIN agents a ON a.id = s.agent_id GROUP BY s.agent_id, a.tz;
    """,
    ),
    Step(
        7,
        # Categories (core/categories.py): each span's, set when it is written (NULL until the
        # store folds a span another writer made); the rollups are rebuilt with it below.
        sqlite=(
            "ALTER TABLE spans ADD COLUMN category TEXT",
            # The rules in force (one JSON list) and a version that changes with them.
            "CREATE TABLE categories (id INTEGER PRIMARY KEY CHECK (id = 0), "
            "version INTEGER NOT NULL, rules TEXT NOT NULL)",
            "INSERT INTO categories VALUES (0, 1, "
            + "'"
            + rules_to_json(DEFAULT_RULES).replace("'", "''")
            + "')",
            # The rollups are rebuilt from the spans below, so what other writers left
            # pending is in them already; the pending rows now carry what categorising needs.
            "DROP TRIGGER spans_rollup_ins",
            "DROP TRIGGER spans_rollup_del",
            "DROP TRIGGER spans_rollup_upd",
            "DROP TABLE rollup_pending",
            # op_category: the store's rules (here the defaults), registered on each connection.
            "UPDATE spans SET category = op_category(app, title, url)",
            "CREATE TABLE rollup_pending (sign INTEGER NOT NULL, agent_id TEXT NOT NULL, "
            "start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, app TEXT NOT NULL, "
            "title TEXT NOT NULL, url TEXT, category TEXT, idle INTEGER NOT NULL)",
            "CREATE TRIGGER spans_rollup_ins AFTER INSERT ON spans BEGIN "
            "INSERT INTO rollup_pending VALUES (1, new.agent_id, new.start_ms, new.end_ms, "
            "new.app, new.title, new.url, new.category, new.idle); END",
            "CREATE TRIGGER spans_rollup_del AFTER DELETE ON spans BEGIN "
            "INSERT INTO rollup_pending VALUES (-1, old.agent_id, old.start_ms, old.end_ms, "
            "old.app, old.title, old.url, old.category, old.idle); END",
            # Not on an UPDATE of the category alone: only this store does that (folding,
            # re-categorising), and it moves the time in the rollups itself.
            "CREATE TRIGGER spans_rollup_upd AFTER UPDATE OF agent_id, start_ms, end_ms, app, "
            "title, url, idle ON spans BEGIN "
            "INSERT INTO rollup_pending VALUES (-1, old.agent_id, old.start_ms, old.end_ms, "
            "old.app, old.title, old.url, old.category, old.idle); "
            "INSERT INTO rollup_pending VALUES (1, new.agent_id, new.start_ms, new.end_ms, "
            "new.app, new.title, new.url, new.category, new.idle); END",
            "DROP TABLE rollups",
            "DROP TABLE team_rollups",
            "CREATE TABLE rollups (size_ms INTEGER NOT NULL, bucket_ms INTEGER NOT NULL, "
            "agent_id TEXT NOT NULL, app TEXT NOT NULL, category TEXT NOT NULL, "
            "idle INTEGER NOT NULL, ms INTEGER NOT NULL, "
            "PRIMARY KEY (size_ms, bucket_ms, agent_id, app, category, idle)) WITHOUT ROWID",
            "CREATE TABLE team_rollups (size_ms INTEGER NOT NULL, bucket_ms INTEGER NOT NULL, "
            "app TEXT NOT NULL, category TEXT NOT NULL, idle INTEGER NOT NULL, "
            "ms INTEGER NOT NULL, PRIMARY KEY (size_ms, bucket_ms, app, category, idle)) "
            "WITHOUT ROWID",
            # Minutes (each span cut recursively), hours from minutes, days from hours...
            "WITH RECURSIVE b(agent_id, app, category, idle, s, e, bucket) AS ("
            "SELECT agent_id, app, category, idle, start_ms, end_ms, "
            f"start_ms - ((start_ms % {MINUTE_MS}) + {MINUTE_MS}) % {MINUTE_MS} "
            "FROM spans WHERE end_ms > start_ms "
            f"UNION ALL SELECT agent_id, app, category, idle, s, e, bucket + {MINUTE_MS} FROM b "
            f"WHERE bucket + {MINUTE_MS} < e) "
            "INSERT INTO rollups (size_ms, bucket_ms, agent_id, app, category, idle, ms) "
            f"SELECT {MINUTE_MS}, bucket, agent_id, app, category, idle, "
            f"SUM(MIN(e, bucket + {MINUTE_MS}) - MAX(s, bucket)) FROM b "
            "GROUP BY bucket, agent_id, app, category, idle",
            *(
                "INSERT INTO rollups (size_ms, bucket_ms, agent_id, app, category, idle, ms) "
                f"SELECT {big}, bucket_ms - ((bucket_ms % {big}) + {big}) % {big} AS b, "
                f"agent_id, app, category, idle, SUM(ms) FROM rollups WHERE size_ms = {small} "
                "GROUP BY b, agent_id, app, category, idle"
                for small, big in ((MINUTE_MS, HOUR_MS), (HOUR_MS, DAY_MS))
            ),
            # ...then every size summed over agents.
            "INSERT INTO team_rollups (size_ms, bucket_ms, app, category, idle, ms) "
            "SELECT size_ms, bucket_ms, app, category, idle, SUM(ms) FROM rollups "
            "GROUP BY size_ms, bucket_ms, app, category, idle HAVING SUM(ms) != 0",
        ),
        # Categories (core/categories.py): the rules in force (one JSON list, with a version
        # that changes with them) and each span's category, which _categorize_spans fills
        # with the default rules before CATEGORY_REBUILD rebuilds the rollups with it.
        postgres="""
        ALTER TABLE spans ADD COLUMN category TEXT;
        CREATE TABLE categories (
            id INTEGER PRIMARY KEY CHECK (id = 0),
            version BIGINT NOT NULL,
            rules TEXT NOT NULL
        );
    """,
    ),
    Step(
        8,
        # Enrollment, credentials, blocking (the rest of the step is in BACKFILLS).
        sqlite=(
            "ALTER TABLE agents ADD COLUMN blocked_ms INTEGER",
            "ALTER TABLE agents ADD COLUMN blocked_reason TEXT",
            # Secrets only as SHA-256 hex (security/agent_secrets.py says why not a slow hash).
            "CREATE TABLE enrollment_tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, "
            "label TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER, "
            "uses_left INTEGER, "
            "revoked_ms INTEGER)",
            "CREATE TABLE agent_credentials (agent_id TEXT PRIMARY KEY, hash TEXT NOT NULL, "
            "created_ms INTEGER NOT NULL, token_id TEXT, revoked_ms INTEGER)",
            # What team leads did to agents, in order; servers poll it (WHERE seq > last seen).
            "CREATE TABLE agent_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "agent_id TEXT NOT NULL, kind TEXT NOT NULL, at_ms INTEGER NOT NULL)",
        ),
        # Enrollment tokens and agent credentials (SHA-256 hex only), blocked agents, and
        # what team leads did to agents, in order (servers poll it: WHERE seq > last seen).
        postgres="""
        ALTER TABLE agents ADD COLUMN blocked_ms BIGINT, ADD COLUMN blocked_reason TEXT;
        CREATE TABLE enrollment_tokens (
            id TEXT PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            label TEXT NOT NULL,
            created_ms BIGINT NOT NULL,
            expires_ms BIGINT,
            uses_left INTEGER,
            revoked_ms BIGINT
        );
        CREATE TABLE agent_credentials (
            agent_id TEXT PRIMARY KEY,
            hash TEXT NOT NULL,
            created_ms BIGINT NOT NULL,
            token_id TEXT,
            revoked_ms BIGINT
        );
        CREATE TABLE agent_events (
            seq BIGSERIAL PRIMARY KEY,
            agent_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            at_ms BIGINT NOT NULL
        );
    """,
    ),
    Step(
        9,
        # People, sessions, agents' owners and the audit log (store/accounts.py).
        sqlite=SQLITE_ACCOUNT_TABLES,
        postgres=POSTGRES_ACCOUNT_TABLES,
    ),
    Step(
        10,
        # Runs (store/base.py): a span's whole hours as one row, added by arithmetic.
        sqlite=(
            "CREATE TABLE rollup_runs (agent_id TEXT NOT NULL, start_ms INTEGER NOT NULL, "
            "end_ms INTEGER NOT NULL, app TEXT NOT NULL, category TEXT NOT NULL, "
            "idle INTEGER NOT NULL, n INTEGER NOT NULL, "
            "PRIMARY KEY (agent_id, start_ms, end_ms, app, category, idle)) WITHOUT ROWID",
            "CREATE INDEX rollup_runs_by_start ON rollup_runs (start_ms)",
        ),
        postgres="""
        CREATE TABLE rollup_runs (
            agent_id TEXT NOT NULL,
            start_ms BIGINT NOT NULL,
            end_ms BIGINT NOT NULL,
            app TEXT NOT NULL,
            category TEXT NOT NULL,
            idle BOOLEAN NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (agent_id, start_ms, end_ms, app, category, idle)
        );
        CREATE INDEX rollup_runs_by_start ON rollup_runs (start_ms);
    """,
    ),
    Step(
        11,
        # Rollups by key id, active and idle time in one row, and weeks (store/base.py): the
        # key dictionary, then schema 10's rows moved to it. AUTOINCREMENT: an id is never given
        # again once its key is deleted (KeyIds).
        sqlite=(
            "CREATE TABLE rollup_keys (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "agent_id TEXT NOT NULL, app TEXT NOT NULL, category TEXT NOT NULL, "
            "UNIQUE (agent_id, app, category))",
            *_PIVOT_11,
        ),
        # Rollups by key id, active and idle time in one row, and weeks (store/base.py), from
        # schema 10's rows (nothing recomputed from spans: rollups outlive the spans retention
        # pruned). An identity id is never given again once its key is deleted (KeyIds);
        # erasing an agent raises rollup_keys_version. Weeks from the epoch's (a Thursday).
        postgres="""
        CREATE TABLE rollup_keys (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            agent_id TEXT NOT NULL,
            app TEXT NOT NULL,
            category TEXT NOT NULL,
            UNIQUE (agent_id, app, category)
        );
        CREATE TABLE rollup_keys_version (
            id INTEGER PRIMARY KEY CHECK (id = 0),
            version BIGINT NOT NULL
        );
        INSERT INTO rollup_keys_version VALUES (0, 0);
        INSERT INTO rollup_keys (agent_id, app, category)
        SELECT agent_id, app, category FROM (SELECT agent_id, app, category FROM rollups
        UNION SELECT agent_id, app, category FROM rollup_runs) u
        ORDER BY agent_id COLLATE "C", app COLLATE "C", category COLLATE "C";
        CREATE TABLE rollups_11 (
            size_ms BIGINT NOT NULL,
            bucket_ms BIGINT NOT NULL,
            key_id BIGINT NOT NULL,
            active_ms BIGINT NOT NULL,
            idle_ms BIGINT NOT NULL,
            PRIMARY KEY (size_ms, bucket_ms, key_id)
        );
        INSERT INTO rollups_11
        SELECT r.size_ms, r.bucket_ms, k.id,
               SUM(CASE WHEN r.idle THEN 0 ELSE r.ms END),
               SUM(CASE WHEN r.idle THEN r.ms ELSE 0 END)
        FROM rollups r JOIN rollup_keys k USING (agent_id, app, category)
        GROUP BY r.size_ms, r.bucket_ms, k.id
        HAVING SUM(CASE WHEN r.idle THEN 0 ELSE r.ms END) <> 0
            OR SUM(CASE WHEN r.idle THEN r.ms ELSE 0 END) <> 0;
        INSERT INTO rollups_11
        SELECT 604800000, w, key_id, SUM(active_ms), SUM(idle_ms)
        FROM (SELECT bucket_ms - mod(mod(bucket_ms, 604800000) + 604800000, 604800000) AS w,
                     key_id, active_ms, idle_ms FROM rollups_11 WHERE size_ms = 86400000) d
        GROUP BY w, key_id;
        DROP TABLE rollups;
        ALTER TABLE rollups_11 RENAME TO rollups;
        ALTER INDEX rollups_11_pkey RENAME TO rollups_pkey;
        CREATE TABLE team_rollups_11 (
            size_ms BIGINT NOT NULL,
            bucket_ms BIGINT NOT NULL,
            app TEXT NOT NULL,
            category TEXT NOT NULL,
            active_ms BIGINT NOT NULL,
            idle_ms BIGINT NOT NULL,
            PRIMARY KEY (size_ms, bucket_ms, app, category)
        );
        INSERT INTO team_rollups_11
        SELECT size_ms, bucket_ms, app, category,
               SUM(CASE WHEN idle THEN 0 ELSE ms END), SUM(CASE WHEN idle THEN ms ELSE 0 END)
        FROM team_rollups GROUP BY size_ms, bucket_ms, app, category
        HAVING SUM(CASE WHEN idle THEN 0 ELSE ms END) <> 0
            OR SUM(CASE WHEN idle THEN ms ELSE 0 END) <> 0;
        INSERT INTO team_rollups_11
        SELECT 604800000, w, app, category, SUM(active_ms), SUM(idle_ms)
        FROM (SELECT bucket_ms - mod(mod(bucket_ms, 604800000) + 604800000, 604800000) AS w,
                     app, category, active_ms, idle_ms
              FROM team_rollups_11 WHERE size_ms = 86400000) d
        GROUP BY w, app, category;
        DROP TABLE team_rollups;
        ALTER TABLE team_rollups_11 RENAME TO team_rollups;
        ALTER INDEX team_rollups_11_pkey RENAME TO team_rollups_pkey;
        CREATE TABLE rollup_runs_11 (
            key_id BIGINT NOT NULL,
            start_ms BIGINT NOT NULL,
            end_ms BIGINT NOT NULL,
            active_n BIGINT NOT NULL,
            idle_n BIGINT NOT NULL,
            PRIMARY KEY (key_id, start_ms, end_ms)
        );
        INSERT INTO rollup_runs_11
        SELECT k.id, r.start_ms, r.end_ms,
               SUM(CASE WHEN r.idle THEN 0 ELSE r.n END), SUM(CASE WHEN r.idle THEN r.n ELSE 0 END)
        FROM rollup_runs r JOIN rollup_keys k USING (agent_id, app, category)
        GROUP BY k.id, r.start_ms, r.end_ms
        HAVING SUM(CASE WHEN r.idle THEN 0 ELSE r.n END) <> 0
            OR SUM(CASE WHEN r.idle THEN r.n ELSE 0 END) <> 0;
        DROP TABLE rollup_runs;
        ALTER TABLE rollup_runs_11 RENAME TO rollup_runs;
        ALTER INDEX rollup_runs_11_pkey RENAME TO rollup_runs_pkey;
        CREATE INDEX rollup_runs_by_start ON rollup_runs (start_ms);
        ANALYZE rollup_keys, rollups, team_rollups, rollup_runs;
    """,
    ),
    # What agents say of their computers (store/agent_facts.py): runs, sleeps and clock
    # jumps, for the honest gaps on a person's page (core/gaps.py).
    Step(
        12,
        (
            "CREATE TABLE agent_facts (agent_id TEXT NOT NULL, kind TEXT NOT NULL, "
            "start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, value INTEGER, "
            "detail TEXT NOT NULL, PRIMARY KEY (agent_id, kind, start_ms)) WITHOUT ROWID",
        ),
        """
        CREATE TABLE agent_facts (
            agent_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            start_ms BIGINT NOT NULL,
            end_ms BIGINT NOT NULL,
            value BIGINT,
            detail TEXT NOT NULL,
            PRIMARY KEY (agent_id, kind, start_ms)
        );
    """,
    ),
    # App names (store/app_names.py): what agents report, with an icon, and what an admin
    # set.
    Step(
        13,
        ("CREATE TABLE app_names (app TEXT PRIMARY KEY, reported TEXT, override TEXT, icon BLOB)",),
        """
        CREATE TABLE app_names (
            app TEXT PRIMARY KEY,
            reported TEXT,
            override TEXT,
            icon BYTEA
        );
    """,
    ),
    # Re-categorising history in the background (store/categorising.py): a job per change
    # of the rules, named by the rules' version, with how far it has got and where.
    Step(
        14,
        (
            "CREATE TABLE category_jobs (version INTEGER PRIMARY KEY, state TEXT NOT NULL "
            "CHECK (state IN ('running', 'done', 'superseded')), total INTEGER, "
            "done INTEGER NOT NULL, changed INTEGER NOT NULL, after_agent TEXT, "
            "after_start INTEGER, started_ms INTEGER NOT NULL, finished_ms INTEGER)",
        ),
        """
        CREATE TABLE category_jobs (
            version BIGINT PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('running', 'done', 'superseded')),
            total BIGINT,
            done BIGINT NOT NULL,
            changed BIGINT NOT NULL,
            after_agent TEXT,
            after_start BIGINT,
            started_ms BIGINT NOT NULL,
            finished_ms BIGINT
        );
    """,
    ),
    # Scaled out, each gateway process holds one lease (server/leases.py), named per
    # incarnation, and an agent's row names the lease of the gateway that holds it. The
    # embedded server (SQLite's only writer) never sweeps: the column stays empty there.
    Step(
        15,
        (
            "CREATE TABLE gateway_leases (id TEXT PRIMARY KEY, gateway TEXT NOT NULL, "
            "started_ms INTEGER NOT NULL, renewed_ms INTEGER NOT NULL)",
            "ALTER TABLE agents ADD COLUMN lease TEXT",
        ),
        """
        CREATE TABLE gateway_leases (
            id TEXT PRIMARY KEY,
            gateway TEXT NOT NULL,
            started_ms BIGINT NOT NULL,
            renewed_ms BIGINT NOT NULL
        );
        ALTER TABLE agents ADD COLUMN lease TEXT;
    """,
    ),
    # SQLite folds a span's change into the rollups later than it writes it (store/base.py,
    # FOLD_INTERVAL): a rewrite of a row whose contribution is still pending (noted since the
    # last fold) replaces that note in place rather than adding two more, so that a span
    # heartbeats extend every second keeps two pending rows, not twenty. PostgreSQL folds
    # in its writer, as it writes (nothing pending): nothing changes there.
    Step(
        16,
        (
            "DROP TRIGGER IF EXISTS spans_rollup_upd",
            "CREATE INDEX rollup_pending_span ON rollup_pending (agent_id, start_ms)",
            # A row rewritten at its key (every heartbeat write): its pending note, if it has
            # one, becomes the new row; else (changes() is the UPDATE's count, SQLite's
            # documented behaviour in a trigger) its old contribution is taken away and the
            # new one added, as before.
            "CREATE TRIGGER spans_rollup_upd AFTER UPDATE OF agent_id, start_ms, end_ms, app, "
            "title, url, idle ON spans "
            "WHEN new.agent_id = old.agent_id AND new.start_ms = old.start_ms BEGIN "
            "UPDATE rollup_pending SET end_ms = new.end_ms, app = new.app, title = new.title, "
            "url = new.url, category = new.category, idle = new.idle WHERE rowid = "
            f"(SELECT rowid FROM rollup_pending WHERE {PENDING_OLD} LIMIT 1); "
            "INSERT INTO rollup_pending SELECT -1, old.agent_id, old.start_ms, old.end_ms, "
            "old.app, old.title, old.url, old.category, old.idle WHERE changes() = 0 "
            "UNION ALL SELECT 1, new.agent_id, new.start_ms, new.end_ms, new.app, new.title, "
            "new.url, new.category, new.idle WHERE changes() = 0; END",
            # A row moved to another key (only other writers do that): as before.
            "CREATE TRIGGER spans_rollup_move AFTER UPDATE OF agent_id, start_ms, end_ms, app, "
            "title, url, idle ON spans "
            "WHEN new.agent_id != old.agent_id OR new.start_ms != old.start_ms BEGIN "
            "INSERT INTO rollup_pending VALUES (-1, old.agent_id, old.start_ms, old.end_ms, "
            "old.app, old.title, old.url, old.category, old.idle); "
            "INSERT INTO rollup_pending VALUES (1, new.agent_id, new.start_ms, new.end_ms, "
            "new.app, new.title, new.url, new.category, new.idle); END",
        ),
        "SELECT 1",
    ),
)
SCHEMA_VERSION = STEPS[-1].version

# PostgreSQL's step 7 categorises the stored spans in Python (store/postgres.py), then
# runs this.
CATEGORY_STEP = 7
CATEGORY_REBUILD: LiteralString = """
    ALTER TABLE spans ALTER COLUMN category SET NOT NULL;
    DROP TABLE rollups;
    DROP TABLE team_rollups;
    CREATE TABLE rollups (
        size_ms BIGINT NOT NULL,
        bucket_ms BIGINT NOT NULL,
        agent_id TEXT NOT NULL,
        app TEXT NOT NULL,
        category TEXT NOT NULL,
        idle BOOLEAN NOT NULL,
        ms BIGINT NOT NULL,
        PRIMARY KEY (size_ms, bucket_ms, agent_id, app, category, idle)
    );
    INSERT INTO rollups (size_ms, bucket_ms, agent_id, app, category, idle, ms)
    SELECT 60000, b, agent_id, app, category, idle,
           SUM(LEAST(end_ms, b + 60000) - GREATEST(start_ms, b))
    FROM spans, generate_series(start_ms - mod(mod(start_ms, 60000) + 60000, 60000),
                                end_ms - 1, 60000::bigint) AS b
    WHERE end_ms > start_ms
    GROUP BY b, agent_id, app, category, idle;
    INSERT INTO rollups (size_ms, bucket_ms, agent_id, app, category, idle, ms)
    SELECT 3600000, h, agent_id, app, category, idle, SUM(ms)
    FROM (SELECT bucket_ms - mod(mod(bucket_ms, 3600000) + 3600000, 3600000) AS h,
                 agent_id, app, category, idle, ms FROM rollups WHERE size_ms = 60000) m
    GROUP BY h, agent_id, app, category, idle;
    INSERT INTO rollups (size_ms, bucket_ms, agent_id, app, category, idle, ms)
    SELECT 86400000, d, agent_id, app, category, idle, SUM(ms)
    FROM (SELECT bucket_ms - mod(mod(bucket_ms, 86400000) + 86400000, 86400000) AS d,
                 agent_id, app, category, idle, ms FROM rollups WHERE size_ms = 3600000) h
    GROUP BY d, agent_id, app, category, idle;
    CREATE TABLE team_rollups (
        size_ms BIGINT NOT NULL,
        bucket_ms BIGINT NOT NULL,
        app TEXT NOT NULL,
        category TEXT NOT NULL,
        idle BOOLEAN NOT NULL,
        ms BIGINT NOT NULL,
        PRIMARY KEY (size_ms, bucket_ms, app, category, idle)
    );
    INSERT INTO team_rollups (size_ms, bucket_ms, app, category, idle, ms)
    SELECT size_ms, bucket_ms, app, category, idle, SUM(ms) FROM rollups
    GROUP BY size_ms, bucket_ms, app, category, idle HAVING SUM(ms) <> 0;
"""


def pending(version: int, database: str) -> Sequence[Step]:
    """The steps a database at ``version`` still needs, in order; raises SchemaTooNew for a
    database newer than this code (``database`` names it in the message)."""
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database {database} has schema version {version}, newer than this "
            f"officepulse understands ({SCHEMA_VERSION})",
            hint="upgrade officepulse to the version that last opened it, or restore a "
            "backup made before",
        )
    return [step for step in STEPS if step.version > version]
