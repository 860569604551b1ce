"""What a running agent loads: what it uses, and nothing else. Every package imported
stays in the agent's memory for its whole life (the footprint target is under 60 MB RSS,
docs/performance.md), so the heavy ones it has no use for must never be imported.

A real agent reads a real X desktop (Xvfb + openbox) and streams it to a real server, with
a session bus that has no Secret Service (none running, none to start: a bus without the
system's service files, where gnome-keyring's would make one), and Python's own import log
on (PYTHONPROFILEIMPORTTIME); the test reads that log."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.agent_imports import imported
from tests.support.processes import stop, wait_until
from tests.support.servers import ServerProcess, start_agent

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = pytest.mark.timeout(120)

# What each package would be for, and why this agent has no use for it.
NOT_FOR_THIS_AGENT = {
    "aiohttp": "the link is websockets' client; aiohttp serves the tray's pages only",
    "keyring": "no Secret Service on the session bus: the credential goes to a file",
    "secretstorage": "keyring's Secret Service backend",
    "cryptography": "secretstorage's session encryption",
    "gi": "GTK, for pystray's GTK backends",
    "PIL": "the tray's icons",
    "pystray": "the tray",
    "jinja2": "the settings page",
    "tomlkit": "the settings page's writer",
}
# Loaded for sure by this agent: if these are missing, the log was not read.
USED = ("websockets", "Xlib", "sqlite3", "msgspec", "jeepney")


# A session bus that starts no services: no <servicedir>, no <standard_session_servicedirs/>.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture
def bare_bus(tmp_path: Path) -> Iterator[str]:
    """A private session bus with no services to start; its address."""
    config = tmp_path / "bus.conf"
    config.write_text(BUS_CONFIG.format(path=tmp_path / "bus"))
    daemon = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert daemon.stdout is not None
    address = daemon.stdout.readline().strip()  # printed once it listens
    try:
        assert address.startswith("unix:path="), address
        yield address
    finally:
        stop(daemon)


def test_a_running_agent_loads_only_what_it_uses(
    xserver: XServer, server: ServerProcess, tmp_path: Path, bare_bus: str
) -> None:
    editor = xserver.xterm("LeanEditor", "main.py - officepulse")
    other = xserver.xterm("LeanOther", "notes.txt")
    xserver.activate(editor)
    agent = start_agent(
        server,
        tmp_path,
        *("--agent-id", "lean", "--source", "x11", "--poll-interval", "0.2"),
        DISPLAY=xserver.display,
        XDG_SESSION_TYPE="x11",
        WAYLAND_DISPLAY=None,
        DBUS_SESSION_BUS_ADDRESS=bare_bus,
        PYTHONPROFILEIMPORTTIME="1",
    )
    try:

        def front() -> object:
            for row in server.get("/api/v1/agents")["agents"]:
                if row["id"] == "lean" and row["online"] and row["current"]:
                    return row["current"]["app"]
            return None

        wait_until(lambda: front() == "LeanEditor", what="the editor on the server")
        xserver.activate(other)
        wait_until(lambda: front() == "LeanOther", what="the switch on the server")
        agent.wait_for_log("spans to send")  # connected: the link has run
    finally:
        out = stop(agent)
    loaded = imported(out)
    assert set(USED) <= loaded, f"the import log lacks {set(USED) - loaded}:\n{out[-2000:]}"
    unwanted = {name: why for name, why in NOT_FOR_THIS_AGENT.items() if name in loaded}
    assert not unwanted, f"the agent imported what it has no use for: {unwanted}"
    assert "Traceback" not in out
