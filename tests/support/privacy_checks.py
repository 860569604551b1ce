"""Where a secret must not be: the server's answers, its database and the agent's files,
read after a run on a real X desktop."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.support.servers import ServerProcess


def current(server: ServerProcess, agent_id: str) -> dict[str, Any] | None:
    for agent in server.get("/api/v1/agents")["agents"]:
        if agent["id"] == agent_id and agent["online"]:
            cur: dict[str, Any] | None = agent["current"]
            return cur
    return None


def today() -> str:
    now = datetime.now(UTC)
    return urlencode(
        {
            "start": (now - timedelta(days=1)).isoformat(),
            "end": (now + timedelta(days=1)).isoformat(),
        }
    )


def usage(server: ServerProcess) -> dict[str, float]:
    rows = server.get(f"/api/v1/usage?{today()}&group_by=app")["rows"]
    return {r["app"]: r["seconds"] + r["idle_seconds"] for r in rows}


def database_text(path: Path) -> str:
    """Every value of every column of every table, as text."""
    values: list[str] = []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert tables, f"no tables in {path}"
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        values.append(value.decode("utf-8", "replace"))
                    elif value is not None:
                        values.append(str(value))
    return "\n".join(values)


def files_text(folder: Path, pattern: str) -> str:
    """The raw bytes of the files (a database with its -wal and -journal), as text."""
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace")
        for p in sorted(folder.glob(pattern))
        if p.is_file()
    )


def assert_nowhere(forbidden: list[str], **places: str) -> None:
    for where, text in places.items():
        lowered = text.lower()
        for word in forbidden:
            assert word.lower() not in lowered, f"{word!r} reached {where}"


def write_config(tmp: Path, text: str) -> Path:
    """The config file where the agent looks by default (XDG_CONFIG_HOME)."""
    folder = tmp / "xdg" / "officepulse"
    folder.mkdir(parents=True)
    (folder / "agent.toml").write_text(text)
    return tmp / "xdg"
