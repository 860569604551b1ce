"""Honest gaps end to end: a real agent reading a real X desktop (Xvfb + openbox) with a
privacy list, killed with SIGKILL and started again paused, talking to a real server; the
person's page and GET /api/v1/gaps then tell the stretch it was not running, the paused
and the private time, each with its reason; Chromium shows that page at 1400 and 400 px
(screenshots in /tmp/shots-gaps/). And an agent run from a changed copy of the code is
flagged as an unknown build."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, expect

from officepulse.builds import source_hash
from tests.support.browser import browser
from tests.support.privacy_checks import current, usage, write_config
from tests.support.processes import Process, clean_env, stop, wait_until
from tests.support.servers import ServerProcess, start_agent, start_server

if TYPE_CHECKING:
    from tests.support.xserver import XServer

__all__ = ["browser"]  # a fixture, used by name
pytestmark = pytest.mark.timeout(120)
SHOTS = Path("/tmp/shots-gaps")
ROOT = Path(__file__).parent.parent.parent


@pytest.fixture
def gap_server(tmp_path: Path) -> Iterator[ServerProcess]:
    # Every stretch of a second or more not running is marked (60 s by default).
    srv = start_server(tmp_path, "--gap-min-seconds", "1")
    yield srv
    srv.stop()


def gaps_of(server: ServerProcess, agent_id: str) -> list[dict[str, Any]]:
    query = urlencode(
        {"agent": agent_id, "date": datetime.now(UTC).date().isoformat(), "tz": "UTC"}
    )
    status, body = server.get_status(f"/api/v1/gaps?{query}")
    if status == 404:  # the agent has not said hello yet
        return []
    assert status == 200, body
    found: list[dict[str, Any]] = body["gaps"]
    return found


def ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def kinds(server: ServerProcess, agent_id: str) -> set[str]:
    return {g["kind"] for g in gaps_of(server, agent_id)}


def test_a_killed_agent_its_pause_and_private_time_are_told_on_the_persons_page(
    xserver: XServer, gap_server: ServerProcess, tmp_path: Path, browser: Browser
) -> None:
    server = gap_server
    env = {"DISPLAY": xserver.display, "XDG_SESSION_TYPE": "x11", "WAYLAND_DISPLAY": None}
    config_home = write_config(tmp_path, '[privacy]\nnever_capture = ["opvault*"]\n')
    editor = xserver.xterm("OpEditor", "main.py - officepulse")
    vault = xserver.xterm("OpVaultXC", "bank.kdbx")
    args = ("--agent-id", "ada", "--name", "Ada", "--source", "x11", "--poll-interval", "0.1")

    def agent() -> Process:
        return start_agent(server, tmp_path, *args, XDG_CONFIG_HOME=str(config_home), **env)

    xserver.activate(editor)
    first = agent()
    try:
        wait_until(lambda: (c := current(server, "ada")) and c["app"] == "OpEditor", what="editor")
        xserver.activate(vault)
        wait_until(lambda: (c := current(server, "ada")) and c["app"] == "private", what="private")
        private_since = time.monotonic()  # a second or two of it, for a readable page
        wait_until(lambda: time.monotonic() >= private_since + 1.5, what="a second and a half")
        xserver.activate(editor)
        wait_until(lambda: "private" in usage(server), what="the private span stored")
        first.send_signal(signal.SIGKILL)  # no goodbye, no last flush
        first.wait(10)
        killed_ms = round(time.time() * 1000)
    finally:
        stop(first)
    wait_until(lambda: current(server, "ada") is None, what="the killed agent shown offline")
    # Not running for a couple of seconds (more than --gap-min-seconds), for real.
    wait_until(lambda: time.time() * 1000 >= killed_ms + 2000, what="two seconds to pass")
    restarted_ms = round(time.time() * 1000)
    second = agent()
    try:
        wait_until(
            lambda: "not-running" in kinds(server, "ada"),
            what="the stretch not running marked",
            context=lambda: json.dumps(gaps_of(server, "ada"), indent=1),
        )
    finally:
        out = stop(second)  # a clean stop, this time
    assert "Traceback" not in out
    # Started again while paused for 10 s (as the tray's "pause" leaves it in the state
    # folder): the pause holds across the restart, and ends by itself.
    now_ms = round(time.time() * 1000)
    # (Long enough that an agent slow to start on a loaded machine still finds it on.)
    pause = {"since_ms": now_ms, "until_ms": now_ms + 10_000}
    (tmp_path / "agent-state" / "pause.json").write_text(json.dumps(pause))
    third = agent()
    try:
        wait_until(
            lambda: "paused" in usage(server),
            what="the paused span stored",
            timeout=60,
            context=third.tail,
        )
        wait_until(
            lambda: {"not-running", "paused", "private"} <= kinds(server, "ada"),
            what="the gaps of the day",
            context=lambda: json.dumps(gaps_of(server, "ada"), indent=1),
        )
        gaps = gaps_of(server, "ada")
        # The killed run's stretch first; on a loaded machine the clean stop and restart
        # below may take over --gap-min-seconds too, and is then rightly a second one.
        not_running = [g for g in gaps if g["kind"] == "not-running"]
        stopped = not_running[0]
        # From the last thing the killed run recorded (its connection's end, which the
        # server may notice a moment after the kill, or a span it closed before) to when
        # the restarted agent began.
        assert killed_ms - 10_000 <= ms(stopped["start"]) <= killed_ms + 5_000
        assert restarted_ms <= ms(stopped["end"]) <= round(time.time() * 1000)
        assert ms(stopped["end"]) - ms(stopped["start"]) >= 2000
        assert stopped["reason"].startswith("agent not running while the computer was on (")
        (paused,) = [g for g in gaps if g["kind"] == "paused"]
        assert paused["reason"].startswith("paused ")
        assert ms(paused["start"]) >= now_ms
        (private,) = [g for g in gaps if g["kind"] == "private"]
        assert private["reason"].endswith(" kept by their own lists")
        assert "bank.kdbx" not in json.dumps(gaps)
        assert "OpVault" not in json.dumps(gaps)
        assert "unknown-build" not in kinds(server, "ada")  # the server's own build

        SHOTS.mkdir(exist_ok=True)
        page = browser.new_page()
        try:
            query = urlencode({"tz": "UTC"})
            for width in (1400, 400):
                page.set_viewport_size({"width": width, "height": 1100})
                page.goto(f"{server.url}/people/ada?{query}")
                listed = page.locator(".gaps li")
                expect(
                    listed.filter(has_text="agent not running while the computer")
                ).to_have_count(len(not_running))
                expect(listed.filter(has_text="paused")).to_have_count(1)
                expect(listed.filter(has_text="kept by their own lists")).to_have_count(1)
                page.locator(".gaps").scroll_into_view_if_needed()
                page.screenshot(path=str(SHOTS / f"person-{width}.png"), full_page=True)
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width, f"the page is {wide} px wide in a {width} px window"
        finally:
            page.close()
    finally:
        out = stop(third)
    assert "Traceback" not in out


def test_an_agent_of_changed_code_is_flagged_as_an_unknown_build(
    gap_server: ServerProcess, tmp_path: Path
) -> None:
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "officepulse",
        copy / "officepulse",
        ignore=shutil.ignore_patterns("__pycache__", "node_modules"),
    )
    with (copy / "officepulse" / "agent" / "main.py").open("a") as changed:
        changed.write("\n# changed by someone\n")
    changed_hash = source_hash(copy / "officepulse")
    agent = Process(
        [
            sys.executable,
            "-m",
            "officepulse",
            "--env-file",
            "/dev/null",
            "agent",
            "--server-url",
            gap_server.ws_url,
            "--state-dir",
            str(tmp_path / "agent-state"),
            "--agent-id",
            "eve",
            "--source",
            "none",
        ],
        name="the changed agent",
        env=clean_env(PYTHONPATH=str(copy)),
        cwd=tmp_path,
    )
    try:
        flagged = wait_until(
            lambda: [g for g in gaps_of(gap_server, "eve") if g["kind"] == "unknown-build"],
            what="the unknown build flagged",
        )
    finally:
        stop(agent)
    (flag,) = flagged
    assert flag["reason"] == (
        f"unknown build {changed_hash[:12]} (agent 0.1.0): not a build this server knows"
    )
