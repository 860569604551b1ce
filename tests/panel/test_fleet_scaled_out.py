"""The fleet on a scaled-out office, for real: two ``officepulse gateway`` processes and an
``officepulse panel`` on a real NATS server and the embedded PostgreSQL, agents connected
to each gateway over real websockets (in-process protocol clients), and the Gateways page
in the system Chromium. The panel is in open mode (no accounts): the API and page are
anyone's then, like the Agents page; their admin-only side is tests/panel/
test_gateways_api.py's."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, expect

from officepulse import __version__
from tests.support.browser import Pages, assert_fits, needs_chromium
from tests.support.browser import browser as browser
from tests.support.fake_agent import fake_agent
from tests.support.processes import wait_until
from tests.support.servers import ServerProcess, start_scaled

pytest_plugins = ["tests.support.postgres", "tests.support.nats_server"]

if TYPE_CHECKING:
    from tests.support.nats_server import NatsServer


@dataclass
class Fleet:
    g1: ServerProcess
    g2: ServerProcess
    panel: ServerProcess
    agents: ExitStack

    def gateways(self) -> dict[str, Any]:
        return {g["id"]: g for g in self.panel.get("/api/v1/gateways")["gateways"]}

    def rows(self) -> set[tuple[str, int, bool]]:
        return {(g["id"], g["connections"], g["answering"]) for g in self.gateways().values()}

    def wait_for(self, expected: set[tuple[str, int, bool]], what: str) -> None:
        wait_until(lambda: self.rows() == expected, what=f"{what}: {expected}")

    def connect(self, gateway: ServerProcess, *agent_ids: str) -> None:
        for agent_id in agent_ids:
            self.agents.enter_context(fake_agent(gateway, agent_id, agent_id.title()))


def address(server: ServerProcess) -> str:
    return server.url.removeprefix("http://")


def sigkill(server: ServerProcess) -> None:
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()


@pytest.fixture
def fleet(postgres_url: str, nats_server: NatsServer, tmp_path: Path) -> Iterator[Fleet]:
    # A gateway first: it makes the schema (tests/server/test_scaled_out.py).
    g1 = start_scaled("gateway", postgres_url, nats_server.url, tmp_path, "--gateway-id", "g1")
    g2 = start_scaled("gateway", postgres_url, nats_server.url, tmp_path, "--gateway-id", "g2")
    panel = start_scaled("panel", postgres_url, nats_server.url, tmp_path)
    with ExitStack() as agents:
        try:
            yield Fleet(g1, g2, panel, agents)
        finally:
            # A killed gateway's agents find their connection gone: closing is a no-op.
            with contextlib.suppress(Exception):
                agents.close()
            panel.stop()
            g2.stop()
            g1.stop()


def test_the_panel_lists_each_gateway_with_its_agents_and_marks_one_killed(
    fleet: Fleet,
) -> None:
    fleet.wait_for({("g1", 0, True), ("g2", 0, True)}, "both gateways, no agent yet")
    fleet.connect(fleet.g1, "ann", "bob")
    fleet.connect(fleet.g2, "cat")
    fleet.wait_for({("g1", 2, True), ("g2", 1, True)}, "each gateway's agents")
    gateways = fleet.gateways()
    for gid, server in (("g1", fleet.g1), ("g2", fleet.g2)):
        assert gateways[gid]["address"] == address(server)
        assert gateways[gid]["version"] == __version__
        assert gateways[gid]["uptime_seconds"] >= 0

    sigkill(fleet.g2)
    # No goodbye from a killed gateway: on the next look it does not answer, and shows
    # what it said last (its one agent) until it has not been heard from for 15 s.
    fleet.wait_for({("g1", 2, True), ("g2", 1, False)}, "g2 marked silent")
    silent = fleet.gateways()["g2"]
    assert silent["last_heard"] <= fleet.gateways()["g1"]["last_heard"]
    assert "Traceback" not in "\n".join(fleet.panel.log + fleet.g1.log)


@needs_chromium
def test_the_gateways_page_at_1400_and_400_px(
    fleet: Fleet, browser: Browser, tmp_path: Path
) -> None:
    fleet.connect(fleet.g1, "ann", "bob")
    fleet.connect(fleet.g2, "cat")
    fleet.wait_for({("g1", 2, True), ("g2", 1, True)}, "each gateway's agents")
    pages = Pages(browser, fleet.panel.url)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        wide = pages.open("/gateways", viewport={"width": 1400, "height": 700})
        narrow = pages.open("/gateways", viewport={"width": 400, "height": 800})
        for page in (wide, narrow):
            expect(page.locator("#gateway-g1 .connections")).to_have_text("2")
            expect(page.locator("#gateway-g2 .address")).to_have_text(address(fleet.g2))
            expect(page.get_by_role("link", name="Gateways")).to_have_attribute(
                "aria-current", "page"
            )
        # Live: a new agent and a killed gateway show without a reload (htmx polling).
        wide.evaluate("window.__sameDocument = true")
        fleet.connect(fleet.g1, "dan")
        sigkill(fleet.g2)
        for page in (wide, narrow):
            expect(page.locator("#gateway-g1 .connections")).to_have_text("3")
            expect(page.locator("#gateway-g2")).to_have_attribute("data-answering", "no")
            expect(page.locator("#gateway-g2 .badge")).to_have_text("silent")
        assert wide.evaluate("window.__sameDocument === true"), "the page was reloaded"
        wide.screenshot(path=shots / "gateways-1400.png", full_page=True)
        narrow.screenshot(path=shots / "gateways-400.png", full_page=True)
        print(f"\n  screenshots: {shots}", end="")
        assert_fits(wide, "the gateways page at 1400 px")
        assert_fits(narrow, "the gateways page at 400 px")
        pages.assert_no_errors()
    finally:
        pages.close()
