"""The whole loop on a real desktop: a real `officepulse agent` reads a real X
server (Xvfb + openbox) where windows are switched with xdotool, and the real
server and its dashboard follow."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from websockets.asyncio.client import connect

from tests.support.processes import stop, wait_until
from tests.support.servers import ServerProcess, start_agent
from tests.support.usage_query import TODAY

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = pytest.mark.timeout(90)


def current(server: ServerProcess, agent_id: str) -> dict[str, object] | None:
    for agent in server.get("/api/v1/agents")["agents"]:
        if agent["id"] == agent_id and agent["online"]:
            cur: dict[str, object] | None = agent["current"]
            return cur
    return None


def test_switching_windows_shows_up_on_the_server(
    xserver: XServer, server: ServerProcess, tmp_path: Path
) -> None:
    editor = xserver.xterm("OpEditor", "main.py - officepulse")
    browser = xserver.xterm("OpBrowser", "YouTube - cat video")
    xserver.activate(editor)
    agent = start_agent(
        server,
        tmp_path,
        "--agent-id",
        "desk",
        "--source",
        "auto",
        "--poll-interval",
        "0.2",
        DISPLAY=xserver.display,
        XDG_SESSION_TYPE="x11",
        WAYLAND_DISPLAY=None,
    )
    try:
        seen = wait_until(
            lambda: (c := current(server, "desk")) and c["app"] == "OpEditor" and c,
            what="the editor on the server",
        )
        assert seen["title"] == "main.py - officepulse"
        assert seen["process"] == "xterm"
        assert seen["idle"] is False
        xserver.activate(browser)
        wait_until(
            lambda: (c := current(server, "desk")) and c["title"] == "YouTube - cat video",
            what="the switch to the browser",
        )
        xserver.set_title(browser, "YouTube - dog video")
        wait_until(
            lambda: (c := current(server, "desk")) and c["title"] == "YouTube - dog video",
            what="the title change",
        )
        wait_until(  # the switches closed the spans: stored before the agent stops
            lambda: len(server.get(f"/api/v1/usage?{TODAY}&group_by=app")["rows"]) == 2,
            what="both apps' spans stored",
        )
    finally:
        out = stop(agent)
    assert "reading the x11 desktop" in out
    assert "Traceback" not in out
    rows = server.get(f"/api/v1/usage?{TODAY}&group_by=app")["rows"]
    assert {r["app"] for r in rows} == {"OpEditor", "OpBrowser"}


def test_going_idle_is_dated_from_the_last_input(
    xserver: XServer, server: ServerProcess, tmp_path: Path
) -> None:
    term = xserver.xterm("OpIdle", "notes.txt")
    xserver.activate(term)
    agent = start_agent(
        server,
        tmp_path,
        "--agent-id",
        "dozer",
        "--source",
        "x11",
        "--poll-interval",
        "0.2",
        "--idle-threshold",
        "1.5",
        DISPLAY=xserver.display,
    )

    async def watch() -> str:
        async with connect(server.browser_url) as dashboard:
            async with asyncio.timeout(20):
                while True:
                    html = str(await dashboard.recv())
                    if 'id="agent-dozer"' in html and 'class="badge">idle' in html:
                        return html

    def at_the_desk() -> bool:
        # Input until the agent reports: it may take longer to start than the threshold.
        xserver.mousemove(5, 5)
        xserver.mousemove(6, 6)
        return bool((c := current(server, "dozer")) and c["idle"] is False)

    try:
        wait_until(at_the_desk, what="the agent's first report")
        before = datetime.now(UTC)
        xserver.mousemove(30, 40)  # the last input before the person walks away
        after = datetime.now(UTC)
        cur = wait_until(
            lambda: (c := current(server, "dozer")) and c["idle"] is True and c,
            what="the person counted as away",
        )
        # The idle stretch is dated from that last input, not from when the threshold
        # passed (X reports idle time in whole milliseconds: allow for rounding). The
        # agent reads its clock before it asks X for the idle time: on a loaded machine
        # the wait for X's answer dates it earlier by as much, never later.
        since = datetime.fromisoformat(str(cur["since"]))
        assert before - timedelta(seconds=1) <= since <= after + timedelta(milliseconds=50)
        html = asyncio.run(watch())  # and a dashboard shows the badge
        assert "OpIdle" in html
        xserver.mousemove(200, 200)
        wait_until(
            lambda: (c := current(server, "dozer")) and c["idle"] is False,
            what="back from idle",
        )
        wait_until(  # coming back closed the idle stretch: stored before the agent stops
            lambda: any(r["idle_seconds"] for r in server.get(f"/api/v1/usage?{TODAY}")["rows"]),
            what="the idle stretch stored",
        )
    finally:
        out = stop(agent)
    assert "Traceback" not in out
    rows = server.get(f"/api/v1/usage?{TODAY}&group_by=app")["rows"]
    (row,) = rows
    # So the 1.5 s before the threshold was reached count as idle, not as time in the app.
    assert row["app"] == "OpIdle"
    assert row["idle_seconds"] >= 1.5
