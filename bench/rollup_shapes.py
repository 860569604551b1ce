#!/usr/bin/env python3
"""What totals by agent would cost to read from rollup rows of other shapes: SQL alone,
on a copy of a kept store's day rollups (``bench/query.py --keep DIR``), no writer.

``usage(…, group_by=["agent", "app"])`` over whole days sorts every day row it reads (a
temporary B-tree for ``GROUP BY``); this script copies the day rows of ``--store`` into a
scratch database and times the same grouping over them as they are, through a covering
index in group order, and over scratch tables of other shapes built from them: week rows,
active and idle milliseconds in one row ("pivoted"), and keys as small integers. Every
variant's answer is checked against the first. The figure is the CPU time of the query
(this process's thread time, best of ``--repeat``), so other programs barely move it.

Run: .venv/bin/python bench/rollup_shapes.py --store /tmp/perf-q1000/query-bench.sqlite3
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS

# The scratch tables, all built from the copied day rows (`rollups`).
SHAPES = f"""
CREATE TABLE weeks AS SELECT bucket_ms - bucket_ms % {WEEK_MS} AS bucket_ms, agent_id, app,
    category, idle, SUM(ms) AS ms FROM rollups GROUP BY 1, 2, 3, 4, 5;
CREATE INDEX weeks_by_bucket ON weeks (bucket_ms, agent_id, app, category, idle, ms);
CREATE TABLE piv (size_ms INTEGER, bucket_ms INTEGER, agent_id TEXT, app TEXT, category TEXT,
    active INTEGER, idle INTEGER, PRIMARY KEY (size_ms, bucket_ms, agent_id, app, category))
    WITHOUT ROWID;
INSERT INTO piv SELECT {DAY_MS}, bucket_ms, agent_id, app, category,
    SUM(CASE WHEN idle THEN 0 ELSE ms END), SUM(CASE WHEN idle THEN ms ELSE 0 END)
    FROM rollups GROUP BY 2, 3, 4, 5;
INSERT INTO piv SELECT {WEEK_MS}, bucket_ms - bucket_ms % {WEEK_MS}, agent_id, app, category,
    SUM(active), SUM(idle) FROM piv WHERE size_ms = {DAY_MS} GROUP BY 2, 3, 4, 5;
CREATE TABLE keys (id INTEGER PRIMARY KEY, agent_id TEXT, app TEXT, category TEXT,
    UNIQUE (agent_id, app, category));
INSERT INTO keys (agent_id, app, category) SELECT DISTINCT agent_id, app, category FROM piv;
CREATE TABLE ipiv (size_ms INTEGER, bucket_ms INTEGER, key_id INTEGER, active INTEGER,
    idle INTEGER, PRIMARY KEY (size_ms, bucket_ms, key_id)) WITHOUT ROWID;
INSERT INTO ipiv SELECT size_ms, bucket_ms, k.id, active, idle
    FROM piv JOIN keys k USING (agent_id, app, category);
"""


def variants(lo: int, hi: int) -> list[tuple[str, str, tuple[int, ...]]]:
    """(label, SQL answering (agent, app, active ms, idle ms), parameters) over [lo, hi):
    whole weeks inside it from week rows, the days around them from day rows."""
    w0, w1 = -(-lo // WEEK_MS) * WEEK_MS, hi // WEEK_MS * WEEK_MS
    days = "bucket_ms >= ? AND bucket_ms < ?"
    pivot = "SUM(CASE WHEN idle THEN 0 ELSE ms END), SUM(CASE WHEN idle THEN ms ELSE 0 END)"
    weekly = (lo, w0, w0, w1, w1, hi)

    def piv(table: str, cols: str) -> str:
        return " UNION ALL ".join(
            f"SELECT {cols} FROM {table} WHERE size_ms = {size} AND {days}"
            for size in (DAY_MS, WEEK_MS, DAY_MS)
        )

    return [
        (
            "day rows as stored, GROUP BY (a sort)",
            f"SELECT agent_id, app, {pivot} FROM rollups WHERE {days} GROUP BY agent_id, app",
            (lo, hi),
        ),
        (
            "day rows, covering index in group order (scans all days kept)",
            f"SELECT agent_id, app, {pivot} FROM rollups INDEXED BY rollups_by_key "
            f"WHERE {days} GROUP BY agent_id, app",
            (lo, hi),
        ),
        (
            "week rows + the days around them",
            f"SELECT agent_id, app, {pivot} FROM (SELECT agent_id, app, idle, ms FROM rollups "
            f"WHERE {days} UNION ALL SELECT agent_id, app, idle, ms FROM weeks WHERE {days} "
            f"UNION ALL SELECT agent_id, app, idle, ms FROM rollups WHERE {days}) "
            "GROUP BY agent_id, app",
            weekly,
        ),
        (
            "pivoted day rows",
            f"SELECT agent_id, app, SUM(active), SUM(idle) FROM piv WHERE size_ms = {DAY_MS} "
            f"AND {days} GROUP BY agent_id, app",
            (lo, hi),
        ),
        (
            "pivoted, week rows + days",
            "SELECT agent_id, app, SUM(a), SUM(i) FROM "
            f"({piv('piv', 'agent_id, app, active a, idle i')}) GROUP BY agent_id, app",
            weekly,
        ),
        (
            "pivoted, integer keys, day rows",
            "SELECT k.agent_id, k.app, SUM(a), SUM(i) FROM (SELECT key_id, SUM(active) a, "
            f"SUM(idle) i FROM ipiv WHERE size_ms = {DAY_MS} AND {days} GROUP BY key_id) s "
            "JOIN keys k ON k.id = s.key_id GROUP BY k.agent_id, k.app",
            (lo, hi),
        ),
        (
            "pivoted, integer keys, week rows + days",
            "SELECT k.agent_id, k.app, SUM(a), SUM(i) FROM (SELECT key_id, SUM(a) a, SUM(i) i "
            f"FROM ({piv('ipiv', 'key_id, active a, idle i')}) GROUP BY key_id) s "
            "JOIN keys k ON k.id = s.key_id GROUP BY k.agent_id, k.app",
            weekly,
        ),
    ]


def day_rows(conn: sqlite3.Connection) -> str:
    """The kept store's day rows as schema 10 kept them, a row per key, idle flag and day
    (a store of schema 11 keeps active and idle time in one row, by key id)."""
    (version,) = conn.execute("PRAGMA kept.user_version").fetchone()
    if version < 11:
        return (
            "SELECT bucket_ms, agent_id, app, category, idle, ms "
            f"FROM kept.rollups WHERE size_ms = {DAY_MS}"
        )
    return " UNION ALL ".join(
        f"SELECT r.bucket_ms, k.agent_id, k.app, k.category, {idle}, r.{column} "
        "FROM kept.rollups r JOIN kept.rollup_keys k ON k.id = r.key_id "
        f"WHERE r.size_ms = {DAY_MS} AND r.{column} != 0"
        for idle, column in ((0, "active_ms"), (1, "idle_ms"))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="a kept SQLite store")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rollup-shapes-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "days.sqlite3")
        conn.execute("ATTACH ? AS kept", (f"file:{args.store}?mode=ro",))
        conn.executescript(
            "CREATE TABLE rollups (bucket_ms INTEGER, agent_id TEXT, app TEXT, category TEXT, "
            "idle INTEGER, ms INTEGER, PRIMARY KEY (bucket_ms, agent_id, app, category, idle)) "
            "WITHOUT ROWID;"
            f"INSERT INTO rollups {day_rows(conn)};"
            "CREATE INDEX rollups_by_key ON rollups (agent_id, app, category, idle, bucket_ms, ms);"
        )
        conn.execute("DETACH kept")
        conn.executescript(SHAPES)
        lo, last = conn.execute("SELECT MIN(bucket_ms), MAX(bucket_ms) FROM rollups").fetchone()
        days = (last - lo) // DAY_MS + 1
        print(
            f"{days} days of day rows, from {args.store}; CPU ms per query, best of {args.repeat}"
        )
        expected: set[tuple[object, ...]] | None = None
        for label, sql, params in variants(lo, last + DAY_MS):
            best = float("inf")
            for _ in range(args.repeat):
                start = time.thread_time()
                rows = conn.execute(sql, params).fetchall()
                best = min(best, time.thread_time() - start)
            answer = {tuple(r) for r in rows}
            expected = answer if expected is None else expected
            same = "same answer" if answer == expected else "DIFFERENT ANSWER"
            print(f"{label:<66} {best * 1000:8.1f} ms  {len(rows):>7,} rows  {same}")
        conn.close()


if __name__ == "__main__":
    main()
