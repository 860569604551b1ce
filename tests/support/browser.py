"""The dashboard in the system Chromium (Playwright, sync API): the browser fixture, its
pages, and what tests read off them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from tests.support.processes import WAIT
from tests.support.servers import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# For a module of browser tests: pytestmark = needs_chromium
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium")


# Logs every websocket message the dashboard has swapped in, with the browser's
# wall clock, so a latency can be measured without the polling delay of expect().
WS_LOG_SCRIPT = """
window.__wsLog = [];
document.addEventListener("htmx:wsAfterMessage", function (e) {
  window.__wsLog.push({t: Date.now(), msg: String(e.detail.message)});
});
"""


OFFLINE = re.compile(r"\boffline\b")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # expect() gives up after 5 s by default: a loaded machine can take longer.
        expect.set_options(timeout=WAIT * 1000)
        yield b
        b.close()


@dataclass
class Pages:
    """Opens pages, each in its own browser context, and records every console
    error and uncaught exception of all of them."""

    browser: Browser
    base_url: str
    errors: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    def open(self, path: str = "/", **context_options: Any) -> Page:
        context = self.browser.new_context(**context_options)
        self.contexts.append(context)
        context.add_init_script(WS_LOG_SCRIPT)
        page = context.new_page()
        page.on("console", lambda m: self._console(page, m))
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: uncaught {e}"))
        page.goto(self.base_url + path)
        return page

    def _console(self, page: Page, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{page.url}: console error: {message.text} {message.location}")

    def open_office(self, **context_options: Any) -> Page:
        page = self.open("/", **context_options)
        expect(page.locator("#live")).to_have_attribute("data-state", "open")
        # Set once; if the page were reloaded it would be gone.
        page.evaluate("window.__sameDocument = true")
        return page

    def assert_no_errors(self) -> None:
        assert self.errors == [], "JS errors:\n" + "\n".join(self.errors)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser: Browser, server: ServerProcess) -> Iterator[Pages]:
    # Depends on `server`, so pages are closed before the server stops (a page
    # left open would log its websocket's reconnection attempts).
    opened = Pages(browser, server.url)
    yield opened
    opened.close()


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def assert_fits(page: Page, what: str) -> None:
    """Nothing on the page is wider than the window: no sideways scrolling."""
    widths = page.evaluate(
        "() => ({scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth,"
        " widest: Math.max(...Array.from(document.querySelectorAll('main *'),"
        " el => el.getBoundingClientRect().right))})"
    )
    assert widths["scroll"] <= widths["inner"], f"{what} scrolls sideways: {widths}"
    assert widths["widest"] <= widths["inner"], f"{what}: something sticks out: {widths}"


def report(what: str, ms: float) -> None:
    print(f"\n  live update latency, {what}: {ms:.0f} ms", end="")
