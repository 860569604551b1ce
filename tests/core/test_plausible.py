"""What no agent can have seen is refused at the door (core/plausible.py), through the
agent protocol and the ActivityWatch API of a real server, saying which span and which
rule; what is plausible, however much time it holds, is stored at the cost of any span
and holds up no one (store/base.py's runs)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from officepulse.agent.journal import Journal
from officepulse.core.plausible import (
    EARLIEST_MS,
    MAX_AHEAD_MS,
    MAX_SPAN_MS,
    instant_refusal,
    span_refusal,
)
from officepulse.core.spans import Span, iso_utc, to_ms
from officepulse.protocol.messages import Activity
from tests.support.agent_messages import hello
from tests.support.aw import request
from tests.support.servers import ServerProcess, start_server

NOW = datetime.now(UTC).replace(microsecond=0)
NOW_MS = to_ms(NOW)
D = 86_400_000
YEAR = 365 * D


def test_the_rules_name_themselves() -> None:
    assert span_refusal(NOW_MS - D, NOW_MS, NOW_MS) is None
    assert span_refusal(NOW_MS - MAX_SPAN_MS, NOW_MS, NOW_MS) is None  # the longest there is
    assert span_refusal(NOW_MS - 10 * YEAR, NOW_MS, NOW_MS) == (
        "it lasts 3650.0 days, and a span lasts at most 7 days"
    )
    assert span_refusal(NOW_MS, NOW_MS + MAX_AHEAD_MS, NOW_MS) is None  # a clock a bit fast
    assert span_refusal(NOW_MS, NOW_MS + D, NOW_MS) == (
        "it ends 24.0 hours ahead of the server's clock (at most 5 minutes ahead is "
        "accepted; check this computer's clock)"
    )
    assert span_refusal(EARLIEST_MS - 1, EARLIEST_MS + 5, NOW_MS) == (
        "it starts before 2000-01-01T00:00:00Z, the earliest time accepted (check this "
        "computer's clock)"
    )
    assert instant_refusal(EARLIEST_MS, NOW_MS) is None
    assert instant_refusal(0, NOW_MS) == (
        "it is before 2000-01-01T00:00:00Z, the earliest time accepted (check this "
        "computer's clock)"
    )


@pytest.mark.parametrize("days", [3, 8, 16])
def test_a_journal_compacted_after_a_long_time_offline_is_still_accepted(
    tmp_path: Path, days: int
) -> None:
    # Away from the server for ``days`` with the screen locked: a minute's span after
    # another of the same activity, which compaction joins, up to what a server takes.
    journal = Journal(tmp_path / "j.sqlite3", budget_bytes=10**9)
    start = NOW_MS - days * D
    locked = Activity(app="Code", title="main.py", idle=True)
    minutes = [
        Span(start + i * 60_000, start + (i + 1) * 60_000, locked) for i in range(days * 1440)
    ]
    journal.append(minutes, None)
    journal.budget_bytes = 4096
    journal.compact()
    spans = [e.span for e in journal.read(0, 10**9)]
    journal.close()
    assert len(spans) < len(minutes)
    assert sum(s.duration_ms for s in spans) == days * D
    for span in spans:
        assert span_refusal(span.start_ms, span.end_ms, NOW_MS) is None, span


# -- through the agent protocol ---------------------------------------------------------


async def v2_agent(server: ServerProcess, agent_id: str) -> tuple[ClientConnection, int]:
    ws = await connect(server.ws_url)
    await ws.send(hello(agent_id))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return ws, int(welcome["resume_from_seq"])


def span(start: datetime, end: datetime, app: str = "Code") -> list[Any]:
    return [start.isoformat(), end.isoformat(), {"app": app}]


def usage(server: ServerProcess, lo: datetime, hi: datetime) -> dict[str, float]:
    query = urllib.parse.urlencode(
        {"start": lo.isoformat(), "end": hi.isoformat(), "group_by": "app"}
    )
    return {r["app"]: r["seconds"] for r in server.get(f"/api/v1/usage?{query}")["rows"]}


async def test_implausible_spans_are_refused_by_name_and_the_journal_moves_on(
    server: ServerProcess,
) -> None:
    ws, resume = await v2_agent(server, "odd")
    assert resume == 0
    batch = [
        span(NOW - timedelta(hours=3), NOW - timedelta(hours=2)),
        span(NOW - timedelta(days=3650), NOW - timedelta(hours=1)),  # 2: ten years
        span(datetime(1999, 12, 31, 23, tzinfo=UTC), datetime(2000, 1, 1, 1, tzinfo=UTC)),
        span(NOW - timedelta(hours=1), NOW + timedelta(days=1)),  # 4: tomorrow
        span(NOW - timedelta(hours=1), NOW - timedelta(minutes=30), "Slack"),
    ]
    await ws.send(json.dumps({"type": "spans", "first_seq": 1, "spans": batch}))
    errors = [json.loads(await ws.recv()) for _ in range(3)]
    assert [(e["type"], e["code"], e["fatal"]) for e in errors] == [
        ("error", "span-refused", False)
    ] * 3
    ten_years = errors[0]["message"]
    assert ten_years.startswith(
        f"span 2 ({iso_utc(to_ms(NOW - timedelta(days=3650)))} to "
        f"{iso_utc(to_ms(NOW - timedelta(hours=1)))}) refused: it lasts 3650.0 days"
    )
    assert "a span lasts at most 7 days" in ten_years
    assert errors[1]["message"].startswith("span 3 (1999-12-31T23:00:00Z to 2000-01-01T01")
    assert "before 2000-01-01T00:00:00Z" in errors[1]["message"]
    assert errors[2]["message"].startswith("span 4 (")
    assert "ahead of the server's clock" in errors[2]["message"]
    # Acknowledged whole: the agent's journal forgets the refused spans with the rest.
    assert json.loads(await ws.recv()) == {"type": "ack", "seq": 5}
    assert usage(server, NOW - timedelta(days=390), NOW + timedelta(days=2)) == {
        "Code": 3600.0,
        "Slack": 1800.0,
    }
    # Sent again (a lost acknowledgement): nothing is refused twice, nothing counted twice.
    await ws.send(json.dumps({"type": "spans", "first_seq": 1, "spans": batch}))
    assert json.loads(await ws.recv()) == {"type": "ack", "seq": 5}
    await ws.close()
    ws, resume = await v2_agent(server, "odd")
    assert resume == 5  # a new connection resumes after them
    # A heartbeat from a computer whose clock went back to 1970 is refused too.
    await ws.send(
        json.dumps(
            {
                "type": "heartbeat",
                "ts": "1970-01-01T00:00:05Z",
                "activity": {"app": "Code"},
            }
        )
    )
    refused = json.loads(await ws.recv())
    assert refused["code"] == "heartbeat-refused"
    assert "before 2000-01-01T00:00:00Z" in refused["message"]
    await ws.close()
    server.wait_for_log("agent odd: 3 span(s) refused, the first: span 2 (")


async def test_a_year_sent_in_one_batch_holds_up_no_one(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    answered: list[int] = []
    failed: list[BaseException] = []
    stop = threading.Event()

    def call_the_api() -> None:
        # Another client, all along: every call must be answered.
        while not stop.is_set():
            try:
                with urllib.request.urlopen(server.url + "/api/v1/agents", timeout=30) as r:
                    answered.append(r.status)
            except OSError as exc:
                failed.append(exc)

    caller = threading.Thread(target=call_the_api, daemon=True)
    caller.start()
    try:
        ws, _ = await v2_agent(server, "year")
        # 52 weeks of one activity, each span a week long (the longest there is): the
        # server joins them into one stored span a year long, extended 51 times. And a
        # year, and ten years, in one span each: refused.
        first = NOW - timedelta(days=365)
        weeks = [
            span(first + timedelta(weeks=w), first + timedelta(weeks=w + 1)) for w in range(52)
        ]
        weeks.append(span(first - timedelta(days=365), first))
        weeks.append(span(first - timedelta(days=3650), first))
        await ws.send(json.dumps({"type": "spans", "first_seq": 1, "spans": weeks}))
        # Asked while that batch is being taken in: answered.
        status, *_ = await asyncio.to_thread(request, "GET", server.url + "/api/v1/agents")
        assert status == 200
        codes = []
        while (reply := json.loads(await ws.recv()))["type"] == "error":
            codes.append(reply["code"])
        assert codes == ["span-refused", "span-refused"]
        assert reply == {"type": "ack", "seq": 54}
        await ws.close()
        assert usage(server, first - timedelta(days=30), NOW) == {"Code": 52 * 7 * 86400.0}
    finally:
        stop.set()
        caller.join(60)
        server.stop()
    assert answered
    assert not failed
    # A year of time, a handful of rollup rows (two partial hours' minutes at most, and
    # their hours, days and weeks).
    with sqlite3.connect(server.database) as db:
        (rows,) = db.execute("SELECT count(*) FROM rollups").fetchone()
        (runs,) = db.execute("SELECT count(*) FROM rollup_runs").fetchone()
    db.close()
    assert rows <= 2 * 60 + 6
    assert runs == 1


# -- through the ActivityWatch API -------------------------------------------------------


def test_events_no_watcher_can_have_seen_are_refused_naming_the_rule(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        base = server.url + "/api/0/buckets/aw-watcher-window_h"
        bucket = {"client": "aw-watcher-window", "type": "currentwindow", "hostname": "h"}
        assert request("POST", base, bucket)[0] == 200
        data = {"app": "Code", "title": "x"}
        year_ago = (NOW - timedelta(days=365)).isoformat()
        cases = [
            ({"timestamp": year_ago, "duration": 300 * 86400, "data": data}, "lasts 300.0 days"),
            ({"timestamp": NOW.isoformat(), "duration": 86400, "data": data}, "ahead of"),
            ({"timestamp": "1999-06-01T00:00:00Z", "duration": 60, "data": data}, "before 2000"),
        ]
        for event, rule in cases:
            fine = {"timestamp": NOW.isoformat(), "duration": 0, "data": data}
            status, body, _ = request("POST", base + "/events", [fine, event])
            assert status == 400, event
            assert body["message"].startswith(f"event 1 ({event['timestamp'][:19]}")
            assert rule in body["message"]
            status, body, _ = request("POST", base + "/heartbeat?pulsetime=60", event)
            assert status == 400, event
            assert body["message"].startswith("the heartbeat (")
            assert rule in body["message"]
            export = {"buckets": {"b": {**bucket, "id": "aw-watcher-window_h2", "events": [event]}}}
            status, body, _ = request("POST", server.url + "/api/0/import", export)
            assert status == 400, event
            assert "bucket 'b' event 0" in body["message"]
            assert rule in body["message"]
        # Nothing of any of them was kept.
        assert request("GET", base + "/events")[1] == []
        assert usage(server, NOW - timedelta(days=390), NOW + timedelta(days=2)) == {}
        # A week, the longest span there is, is taken and counted.
        week = {"timestamp": (NOW - timedelta(days=8)).isoformat(), "duration": 7 * 86400}
        assert request("POST", base + "/events", [{**week, "data": data}])[0] == 200
        assert usage(server, NOW - timedelta(days=9), NOW) == {"Code": 7 * 86400.0}
    finally:
        server.stop()
