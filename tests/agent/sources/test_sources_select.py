"""Choosing backends at run time (``select``): the session as the environment describes it,
the tables of candidates, notes for what is missing, and ``survey`` for the probe. The
compositors are the fakes of tests/support/source_fakes.py (real sockets, recorded replies)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from officepulse.agent.sources.base import SourceUnavailable
from officepulse.agent.sources.select import (
    IDLES,
    LOCKS,
    WINDOW_BACKENDS,
    WINDOWS,
    Session,
    SessionIdle,
    open_desktop,
    session_kind,
    survey,
)
from officepulse.agent.sources.sway import InhibitedIdle
from tests.support.source_fakes import (
    FakeCompositor,
    FakeHyprland,
    FakeSway,
    parse_globals,
    recorded,
    short_dir,
)

pytestmark = pytest.mark.timeout(30)

SWAY_GLOBALS = [
    *parse_globals(recorded("wayland/sway-globals-wayland-debug.txt").decode()),
    (10, "wl_seat", 9),  # constructed, see test_sources_wayland_idle
]
SIGNATURE = "4520b30d498daca8079365bdb909a8dea38e8d55_1712345678_1234567890"


@pytest.fixture
def runtime() -> Iterator[Path]:
    with short_dir() as path:
        yield path


@pytest.mark.parametrize(
    ("platform", "environ", "kind"),
    [
        ("linux", {"XDG_SESSION_TYPE": "wayland"}, "wayland"),
        ("linux", {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, "wayland"),
        ("linux", {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "x11"}, "x11"),
        ("linux", {"DISPLAY": ":0"}, "x11"),
        ("freebsd14", {"DISPLAY": ":0"}, "x11"),
        ("linux", {}, "unknown"),
        ("darwin", {"DISPLAY": ":0"}, "macos"),
        ("win32", {}, "windows"),
    ],
)
def test_session_kind(platform: str, environ: dict[str, str], kind: str) -> None:
    assert session_kind(platform, environ) == kind


def test_desktops_from_the_environment() -> None:
    session = Session.of("linux", {"XDG_CURRENT_DESKTOP": "ubuntu:GNOME", "KDE_FULL_SESSION": ""})
    assert session.desktops == {"ubuntu", "gnome"}
    assert session.is_desktop("gnome")
    kde = Session.of("linux", {"KDE_FULL_SESSION": "true"})
    assert kde.is_desktop("kde")


def test_every_table_is_unique_and_ordered() -> None:
    for table in (WINDOWS, IDLES, LOCKS):
        names = [c.name for c in table]
        assert len(names) == len(set(names))
    # Native Wayland readers come before XWayland's partial view.
    assert WINDOW_BACKENDS.index("x11") > WINDOW_BACKENDS.index("sway")
    assert WINDOW_BACKENDS.index("gnome") < WINDOW_BACKENDS.index("gnome-eval")


def test_no_graphical_session() -> None:
    with pytest.raises(
        SourceUnavailable,
        match=r"^no graphical session found \(DISPLAY and WAYLAND_DISPLAY are not set\)$",
    ):
        open_desktop("auto", "linux", {})


def test_a_wayland_compositor_nobody_reads() -> None:
    env = {"XDG_SESSION_TYPE": "wayland", "XDG_CURRENT_DESKTOP": "Wayfire"}
    with pytest.raises(SourceUnavailable, match=r"cannot read .*--source x11 \(XWayland\)"):
        open_desktop("auto", "linux", env)


def test_an_unknown_platform() -> None:
    with pytest.raises(SourceUnavailable, match="'sunos5' is not supported"):
        open_desktop("auto", "sunos5", {})


def test_an_unknown_choice() -> None:
    with pytest.raises(SourceUnavailable, match="unknown desktop source 'beos'; one of: auto"):
        open_desktop("beos", "linux", {})


def test_a_forced_choice_says_its_own_reason() -> None:
    """--source x11 without DISPLAY: X11's own message, as before this module had tables."""
    with pytest.raises(SourceUnavailable, match=r"^no X display: DISPLAY is not set"):
        open_desktop("x11", "linux", {"XDG_SESSION_TYPE": "wayland"})


def test_sway_without_idle_says_so_once_and_tells_the_lock(runtime: Path) -> None:
    env = {
        "XDG_SESSION_TYPE": "wayland",
        "XDG_RUNTIME_DIR": str(runtime),
        "WAYLAND_DISPLAY": "wayland-1",  # nobody listens: no ext-idle-notify
        "SWAYSOCK": str(runtime / "sway.sock"),
        "XDG_CURRENT_DESKTOP": "sway",
    }
    with FakeSway(runtime / "sway.sock", recorded("sway/get_tree-sway-screen-time.json")):
        desktop = open_desktop("auto", "linux", env)
        try:
            assert desktop.name == "sway"
            sample = desktop.window.active_window()
            assert sample is not None
            assert sample.app == "Alacritty"
            # No idle time, but the screen locker's process still tells a locked screen.
            assert desktop.lock_names == ("sway",)
            assert desktop.idle is not None
            assert desktop.idle.idle_seconds() == 0.0
            assert desktop.idle.locked() is False
            (idle_note,) = desktop.notes
            assert idle_note.startswith("idle time cannot be read: ext-idle-notify: cannot talk")
            assert "screensaver: no D-Bus session bus" in idle_note
        finally:
            desktop.close()


def test_sway_with_ext_idle_notify(runtime: Path) -> None:
    env = {
        "XDG_SESSION_TYPE": "wayland",
        "XDG_RUNTIME_DIR": str(runtime),
        "WAYLAND_DISPLAY": "wayland-1",
        "SWAYSOCK": str(runtime / "sway.sock"),
    }
    with (
        FakeSway(runtime / "sway.sock", recorded("sway/get_tree-sway-screen-time.json")),
        FakeCompositor(runtime / "wayland-1", SWAY_GLOBALS) as compositor,
    ):
        desktop = open_desktop("auto", "linux", env)
        try:
            assert (desktop.name, desktop.idle_name) == ("sway", "ext-idle-notify")
            assert isinstance(desktop.idle, SessionIdle)
            # Version 1 honours idle inhibitors: read through sway's tree (sway.InhibitedIdle).
            assert isinstance(desktop.idle.source, InhibitedIdle)
            assert desktop.idle.idle_seconds() == 0.0
            assert desktop.idle.locked() is False
            assert desktop.lock_names == ("sway",)
            assert desktop.notes == ()
            assert compositor.ready.wait(15)
        finally:
            desktop.close()


def test_hyprland_before_xwayland(runtime: Path) -> None:
    (runtime / "hypr" / SIGNATURE).mkdir(parents=True)
    env = {
        "XDG_SESSION_TYPE": "wayland",
        "XDG_RUNTIME_DIR": str(runtime),
        "HYPRLAND_INSTANCE_SIGNATURE": SIGNATURE,
        "DISPLAY": ":987",  # XWayland would apply too, but comes last
    }
    socket = runtime / "hypr" / SIGNATURE / ".socket.sock"
    with FakeHyprland(socket, recorded("hyprland/activewindow-j.json")):
        desktop = open_desktop("auto", "linux", env)
        try:
            assert desktop.name == "hyprland"
            sample = desktop.window.active_window()
            assert sample is not None
            assert sample.title == "vladimir@theor:~"
        finally:
            desktop.close()


def test_a_failing_backend_falls_through_to_the_next(runtime: Path) -> None:
    """SWAYSOCK set but nothing listening, and no X display answering: both reasons."""
    env = {"XDG_SESSION_TYPE": "wayland", "SWAYSOCK": str(runtime / "gone"), "DISPLAY": ":987"}
    with pytest.raises(SourceUnavailable) as caught:
        open_desktop("auto", "linux", env)
    message = str(caught.value)
    assert message.startswith("sway: cannot connect to sway's IPC socket")
    assert "; x11: cannot open X display ':987'" in message


def test_survey_on_a_platform_that_cannot_run_here() -> None:
    """On macOS every macOS candidate applies; here the real adapter refuses, and says why."""
    reports = survey("darwin", {})
    applying = [(r.capability, r.name) for r in reports if r.applies]
    assert applying == [("window", "macos"), ("idle", "macos"), ("lock", "macos")]
    for report in reports:
        if report.applies:
            assert not report.available
            assert report.reason is not None
            assert "macOS" in report.reason
        else:
            assert report.reason
    assert not any(r.chosen for r in reports)
    assert [r.name for r in reports if r.capability == "window"] == list(WINDOW_BACKENDS)


def test_survey_of_a_forced_choice(runtime: Path) -> None:
    reports = survey("linux", {"SWAYSOCK": str(runtime / "gone")}, choice="x11")
    sway = next(r for r in reports if r.name == "sway" and r.capability == "window")
    assert sway.reason == "the source is set to 'x11'"
