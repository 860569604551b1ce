"""The one list of schema steps (store/migrations.py): a database made by the oldest
supported schema (step 1, built from the list's own first step) upgrades to the current
one on SQLite and on PostgreSQL with nothing lost, and a database newer than the code is
refused, by the store and by ``officepulse server``, with a message that says what to do."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest

from officepulse.core.spans import Span
from officepulse.core.zones import ZoneRun
from officepulse.protocol.messages import Activity
from officepulse.store.base import Store, UsageRow
from officepulse.store.migrations import SCHEMA_VERSION, STEPS, SchemaTooNew
from officepulse.store.postgres import PostgresStore
from officepulse.store.sqlite import SQLiteStore
from tests.support.processes import OFFICEPULSE, WAIT, clean_env

pytest_plugins = ["tests.support.postgres"]

H = 3_600_000
# What a schema-1 officepulse stored: (agent, start, end, app, title, url, process, pid, idle).
AGENTS = [
    ("ana", "Ana", "ana-pc", "Linux", "0.1", "Europe/Berlin", 1, 5 * H),
    ("ben", "Ben", "ben-mac", "Darwin", "0.1", "UTC", 0, 4 * H),
]
SPANS = [
    ("ana", 0, 90_000, "Code", "main.py", None, "code", 42, 0),
    ("ana", 90_000, 3 * H + 30_000, "firefox", "docs", "https://docs.python.org/", None, None, 0),
    ("ana", 3 * H + 30_000, 3 * H + 95_000, "firefox", "docs", None, None, None, 1),
    ("ben", -60_001, 7, "xterm", "vim", None, "xterm", 7, 0),  # before the epoch
    ("ben", 2 * H, 4 * H, "Slack", "general", None, None, None, 1),
]
ZONES = {"ana": "Europe/Berlin", "ben": "UTC"}


def expected_usage() -> list[UsageRow]:
    sums: dict[tuple[str, str], list[int]] = {}
    for agent_id, start, end, app, *_, idle in SPANS:
        pair = sums.setdefault((agent_id, app), [0, 0])
        pair[1 if idle else 0] += end - start
    return [UsageRow(a, app, act, idle) for (a, app), (act, idle) in sorted(sums.items())]


def expected_spans() -> list[tuple[str, Span]]:
    # Spans stored before zones were kept are in their agent's zone at the upgrade.
    out = [
        (agent_id, Span(start, end, Activity(app=app, title=title, url=url, process=process,
                                             pid=pid, idle=bool(idle)), ZONES[agent_id]))
        for agent_id, start, end, app, title, url, process, pid, idle in SPANS
    ]  # fmt: skip
    return sorted(out, key=lambda s: (s[1].start_ms, s[0]))


def sqlite_at_step_1(path: Path) -> None:
    """A SQLite file as the oldest supported officepulse left it (step 1 and its data)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in STEPS[0].sqlite:
        conn.execute(statement)
    conn.executemany("INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?, ?, ?)", AGENTS)
    conn.executemany("INSERT INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", SPANS)
    conn.execute("PRAGMA user_version=1")
    conn.close()


def postgres_at_step_1(url: str) -> None:
    """A PostgreSQL database as the oldest supported officepulse left it."""
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at "
                     "TIMESTAMPTZ NOT NULL DEFAULT now())")  # fmt: skip
        conn.execute(STEPS[0].postgres)
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO agents VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [(*a[:6], bool(a[6]), a[7]) for a in AGENTS],
            )
            cur.executemany(
                "INSERT INTO spans VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(*s[:8], bool(s[8])) for s in SPANS],
            )


def schema_version(kind: str, where: str) -> int:
    if kind == "sqlite":
        with sqlite3.connect(where) as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
        conn.close()
        return int(version)
    with psycopg.connect(where) as pg:
        row = pg.execute("SELECT MAX(version) FROM schema_version").fetchone()
    assert row is not None
    return int(row[0])


def leases(kind: str, where: str) -> tuple[dict[str, str | None], int]:
    """Schema 15's: the gateway lease each agent's row names, and how many leases there are."""
    query = "SELECT id, lease FROM agents", "SELECT count(*) FROM gateway_leases"
    if kind == "sqlite":
        with sqlite3.connect(where) as conn:
            named, (count,) = conn.execute(query[0]).fetchall(), conn.execute(query[1]).fetchone()
        conn.close()
    else:
        with psycopg.connect(where) as pg:
            named = pg.execute(query[0]).fetchall()
            row = pg.execute(query[1]).fetchone()
            assert row is not None
            (count,) = row
    return {str(i): lease for i, lease in named}, int(count)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_database_of_the_oldest_schema_upgrades_with_its_data(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    assert STEPS[0].version == 1
    where: str
    store: Store
    if kind == "sqlite":
        where = str(tmp_path / "v1.sqlite3")
        sqlite_at_step_1(Path(where))
        store = SQLiteStore(where)
    else:
        where = request.getfixturevalue("postgres_url")
        postgres_at_step_1(where)
        store = PostgresStore(where)
    assert schema_version(kind, where) == 1
    await store.open()
    try:
        assert schema_version(kind, where) == SCHEMA_VERSION
        assert await store.spans(-H, 5 * H) == expected_spans()
        names = {s.info.id: (s.info.name, s.info.tz, s.info.online) for s in await store.agents()}
        assert names == {"ana": ("Ana", "Europe/Berlin", True), "ben": ("Ben", "UTC", False)}
        # No gateway's lease holds the agents of before the leases (scaled out, a sweep
        # takes those still online once a lease has passed: server/leases.py).
        assert leases(kind, where) == ({"ana": None, "ben": None}, 0)
        # Every total, from the rollups the steps built (hours and days, and weeks from
        # the days) and the raw edges: nothing lost, nothing counted twice.
        assert await store.usage(-H, 5 * H, ["agent", "app"]) == expected_usage()
        assert await store.usage(-7 * 86_400_000, 7 * 86_400_000, ["agent", "app"]) == (
            expected_usage()
        )
        assert await store.zones(None, -H, 5 * H) == {
            "ana": [ZoneRun(0, 3 * H + 95_000, "Europe/Berlin")],
            "ben": [ZoneRun(-60_001, 4 * H, "UTC")],
        }
        # The upgraded database takes new writes as a new one does.
        await store.commit_spans("ben", [Span(5 * H, 6 * H, Activity(app="xterm", title="vim"))], 3)
        assert await store.acked_seq("ben") == 3
        ben = await store.usage(0, 7 * H, ["app"], ["ben"])
        assert [(r.app, r.active_ms) for r in ben] == [("Slack", 0), ("xterm", H + 7)]
    finally:
        await store.close()


async def test_a_newer_sqlite_database_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew) as caught:
        await SQLiteStore(path).open()
    assert caught.value.hint is not None
    assert "upgrade officepulse" in caught.value.hint
    assert str(path) in str(caught.value)
    # Refused before any step ran: the file is as it was.
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
    conn.close()


async def test_a_newer_postgres_database_is_refused_with_a_hint(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at "
                     "TIMESTAMPTZ NOT NULL DEFAULT now())")  # fmt: skip
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNew) as caught:
        await PostgresStore(postgres_url).open()
    assert caught.value.hint is not None
    assert "upgrade officepulse" in caught.value.hint
    assert schema_version("postgres", postgres_url) == SCHEMA_VERSION + 1


def test_the_server_says_a_database_is_too_new_and_exits(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    done = subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", "server", "--port", "0", "--database", str(path)],
        capture_output=True,
        text=True,
        env=clean_env(XDG_DATA_HOME=str(tmp_path / "data")),
        timeout=4 * WAIT,
    )
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr, done.stderr
    said = done.stderr.strip().splitlines()
    assert said[-1] == (
        f"officepulse server: database {path} has schema version {SCHEMA_VERSION + 1}, newer "
        f"than this officepulse understands ({SCHEMA_VERSION}); upgrade officepulse to the "
        "version that last opened it, or restore a backup made before"
    ), done.stderr
