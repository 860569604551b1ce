"""WindowsDesktop's logic with a ``Win32Api`` that replays values instead of calling Windows
(ctypes.windll does not exist here). The lock screen's title and executable are recorded from
real Windows 10 machines (tests/data/recorded/sources/windows, README); the other windows,
pids and tick counts are chosen and say so. ``CtypesWin32``, the real adapter, is only shown
to refuse to start off Windows."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from officepulse.agent.sources.base import SourceUnavailable, WindowSample
from officepulse.agent.sources.windows import (
    CtypesWin32,
    WindowsDesktop,
    elapsed_ms,
    pick_description,
)
from tests.support.source_fakes import recorded_json

pytestmark = pytest.mark.timeout(30)

LOCK = recorded_json("windows/lock-screen.json")
CHROME_VERSION = recorded_json("windows/version-info-chrome.json")

# Chosen: a Firefox window, and a UWP app (Calculator) inside ApplicationFrameHost.
FIREFOX = (
    0x2051C,
    7216,
    r"C:\Program Files\Mozilla Firefox\firefox.exe",
    "GitHub — Mozilla Firefox",
)
LOCKAPP = (0x101F2, 6964, LOCK["foreground_image"], LOCK["foreground_title"])
FRAME = (0x30A2C, 4120, r"C:\Windows\System32\ApplicationFrameHost.exe", "Calculator")
CALC_PID = 9044
CALC_IMAGE = (
    r"C:\Program Files\WindowsApps\Microsoft.WindowsCalculator_11.2307.4.0_x64__8wekyb3d8bbwe"
    r"\CalculatorApp.exe"
)


@dataclass
class ReplayWin32:
    front: tuple[int, int, str | None, str] | None = FIREFOX
    children: list[int] = field(default_factory=list)
    images: dict[int, str | None] = field(default_factory=dict)
    input_desktop: bool = True
    running: set[str] = field(default_factory=set)
    idle_ms: int = 0
    resources: dict[str, Any] = field(default_factory=dict)  # version resources by image
    version_reads: int = 0

    def foreground_window(self) -> int:
        return self.front[0] if self.front else 0

    def window_title(self, hwnd: int) -> str:
        assert self.front is not None
        assert hwnd == self.front[0]
        return self.front[3]

    def window_pid(self, hwnd: int) -> int:
        assert self.front is not None
        return self.front[1]

    def child_window_pids(self, hwnd: int) -> list[int]:
        return list(self.children)

    def process_image(self, pid: int) -> str | None:
        if self.front is not None and pid == self.front[1]:
            return self.front[2]
        return self.images.get(pid)

    def input_desktop_open(self) -> bool:
        return self.input_desktop

    def idle_milliseconds(self) -> int:
        return self.idle_ms

    def process_running(self, image_name: str) -> bool:
        return image_name in self.running

    def file_description(self, image: str) -> str | None:
        """What CtypesWin32 reads, with VerQueryValueW answering from ``resources``."""
        resource = self.resources.get(image)
        if resource is None:
            return None
        table = {
            f"\\StringFileInfo\\{lang:04x}{page:04x}\\{key}": text
            for lang, page in resource["translations"]
            for key, text in resource["strings"].items()
        }
        self.version_reads += 1
        return pick_description([tuple(t) for t in resource["translations"]], table.get)


def test_the_foreground_window() -> None:
    desktop = WindowsDesktop(ReplayWin32())
    assert desktop.active_window() == WindowSample(
        app="firefox", title="GitHub — Mozilla Firefox", process="firefox.exe", pid=7216
    )
    assert desktop.locked() is False


def test_a_uwp_app_is_named_by_its_own_process() -> None:
    api = ReplayWin32(front=FRAME, children=[FRAME[1], CALC_PID], images={CALC_PID: CALC_IMAGE})
    sample = WindowsDesktop(api).active_window()
    assert sample == WindowSample(
        app="CalculatorApp", title="Calculator", process="CalculatorApp.exe", pid=CALC_PID
    )


def test_the_lock_screen_is_away_and_keeps_the_last_window() -> None:
    """Recorded: LockApp.exe in front with the title "Windows Default Lock Screen"."""
    api = ReplayWin32()
    desktop = WindowsDesktop(api)
    before = desktop.active_window()
    api.front = LOCKAPP
    assert desktop.locked() is True
    assert desktop.active_window() == before  # the away time stays with Firefox
    # Locked from the start: nothing seen before, so no window.
    assert WindowsDesktop(ReplayWin32(front=LOCKAPP)).active_window() is None


def test_the_secure_desktop_while_locked() -> None:
    """Ctrl+Alt+Del or the sign-in on Winlogon's desktop: no foreground window, no input
    desktop to open, and no consent.exe."""
    api = ReplayWin32(front=None, input_desktop=False)
    desktop = WindowsDesktop(api)
    assert desktop.active_window() is None
    assert desktop.locked() is True


def test_a_uac_prompt_is_not_away() -> None:
    """consent.exe on the secure desktop: the person is there, answering it. No window is
    reported (the span in progress goes on) and it does not count as locked."""
    api = ReplayWin32(front=None, input_desktop=False, running={"consent.exe"})
    desktop = WindowsDesktop(api)
    assert desktop.active_window() is None
    assert desktop.locked() is False


def test_an_elevated_or_protected_process() -> None:
    """QueryFullProcessImageNameW can fail (a protected process): no process name."""
    api = ReplayWin32(front=(0x404, 4, None, "System"))
    sample = WindowsDesktop(api).active_window()
    assert sample == WindowSample(app="", title="System", process=None, pid=4)


def test_idle_time() -> None:
    api = ReplayWin32(idle_ms=185_300)
    assert WindowsDesktop(api).idle_seconds() == 185.3


def test_idle_arithmetic_survives_the_32_bit_wrap() -> None:
    """Chosen tick counts: dwTime is 32-bit, GetTickCount64 is not."""
    assert elapsed_ms(5_000_000, 4_999_000) == 1_000
    day_50 = 50 * 86_400_000  # past 2**32 ms
    assert elapsed_ms(day_50, (day_50 - 2_500) & 0xFFFFFFFF) == 2_500
    assert elapsed_ms(2**32 + 100, 2**32 - 200) == 300


@pytest.mark.skipif(sys.platform == "win32", reason="this checks the refusal off Windows")
def test_the_real_adapter_refuses_off_windows() -> None:
    with pytest.raises(SourceUnavailable, match="only on Windows"):
        CtypesWin32()
    with pytest.raises(SourceUnavailable, match="only on Windows"):
        WindowsDesktop()


CHROME = (0x4031A, 5120, r"C:\Program Files\Google\Chrome\Application\chrome.exe", "New Tab")


def test_an_app_is_named_by_its_files_description() -> None:
    """Recorded: Chrome's version resource (translation 0409.04b0, FileDescription "Google
    Chrome"); read once per executable, however often the window is in front."""
    api = ReplayWin32(front=CHROME, resources={CHROME[2]: CHROME_VERSION})
    desktop = WindowsDesktop(api)
    sample = desktop.active_window()
    assert sample == WindowSample(
        app="chrome", title="New Tab", process="chrome.exe", pid=5120, name="Google Chrome"
    )
    desktop.active_window()
    assert api.version_reads == 1
    # Without a version resource (chosen: Firefox here has none): no name to tell.
    assert WindowsDesktop(ReplayWin32()).active_window().name is None  # type: ignore[union-attr]


def test_the_description_follows_the_translation_table_then_us_english() -> None:
    strings = {
        "\\StringFileInfo\\040704b0\\FileDescription": "Editor (deutsch)",
        "\\StringFileInfo\\040904e4\\FileDescription": "Editor",
        "\\StringFileInfo\\040904b0\\FileDescription": " \0",
    }
    # Constructed: a German resource, one listing no translation, one whose only
    # description is blank.
    assert pick_description([(0x0407, 0x04B0)], strings.get) == "Editor (deutsch)"
    assert pick_description([], strings.get) == "Editor"
    assert pick_description([(0x0409, 0x04B0)], {}.get) is None
    recorded = CHROME_VERSION["strings"]
    table = {f"\\StringFileInfo\\040904b0\\{k}": v for k, v in recorded.items()}
    assert pick_description([(1033, 1200)], table.get) == "Google Chrome"
