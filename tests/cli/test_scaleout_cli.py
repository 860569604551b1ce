"""``officepulse gateway`` and ``officepulse panel`` refuse settings they cannot run on,
saying which and why (the processes themselves: tests/server/test_scaled_out.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from officepulse.cli.scaleout import problem
from officepulse.settings import ServerSettings
from tests.support.processes import OFFICEPULSE, clean_env


def test_a_sqlite_database_is_refused_saying_what_to_run_instead(tmp_path: Path) -> None:
    said = problem(ServerSettings(database=str(tmp_path / "x.sqlite3"), nats_url="nats://h"))
    assert said is not None
    assert said.startswith("--database (OFFICEPULSE_DATABASE) must be a postgresql:// URL")
    assert "`officepulse server`" in said


def test_no_nats_url_is_refused() -> None:
    said = problem(ServerSettings(database="postgresql://u@h/db"))
    assert said is not None
    assert said.startswith("--nats-url (OFFICEPULSE_NATS_URL) is needed")
    assert problem(ServerSettings(database="postgresql://u@h/db", nats_url="nats://h")) is None


def test_the_commands_exit_with_the_refusal(tmp_path: Path) -> None:
    settings = ["--database", str(tmp_path / "x.sqlite3"), "--nats-url", "nats://h:4222"]
    for kind in ("gateway", "panel"):
        done = subprocess.run(
            [OFFICEPULSE, "--env-file", "/dev/null", kind, "--port", "0", *settings],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert f"officepulse {kind}: --database (OFFICEPULSE_DATABASE) must be" in done.stderr
