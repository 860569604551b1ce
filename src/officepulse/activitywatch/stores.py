"""The ActivityWatch store for an officepulse store: each database's side says what it
needs of a store (a Protocol: ``SQLiteFile``, ``PostgresSpans``), and a store that
provides it gets that side. No concrete store class is named here."""

from __future__ import annotations

from officepulse.activitywatch.sqlite import SQLiteAwStore, SQLiteFile
from officepulse.activitywatch.tables import OwnAwStore


def aw_store_for(store: object) -> OwnAwStore | None:
    """The AwStore on ``store``'s database: its tables on SQLite's file, or on PostgreSQL
    through the store's own pool; None for a store that provides neither."""
    if isinstance(store, SQLiteFile):
        return SQLiteAwStore(store.path)
    try:
        from officepulse.activitywatch.postgres import PostgresAwStore, PostgresSpans
    except ImportError:  # no psycopg, so no PostgreSQL store either
        return None
    if isinstance(store, PostgresSpans):
        return PostgresAwStore(store)
    return None
