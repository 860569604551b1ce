"""Retention: raw spans go, totals stay. Store.prune on SQLite and a real PostgreSQL
(tests/support/postgres.py), and a real server process pruning at start-up."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.server.retention import horizon_ms
from officepulse.store.base import AgentInfo, Store
from officepulse.store.postgres import PostgresStore
from officepulse.store.sqlite import SQLiteStore
from tests.support.servers import run_agent, start_server

pytest_plugins = ["tests.support.postgres"]

M = 60_000
H = 60 * M
D = 24 * H
CODE = Activity(app="Code", title="secret-project/main.py")
TUBE = Activity(app="Chrome", title="YouTube", url="https://youtube.com/watch?v=x")
AWAY = Activity(app="Code", title="main.py", idle=True)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    impl: Store
    if request.param == "postgres":
        impl = PostgresStore(request.getfixturevalue("postgres_url"))
    else:
        impl = SQLiteStore(tmp_path / "s.sqlite3")
    await impl.open()
    yield impl
    await impl.close()


def history() -> dict[str, list[Span]]:
    """Three days of two people, with spans that cross minutes, hours, days and the
    pruning instant (2 D + 5 H + 30 s), and sub-minute ones."""
    a: list[Span] = []
    t = 0
    for i in range(300):
        length = [37_000, 5 * M + 123, 2 * H + 7, 41 * M, 999][i % 5]
        a.append(Span(t, t + length, [CODE, TUBE, AWAY][i % 3]))
        t += length + (0 if i % 4 else 13_000)
    b = [Span(D - 30 * M, D + 3 * H, TUBE), Span(2 * D + 5 * H - M, 2 * D + 6 * H, CODE)]
    return {"a": a, "b": b}


RANGES = [
    (0, 4 * D),
    (D, 2 * D),  # a UTC day
    (D - 5 * H - 30 * M, 2 * D - 5 * H - 30 * M),  # a day in India
    (2 * D + 4 * H, 2 * D + 5 * H),
    (2 * D + 5 * H, 2 * D + 5 * H + M),  # the minute of the cut
    (3 * M, 3 * M + 45 * M),
]
CUT = 2 * D + 5 * H + 30_000


async def totals(store: Store) -> list[object]:
    out: list[object] = []
    for lo, hi in RANGES:
        for group_by in ([], ["agent"], ["app"], ["agent", "app"]):
            rows = await store.usage(lo, hi, group_by)  # type: ignore[arg-type]
            out.append(sorted((r.agent_id, r.app, r.active_ms, r.idle_ms) for r in rows))
    return out


async def test_pruning_deletes_old_raw_spans_and_changes_no_total(store: Store) -> None:
    spans = history()
    for agent_id, rows in spans.items():
        store.save_agent(AgentInfo(agent_id, agent_id, "h", "Linux", "1", "UTC", False, 0))
        await store.commit_spans(agent_id, rows, 1)
    before = await totals(store)
    assert any(before), "the ranges must hold time for this test to mean anything"

    deleted = await store.prune(CUT)

    gone = [(who, s) for who, rows in spans.items() for s in rows if s.end_ms <= CUT]
    kept = [(who, s) for who, rows in spans.items() for s in rows if s.end_ms > CUT]
    assert deleted == len(gone) > 0
    assert kept, "some spans cross the cut or come after it"
    stored = await store.spans(-D, 10 * D)
    assert sorted((w, s.start_ms) for w, s in stored) == sorted((w, s.start_ms) for w, s in kept)
    # Every total over whole minutes is what it was.
    assert await totals(store) == before
    # Pruning again deletes nothing and changes nothing.
    assert await store.prune(CUT) == 0
    assert await totals(store) == before
    # Writes after pruning keep the rollups exact: a kept span extended, a new one added.
    last = spans["a"][-1]
    await store.commit_spans("a", [Span(last.start_ms, last.end_ms + 10 * M, last.activity)], 2)
    await store.commit_spans("b", [Span(20 * D, 20 * D + H, CODE)], 2)
    everything = sum(s.end_ms - s.start_ms for rows in spans.values() for s in rows)
    (total,) = await store.usage(-D, 30 * D, [])
    assert total.active_ms + total.idle_ms == everything + 10 * M + H


async def test_sqlite_pruning_keeps_what_another_writer_left_for_the_rollups(
    tmp_path: Path,
) -> None:
    # activitywatch/sqlite.py writes spans on its own connection; its rollup share waits in
    # rollup_pending until the store folds it. Pruning must fold it, not throw it away.
    path = tmp_path / "s.sqlite3"
    impl = SQLiteStore(path)
    await impl.open()
    try:
        await impl.commit_spans("a", [Span(0, H, CODE)], 1)
        with sqlite3.connect(path, isolation_level=None) as raw:
            raw.execute(
                "INSERT INTO spans (agent_id, start_ms, end_ms, app, title, idle) "
                "VALUES ('aw-host', ?, ?, 'Firefox', 't', 0)",
                (3 * D, 3 * D + H),
            )
        raw.close()
        assert await impl.prune(2 * D) == 1
        got = {r.app: r.active_ms for r in await impl.usage(0, 4 * D, ["app"])}
        assert got == {"Code": H, "Firefox": H}
        assert [s.start_ms for _, s in await impl.spans(0, 4 * D)] == [3 * D]
    finally:
        await impl.close()


def test_horizon() -> None:
    assert horizon_ms(10 * D + 5, 3) == 7 * D + 5


def test_a_server_with_retention_prunes_at_start_and_keeps_totals(tmp_path: Path) -> None:
    # Ten days of a scripted person, sent as fast as possible, then the server restarted
    # with a retention of three days: older titles are gone from every route, totals stay.
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now - timedelta(days=10)).replace(hour=0, minute=0, second=0)
    timeline = tmp_path / "ten-days.jsonl"
    lines = []
    offset = 0
    for day in range(10):
        for hour, (app, title) in enumerate([("Code", f"day{day}.py"), ("Chrome", "docs")] * 6):
            lines.append(f'{{"offset": {offset}, "app": "{app}", "title": "{title}"}}')
            offset += 3600 if hour < 11 else 12 * 3600 + 1
    lines.append(f'{{"offset": {offset}, "end": true}}')
    timeline.write_text("\n".join(lines) + "\n")
    server = start_server(tmp_path)
    try:
        agent = run_agent(
            server,
            tmp_path,
            "--source",
            "scripted",
            "--timeline",
            str(timeline),
            "--speed",
            "0",
            "--start",
            start.isoformat(),
            "--name",
            "Ten",
        )
        assert agent.returncode == 0, agent.stderr
        window = f"start={start.isoformat()}&end={now.isoformat()}".replace("+", "%2B")
        before = server.get(f"/api/v1/usage?{window}&group_by=agent,app")["rows"]
        old_spans = server.get(f"/api/v1/spans?{window}")["spans"]
    finally:
        server.stop()
    assert before
    assert {s["title"] for s in old_spans} >= {f"day{d}.py" for d in range(10)}
    # What the agent told of itself (honest gaps) goes with the spans it explained, but
    # for its latest run, which its next start is compared with however long ago.
    database = sqlite3.connect(tmp_path / "officepulse.sqlite3")
    with database:
        (agent_id,) = database.execute("SELECT agent_id FROM agent_facts").fetchone()
        old = int((now - timedelta(days=5)).timestamp() * 1000)
        database.executemany(
            "INSERT INTO agent_facts (agent_id, kind, start_ms, end_ms, value, detail) "
            "VALUES (?, ?, ?, ?, ?, '')",
            [(agent_id, "run", old - H, old, 0), (agent_id, "sleep", old - M, old, None)],
        )
    facts_before = database.execute("SELECT kind, start_ms FROM agent_facts").fetchall()
    database.close()

    server = start_server(tmp_path, "--retention-days", "3")
    try:
        server.wait_for_log("retention: deleted")
        after = server.get(f"/api/v1/usage?{window}&group_by=agent,app")["rows"]
        spans = server.get(f"/api/v1/spans?{window}")["spans"]
    finally:
        server.stop()
    assert after == before
    horizon = now - timedelta(days=3)
    assert spans
    assert all(datetime.fromisoformat(s["end"]) > horizon for s in spans)
    assert {s["title"] for s in spans} < {s["title"] for s in old_spans}
    database = sqlite3.connect(tmp_path / "officepulse.sqlite3")
    facts_after = database.execute("SELECT kind, start_ms FROM agent_facts").fetchall()
    database.close()
    assert len(facts_before) == 3
    assert facts_after == [f for f in facts_before if f[1] > old]  # the agent's own run


def _call(url: str, method: str = "GET", body: object = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_activitywatch_events_are_pruned_and_old_time_cannot_be_rewritten(
    tmp_path: Path,
) -> None:
    # An ActivityWatch window watcher's events, three and a half days old and recent; a
    # server with a retention of two days drops the old events with the spans, keeps
    # the totals, and refuses writes that would change time it no longer holds.
    now = datetime.now(UTC).replace(microsecond=0)
    old = now - timedelta(days=3, hours=12)
    recent = now - timedelta(hours=2)
    bucket = "aw-watcher-window_laptop"

    def events(at: datetime, apps: list[str]) -> list[dict[str, object]]:
        return [
            {
                "timestamp": (at + timedelta(minutes=10 * i)).isoformat(),
                "duration": 600.0,
                "data": {"app": app, "title": f"{app} window"},
            }
            for i, app in enumerate(apps)
        ]

    server = start_server(tmp_path)
    try:
        base = server.url + "/api/0"
        status, _ = _call(
            f"{base}/buckets/{bucket}",
            "POST",
            {"client": "aw-watcher-window", "type": "currentwindow", "hostname": "laptop"},
        )
        assert status == 200
        assert (
            _call(f"{base}/buckets/{bucket}/events", "POST", events(old, ["Code", "Firefox"]))[0]
            == 200
        )
        assert _call(f"{base}/buckets/{bucket}/events", "POST", events(recent, ["Code"]))[0] == 200
        window = f"start={(now - timedelta(days=5)).isoformat()}&end={now.isoformat()}"
        window = window.replace("+", "%2B")
        before = server.get(f"/api/v1/usage?{window}&group_by=agent,app")["rows"]
    finally:
        server.stop()
    assert {(r["app"], r["seconds"]) for r in before} == {("Code", 1200.0), ("Firefox", 600.0)}

    server = start_server(tmp_path, "--retention-days", "2")
    try:
        base = server.url + "/api/0"
        server.wait_for_log("retention: deleted")
        status, kept = _call(f"{base}/buckets/{bucket}/events")
        assert status == 200
        assert [e["data"]["app"] for e in kept] == ["Code"]  # only the recent one
        after = server.get(f"/api/v1/usage?{window}&group_by=agent,app")["rows"]
        assert after == before
        # Time before the horizon is final: new old events and old heartbeats are refused,
        # saying why, and nothing changes.
        status, error = _call(f"{base}/buckets/{bucket}/events", "POST", events(old, ["Slack"]))
        assert status == 400
        assert "retention_days" in error["message"]
        assert "event 0" in error["message"]
        beat = events(old, ["Slack"])[0]
        status, error = _call(f"{base}/buckets/{bucket}/heartbeat?pulsetime=60", "POST", beat)
        assert status == 400
        assert "the heartbeat" in error["message"]
        assert server.get(f"/api/v1/usage?{window}&group_by=agent,app")["rows"] == before
        # Recent time is written as ever (the last ten minutes: the future is refused).
        last = events(now - timedelta(minutes=10), ["Slack"])
        assert _call(f"{base}/buckets/{bucket}/events", "POST", last)[0] == 200
    finally:
        server.stop()
