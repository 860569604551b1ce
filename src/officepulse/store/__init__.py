"""Where agents and their activity are kept: SQLite (embedded default) or
PostgreSQL (scale-out), both implementing ``Store`` (store/base.py), the sum of the narrow
protocols callers depend on (store/spans.py, agents.py, enrollment.py, accounts.py)."""

from __future__ import annotations

from officepulse.errors import StoreUnavailable
from officepulse.store.base import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(database: str) -> bool:
    return database.startswith(POSTGRES_SCHEMES)


def store_from_url(database: str, *, connect_timeout: float = 30.0) -> Store:
    """The store the ``database`` setting names: a postgresql:// URL, else a SQLite file.
    psycopg is imported only by those who use PostgreSQL. ``connect_timeout``: seconds
    PostgreSQL may take to give a connection (the ``database_timeout`` setting)."""
    if is_postgres(database):
        try:
            from officepulse.store.postgres import PostgresStore
        except ImportError as exc:
            raise StoreUnavailable(
                "a postgresql:// database needs psycopg",
                hint="pip install 'officepulse[postgresql]'",
            ) from exc
        return PostgresStore(database, connect_timeout=connect_timeout)
    from officepulse.store.sqlite import SQLiteStore

    return SQLiteStore(database)
