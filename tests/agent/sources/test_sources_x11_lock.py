"""X11Desktop.locked() against a real X server (Xvfb): the MIT-SCREEN-SAVER state, with the
screen saver switched on and off by the core protocol's ForceScreenSaver request, as
``xset s activate`` / ``xset s reset`` do. And the desktop ``open_desktop`` builds from it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from Xlib import X
from Xlib import display as xdisplay

from officepulse.agent.sources.base import SourceUnavailable
from officepulse.agent.sources.select import open_desktop
from officepulse.agent.sources.x11 import X11Desktop

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = pytest.mark.timeout(60)


def _force_saver(display_name: str, mode: int) -> None:
    other = xdisplay.Display(display_name)
    try:
        other.force_screen_saver(mode)
        other.sync()
    finally:
        other.close()


def test_the_screen_saver_counts_as_locked(bare_xserver: XServer) -> None:
    with X11Desktop(bare_xserver.display) as desk:
        assert desk.locked() is False
        _force_saver(bare_xserver.display, X.ScreenSaverActive)
        assert desk.locked() is True
        _force_saver(bare_xserver.display, X.ScreenSaverReset)
        assert desk.locked() is False


def test_without_the_extension_locked_says_why(
    xserver_factory: Callable[..., XServer],
) -> None:
    server = xserver_factory(wm=False, xvfb_args=["-extension", "MIT-SCREEN-SAVER"])
    with (
        X11Desktop(server.display) as desk,
        pytest.raises(SourceUnavailable, match="MIT-SCREEN-SAVER"),
    ):
        desk.locked()


def test_open_desktop_on_x11_reads_lock_through_idle(bare_xserver: XServer) -> None:
    env = {"DISPLAY": bare_xserver.display, "XDG_SESSION_TYPE": "x11"}
    desktop = open_desktop("auto", "linux", env)
    try:
        assert (desktop.name, desktop.idle_name, desktop.lock_names) == ("x11", "x11", ("x11",))
        assert desktop.notes == ()
        assert desktop.idle is not None
        assert desktop.idle.idle_seconds() >= 0
        assert desktop.idle.locked() is False
        _force_saver(bare_xserver.display, X.ScreenSaverActive)
        assert desktop.idle.locked() is True
    finally:
        desktop.close()
    with pytest.raises(SourceUnavailable, match="closed by close"):
        desktop.window.active_window()


def test_open_desktop_on_x11_without_the_extension(
    xserver_factory: Callable[..., XServer],
) -> None:
    """Windows still work; idle time and the lock are one note each."""
    server = xserver_factory(wm=False, xvfb_args=["-extension", "MIT-SCREEN-SAVER"])
    desktop = open_desktop("auto", "linux", {"DISPLAY": server.display})
    try:
        assert desktop.name == "x11"
        assert desktop.idle is None
        assert len(desktop.notes) == 2
        idle_note, lock_note = desktop.notes
        assert idle_note.startswith("idle time cannot be read: x11: X display")
        assert "MIT-SCREEN-SAVER" in idle_note
        assert lock_note.startswith("a locked screen cannot be told apart from idle time here")
    finally:
        desktop.close()
