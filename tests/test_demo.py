"""`officepulse demo` fills a real server with scripted people: history for the
time page and live activity for the office."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from tests.conftest import OFFICEPULSE, Process, ServerProcess, clean_env, stop, wait_until


def test_the_demo_fills_the_office(server: ServerProcess) -> None:
    demo = Process(
        [
            OFFICEPULSE,
            "--env-file",
            "/dev/null",
            "demo",
            "--server-url",
            server.ws_url,
            "--people",
            "3",
            "--days",
            "7",
        ],
        name="the demo",  # its output is read as it comes: a full pipe would stall it
        env=clean_env(),
    )
    try:

        def everyone_busy() -> list[dict[str, object]]:
            agents = server.get("/api/v1/agents")["agents"]
            live = [a for a in agents if a["online"] and a["current"]]
            return live if len(live) == 3 else []

        live = wait_until(everyone_busy, timeout=60, what="three people at work")
        assert {a["name"] for a in live} == {"Alice", "Bob", "Carol"}
        now = datetime.now(UTC)
        query = urlencode(
            {
                "start": (now - timedelta(days=8)).isoformat(),
                "end": now.isoformat(),
                "group_by": "agent",
            }
        )

        def a_week_each() -> bool:
            rows = server.get(f"/api/v1/usage?{query}")["rows"]
            # At least four workdays in any seven, of at least 6.5 hours each.
            return len(rows) == 3 and all(
                float(r["seconds"]) + float(r["idle_seconds"]) > 4 * 6.5 * 3600 for r in rows
            )

        wait_until(a_week_each, timeout=90, what="a week of history for each")

        # Carol flew to Tokyo half way through the week: her computer is there now.
        def carol_in_tokyo() -> bool:
            zones = {a["name"]: a["tz"] for a in server.get("/api/v1/agents")["agents"]}
            return zones["Carol"] == "Asia/Tokyo" and zones["Alice"] != "Asia/Tokyo"

        wait_until(carol_in_tokyo, timeout=60, what="Carol's computer in Tokyo")
    finally:
        out = stop(demo)
    assert "Traceback" not in out
