"""Live totals end to end: a real server and a real agent process replaying a timeline
in real time. The API counts the activity in progress within seconds of it starting,
marked as in progress; when the agent finds the person had gone idle a while ago the
active time shrinks back to what happened; and once the agent's spans are all stored
the totals are exactly the stored spans, nothing counted twice, nothing lost."""

from __future__ import annotations

import csv
import io
import itertools
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.support.live import IDLE_AT, LAG_BOUND, WINDOW, code_row, live_agent
from tests.support.processes import stop, wait_until
from tests.support.servers import ServerProcess


def spans(server: ServerProcess) -> list[dict[str, Any]]:
    return server.get(f"/api/v1/spans?{urlencode({**WINDOW, 'agent': 'ann'})}")["spans"]


def csv_rows(server: ServerProcess, path: str) -> list[dict[str, str]]:
    with urllib.request.urlopen(server.url + path, timeout=30) as response:
        return list(csv.DictReader(io.StringIO(response.read().decode())))


def ms(text: str) -> int:
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def sums(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(active, idle) ms of span rows."""
    active = sum(ms(r["end"]) - ms(r["start"]) for r in rows if not r.get("idle"))
    idle = sum(ms(r["end"]) - ms(r["start"]) for r in rows if r.get("idle"))
    return active, idle


def test_totals_include_the_activity_in_progress_then_reconcile_exactly(
    server: ServerProcess, tmp_path: Path
) -> None:
    agent = live_agent(server, tmp_path)
    try:
        wait_until(
            lambda: any(
                a["id"] == "ann" and a["online"] for a in server.get("/api/v1/agents")["agents"]
            ),
            what="the agent online",
            context=agent.output,
        )
        # Within the bound of the activity starting: time in progress, marked so.
        row = wait_until(
            lambda: (r := code_row(server)) is not None and r["seconds"] > 0 and r,
            timeout=LAG_BOUND,
            what="Code's time in progress in /api/v1/usage",
            context=agent.output,
        )
        seen_at = time.time()
        assert row["in_progress_seconds"] > 0, row
        (live,) = [s for s in spans(server) if s.get("in_progress")]
        # Printed, not asserted (wall-clock time is not a test result): from the activity
        # starting, as the agent dated it, to the API counting it.
        print(f"\nlag from activity to totals: {seen_at - ms(live['start']) / 1000:.2f} s")
        assert live["app"] == "Code"
        # The export says so too.
        (exported,) = csv_rows(server, f"/api/v1/usage?{urlencode({**WINDOW, 'format': 'csv'})}")
        assert float(exported["in_progress_seconds"]) > 0, exported
        assert not live.get("idle")

        # Before the agent notices the person went idle at 8 s, Code counts on...
        row = wait_until(
            lambda: (r := code_row(server)) is not None and r["seconds"] > IDLE_AT + 0.5 and r,
            timeout=30,
            what="Code counted past the moment the person went idle",
            context=agent.output,
        )
        assert row["idle_seconds"] == 0
        # ...then the open span is cut back: Code is 8 s, exactly, and stored; what
        # follows is idle, in progress.
        row = wait_until(
            lambda: (r := code_row(server)) is not None and r["idle_seconds"] > 0 and r,
            timeout=30,
            what="the idle stretch after the agent noticed it",
            context=agent.output,
        )
        row = wait_until(
            lambda: (r := code_row(server)) is not None and r["seconds"] == IDLE_AT and r,
            timeout=30,
            what=f"Code's active time back to {IDLE_AT} s",
            context=lambda: f"{code_row(server)}\n{agent.output()}",
        )
        assert row["in_progress_seconds"] == row["idle_seconds"], row
        stored = [s for s in spans(server) if not s.get("in_progress")]
        assert sums(stored)[0] == IDLE_AT * 1000
    finally:
        out = stop(agent)  # a clean stop: the open span is closed and sent
    assert "0 spans waiting" in out.splitlines()[-1], out
    wait_until(
        lambda: not any(a["online"] for a in server.get("/api/v1/agents")["agents"]),
        what="the agent offline",
    )
    # Nothing in progress now: the totals are the stored spans, exactly.
    stored = spans(server)
    assert not any(s.get("in_progress") for s in stored)
    row = code_row(server)
    assert row is not None
    assert "in_progress_seconds" not in row, row
    active, idle = sums(stored)
    assert (round(row["seconds"] * 1000), round(row["idle_seconds"] * 1000)) == (active, idle)
    assert active == IDLE_AT * 1000
    # Nothing lost: the spans follow one another from the first start to the last end.
    ordered = sorted(stored, key=lambda s: ms(s["start"]))
    assert all(ms(a["end"]) == ms(b["start"]) for a, b in itertools.pairwise(ordered))
    assert active + idle == ms(ordered[-1]["end"]) - ms(ordered[0]["start"])
