"""Every store under test: SQLite and a real PostgreSQL (tests/support/postgres.py), fresh
per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from officepulse.store.base import Store
from officepulse.store.postgres import PostgresStore
from officepulse.store.sqlite import SQLiteStore


def make_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path, **options: Any) -> Store:
    """A store of ``kind`` ("sqlite" or "postgres"), not opened yet; ``options`` go to
    its constructor."""
    if kind == "postgres":
        # Only a PostgreSQL test starts the server (`-k sqlite` does not).
        return PostgresStore(request.getfixturevalue("postgres_url"), **options)
    return SQLiteStore(tmp_path / "s.sqlite3", **options)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    # Re-categorisation in chunks of 3 spans: the tests cross chunk boundaries.
    impl = make_store(request.param, request, tmp_path, recategorize_chunk=3)
    await impl.open()
    yield impl
    await impl.close()
