"""Scaled out, for real: two ``officepulse gateway`` processes and an ``officepulse panel``
process on PostgreSQL (tests/postgres.py) and a real NATS server (tests/nats_server.py),
a real agent reading a real X server connected to one of them, and a real dashboard
websocket on the panel."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.cluster import block
from tests.support.processes import WAIT, Process, stop, wait_until
from tests.support.servers import ServerProcess, start_agent, start_scaled

pytest_plugins = ["tests.support.postgres", "tests.support.nats_server"]

if TYPE_CHECKING:
    from tests.support.nats_server import NatsServer
    from tests.support.xserver import Window, XServer

_now = datetime.now(UTC)
TODAY = urlencode(
    {"start": (_now - timedelta(days=1)).isoformat(), "end": (_now + timedelta(days=1)).isoformat()}
)


@dataclass
class Office:
    idle: ServerProcess  # a gateway no agent is connected to
    gateway: ServerProcess  # the agent's
    panel: ServerProcess
    xserver: XServer
    editor: Window
    browser: Window
    agent: Process


@pytest.fixture
def office(
    postgres_url: str, nats_server: NatsServer, xserver: XServer, tmp_path: Path
) -> Iterator[Office]:
    # The gateway first: it makes the schema (a panel starting beside it would wait on the
    # migration's lock, which is fine, but slower).
    idle = start_scaled("gateway", postgres_url, nats_server.url, tmp_path, "--gateway-id", "g1")
    gateway = start_scaled("gateway", postgres_url, nats_server.url, tmp_path, "--gateway-id", "g2")
    panel = start_scaled("panel", postgres_url, nats_server.url, tmp_path)
    editor = xserver.xterm("ScaleEditor", "main.py - scaled")
    browser = xserver.xterm("ScaleBrowser", "cat video")
    xserver.activate(editor)
    agent = start_agent(
        gateway,
        tmp_path,
        *("--agent-id", "desk", "--source", "x11", "--poll-interval", "0.2"),
        DISPLAY=xserver.display,
        XDG_SESSION_TYPE="x11",
        WAYLAND_DISPLAY=None,
    )
    try:
        yield Office(idle, gateway, panel, xserver, editor, browser, agent)
    finally:
        stop(agent)
        panel.stop()
        gateway.stop()
        idle.stop()


def until_html(browser: ClientConnection, *needles: str) -> str:
    """Read dashboard messages until one contains every needle."""
    with contextlib.suppress(TimeoutError):
        deadline = WAIT
        while True:
            message = str(browser.recv(timeout=deadline))
            if all(n in message for n in needles):
                return message
    raise AssertionError(f"no dashboard message with {needles} within {WAIT:g} s")


def test_an_agent_on_a_gateway_is_seen_live_on_the_panel_and_blocked_from_it(
    office: Office,
) -> None:
    with connect(office.panel.browser_url) as browser:
        until_html(browser, 'id="agent-desk"', "main.py - scaled")
        office.xserver.activate(office.browser)
        until_html(browser, 'id="agent-desk"', "cat video")
        # The REST API of the panel says the same.
        agents = office.panel.get("/api/v1/agents")["agents"]
        assert [(a["id"], a["online"], a["current"]["app"]) for a in agents] == [
            ("desk", True, "ScaleBrowser")
        ]
        block(office.panel.url, "desk")
        # The gateway holding it let it go, and every dashboard dropped it.
        until_html(browser, 'id="agent-desk"', 'hx-swap-oob="delete"')
        office.gateway.wait_for_log("disconnecting agent desk: this agent was blocked")
        office.agent.wait_for_log("blocked")
    assert not office.idle.logged("disconnecting agent")
    assert "Traceback" not in "\n".join(office.idle.log + office.gateway.log + office.panel.log)


def test_presence_recovers_when_nats_restarts(office: Office, nats_server: NatsServer) -> None:
    with connect(office.panel.browser_url) as browser:
        until_html(browser, 'id="agent-desk"', "main.py - scaled")
        nats_server.stop()
        office.gateway.wait_for_log("lost the connection to NATS")
        office.panel.wait_for_log("lost the connection to NATS")
        # A switch while the bus is down: the gateway stores the span it closed (the panel
        # reads it from PostgreSQL), but no dashboard hears of it yet.
        office.xserver.activate(office.browser)
        wait_until(
            lambda: office.panel.get(f"/api/v1/usage?{TODAY}&group_by=app")["rows"],
            what="the editor's span, closed by the switch, stored while NATS is down",
        )
        nats_server.start()
        office.panel.wait_for_log("reconnected to NATS")
        until_html(browser, 'id="agent-desk"', "cat video")
        # Whichever came back first, what was published while the bus was down is not
        # lost for good: the gateway sent its agents' presence again, and the panel took
        # a snapshot again (from the gateways that were back, and the database).
        office.gateway.wait_for_log("presence of 1 agent(s) sent again")
        office.panel.wait_for_log("presence from ", count=2)
        # And the bus carries changes again from then on.
        office.xserver.set_title(office.browser, "dog video")
        until_html(browser, 'id="agent-desk"', "dog video")
