"""Re-categorising history in the background, watched in a real browser (the system
Chromium, Playwright) on a real server: its progress shown live while the page stays
usable, and a server killed mid-job that goes on where it was when started again. The
job is made slow enough to watch by its settings (a span a batch, a pause between
batches), not by a big history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import CHROMIUM, browser
from tests.support.categories import (
    choose_category,
    finished_job,
    recent,
    recent_by,
    send_spans,
)
from tests.support.processes import wait_until
from tests.support.servers import ServerProcess, start_server

__all__ = ["browser"]  # a fixture, used by name

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium")

SLOW = ("--recategorize-batch", "1", "--recategorize-pause", "0.2")
TOOL = {"app": "obscure-tool", "title": "drawing"}


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert errors == []


def slow_server(tmp_path: Path, spans: int) -> ServerProcess:
    """A server whose jobs take at least a fifth of a second per span, with ``spans``
    minutes of obscure-tool stored."""
    server = start_server(tmp_path, *SLOW)
    # Titles of their own: the same activity side by side would be joined into one span.
    send_spans(server, recent([(1, {**TOOL, "title": f"drawing {i}"}) for i in range(spans)]))
    return server


def test_a_jobs_progress_is_shown_live_and_the_page_stays_usable(
    page: Page, tmp_path: Path
) -> None:
    server = slow_server(tmp_path, 16)
    try:
        page.goto(server.url + "/categories")
        choose_category(page, "obscure-tool", "Work > Design")
        # The row leaves with the answer, not when the job ends (seconds later).
        expect(page.locator("#uncategorized-status")).to_contain_text("is now in Work > Design")
        assert page.locator('#uncategorized li[data-app="obscure-tool"]').count() == 0
        job = page.locator("#category-job")
        expect(job.locator("progress")).to_be_visible()
        # Usable meanwhile: a draft rule added to the editor while the job runs.
        rows = page.locator("#rules-editor tbody tr").count()
        page.get_by_role("button", name="Add a rule").click()
        expect(page.locator("#rules-editor tbody tr")).to_have_count(rows + 1)
        expect(page.get_by_text("Not saved yet.")).to_be_visible()
        expect(job.locator("progress")).to_be_visible()  # and the job still under way
        # The page asks again while it runs: part of the way, then done.
        expect(job).to_contain_text(re.compile(r"\b([1-9]|1[0-5]) of 16 spans"))
        expect(job).to_contain_text("History re-categorised")
        expect(job).to_contain_text("16 of 16 spans changed category")
        expect(job.locator("progress")).to_have_count(0)
        assert recent_by(server, "app,category") == {("obscure-tool", "Work > Design"): 960.0}
    finally:
        server.stop()


def test_a_server_killed_mid_job_goes_on_where_it_was_and_the_page_says_so(
    page: Page, tmp_path: Path
) -> None:
    first = slow_server(tmp_path, 16)
    try:
        page.goto(first.url + "/categories")
        choose_category(page, "obscure-tool", "Work > Design")
        # The rule is made once the page says so (the click does not wait for the answer).
        expect(page.locator("#uncategorized-status")).to_contain_text("is now in Work > Design")
        job_id = first.get("/api/v1/categories")["job"]["id"]

        def part_done() -> bool:
            job = first.get(f"/api/v1/categories/jobs/{job_id}")
            return bool(3 <= job["done"] < 16)

        wait_until(part_done, what="the job to be part of the way")
    finally:
        first.proc.kill()  # no goodbye: a crash mid-job
        first.stop()
    second = start_server(tmp_path, *SLOW)  # the same database
    try:
        page.goto(second.url + "/categories")
        # Not half-categorised without saying so: the page shows the job going on.
        expect(page.locator("#category-job progress")).to_be_visible()
        expect(page.locator("#category-job")).to_contain_text(re.compile(r"\b\d+ of 16 spans"))
        job = finished_job(second, job_id)
        # Gone on from its last batch, not from the start: each span once.
        assert (job["state"], job["done"], job["total"], job["changed"]) == ("done", 16, 16, 16)
        expect(page.locator("#category-job")).to_contain_text("16 of 16 spans changed category")
        assert recent_by(second, "app,category") == {("obscure-tool", "Work > Design"): 960.0}
    finally:
        second.stop()
