"""Erasing an ActivityWatch agent's raw events with its history (``remove_agent`` with
``erase``), in the same transaction on either database: left behind, they would be
projected into spans again at the next change to that computer's buckets.

The ActivityWatch tables are made by its API when a server first serves it (activitywatch/sqlite.py
and activitywatch/postgres.py), so they may not exist yet. An ActivityWatch
agent's row names its computer (``host``, the buckets' ``hostname`` cut to 256 characters)
and its platform: officepulse's own agents, whatever their host, never match."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

# The platform the ActivityWatch API saves its agents with (activitywatch/model.py uses it).
AW_PLATFORM = "ActivityWatch"

# Run before the agent's row is deleted: it finds the buckets through it.
_ERASE = (
    "DELETE FROM aw_events WHERE bucket_id IN ("
    "SELECT b.id FROM aw_buckets b JOIN agents a ON a.host = substr(b.hostname, 1, 256) "
    "WHERE a.id = {p} AND a.platform = {p})"
)


def erase_aw_events_sqlite(conn: sqlite3.Connection, agent_id: str) -> int:
    """Delete the agent's ActivityWatch events; how many."""
    made = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'aw_events'"
    ).fetchone()
    if made is None:
        return 0
    return conn.execute(_ERASE.format(p="?"), (agent_id, AW_PLATFORM)).rowcount


async def erase_aw_events_postgres(conn: psycopg.AsyncConnection[Any], agent_id: str) -> int:
    """Delete the agent's ActivityWatch events; how many."""
    cur = await conn.execute("SELECT to_regclass('aw_events') IS NOT NULL")
    made = await cur.fetchone()
    if made is None or not made[0]:
        return 0
    cur = await conn.execute(_ERASE.format(p="%s"), (agent_id, AW_PLATFORM))
    return cur.rowcount
