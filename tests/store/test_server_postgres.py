"""The whole loop on PostgreSQL: a real server process whose `database` setting
is a postgresql:// URL, real agents replaying timelines, exact totals."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest

from tests.support.agent_messages import spans
from tests.support.processes import OFFICEPULSE, clean_env
from tests.support.servers import start_server
from tests.support.store_failures import answer, said_once, usage, welcomed
from tests.support.timelines import expected, random_day

if TYPE_CHECKING:
    from tests.support.postgres import PostgresCluster

pytest_plugins = ["tests.support.postgres"]
START = datetime(2026, 11, 19, 6, 0, tzinfo=UTC)


def test_a_server_on_postgresql_keeps_exact_totals(tmp_path: Path, postgres_url: str) -> None:
    server = start_server(tmp_path, "--database", postgres_url)
    try:
        timeline = random_day(tmp_path / "day.jsonl", seed=7, hours=12)
        run = subprocess.run(
            [
                OFFICEPULSE,
                "--env-file",
                "/dev/null",
                "agent",
                "--server-url",
                server.ws_url,
                "--agent-id",
                "pg",
                "--source",
                "scripted",
                "--timeline",
                str(tmp_path / "day.jsonl"),
                "--speed",
                "0",
                "--start",
                START.isoformat(),
                "--state-dir",
                str(tmp_path / "a"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
            check=False,
        )
        assert run.returncode == 0, run.stderr
        lo, hi = START - timedelta(days=1), START + timedelta(days=2)
        query = urlencode({"start": lo.isoformat(), "end": hi.isoformat(), "group_by": "app"})
        rows = server.get(f"/api/v1/usage?{query}")["rows"]
        got = {r["app"]: (r["seconds"], r["idle_seconds"]) for r in rows}
        assert got == expected(timeline, START, lo, hi)
        (agent,) = server.get("/api/v1/agents")["agents"]
        assert agent["id"] == "pg"
    finally:
        server.stop()
    # The ActivityWatch API is SQLite-only for now: not offered rather than broken.
    assert not any("Traceback" in line for line in server.log)


def test_a_server_whose_postgresql_goes_away_says_so_once_and_loses_nothing(
    tmp_path: Path, postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    # The pool waits database_timeout (30 s by default) for a connection before the
    # store counts the database as away: 2 s here, the same path sooner.
    server = start_server(tmp_path, "--database", postgres_url, "--database-timeout", "2")
    try:
        with welcomed(server, "pg-away") as ws:
            assert answer(ws, spans(1, 10)) == {"type": "ack", "seq": 10}
            postgres_cluster.stop("fast")
            try:
                ws.send(spans(11, 10))
                # Every loop that reads or writes the store finds it away, and says so.
                server.wait_for_log("the PostgreSQL store at ", timeout=90)
                server.wait_for_log("checking for changes to agents failing: ", timeout=90)
                with pytest.raises(TimeoutError):
                    ws.recv(timeout=0)  # not acknowledged: not stored yet
            finally:
                postgres_cluster.start()
            # Back: the batch lands and is acknowledged; the connection stayed.
            assert json.loads(ws.recv(timeout=60)) == {"type": "ack", "seq": 20}
        server.wait_for_log("checking for changes to agents recovered after ", timeout=90)
        assert usage(server) == {"Code": 20 * 30}
    finally:
        server.stop()
    said_once(server.log)
