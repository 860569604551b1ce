"""The macOS plugins (browser tabs, Spotify and Music) through the real ``OsascriptRunner``,
with ``osascript`` replaced by a stand-in program that replays what osascript printed
(tests/data/recorded/introspect/applescript.json; the errors are recorded on real Macs,
the answers of our own scripts are constructed from real values: see its README).

osascript cannot run here; the stand-in is a real executable, so the runner's process
handling (arguments, exit codes, stderr, the time limit) is what runs.
"""

from __future__ import annotations

import json
import logging
import re
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from officepulse.agent.introspect import AppleScriptError, Details, Introspector, OsascriptRunner
from officepulse.agent.introspect.applescript import NOT_AUTHORIZED, parse_error
from officepulse.agent.introspect.browsers import (
    CHROMIUM_SCRIPT,
    SAFARI_SCRIPT,
    AppleScriptBrowser,
    browser_script,
)
from officepulse.agent.introspect.media import MAC_SCRIPT, MacPlayers, MediaPlugin
from officepulse.agent.sources.base import WindowSample
from officepulse.protocol.messages import Activity, Media
from tests.support import paths
from tests.support.processes import WAIT

RECORDED = paths.DATA / "recorded" / "introspect" / "applescript.json"
RECORDS: dict[str, dict[str, Any]] = {
    r["id"]: r for r in json.loads(RECORDED.read_text(encoding="utf-8"))
}

# Replays the record chosen for the app the script talks to; logs its arguments.
STAND_IN = """\
import json, re, sys, time
answers = json.load(open({answers!r}, encoding="utf-8"))
with open({calls!r}, "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
app = re.search(r'tell application "([^"]+)"', sys.argv[2])[1]
answer = answers[app]
time.sleep(answer.get("sleep", 0))
sys.stdout.write(answer["stdout"])
sys.stderr.write(answer["stderr"])
sys.exit(answer["returncode"])
"""


class FakeOsascript:
    """An executable that answers like osascript did, per app."""

    def __init__(self, tmp: Path) -> None:
        self.answers = tmp / "answers.json"
        self.calls = tmp / "calls.jsonl"
        self.path = tmp / "osascript"
        self.path.write_text(
            f"#!{sys.executable}\n"
            + STAND_IN.format(answers=str(self.answers), calls=str(self.calls)),
            encoding="utf-8",
        )
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)
        self.replay()

    def replay(self, *ids: str, **extra: Any) -> None:
        answers = {RECORDS[i]["app"]: {**RECORDS[i], **extra} for i in ids}
        self.answers.write_text(json.dumps(answers), encoding="utf-8")

    def argv(self) -> list[list[str]]:
        if not self.calls.exists():
            return []
        return [json.loads(line) for line in self.calls.read_text(encoding="utf-8").splitlines()]

    def runner(self, timeout: float = WAIT) -> OsascriptRunner:  # a python script, here
        return OsascriptRunner(timeout=timeout, osascript=str(self.path))


@pytest.fixture
def osascript(tmp_path: Path) -> FakeOsascript:
    return FakeOsascript(tmp_path)


def window(app: str, title: str = "whatever the window says") -> WindowSample:
    return WindowSample(app=app, title=title, process=app, pid=4242)


# -- the runner ------------------------------------------------------------------------------


def test_runner_calls_osascript_e_with_the_script(osascript: FakeOsascript) -> None:
    osascript.replay("chrome-normal")
    script = browser_script("Google Chrome")
    assert script is not None
    out = osascript.runner()(script)
    assert osascript.argv() == [["-e", script]]
    assert out.splitlines()[0] == "normal"


def test_runner_time_limit(osascript: FakeOsascript) -> None:
    osascript.replay("chrome-normal", sleep=60)
    started = time.monotonic()
    with pytest.raises(AppleScriptError, match=r"longer than 0\.5 s"):
        osascript.runner(timeout=0.5)(browser_script("Google Chrome") or "")
    assert time.monotonic() - started < WAIT  # not the 60 s the script would take


def test_runner_without_osascript(tmp_path: Path) -> None:
    with pytest.raises(AppleScriptError, match="not installed"):
        OsascriptRunner(osascript=str(tmp_path / "nowhere"))("return 1")


@pytest.mark.parametrize("record_id", ["chrome-not-authorized", "chrome-no-window"])
def test_recorded_errors_are_parsed(osascript: FakeOsascript, record_id: str) -> None:
    record = RECORDS[record_id]
    osascript.replay(record_id)
    with pytest.raises(AppleScriptError) as caught:
        osascript.runner()(browser_script("Google Chrome") or "")
    expected = parse_error(record["stderr"])
    assert caught.value.number == expected.number
    assert str(caught.value) == str(expected)
    if record_id == "chrome-not-authorized":
        assert caught.value.number == NOT_AUTHORIZED
        assert str(caught.value).startswith("Not authorized to send Apple events to Google Chrome.")
        assert "Privacy & Security → Automation" in str(caught.value)
    else:
        assert caught.value.number == -1719


def test_scripts_only_read() -> None:
    """Never activates an app, types, clicks or touches the clipboard."""
    scripts = [CHROMIUM_SCRIPT, SAFARI_SCRIPT, MAC_SCRIPT]
    for script in scripts:
        for word in ("activate", "keystroke", "key code", "clipboard", "System Events", "click"):
            assert word not in script


# -- browsers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record_id", "app"),
    [
        ("chrome-normal", "Google Chrome"),
        ("chrome-incognito", "Google Chrome"),
        ("chrome-no-window-empty", "Brave Browser"),
        ("safari", "Safari"),
        ("chrome-no-window", "Google Chrome"),
    ],
)
def test_browser_tabs(osascript: FakeOsascript, record_id: str, app: str) -> None:
    osascript.replay(record_id)
    details = AppleScriptBrowser(osascript.runner()).describe(window(app))
    expected = RECORDS[record_id]["expect"]["details"]
    assert details == Details(**expected)
    [(flag, script)] = osascript.argv()
    assert flag == "-e"
    assert f'tell application "{app}"' in script


def test_incognito_tab_sends_no_title_or_url(osascript: FakeOsascript) -> None:
    osascript.replay("chrome-incognito")
    with Introspector("darwin", runner=osascript.runner(), disabled={"media"}) as intro:
        activity = Activity(app="Google Chrome", title="Privacy - Wikipedia")
        sent = intro(window("Google Chrome", "Privacy - Wikipedia"), activity)
    assert sent.title == ""
    assert sent.url is None
    assert "Wikipedia" not in json.dumps(str(sent))


def test_firefox_on_macos_falls_back_to_its_title(osascript: FakeOsascript) -> None:
    details = AppleScriptBrowser(osascript.runner()).describe(
        window("Firefox", "VDR Portal — Mozilla Firefox")
    )
    assert details == Details(title="VDR Portal")
    assert osascript.argv() == []  # Firefox has no AppleScript for tabs: not asked


def test_not_authorized_is_logged_once_and_retried_later(
    osascript: FakeOsascript, caplog: pytest.LogCaptureFixture
) -> None:
    osascript.replay("chrome-not-authorized")
    now = [100.0]
    intro = Introspector(
        "darwin",
        runner=osascript.runner(),
        disabled={"media"},
        retry_after=30,
        clock=lambda: now[0],
    )
    sample = window("Google Chrome", "Docs - Google Chrome")
    with caplog.at_level(logging.INFO, logger="officepulse.agent.introspect"):
        for _ in range(3):
            assert intro.describe(sample) == Details()
            now[0] += 1
        assert len(osascript.argv()) == 1  # not asked again before retry_after
        now[0] += 30
        assert intro.describe(sample) == Details()
        assert len(osascript.argv()) == 2
        osascript.replay("chrome-normal")  # the person allowed it
        now[0] += 30
        assert intro.describe(sample).url is not None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Not authorized to send Apple events to Google Chrome" in warnings[0].getMessage()
    assert not warnings[0].exc_info  # an expected failure: no traceback
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_explain_shows_the_failure(osascript: FakeOsascript) -> None:
    osascript.replay("chrome-not-authorized")
    intro = Introspector("darwin", runner=osascript.runner(), disabled={"media"})
    rows = dict(intro.explain(window("Google Chrome")))
    assert rows["browser"].startswith("cannot look: Not authorized")
    assert rows["media"] == "turned off"
    assert any("Safari" in note for _, note in intro.explain(window("Safari")) if _ == "note")


# -- media -----------------------------------------------------------------------------------


def test_players_that_do_not_run_are_not_asked(osascript: FakeOsascript) -> None:
    osascript.replay("spotify-paused", "music-playing")
    assert MacPlayers(osascript.runner(), running=set)() == []
    assert osascript.argv() == []  # a "tell" would have started them


def test_spotify_paused(osascript: FakeOsascript) -> None:
    osascript.replay("spotify-paused")
    players = MacPlayers(osascript.runner(), running=lambda: {"Spotify", "Finder"})()
    assert [p.media() for p in players] == [Media(**RECORDS["spotify-paused"]["expect"]["media"])]
    [(_, script)] = osascript.argv()
    assert 'tell application "Spotify"' in script
    assert "player state" in script


def test_playing_beats_paused_on_macos(osascript: FakeOsascript) -> None:
    osascript.replay("spotify-paused", "music-playing")
    players = MacPlayers(osascript.runner(), running=lambda: {"Spotify", "Music"})
    media = MediaPlugin(players, interval=0)
    details = media.describe(window("Finder"))
    assert details.media == Media(**RECORDS["music-playing"]["expect"]["media"])
    # Spotify first only among equals: both asked, the playing one wins.
    assert [re.search(r'application "(\w+)"', a[1])[1] for a in osascript.argv()] == [  # type: ignore[index]
        "Spotify",
        "Music",
    ]


def test_media_is_read_once_per_interval(osascript: FakeOsascript) -> None:
    osascript.replay("spotify-paused")
    now = [0.0]
    players = MacPlayers(osascript.runner(), running=lambda: {"Spotify"})
    media = MediaPlugin(players, interval=5, clock=lambda: now[0])
    for step in range(10):
        now[0] = step
        assert media.describe(window("Finder")).media is not None
    assert len(osascript.argv()) == 2  # at 0 s and 5 s
