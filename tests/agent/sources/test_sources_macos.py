"""MacDesktop's logic with a ``MacApi`` that replays values instead of calling macOS (pyobjc
cannot run here). The session dictionaries are recorded from real Macs, the AX error codes
are AXError.h's, and the iTerm naming is a real observation (tests/data/recorded/sources/macos,
README); pids, paths and idle seconds are chosen and say so. ``PyObjCMac``, the real adapter,
is only shown to refuse to start off macOS."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from officepulse.agent.sources.base import SourceUnavailable, WindowSample
from officepulse.agent.sources.macos import (
    AX_API_DISABLED,
    AX_CANNOT_COMPLETE,
    AX_NO_VALUE,
    AX_SUCCESS,
    MacApp,
    MacDesktop,
    MacWindow,
    PyObjCMac,
    session_away,
)
from tests.support.source_fakes import recorded

pytestmark = pytest.mark.timeout(30)


def _log_dictionary(text: str) -> dict[str, Any]:
    """``[date][ScreenLockObserver:DEBUG] key: value`` lines as a dictionary."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        key, _, value = line.split("] ", 2)[-1].partition(": ")
        out[key] = int(value) if value.isdigit() else value
    return out


def _ioreg_dictionary(text: str) -> dict[str, Any]:
    """One IOConsoleUsers entry of ``ioreg -l`` output as a dictionary."""
    body = text.split("({", 1)[1].rsplit("})", 1)[0]
    out: dict[str, Any] = {}
    for key, value in re.findall(r'"([^"]+)"=("[^"]*"|[^,]+)', body):
        if value in ("Yes", "No"):
            out[key] = value == "Yes"
        elif value.startswith('"'):
            out[key] = value.strip('"')
        else:
            out[key] = int(value)
    return out


LOCKED = _log_dictionary(recorded("macos/cgsession-locked-ulalaca.txt").decode())
UNLOCKED = _ioreg_dictionary(recorded("macos/ioconsoleusers-unlocked-merikan.txt").decode())

ITERM_PID = 812  # chosen
ITERM = MacApp(
    "iTerm2", ITERM_PID, "com.googlecode.iterm2", "/Applications/iTerm.app/Contents/MacOS/iTerm2"
)
MENU_BAR = MacWindow(owner_pid=99, owner_name="SystemUIServer", layer=25)  # chosen layer
ITERM_WINDOW = MacWindow(owner_pid=ITERM_PID, owner_name="iTerm", layer=0)


@dataclass
class ReplayMac:
    trusted: bool = True
    focused: tuple[int, int | None] = (AX_SUCCESS, ITERM_PID)
    windows: list[MacWindow] = field(default_factory=lambda: [MENU_BAR, ITERM_WINDOW])
    apps: dict[int, MacApp] = field(default_factory=lambda: {ITERM_PID: ITERM})
    title: tuple[int, str | None] = (AX_SUCCESS, "vim main.py")
    idle: float = 0.0
    dictionary: Mapping[str, Any] | None = field(default_factory=lambda: dict(UNLOCKED))
    asked_titles: list[int] = field(default_factory=list)

    def accessibility_trusted(self) -> bool:
        return self.trusted

    def focused_app_pid(self) -> tuple[int, int | None]:
        return self.focused

    def on_screen_windows(self) -> list[MacWindow]:
        return list(self.windows)

    def app(self, pid: int) -> MacApp | None:
        return self.apps.get(pid)

    def focused_window_title(self, pid: int) -> tuple[int, str | None]:
        self.asked_titles.append(pid)
        return self.title

    def seconds_since_input(self) -> float:
        return self.idle

    def session(self) -> Mapping[str, Any] | None:
        return self.dictionary


def test_the_recordings_parse() -> None:
    assert LOCKED["CGSSessionScreenIsLocked"] == 1
    assert LOCKED["kCGSSessionOnConsoleKey"] == 1
    assert UNLOCKED["kCGSSessionOnConsoleKey"] is True
    assert "CGSSessionScreenIsLocked" not in UNLOCKED


def test_front_app_and_title_with_accessibility() -> None:
    """The app name is NSRunningApplication's (iTerm2), not the window owner's (iTerm)."""
    api = ReplayMac()
    desktop = MacDesktop(api, program="/usr/local/bin/python3")
    assert desktop.notes == ()
    assert desktop.active_window() == WindowSample(
        app="iTerm2", title="vim main.py", process="iTerm2", pid=ITERM_PID
    )


def test_without_accessibility_the_title_is_empty_and_a_note_says_how() -> None:
    """Untrusted: no AX at all; the front app comes from the window list's first normal
    window (the menu bar's layer-25 window is skipped)."""
    api = ReplayMac(trusted=False, focused=(AX_API_DISABLED, None))
    desktop = MacDesktop(api, program="/Applications/Utilities/Terminal.app")
    (note,) = desktop.notes
    assert "Accessibility" in note
    assert "System Settings → Privacy & Security → Accessibility" in note
    assert "/Applications/Utilities/Terminal.app" in note
    sample = desktop.active_window()
    assert sample == WindowSample(app="iTerm2", title="", process="iTerm2", pid=ITERM_PID)
    assert api.asked_titles == []


@pytest.mark.parametrize("error", [AX_NO_VALUE, AX_CANNOT_COMPLETE, AX_API_DISABLED])
def test_ax_errors_give_an_empty_title(error: int) -> None:
    api = ReplayMac(title=(error, None))
    sample = MacDesktop(api).active_window()
    assert sample is not None
    assert (sample.app, sample.title) == ("iTerm2", "")


def test_an_app_that_is_gone_keeps_the_owner_name() -> None:
    api = ReplayMac(apps={})
    sample = MacDesktop(api).active_window()
    assert sample == WindowSample(app="iTerm", title="vim main.py", process=None, pid=ITERM_PID)


def test_nothing_in_front() -> None:
    api = ReplayMac(trusted=False, windows=[MENU_BAR], focused=(AX_API_DISABLED, None))
    assert MacDesktop(api).active_window() is None


def test_locked_from_the_session_dictionary() -> None:
    api = ReplayMac()
    desktop = MacDesktop(api)
    assert desktop.locked() is False
    api.dictionary = LOCKED
    assert desktop.locked() is True
    # Constructed from the unlocked recording: another user switched in (not on console).
    api.dictionary = {**UNLOCKED, "kCGSSessionOnConsoleKey": False}
    assert desktop.locked() is True
    assert session_away(None) is False


def test_idle_seconds() -> None:
    api = ReplayMac(idle=12.75)
    assert MacDesktop(api).idle_seconds() == 12.75


@pytest.mark.skipif(sys.platform == "darwin", reason="this checks the refusal off macOS")
def test_the_real_adapter_refuses_off_macos() -> None:
    with pytest.raises(SourceUnavailable, match="only on macOS"):
        PyObjCMac()
    with pytest.raises(SourceUnavailable, match="only on macOS"):
        MacDesktop()
