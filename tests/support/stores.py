"""Every store under test: SQLite and a real PostgreSQL (tests/support/postgres.py), fresh
per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from officepulse.store.base import Store
from officepulse.store.postgres import PostgresStore
from officepulse.store.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    impl: Store
    # Re-categorisation in chunks of 3 spans: the tests cross chunk boundaries.
    if request.param == "postgres":
        # Only a PostgreSQL test starts the server (`-k sqlite` does not).
        impl = PostgresStore(request.getfixturevalue("postgres_url"), recategorize_chunk=3)
    else:
        impl = SQLiteStore(tmp_path / "s.sqlite3", recategorize_chunk=3)
    await impl.open()
    yield impl
    await impl.close()
