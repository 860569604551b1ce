"""`officepulse backup` and `officepulse restore` for real: a real server taking spans from
real agent processes and from protocol clients on real websockets while the backup runs;
the backup restored into a fresh location and a fresh server started on it; the totals the
restored server answers compared with what was stored at the backup's moment.

The backup's moment is pinned by the backup itself: an agent's batch and its sequence number
are stored in one transaction, so the copy holds, for each agent, exactly the spans of the
batches up to the ``acked_seq`` it records. The protocol clients know every span they sent
with its sequence number, so the totals up to that number are reckoned here, independently
of the server's code; the real agents' totals are reckoned from the copy's raw spans (the
API answers from rollups, a different path)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from websockets.asyncio.client import ClientConnection, connect

from officepulse.cli import main
from officepulse.cli.database import with_store
from tests.support.processes import OFFICEPULSE, WAIT, clean_env, stop, wait_until
from tests.support.servers import ServerProcess, start_agent, start_server

if TYPE_CHECKING:
    from tests.support.postgres import PostgresCluster

pytest_plugins = ["tests.support.postgres"]

NOW = datetime.now(UTC).replace(microsecond=0)
BASE = NOW - timedelta(days=40)
LO, HI = NOW - timedelta(days=41), NOW + timedelta(days=1)
APPS = ("Code", "Slack", "firefox")
BATCH = 25
CAP = 40 * 1440 - BATCH
PACE = 0.005  # seconds between a client's batches: a steady load that leaves the CPU some air
CLIENTS = ("feed-a", "feed-b", "feed-c")


def client_span(seq: int) -> tuple[int, int, str, bool]:
    """Span number ``seq`` of every protocol client: (start_ms, end_ms, app, idle), one a
    minute, 20 to 46 s long (before NOW up to number CAP: none is refused)."""
    start = int(BASE.timestamp() * 1000) + seq * 60_000
    return start, start + 20_000 + (seq % 27) * 1000, APPS[seq % 3], seq % 5 == 0


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def totals_of(spans: list[tuple[str, int, int, str, bool]]) -> dict[tuple[str, str], list[int]]:
    """{(agent, app): [active_ms, idle_ms]} of (agent, start, end, app, idle) rows."""
    out: dict[tuple[str, str], list[int]] = {}
    for agent, start, end, app, idle in spans:
        slot = out.setdefault((agent, app), [0, 0])
        slot[1 if idle else 0] += end - start
    return out


def client_totals(acked: dict[str, int]) -> dict[tuple[str, str], list[int]]:
    """What the clients sent up to each one's ``acked`` sequence number."""
    return totals_of(
        [(a, *client_span(seq)) for a, last in acked.items() for seq in range(1, last + 1)]
    )


def api_totals(server: ServerProcess) -> dict[tuple[str, str], list[int]]:
    query = f"start={LO.isoformat()}&end={HI.isoformat()}&group_by=agent,app".replace("+", "%2B")
    rows = server.get(f"/api/v1/usage?{query}")["rows"]
    return {
        (r["agent"], r["app"]): [round(r["seconds"] * 1000), round(r["idle_seconds"] * 1000)]
        for r in rows
    }


def stored_spans(database: Path) -> list[tuple[str, int, int, str, bool]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT agent_id, start_ms, end_ms, app, idle FROM spans").fetchall()
    conn.close()
    return [(a, s, e, app, bool(idle)) for a, s, e, app, idle in rows]


def stored_acked(database: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        acked = dict(conn.execute("SELECT id, acked_seq FROM agents"))
    conn.close()
    return acked


def officepulse(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
        check=False,
    )


async def resume_from(ws: ClientConnection, agent_id: str) -> int:
    """Say hello (v2) as ``agent_id``; the sequence number the server holds it up to."""
    hello = {"type": "hello", "v": 2, "agent_id": agent_id, "name": agent_id}
    hello |= {"host": "bench", "platform": "Linux", "agent_version": "test", "tz": "UTC"}
    await ws.send(json.dumps(hello))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return int(welcome["resume_from_seq"])


@dataclass
class Feeders:
    """Protocol clients sending batches of known spans as fast as they are acknowledged."""

    url: str
    acked: dict[str, int] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def feed(self, agent_id: str) -> None:
        async with connect(self.url) as ws:
            seq = await resume_from(ws, agent_id) + 1
            while not self.stopping.is_set():
                await asyncio.sleep(PACE)
                if seq > CAP:
                    continue
                spans = []
                for n in range(seq, seq + BATCH):
                    start, end, app, idle = client_span(n)
                    activity = {"app": app, "title": f"{app} {n}", "idle": idle}
                    spans.append([_iso(start), _iso(end), activity])
                await ws.send(json.dumps({"type": "spans", "first_seq": seq, "spans": spans}))
                reply = json.loads(await ws.recv())
                assert reply == {"type": "ack", "seq": seq + BATCH - 1}, reply
                seq += BATCH
                self.acked[agent_id] = seq - 1

    def run(self) -> asyncio.Task[list[None]]:
        return asyncio.ensure_future(asyncio.gather(*(self.feed(a) for a in CLIENTS)))

    async def until(self, least: dict[str, int], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while any(self.acked.get(a, 0) < n for a, n in least.items()):
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.acked}"
            await asyncio.sleep(0.02)


def day_timeline(path: Path) -> Path:
    """Two days of switches every 5 to 40 s, for a real agent replaying it fast."""
    lines, offset, n = [], 0, 0
    while offset < 2 * 86_400:
        lines.append({"offset": offset, "app": APPS[n % 3], "title": f"t{n}", "idle": n % 7 == 0})
        offset += 5 + (n * 7919) % 36
        n += 1
    lines.append({"offset": offset, "end": True})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture
def source(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path)
    yield srv
    srv.stop()


async def test_a_backup_under_load_restores_to_the_totals_of_its_moment(
    tmp_path: Path, source: ServerProcess
) -> None:
    timeline = day_timeline(tmp_path / "days.jsonl")
    start = (NOW - timedelta(days=5)).isoformat()
    agents = [
        start_agent(
            source,
            tmp_path / name,
            *("--agent-id", name, "--source", "scripted", "--timeline", str(timeline)),
            *("--speed", "3000", "--start", start),
        )
        for name in ("real-1", "real-2")
    ]
    feeders = Feeders(source.ws_url)
    feeding = feeders.run()
    backup = tmp_path / "backups" / "office.sqlite3"
    backup.parent.mkdir()
    try:
        await feeders.until({a: 4 * BATCH for a in CLIENTS}, "the clients' first batches")
        await asyncio.to_thread(
            wait_until,
            lambda: all(stored_acked(source.database).get(a, 0) > 1 for a in ("real-1", "real-2")),
            WAIT,
            "the real agents' first batches stored",
            source.proc.tail,
        )
        during = dict(feeders.acked)
        made = await asyncio.to_thread(
            officepulse, "backup", str(backup), "--database", str(source.database)
        )
        after = dict(feeders.acked)
        assert made.returncode == 0, made.stderr
        at_backup = stored_acked(backup)
        # The load goes on after the backup: the copy is a moment, not the end.
        await feeders.until({a: at_backup[a] + 2 * BATCH for a in CLIENTS}, "more batches")
        # A running server's database is not replaced, even with --force.
        busy = officepulse("restore", str(backup), "--database", str(source.database), "--force")
        assert busy.returncode == 1
        assert "is open in another program (a running server?)" in busy.stderr, busy.stderr
    finally:
        feeders.stopping.set()
        await asyncio.wait_for(feeding, WAIT)
        for agent in agents:
            stop(agent)
    print(
        f"\nbackup: {made.stdout.strip()}\n  client batches acknowledged while it ran: "
        f"{sum(after.values()) - sum(during.values())} spans"
    )
    assert f"to {backup}: " in made.stdout, made.stdout
    assert "spans of 5 agents" in made.stdout, made.stdout
    for agent_id in CLIENTS:
        assert f"  agent {agent_id}: batches up to {at_backup[agent_id]}\n" in made.stdout
        assert at_backup[agent_id] % BATCH == 0  # whole batches: one transaction each
    assert backup.stat().st_mode & 0o777 == 0o600
    assert not list(backup.parent.glob(".*")), "a temporary file was left beside the backup"

    # The source at the end holds everything acknowledged, reckoned from the clients' side:
    # the reckoning below is right, and the source went past the backup.
    final = api_totals(source)
    assert {k: v for k, v in final.items() if k[0] in CLIENTS} == client_totals(feeders.acked)

    restored_db = tmp_path / "fresh" / "data" / "office.sqlite3"
    put = officepulse("restore", str(backup), "--database", str(restored_db))
    assert put.returncode == 0, put.stderr
    assert f"restored {backup} into {restored_db}: " in put.stdout
    restored = start_server(tmp_path / "fresh", "--database", str(restored_db))
    try:
        totals = api_totals(restored)
        in_backup = stored_spans(backup)
        expected = client_totals({a: at_backup[a] for a in CLIENTS})
        assert {k: v for k, v in totals.items() if k[0] in CLIENTS} == expected
        real = [row for row in in_backup if row[0].startswith("real-")]
        assert real, "the real agents' spans are not in the backup"
        assert {k: v for k, v in totals.items() if k[0].startswith("real-")} == totals_of(real)
        assert totals != final  # the source moved on after the backup
        # Agents reconnecting to the restored server resume after what it holds.
        async with connect(restored.ws_url) as ws:
            assert await resume_from(ws, "feed-a") == at_backup["feed-a"]
    finally:
        restored.stop()
    # Every real agent's span in the backup but its newest is in the source as it was.
    source.stop()
    later = set(stored_spans(source.database))
    for name in ("real-1", "real-2"):
        mine = sorted(row for row in real if row[0] == name)
        assert len(mine) > 1, name
        assert set(mine[:-1]) <= later, name
    figures = (
        f"restored: {put.stdout.splitlines()[0]}\n  client totals at the backup: "
        f"{sum(sum(v) for v in expected.values()) / 1000:.0f} s, at the end "
        f"{sum(sum(v) for k, v in final.items() if k[0] in CLIENTS) / 1000:.0f} s"
    )
    print(figures)


def test_restore_refuses_what_is_not_an_officepulse_backup_and_keeps_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clear errors, and nothing made or changed, for each wrong input. (The commands run
    in this process: fourteen start-ups of the program would take ten seconds.)"""
    for name in [n for n in os.environ if n.startswith("OFFICEPULSE_")]:
        monkeypatch.delenv(name)

    def officepulse(*args: str) -> subprocess.CompletedProcess[str]:
        status = main(["--env-file", "/dev/null", *args])
        said = capsys.readouterr()
        return subprocess.CompletedProcess(args, status, said.out, said.err)

    database = tmp_path / "office.sqlite3"
    made = officepulse("backup", str(tmp_path / "b.sqlite3"), "--database", str(database))
    assert made.returncode == 1
    assert f"there is no database at {database}" in made.stderr, made.stderr
    assert not (tmp_path / "b.sqlite3").exists()

    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    conn.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    fresh = tmp_path / "new" / "office.sqlite3"
    for given, said in [
        (tmp_path / "missing.sqlite3", "there is no backup at"),
        (text, f"the backup {text} is not a SQLite database"),
        (other, "is a SQLite database but not officepulse's (it has no agents or spans table)"),
    ]:
        done = officepulse("restore", str(given), "--database", str(fresh))
        assert done.returncode == 1, done.stdout
        assert said in done.stderr, done.stderr
        assert not fresh.exists()

    # A real database and its backup; then a backup newer than this officepulse.
    asyncio.run(with_store(str(database), _nothing))  # makes it, as a server's start does
    first = officepulse("tokens", "create", "--database", str(database))
    assert first.returncode == 0, first.stderr
    backup = tmp_path / "b.sqlite3"
    assert officepulse("backup", str(backup), "--database", str(database)).returncode == 0
    again = officepulse("backup", str(backup), "--database", str(database))
    assert again.returncode == 1
    assert f"{backup} already exists; give another name, or --force" in again.stderr
    assert (
        officepulse("backup", str(backup), "--database", str(database), "--force").returncode == 0
    )
    kept = database.read_bytes()
    over = officepulse("restore", str(backup), "--database", str(database))
    assert over.returncode == 1
    assert f"there is already a database at {database}" in over.stderr, over.stderr
    assert database.read_bytes() == kept

    newer = tmp_path / "newer.sqlite3"
    shutil.copy(backup, newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version=9999")
    conn.close()
    refused = officepulse("restore", str(newer), "--database", str(fresh))
    assert refused.returncode == 1
    assert "the restored database cannot be used" in refused.stderr, refused.stderr
    assert "newer than this officepulse understands" in refused.stderr, refused.stderr
    assert not fresh.exists()
    assert [p.name for p in fresh.parent.iterdir()] == []  # no staged copy left behind

    # PostgreSQL: the programs it needs, and the password never said.
    secret = "postgresql://op:s3cret-word@127.0.0.1:1/office"
    dump = tmp_path / "office.pgdump"
    missing = officepulse("backup", str(dump), "--database", secret, "--pg-bin", str(tmp_path))
    assert missing.returncode == 1
    assert f"pg_dump is not in {tmp_path}; install PostgreSQL's client programs" in missing.stderr
    assert f"PGPASSWORD=... pg_dump --format=custom --no-owner --file {dump}" in missing.stderr
    assert "s3cret-word" not in missing.stderr + missing.stdout
    fake = tmp_path / "pg_dump"
    seen = tmp_path / "seen"
    fake.write_text(
        f'#!/bin/sh\necho "$*" > {seen}\necho "$PGPASSWORD" >> {seen}\n'
        "echo 'pg_dump: error: connection refused' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    failed = officepulse("backup", str(dump), "--database", secret, "--pg-bin", str(tmp_path))
    assert failed.returncode == 1
    assert "pg_dump failed: pg_dump: error: connection refused" in failed.stderr
    assert f"--file {dump} --dbname" in failed.stderr, failed.stderr
    assert "s3cret-word" not in failed.stderr + failed.stdout
    assert not dump.exists()
    assert not list(tmp_path.glob(".office.pgdump*"))
    arguments, password = seen.read_text().splitlines()
    assert "s3cret-word" not in arguments  # not for `ps` to show: in its environment
    assert password == "s3cret-word"

    # With --force, a database no program has open is replaced by the backup.
    assert officepulse("tokens", "create", "--database", str(database)).returncode == 0
    tokens = officepulse("tokens", "list", "--database", str(database)).stdout.splitlines()
    assert len(tokens) == 2
    forced = officepulse("restore", str(backup), "--database", str(database), "--force")
    assert forced.returncode == 0, forced.stderr
    assert len(officepulse("tokens", "list", "--database", str(database)).stdout.splitlines()) == 1


async def test_a_postgresql_backup_under_load_restores_into_a_fresh_database(
    tmp_path: Path, postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    """pg_dump while clients write, pg_restore into a new database, the same totals."""
    from tests.support.postgres import server_bin

    pg_bin = server_bin()  # pg_dump of the server's own version
    source = start_server(tmp_path, "--database", postgres_url)
    feeders = Feeders(source.ws_url)
    feeding = feeders.run()
    backup = tmp_path / "office.pgdump"
    try:
        await feeders.until({a: 4 * BATCH for a in CLIENTS}, "the clients' first batches")
        made = await asyncio.to_thread(
            officepulse,
            *("backup", str(backup), "--database", postgres_url, "--pg-bin", str(pg_bin)),
        )
        assert made.returncode == 0, made.stderr
        assert "with pg_dump" in made.stdout, made.stdout
        assert "--format=custom" in made.stdout, made.stdout
        assert "password" not in made.stdout
        before = dict(feeders.acked)
        await feeders.until({a: before[a] + 2 * BATCH for a in CLIENTS}, "more batches")
    finally:
        feeders.stopping.set()
        await asyncio.wait_for(feeding, WAIT)
    fresh = postgres_cluster.create_database()
    try:
        # Not over the live database: it holds officepulse's tables, and a server is on it.
        busy = officepulse(
            *("restore", str(backup), "--database", postgres_url, "--pg-bin", str(pg_bin))
        )
        assert busy.returncode == 1
        assert "already holds officepulse's tables" in busy.stderr, busy.stderr
        source.stop()
        put = officepulse("restore", str(backup), "--database", fresh, "--pg-bin", str(pg_bin))
        assert put.returncode == 0, put.stderr
        assert "with pg_restore" in put.stdout, put.stdout
        restored = start_server(tmp_path / "restored", "--database", fresh)
        try:
            totals = api_totals(restored)
            async with connect(restored.ws_url) as ws:
                resumed = await resume_from(ws, "feed-b")
        finally:
            restored.stop()
        # The dump's moment, read back from the dump's own agents: every batch up to it.
        acked = {r[0]: r[1] for r in await asyncio.to_thread(_pg_acked, fresh)}
        assert resumed == acked["feed-b"]
        assert all(acked[a] % BATCH == 0 and acked[a] >= 4 * BATCH for a in CLIENTS)
        assert totals == client_totals(acked)
        assert totals != client_totals(feeders.acked)  # the source moved on after the dump
        print(
            f"\n{made.stdout.strip()}\n  agents in the dump: {acked}\n  at the end: {feeders.acked}"
        )
    finally:
        with suppress(Exception):
            postgres_cluster.drop_database(fresh)
        source.stop()


async def _nothing(_store: object) -> None:
    return None


def _pg_acked(url: str) -> list[tuple[str, int]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return [(r[0], int(r[1])) for r in conn.execute("SELECT id, acked_seq FROM agents")]
