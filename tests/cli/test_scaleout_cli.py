"""``officepulse gateway`` and ``officepulse panel`` refuse settings they cannot run on,
saying which and why (the processes themselves: tests/server/test_scaled_out.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import OFFICEPULSE, clean_env


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", *args, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )


@pytest.mark.parametrize("kind", ["gateway", "panel"])
def test_a_sqlite_database_is_refused(kind: str, tmp_path: Path) -> None:
    done = run(kind, "--database", str(tmp_path / "x.sqlite3"), "--nats-url", "nats://h:4222")
    assert done.returncode == 2
    assert f"officepulse {kind}: --database (OFFICEPULSE_DATABASE) must be a postgresql://" in (
        done.stderr
    )
    assert "officepulse server" in done.stderr  # what to run instead


@pytest.mark.parametrize("kind", ["gateway", "panel"])
def test_no_nats_url_is_refused(kind: str) -> None:
    done = run(kind, "--database", "postgresql://u@h/db")
    assert done.returncode == 2
    assert f"officepulse {kind}: --nats-url (OFFICEPULSE_NATS_URL) is needed" in done.stderr


def test_both_are_listed_in_the_help() -> None:
    done = subprocess.run(
        [OFFICEPULSE, "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "gateway" in done.stdout
    assert "panel" in done.stdout
