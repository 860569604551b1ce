"""`officepulse demo` fills a real server with scripted people: history for the
time page and live activity for the office."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, expect

from officepulse.agent.main import local_zone
from officepulse.demo import APP_NAMES
from tests.support.browser import Pages, needs_chromium
from tests.support.browser import browser as browser
from tests.support.processes import OFFICEPULSE, Process, clean_env, stop, wait_until
from tests.support.servers import ServerProcess

ROOT = Path(__file__).parent.parent


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


def test_make_demo_beside_a_running_server_keeps_to_its_own(
    server: ServerProcess, tmp_path: Path
) -> None:
    """`make demo` while `make run` holds the port: the demo people go to a server and a
    database of the demo's own, never into the person's office."""
    port = server.url.rsplit(":", 1)[1]
    demo_database = tmp_path / "demo.sqlite3"
    demo = Process(
        [str(ROOT / "scripts" / "demo"), "--people", "2", "--days", "1"],
        name="make demo",
        env=clean_env(OFFICEPULSE_PORT=port, DEMO_DATABASE=str(demo_database)),
        start_new_session=True,  # the script and the server it starts, stopped together
    )
    try:
        opened = demo.wait_for_log("open http://", timeout=60)
        # Said before where to watch it: read already.
        assert demo.logged(f"port {port} is taken (by `make run`?)")
        assert opened.endswith(f"/ to watch the demo office (its database: {demo_database})")
        demo_url = opened.split()[1].rstrip("/").replace("localhost", "127.0.0.1")
        assert demo_url != server.url

        def demo_people() -> list[str]:
            with urllib.request.urlopen(demo_url + "/api/v1/agents", timeout=10) as response:
                agents = json.loads(response.read())["agents"]
            return sorted(a["name"] for a in agents if a["online"])

        assert wait_until(lambda: demo_people() == ["Alice", "Bob"], timeout=60, what="demo people")
        assert server.get("/api/v1/agents")["agents"] == []  # the person's office: untouched
        assert demo_database.is_file()
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(30)
    assert "Traceback" not in demo.output()


# What a person watching the office sees of each card: its group, name, status at a
# glance, and what is in front.
OFFICE_TEXT = """() => Array.from(document.querySelectorAll("article.person"), card =>
  [card.dataset.state, card.querySelector(".name").textContent,
   card.querySelector(".glance:not([hidden])")?.textContent.trim() ?? "",
   card.querySelector(".app")?.textContent.trim() ?? "",
   card.querySelector(".title")?.textContent ?? ""].join(" | ")).sort().join("\\n")"""
# Each card's app: its raw name (data-app) and the name it shows.
CARD_APPS = """() => Array.from(document.querySelectorAll("article.person .app[data-app]"),
  app => [app.dataset.app, app.textContent.trim()])"""


# Each card's person and the time today it shows.
TODAY_TEXT = """() => Array.from(document.querySelectorAll("article.person .today-time"),
  time => [time.closest("article").id, time.textContent.trim()])"""


def busy_today(page: Page) -> bool:
    """Whether every card shows the busy day the demo replays (80 to 120 minutes before
    now): at least an hour, or half the time since that person's midnight if less."""
    for card_id, shown in page.evaluate(TODAY_TEXT):
        zone = ZoneInfo("Asia/Tokyo" if card_id == "agent-demo-carol" else local_zone())
        now = datetime.now(zone)
        since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
        matched = re.fullmatch(r"(?:(\d+) h )?(\d+) min", shown)
        if matched is None:
            return False
        minutes = int(matched[1] or 0) * 60 + int(matched[2])
        if minutes < min(60, since_midnight.total_seconds() / 60 / 2):
            return False
    return True


@needs_chromium
def test_the_demo_office_moves_every_few_seconds(browser: Browser, server: ServerProcess) -> None:
    """A newcomer who opens `make demo`'s office sees it move within seconds, again and
    again: people switch apps and titles, go idle and come back, pause; and it has been a
    busy day already: time today on every card, Bob away at lunch, Carol in a meeting, Dan
    focused."""
    demo = Process(
        [
            *(OFFICEPULSE, "--env-file", "/dev/null", "demo"),
            *("--server-url", server.ws_url, "--people", "5", "--days", "0"),
        ],
        name="the demo",
        env=clean_env(),
    )
    pages = Pages(browser, server.url)
    try:
        page = pages.open_office()
        expect(page.locator("article.person.online")).to_have_count(5, timeout=60_000)
        expect(page.locator("#agent-demo-carol .glance")).to_have_text("in a meeting")
        expect(page.locator("#agent-demo-dan .glance")).to_contain_text("focused for")
        # Bob is at lunch for minutes more: away, and counted there.
        expect(page.locator("#cards-away #agent-demo-bob")).to_be_visible()
        expect(page.locator("#count-away")).to_have_text("1")
        # An hour or two today, or, in the first hours after a person's midnight, most of
        # the time since (Carol is in Tokyo: her day begins at 15:00 UTC).
        wait_until(
            lambda: busy_today(page),
            timeout=30,
            what="time today on every card",
            context=lambda: str(page.evaluate(TODAY_TEXT)),
        )
        seen = [page.evaluate(OFFICE_TEXT)]
        started = time.monotonic()

        def moved() -> bool:
            now = page.evaluate(OFFICE_TEXT)
            if now != seen[-1]:
                seen.append(now)
                print(f"\n  the office moved after {time.monotonic() - started:.1f} s", end="")
            return len(seen) > 3

        # Three changes in half a minute: at most seconds apart on average.
        wait_until(moved, timeout=30, what="the demo's office to change three times")

        # Apps by the names their desktops give them ("XTerm", not "xterm"): every card's,
        # at a moment when some card shows an app whose name is not its raw one.
        def named() -> bool:
            apps = page.evaluate(CARD_APPS)
            renamed = any(raw != shown for raw, shown in apps)
            return renamed and all(shown == APP_NAMES.get(raw, raw) for raw, shown in apps)

        wait_until(named, what="apps by their names", context=lambda: str(page.evaluate(CARD_APPS)))
        pages.assert_no_errors()
    finally:
        pages.close()
        out = stop(demo)
    assert "Traceback" not in out
