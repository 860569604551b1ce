"""The agent's tray for real: `officepulse agent --tray` on Xvfb, connected to a real
server whose office and API must show what the tray did. Its own XEmbed icon in trayer (a
real XEmbed tray from Debian), the menu clicked with xdotool and the icon read from the
screen; its own StatusNotifierItem in xfce4-panel (a real StatusNotifierWatcher and host),
its menu's rows chosen over D-Bus as a host does and its icon read back; and pystray's GTK
and AppIndicator backends, in trayer too."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from websockets.asyncio.client import connect

from officepulse import __version__
from officepulse.agent.tray import MENU, dashboard_url
from tests.support.agent_imports import imported
from tests.support.processes import stop, wait_until
from tests.support.servers import ServerProcess, start_server
from tests.support.tray_host import OWN_BACKENDS, SniHost, Tray, tray_agent, tray_host

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = pytest.mark.timeout(240)

ABOUT = next(label for label in MENU if label.startswith("About"))


def around_now() -> str:
    now = datetime.now(UTC)
    return urlencode(
        {
            "start": (now - timedelta(days=1)).isoformat(),
            "end": (now + timedelta(days=1)).isoformat(),
        }
    )


def current(server: ServerProcess) -> dict[str, Any] | None:
    for agent in server.get("/api/v1/agents")["agents"]:
        if agent["online"]:
            cur: dict[str, Any] | None = agent["current"]
            return cur
    return None


def bus_of(host: Tray | SniHost) -> str | None:
    """The session bus the agent must use: the StatusNotifierWatcher's."""
    return host.address if isinstance(host, SniHost) else None


async def office_card(server: ServerProcess, needle: str) -> str:
    """The office page's live card once it contains ``needle``."""
    async with connect(server.browser_url) as office:
        async with asyncio.timeout(30):
            while True:
                html = str(await office.recv())
                if needle in html:
                    return html


def stored_spans(server: ServerProcess) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = server.get(f"/api/v1/spans?{around_now()}")["spans"]
    return [s for s in spans if not s.get("in_progress")]


@pytest.mark.parametrize("backend", OWN_BACKENDS)
def test_pause_from_the_tray_shows_paused_and_counts_as_paused(
    xserver: XServer, server: ServerProcess, tmp_path: Path, backend: str
) -> None:
    editor = xserver.xterm("OpEditor", "main.py - officepulse")
    secret = xserver.xterm("OpSecret", "a private letter")
    xserver.activate(editor)
    # --name is also an option of GTK's: it must not reach GTK (the menu's window class).
    args = ("--source", "x11", "--poll-interval", "0.2", "--name", "Ada Lovelace")
    with (
        tray_host(xserver, tmp_path, backend) as tray,
        tray_agent(xserver, server, tmp_path, *args, backend=backend, bus=bus_of(tray)) as agent,
    ):
        tray.wait_for_state("connected")
        assert tray.title().startswith("officepulse: Connected to 127.0.0.1")
        wait_until(lambda: (c := current(server)) and c["app"] == "OpEditor", what="the editor")
        assert server.get("/api/v1/agents")["agents"][0]["name"] == "Ada Lovelace"

        tray.choose("Pause for 15 minutes")
        tray.wait_for_state("paused")
        tray.wait_for_title(r"officepulse: Paused until \d\d:\d\d$")
        cur = wait_until(lambda: (c := current(server)) and c["paused"] and c, what="paused")
        assert cur["app"] == "paused"
        assert cur["title"] == ""
        html = asyncio.run(office_card(server, "badge paused"))
        assert "OpEditor" not in html
        # Paused, nothing of the desktop is read: this comes to the front unseen (the spans
        # below go from the pause straight to it, at the resume).
        xserver.activate(secret)

        tray.choose("Resume")
        tray.wait_for_state("connected")
        wait_until(lambda: (c := current(server)) and c["app"] == "OpSecret", what="resumed")
        xserver.activate(editor)  # closes the span after the pause: stored
        wait_until(
            lambda: (c := current(server)) and c["app"] == "OpEditor", what="the editor again"
        )
        # Stored spans only: the activity in progress (live totals) is not one yet.
        spans = wait_until(
            lambda: len(s := stored_spans(server)) >= 3 and s,
            what="the spans before, during and after the pause stored",
        )
    out = agent.stop() if agent.proc.poll() is None else agent.proc.output()
    assert "Traceback" not in out

    before, paused, after = spans[:3]
    assert (before["app"], paused["app"], after["app"]) == ("OpEditor", "paused", "OpSecret")
    assert paused["paused"] is True
    assert "paused" not in before
    assert "paused" not in after
    # Back to back: the pause took the time between them, none of it offline.
    assert before["end"] == paused["start"]
    assert paused["end"] == after["start"]
    rows = {r["app"]: r for r in server.get(f"/api/v1/usage?{around_now()}&group_by=app")["rows"]}
    assert rows["paused"]["seconds"] == pytest.approx(paused["seconds"], abs=0.01)
    assert rows["paused"]["idle_seconds"] == 0


# The agent's own icons (XEmbed in trayer, a StatusNotifierItem in xfce4-panel), and
# pystray's Linux backends: GTK's status icon, and AppIndicator (which falls back to an
# XEmbed icon in trayer).
BACKENDS = ("xembed", "sni", "gtk", "appindicator")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_menu_pauses_opens_pages_and_quits(
    xserver: XServer, server: ServerProcess, tmp_path: Path, backend: str
) -> None:
    """Without a readable desktop (source none) the icon says so, and a pause is still sent;
    every other row of the menu does what it says. In every backend."""
    with (
        tray_host(xserver, tmp_path, backend) as tray,
        tray_agent(
            xserver, server, tmp_path, "--source", "none", backend=backend, bus=bus_of(tray),
            # Python's import log: the agent's own icons must not bring GTK in.
            PYTHONPROFILEIMPORTTIME="1" if backend in OWN_BACKENDS else None,
        ) as agent,
    ):  # fmt: skip
        agent.proc.wait_for_log(f"tray: {backend} backend")
        tray.wait_for_state("no-desktop")
        if isinstance(tray, SniHost):  # the panel drew the item's pixmap
            wait_until(lambda: tray.drawn_state() == "no-desktop", what="the icon in the panel")
        tray.wait_for_title("officepulse: Cannot read this desktop: the source is set to 'none'$")

        tray.choose("Pause until I resume")
        tray.wait_for_title("officepulse: Paused until resumed$")
        tray.wait_for_state("paused")
        wait_until(lambda: (c := current(server)) and c["paused"], what="paused on the server")
        tray.choose("Pause for 1 hour")
        tray.wait_for_title(r"officepulse: Paused until \d\d:\d\d$")
        # Clicking Resume while paused for an hour ends it; the row is greyed out after.
        tray.choose("Resume")
        tray.wait_for_state("no-desktop")
        wait_until(lambda: current(server) is None, what="no activity on the server after it")

        tray.left_click()
        if backend != "appindicator":  # the default row: the dashboard
            assert agent.wait_for_url(1) == dashboard_url(server.ws_url)
        else:  # AppIndicator has no default row: a left click opens the menu
            wait_until(tray.menu, what="the menu on a left click")
            xserver.xdotool("key", "Escape")
            wait_until(lambda: tray.menu() is None, what="the menu closed")
        tray.choose("Open the dashboard")
        dashboards = 1 if backend == "appindicator" else 2
        assert agent.wait_for_url(dashboards) == dashboard_url(server.ws_url)

        tray.choose("Settings…")
        settings = agent.wait_for_url(dashboards + 1)
        assert settings.startswith("http://127.0.0.1:")
        assert "?token=" in settings
        tray.choose(ABOUT)
        about = agent.wait_for_url(dashboards + 2)
        assert about.split("?")[0].endswith("/about")
        page = _open_once(about)
        assert f'<span id="version">{__version__}</span>' in page
        assert "the source is set to" in page  # the agent's state, in words
        with pytest.raises(urllib.error.HTTPError) as refused:
            _open_once(about)  # a link works once
        assert refused.value.code == 403
        refused.value.close()

        tray.choose("Quit")
        assert agent.proc.wait(30) == 0
    out = agent.proc.output()
    assert "tray: quit" in out
    assert "stopped (" in out
    assert "Traceback" not in out
    if backend in OWN_BACKENDS:
        loaded = imported(out)
        assert {"PIL", "jeepney"} <= loaded, "the import log was not read"
        assert not {"gi", "cairo", "keyring"} & loaded, "GTK or the keyring was imported"
    wait_until(lambda: not server.get("/api/v1/agents")["agents"][0]["online"], what="offline")


def _open_once(url: str) -> str:
    """GET a one-time link as a browser does: it sets a cookie and sends it back."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(url, timeout=30) as response:
        return str(response.read().decode())


@pytest.mark.parametrize("backend", OWN_BACKENDS)
def test_offline_then_catching_up_then_connected(
    xserver: XServer, tmp_path: Path, backend: str
) -> None:
    """A replayed day while the server is down: offline with the spans waiting; once it is
    back, catching up with them (slowly: --backfill-rate), then connected."""
    (tmp_path / "first").mkdir()
    first = start_server(tmp_path / "first")
    url, port = first.ws_url, first.url.rsplit(":", 1)[1]
    first.stop()  # the agent starts with nobody at that address
    timeline = tmp_path / "day.jsonl"
    lines = [
        json.dumps({"offset": i * 10, "app": f"App{i % 7}", "title": f"t{i}"}) for i in range(1500)
    ]
    timeline.write_text("\n".join([*lines, json.dumps({"offset": 15_000, "end": True})]) + "\n")
    start = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    args = ("--source", "scripted", "--timeline", str(timeline), "--speed", "0", "--start", start)
    args = (*args, "--backfill-rate", "100")
    with (
        tray_host(xserver, tmp_path, backend) as tray,
        tray_agent(xserver, url, tmp_path, *args, backend=backend, bus=bus_of(tray)) as agent,
    ):
        tray.wait_for_state("offline")
        tray.wait_for_title(r"officepulse: Offline since \d\d:\d\d · 1,500 spans waiting$")
        (tmp_path / "second").mkdir()
        server = start_server(tmp_path / "second", "--port", port)
        try:
            tray.wait_for_state("catching-up", timeout=60)
            assert tray.title().startswith("officepulse: Catching up: ")
            # The replay ended: once every span is stored the agent ends, and its tray.
            assert agent.proc.wait(120) == 0
            stored = server.get(f"/api/v1/usage?{around_now()}&group_by=app")["rows"]
            assert len(stored) == 7
        finally:
            stop(server.proc)
    assert "Traceback" not in agent.proc.output()
