"""A real agent replaying a timeline in real time for the live-totals tests: Code, then
idle noticed later and dated back; and reading its Code row from the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from officepulse.bus.presence import AgentView, CurrentSpan
from officepulse.protocol.messages import Activity
from tests.support.processes import Process
from tests.support.servers import ServerProcess, start_agent

# The 15 s the issue allows from activity to totals.
LAG_BOUND = 15.0
# Code for 8 s, then idle: noticed 10 s later (the agent's idle threshold), dated back.
IDLE_AT, NOTICED = 8, 10


def write_timeline(path: Path) -> Path:
    lines = [
        {"offset": 0, "app": "Code", "title": "main.py — officepulse"},
        {
            "offset": IDLE_AT,
            "app": "Code",
            "title": "main.py — officepulse",
            "idle": True,
            "noticed": NOTICED,
        },
        {"offset": 600, "end": True},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def live_agent(server: ServerProcess, tmp: Path) -> Process:
    return start_agent(
        server,
        tmp,
        "--agent-id",
        "ann",
        "--name",
        "Ann",
        "--source",
        "scripted",
        "--timeline",
        str(write_timeline(tmp / "ann.jsonl")),
        "--speed",
        "1",
        "--idle-threshold",
        str(NOTICED),
    )


# Yesterday to tomorrow: whatever the test's moment, its time is inside.
WINDOW = {
    "start": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
    "end": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
}


def code_row(server: ServerProcess) -> dict[str, Any] | None:
    rows = server.get(f"/api/v1/usage?{urlencode({**WINDOW, 'group_by': 'agent,app'})}")["rows"]
    return next((r for r in rows if (r["agent"], r["app"]) == ("ann", "Code")), None)


def view(
    agent: str, since_ms: int, activity: Activity, *, online: bool = True, live: bool = True
) -> AgentView:
    return AgentView(
        id=agent,
        name=agent.title(),
        host="h",
        platform="linux",
        version="1",
        tz="UTC",
        online=online,
        last_seen_ms=since_ms,
        current=CurrentSpan(start_ms=since_ms, end_ms=since_ms, activity=activity),
        live=live,
    )
