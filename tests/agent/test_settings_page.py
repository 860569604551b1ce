"""The agent's settings page for real: `officepulse agent settings` (and the tray's agent)
serving it, Chromium (Playwright) using it against a real X desktop, and a plain HTTP
client trying what it must refuse."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import psutil
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.processes import OFFICEPULSE, WAIT, Process, clean_env, stop, wait_until
from tests.support.servers import ServerProcess
from tests.support.tray_host import Tray, require_tray_tools, tray_agent

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = pytest.mark.timeout(180)

COMMENTED = """\
# My agent. These notes stay.
[privacy]
never_introspect = ["firefox"]  # only its name
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "the settings page is tested in the system's chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        expect.set_options(timeout=WAIT * 1000)
        yield b
        b.close()


def settings_command(tmp: Path, *flags: str, **env: str | None) -> tuple[Process, str]:
    """`officepulse agent [flags] settings --no-browser`, and the link it printed."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    proc = Process(
        [OFFICEPULSE, "--env-file", "/dev/null", "agent", *flags, "settings", "--no-browser"],
        name="the settings command",
        env=clean_env(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), **env),
    )
    line = proc.wait_for_log("the settings page: ")
    return proc, line.split("the settings page: ", 1)[1].strip()


def config_file(tmp: Path) -> Path:
    return tmp / "home" / ".config" / "officepulse" / "agent.toml"


def test_the_page_shows_what_would_be_sent_and_saves_keeping_comments(
    xserver: XServer, browser: Browser, tmp_path: Path
) -> None:
    letter = xserver.xterm("OpLetters", "Dear Bob - a letter about project Falcon")
    xserver.activate(letter)
    config = config_file(tmp_path)
    config.parent.mkdir(parents=True)
    config.write_text(COMMENTED)
    flags = ("--source", "x11", "--state-dir", str(tmp_path / "state"))
    proc, link = settings_command(tmp_path, *flags, DISPLAY=xserver.display)
    page = browser.new_page()
    try:
        page.goto(link)
        assert "?token=" not in page.url  # the token left the address bar
        preview = page.locator("#would-send")
        # The probe's answer for the lists as they are: the letter's app and title.
        expect(preview).to_contain_text('"app":"OpLetters"')
        expect(preview).to_contain_text("project Falcon")
        page.fill("#redact", "(?i)project \\w+")
        expect(preview).to_contain_text('"title":"Dear Bob - a letter about …"')
        page.fill("#never_capture", "OpLetters")
        expect(preview).to_have_text('{"app":"private","private":true}')
        page.fill("#never_capture", "oplet* = nothing")
        expect(preview).to_have_text("nothing: this time is not sent at all")
        page.fill("#redact", "(unclosed")
        expect(page.locator('[data-error-for="redact"]')).to_contain_text(
            "not a regular expression"
        )
        expect(preview).to_contain_text("fix the fields marked above")
        page.fill("#redact", "(?i)project \\w+")
        page.fill("#name", "Ada")
        page.fill("#idle_threshold", "240")
        expect(preview).to_have_text("nothing: this time is not sent at all")
        page.click("#save")
        expect(page.locator("#saved")).to_have_text(f"Saved to {config}.")
    finally:
        page.close()
    assert proc.wait(WAIT) == 0  # the command ends once the settings are saved
    text = config.read_text()
    assert text.startswith(COMMENTED.split("\n[privacy]")[0])
    assert 'never_introspect = ["firefox"]  # only its name' in text
    assert 'name = "Ada"' in text
    # The agent reads what the page wrote: its probe says what the preview said.
    probe = subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", "agent", *flags, "probe"],
        env=clean_env(
            DISPLAY=xserver.display,
            HOME=str(tmp_path / "home"),
            XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "would send  nothing: this time is not sent at all" in probe
    assert "threshold 240 s" in probe


def _request(
    link: str,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str = "",
) -> tuple[int, dict[str, str], str]:
    parts = urlsplit(link)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=WAIT)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def _outside_address() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return str(address.address)
    return None


def test_only_this_computer_with_a_link_used_once_may_use_the_page(tmp_path: Path) -> None:
    proc, link = settings_command(tmp_path, "--source", "none")
    try:
        parts = urlsplit(link)
        here = f"{parts.hostname}:{parts.port}"
        token = parts.query
        # No session, a wrong token: refused.
        status, headers, _ = _request(link, "/")
        assert status == 403
        assert headers["X-Frame-Options"] == "DENY"
        assert _request(link, "/?token=not-the-one")[0] == 403
        assert _request(link, "/about")[0] == 403
        status, headers, _ = _request(link, f"/?{token}")
        assert status == 303
        assert headers["Location"] == "/"
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        session = cookie.split(";", 1)[0]
        assert _request(link, f"/?{token}")[0] == 403  # once only
        status, headers, page = _request(link, "/", headers={"Cookie": session})
        assert status == 200
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert 'id="server_url"' in page
        # A web page that rebinds its own name to 127.0.0.1 names itself in Host.
        rebound = {"Cookie": session, "Host": f"evil.example:{parts.port}"}
        assert _request(link, "/", headers=rebound)[0] == 403
        # A change must come from the page itself.
        form = urlencode({"name": "Mallory"})
        post = {"Cookie": session, "Content-Type": "application/x-www-form-urlencoded"}
        assert _request(link, "/save", method="POST", headers=post, body=form)[0] == 403
        evil = post | {"Origin": "http://evil.example"}
        assert _request(link, "/save", method="POST", headers=evil, body=form)[0] == 403
        assert not config_file(tmp_path).exists()
        own = post | {"Origin": f"http://{here}", "Accept": "application/json"}
        status, _, answer = _request(link, "/preview", method="POST", headers=own, body=form)
        assert status == 200
        assert json.loads(answer)["would_send"] == "no activity (online only)"
        # And from another address of this computer, nobody answers at all.
        outside = _outside_address()
        assert outside is not None, "this test needs a network address besides loopback"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((outside, parts.port), timeout=5).close()
        status, _, answer = _request(link, "/save", method="POST", headers=own, body=form)
        assert (status, json.loads(answer)["errors"]) == (200, {})
        assert proc.wait(WAIT) == 0
        assert 'name = "Mallory"' in config_file(tmp_path).read_text()
    finally:
        stop(proc)


def test_the_trays_settings_page_fixes_an_agent_that_could_not_start(
    xserver: XServer, server: ServerProcess, browser: Browser, tmp_path: Path
) -> None:
    """The file names a server the agent refuses (plain ws:// to another computer): the
    tray says it is not running, and why; saving the right address on the page starts it
    with everything saved there."""
    require_tray_tools()
    config = config_file(tmp_path)
    config.parent.mkdir(parents=True)
    config.write_text('# mine\n[agent]\nserver_url = "ws://office.example.com/agent"\n')
    tray = Tray(xserver)
    term = xserver.xterm("OpNotes", "notes.txt")
    xserver.activate(term)
    try:
        with tray_agent(xserver, None, tmp_path, "--source", "x11") as agent:
            tray.wait_for_state("offline")
            tray.wait_for_title("officepulse: Not running: server_url 'ws://office.example.com/")
            tray.choose("Settings…")
            link = agent.wait_for_url(1)
            page = browser.new_page()
            try:
                page.goto(link)
                expect(page.locator("#would-send")).to_contain_text('"app":"OpNotes"')
                expect(page.locator("#server_url")).to_have_value("ws://office.example.com/agent")
                page.fill("#server_url", server.url)  # the web address will do
                page.fill("#name", "Grace")
                page.fill("#never_capture", "OpNotes")
                page.click("#save")
                expect(page.locator("#saved")).to_contain_text("Saved to ")
            finally:
                page.close()
            agent.proc.wait_for_log("starting again with the settings as saved")
            tray.wait_for_state("connected")

            def grace() -> dict[str, Any] | None:
                for a in server.get("/api/v1/agents")["agents"]:
                    if a["online"] and a["name"] == "Grace":
                        return dict(a)
                return None

            wait_until(
                lambda: (g := grace()) and g["current"] and g["current"]["app"] == "private",
                what="the agent connected as saved, its new privacy list in force",
                context=agent.proc.tail,
            )
    finally:
        tray.close()
    assert config.read_text().startswith("# mine\n[agent]\n")
    assert "Traceback" not in agent.proc.output()
