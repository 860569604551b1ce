"""Live totals in Chromium: "Today" on the time page and the person's page show the
time in progress, marked so, while the agent still holds its open span back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import CHROMIUM, Pages, browser  # noqa: F401 (a fixture)
from tests.support.live import code_row, live_agent
from tests.support.processes import stop, wait_until
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium")


def test_today_shows_the_time_in_progress(
    browser: Browser,  # noqa: F811
    server: ServerProcess,
    tmp_path: Path,
) -> None:
    agent = live_agent(server, tmp_path)
    pages = Pages(browser, server.url)
    try:
        wait_until(
            lambda: (r := code_row(server)) is not None and r.get("in_progress_seconds"),
            timeout=30,
            what="Code's time in progress in /api/v1/usage",
            context=agent.output,
        )
        page = pages.open("/time?range=today&tz=UTC")
        person = page.locator("#usage-ann")
        expect(person.locator(".in-progress")).to_have_text(re.compile(r"in progress"))
        assert int(person.get_attribute("data-active-ms") or 0) > 0
        assert int(person.locator(".in-progress").get_attribute("data-ms") or 0) > 0
        page.screenshot(path=str(tmp_path / "time-today.png"), full_page=True)

        page.locator("#usage-ann h2 a").click()
        report = page.locator("#report.person-report")
        expect(report.locator(".period .in-progress")).to_have_text(re.compile("in progress"))
        assert int(report.locator(".person-total").get_attribute("data-ms") or 0) > 0
        # The day's table marks the block in progress.
        rows = page.locator("#timeline tbody tr", has=page.locator(".badge.in-progress"))
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Code")
        page.screenshot(path=str(tmp_path / "person-today.png"), full_page=True)
        print(f"\nscreenshots: {tmp_path / 'time-today.png'}, {tmp_path / 'person-today.png'}")
        pages.assert_no_errors()
    finally:
        pages.close()
        stop(agent)
