"""`officepulse agents remove [--erase]` on a real SQLite file and a real PostgreSQL:
the agent goes, its history stays or goes, and every total (read from the rollups)
still equals a recomputation from the spans that remain. An ActivityWatch agent's
history is its raw events too: erased with it, and only its own."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import psycopg
import pytest

from officepulse.activitywatch.importer import import_file
from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.store.base import AgentInfo, Store
from officepulse.store.postgres import PostgresStore
from officepulse.store.sqlite import SQLiteStore
from tests.support.aw import DATA
from tests.support.processes import OFFICEPULSE, clean_env
from tests.support.servers import admin
from tests.support.usage import usage_from_spans

pytest_plugins = ["tests.support.postgres"]

M, H, D = 60_000, 3_600_000, 86_400_000
CODE = Activity(app="Code", title="main.py")
TUBE = Activity(app="Google-chrome", title="YouTube")
AWAY = Activity(app="Code", title="main.py", idle=True)
HISTORY = {
    "stays": [Span(-M + 7, 3 * H + 11, CODE), Span(D - 5, D + 2 * M, TUBE)],
    "erased": [Span(-H, 5, CODE), Span(5, D + H + 13, TUBE), Span(D + H + 13, 2 * D, AWAY)],
    "removed": [Span(30 * M + 1, 2 * H, TUBE), Span(2 * H, 2 * H + 59_999, CODE)],
}
RANGES = [(-D, 3 * D), (0, D), (-M + 3, 2 * H + 7), (D - H, D + 61 * M + 5), (5, 6)]


def open_store(database: str) -> Store:
    return PostgresStore(database) if database.startswith("postgresql") else SQLiteStore(database)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return str(tmp_path / "office.sqlite3")


def remove(database: str, *args: str) -> str:
    result = subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", "agents", "remove", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(OFFICEPULSE_DATABASE=database),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_remove_keeps_or_erases_history_and_totals_stay_exact(database: str) -> None:
    store = open_store(database)
    await store.open()
    for who, spans in HISTORY.items():
        store.save_agent(AgentInfo(who, who.title(), "host", "Linux", "0.1", "UTC", False, 0))
        await store.commit_spans(who, spans, len(spans))
    await store.close()

    assert remove(database, "erased", "--erase") == "removed agent erased and erased its history\n"
    assert remove(database, "removed") == "removed agent removed\n"

    store = open_store(database)
    await store.open()
    try:
        assert [s.info.id for s in await store.agents()] == ["stays"]
        stored = await store.spans(-10 * D, 10 * D)
        assert {who for who, _ in stored} == {"stays", "removed"}
        for lo, hi in RANGES:
            expected = usage_from_spans(stored, lo, hi)
            rows = await store.usage(lo, hi, ["agent", "app"])
            assert {(r.agent_id, r.app): [r.active_ms, r.idle_ms] for r in rows} == expected
            team = [0, 0]
            for active, idle in expected.values():
                team[0] += active
                team[1] += idle
            rows = await store.usage(lo, hi, [])
            assert [[r.active_ms, r.idle_ms] for r in rows] == ([team] if team != [0, 0] else [])
    finally:
        await store.close()


def aw_events_by_host(database: str) -> dict[str, int]:
    sql = (
        "SELECT b.hostname, COUNT(e.id) FROM aw_buckets b "
        "LEFT JOIN aw_events e ON e.bucket_id = b.id GROUP BY b.hostname"
    )
    if database.startswith("postgresql"):
        with psycopg.connect(database) as pg:
            rows = pg.execute(sql).fetchall()
    else:
        with sqlite3.connect(database) as conn:
            rows = conn.execute(sql).fetchall()
    return {str(host): int(n) for host, n in rows}


def export_of(host: str, tmp: Path) -> Path:
    """The checked-in export (carol-desktop's watchers) as if made on ``host``."""
    export = json.loads((DATA / "aw-buckets-export.json").read_text())
    buckets = {}
    for bucket in export["buckets"].values():
        bucket["hostname"] = host
        bucket["id"] = bucket["id"].replace("carol-desktop", host)
        buckets[bucket["id"]] = bucket
    path = tmp / f"{host}.json"
    path.write_text(json.dumps({"buckets": buckets}))
    return path


async def test_erasing_an_activitywatch_agent_erases_its_events_and_no_others(
    database: str, tmp_path: Path
) -> None:
    for host in ("carol-desktop", "dave-desktop", "erin-desktop"):
        report = await import_file(export_of(host, tmp_path), database)
        assert report.events_added == 8
    # An officepulse agent on carol's computer: erasing it leaves ActivityWatch's events.
    store = open_store(database)
    await store.open()
    store.save_agent(AgentInfo("carol", "Carol", "carol-desktop", "Linux", "0.1", "UTC", False, 0))
    await store.commit_spans("carol", HISTORY["stays"], 2)
    await store.close()
    every = {"carol-desktop": 8, "dave-desktop": 8, "erin-desktop": 8}
    assert aw_events_by_host(database) == every

    remove(database, "carol", "--erase")
    assert aw_events_by_host(database) == every
    remove(database, "aw-dave-desktop")  # removed, history kept
    assert aw_events_by_host(database) == every
    remove(database, "aw-carol-desktop", "--erase")
    assert aw_events_by_host(database) == {**every, "carol-desktop": 0}

    store = open_store(database)
    await store.open()
    try:
        assert {s.info.id for s in await store.agents()} == {"aw-erin-desktop"}
        stored = await store.spans(0, 2**53)
        assert {who for who, _ in stored} == {"aw-dave-desktop", "aw-erin-desktop"}
    finally:
        await store.close()
    # Nothing of carol's history is left to count twice: importing it again adds it all.
    report = await import_file(export_of("carol-desktop", tmp_path), database)
    assert (report.buckets_created, report.events_added) == (0, 8)


def test_removing_an_unknown_agent_or_from_no_database_says_so(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.sqlite3")
    result = admin(missing, "agents", "remove", "x")
    assert result.returncode == 2
    assert f"there is no database at {missing}" in result.stderr
    assert not Path(missing).exists()
