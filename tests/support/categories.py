"""Spans sent to a real server and its usage read back by category."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from websockets.sync.client import connect

from tests.support.processes import WAIT, wait_until
from tests.support.servers import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Page

DAY = "start=2026-11-27T00:00:00Z&end=2026-11-28T00:00:00Z"


SPANS = [
    ["2026-11-27T10:00:00Z", "2026-11-27T10:05:00Z", {"app": "Code", "title": "main.py"}],
    [
        "2026-11-27T10:05:00Z",
        "2026-11-27T10:06:00Z",
        {"app": "firefox", "title": "cats - YouTube", "url": "https://www.youtube.com/w"},
    ],
    [
        "2026-11-27T10:06:00Z",
        "2026-11-27T10:06:30Z",
        {"app": "firefox", "title": "MIT lecture - YouTube", "url": "https://www.youtube.com/l"},
    ],
    ["2026-11-27T10:06:30Z", "2026-11-27T10:07:00Z", {"app": "Code", "title": "x", "idle": True}],
]


def send_spans(server: ServerProcess, spans: list[list[Any]] = SPANS) -> None:
    """``spans`` ([start, end, activity], each a span) from Bob's agent, "b0b"."""
    with connect(server.ws_url) as ws:
        ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "v": 2,
                    "agent_id": "b0b",
                    "name": "Bob",
                    "host": "h",
                    "platform": "Linux",
                    "agent_version": "0.1.0",
                    "tz": "UTC",
                }
            )
        )
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "welcome"
        ws.send(json.dumps({"type": "spans", "first_seq": 1, "spans": spans}))
        assert json.loads(ws.recv(timeout=WAIT)) == {"type": "ack", "seq": len(spans)}


def recent(minutes: list[tuple[int, dict[str, Any]]]) -> list[list[Any]]:
    """Spans one after another, ending a minute ago: (minutes long, activity) each."""
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    start = end - timedelta(minutes=sum(m for m, _ in minutes))
    spans = []
    for length, activity in minutes:
        stop = start + timedelta(minutes=length)
        spans.append([start.isoformat(), stop.isoformat(), activity])
        start = stop
    return spans


def recent_by(server: ServerProcess, group_by: str) -> dict[tuple[Any, ...], float]:
    """Seconds of the last day, grouped by ``group_by`` ("app,category")."""
    now = datetime.now(UTC)
    span = f"start={(now - timedelta(days=1)).isoformat()}&end={now.isoformat()}"
    rows = server.get(f"/api/v1/usage?{span.replace('+', '%2B')}&group_by={group_by}")["rows"]
    keys = group_by.split(",")
    return {tuple(r[k] for k in keys): r["seconds"] for r in rows}


def by_category(server: ServerProcess) -> dict[str, list[float]]:
    rows = server.get(f"/api/v1/usage?{DAY}&group_by=category")["rows"]
    return {r["category"]: [r["seconds"], r["idle_seconds"]] for r in rows}


def finished_job(server: ServerProcess, job_id: int) -> dict[str, Any]:
    """The re-categorising job, once it is no longer running (polled with a deadline)."""

    def over() -> dict[str, Any] | None:
        job: dict[str, Any] = server.get(f"/api/v1/categories/jobs/{job_id}")
        return job if job["state"] != "running" else None

    found: dict[str, Any] = wait_until(over, what=f"re-categorising job {job_id} to end")
    return found


def choose_category(page: Page, shown: str, category: str) -> None:
    """The Categories page's two clicks beside an uncategorised app or site (``shown``):
    open its categories, choose one (which makes the rule)."""
    page.get_by_text(f"Choose a category for {shown}", exact=True).click()
    choices = page.get_by_role("group", name=f"Categories for {shown}", exact=True)
    choices.get_by_role("button", name=category, exact=True).click()
