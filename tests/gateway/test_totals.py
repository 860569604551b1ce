"""Exact totals end to end: real agent processes replay timelines into a real
server, and the usage API answers exactly what the timelines say, per person,
per app and per day, in any time zone."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from officepulse.agent.timeline import Timeline
from tests.support import paths
from tests.support.processes import OFFICEPULSE, clean_env
from tests.support.servers import ServerProcess, start_server
from tests.support.timelines import expected

DATA = paths.DATA
PEOPLE = {
    "bob": (DATA / "bob-youtube.jsonl", datetime(2026, 11, 20, 20, 0, tzinfo=UTC)),
    "alice": (DATA / "alice-vscode.jsonl", datetime(2026, 11, 20, 16, 0, tzinfo=UTC)),
}


def usage(
    server: ServerProcess, lo: datetime, hi: datetime
) -> dict[tuple[str, str], tuple[float, float]]:
    query = urlencode({"start": lo.isoformat(), "end": hi.isoformat(), "group_by": "agent,app"})
    rows = server.get(f"/api/v1/usage?{query}")["rows"]
    return {(r["agent"], r["app"]): (r["seconds"], r["idle_seconds"]) for r in rows}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp_path = tmp_path_factory.mktemp("totals")
    server = start_server(tmp_path)
    procs = []
    for encoding, (person, (path, start)) in zip(("msgpack", "json"), PEOPLE.items(), strict=True):
        procs.append(
            subprocess.Popen(
                [
                    OFFICEPULSE,
                    "--env-file",
                    "/dev/null",
                    "agent",
                    "--server-url",
                    server.ws_url,
                    "--agent-id",
                    person,
                    "--name",
                    person.title(),
                    "--source",
                    "scripted",
                    "--timeline",
                    str(path),
                    "--speed",
                    "0",
                    "--start",
                    start.isoformat(),
                    "--encoding",
                    encoding,
                    "--state-dir",
                    str(tmp_path / person),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=clean_env(),
            )
        )
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert "every span was acknowledged by the server" in out
        assert "refused" not in out
        assert "adjusted" not in out
    yield server
    server.stop()


def test_the_headline_numbers(replayed: ServerProcess) -> None:
    got = usage(replayed, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))
    assert got[("bob", "Google-chrome")] == (6 * 3600, 1800)
    assert got[("alice", "Code")] == (10 * 3600, 600)
    assert got[("bob", "Slack")] == (900, 0)
    assert got[("alice", "firefox")] == (1200, 0)
    assert len(got) == 4


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_each_calendar_day_in_any_zone(replayed: ServerProcess, zone: str) -> None:
    tz = ZoneInfo(zone)
    for day in (19, 20, 21):
        lo = datetime(2026, 11, day, tzinfo=tz)
        hi = lo + timedelta(days=1)
        want = {}
        for person, (path, start) in PEOPLE.items():
            for app, seconds in expected(Timeline.load(path), start, lo, hi).items():
                want[(person, app)] = seconds
        assert usage(replayed, lo, hi) == want, (zone, day)


def test_any_window_adds_up(replayed: ServerProcess) -> None:
    """Hour by hour, the parts sum to the whole: nothing counted twice or lost."""
    lo = datetime(2026, 11, 20, 15, tzinfo=UTC)
    sums: dict[tuple[str, str], list[float]] = {}
    for hour in range(14):
        part = usage(replayed, lo + timedelta(hours=hour), lo + timedelta(hours=hour + 1))
        for key, (active, idle) in part.items():
            slot = sums.setdefault(key, [0.0, 0.0])
            slot[0] += active
            slot[1] += idle
    whole = usage(replayed, lo, lo + timedelta(hours=14))
    assert {k: (v[0], v[1]) for k, v in sums.items()} == whole


def test_a_replay_of_the_same_day_counts_nothing_twice(
    replayed: ServerProcess, tmp_path: Path
) -> None:
    path, start = PEOPLE["bob"]
    before = usage(replayed, start - timedelta(days=1), start + timedelta(days=2))
    again = subprocess.run(
        [
            OFFICEPULSE,
            "--env-file",
            "/dev/null",
            "agent",
            "--server-url",
            replayed.ws_url,
            "--agent-id",
            "bob",
            "--source",
            "scripted",
            "--timeline",
            str(path),
            "--speed",
            "0",
            "--start",
            start.isoformat(),
            "--state-dir",
            str(tmp_path / "again"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "lies wholly before the last stored one" in again.stderr  # told, not merged
    assert usage(replayed, start - timedelta(days=1), start + timedelta(days=2)) == before


def test_exports_say_the_same_as_the_api(replayed: ServerProcess) -> None:
    import csv
    import io
    import urllib.request

    lo, hi = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)
    query = urlencode({"start": lo.isoformat(), "end": hi.isoformat()})
    with urllib.request.urlopen(f"{replayed.url}/api/v1/usage?{query}&format=csv") as r:
        assert r.headers["Content-Type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(r.read().decode())))
    assert {
        (row["agent"], row["app"]): (float(row["seconds"]), float(row["idle_seconds"]))
        for row in table
    } == usage(replayed, lo, hi)
    assert all(row["name"] for row in table)  # names as the agents last gave them
    spans = replayed.get(f"/api/v1/spans?{query}")
    assert not spans["truncated"]
    by_app: dict[tuple[str, str], list[float]] = {}
    for span in spans["spans"]:
        slot = by_app.setdefault((span["agent"], span["app"]), [0.0, 0.0])
        slot[1 if span.get("idle") else 0] += span["seconds"]
    assert {k: (v[0], v[1]) for k, v in by_app.items()} == usage(replayed, lo, hi)
    starts = [s["start"] for s in spans["spans"]]
    assert starts == sorted(starts)
    with urllib.request.urlopen(f"{replayed.url}/api/v1/spans?{query}&agent=bob&format=csv") as r:
        rows = list(csv.DictReader(io.StringIO(r.read().decode())))
    assert {row["agent"] for row in rows} == {"bob"}
    assert len(rows) == len([s for s in spans["spans"] if s["agent"] == "bob"])
    assert any(row["url"].startswith("https://www.youtube.com/") for row in rows)
