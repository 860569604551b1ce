"""The whole loop on PostgreSQL: a real server process whose `database` setting
is a postgresql:// URL, real agents replaying timelines, exact totals."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from tests.conftest import OFFICEPULSE, clean_env, start_server
from tests.timelines import expected, random_day

pytest_plugins = ["tests.postgres"]
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
