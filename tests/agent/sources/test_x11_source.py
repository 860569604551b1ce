"""X11Desktop against a real X server: Xvfb, openbox, xterm windows, focus and input driven
with xdotool. Nothing is mocked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from officepulse.agent.sources.base import (
    IdleSource,
    SourceUnavailable,
    WindowSample,
    WindowSource,
)
from officepulse.agent.sources.x11 import X11Desktop, decode_compound_text

if TYPE_CHECKING:
    from tests.support.xserver import XServer


pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def desktop(xserver: XServer) -> Iterator[X11Desktop]:
    with X11Desktop(xserver.display) as desk:
        yield desk


def title_of(desk: X11Desktop) -> str | None:
    sample = desk.active_window()
    return sample.title if sample else None


# -- windows ----------------------------------------------------------------------------


def test_sample_follows_focus(xserver: XServer, desktop: X11Desktop) -> None:
    a = xserver.xterm("OpTermA", "Terminal Alpha")
    b = xserver.xterm("OpTermB", "Terminal Beta")
    seen = []
    for win, title in [(a, "Terminal Alpha"), (b, "Terminal Beta"), (a, "Terminal Alpha")]:
        xserver.activate(win)
        sample = desktop.active_window()
        seen.append(sample)
        assert sample == WindowSample(app=win.cls, title=title, process="xterm", pid=win.pid)
    assert seen[0] != seen[1]


def test_title_written_as_string_type(xserver: XServer, desktop: X11Desktop) -> None:
    win = xserver.xterm("OpTermRename", "Before")
    xserver.activate(win)
    assert title_of(desktop) == "Before"

    xserver.set_title(win, "Renamed Beta")
    xserver.wait_for(lambda: title_of(desktop) == "Renamed Beta", what="the new title")
    # The point of this test: asking for UTF8_STRING would have read nothing here.
    assert xserver.property_type(win.wid, "_NET_WM_NAME") == "STRING"

    xserver.set_title(win, "Naïve ☕ rename")  # UTF-8 bytes in a STRING property
    xserver.wait_for(lambda: title_of(desktop) == "Naïve ☕ rename", what="the non-ASCII title")


def test_utf8_title_from_xterm(xserver: XServer, desktop: X11Desktop) -> None:
    win = xserver.xterm("OpTermUtf8", "Café ☕")
    xserver.activate(win)
    # xterm -T sets no _NET_WM_NAME, only WM_NAME, as COMPOUND_TEXT (ISO 2022).
    assert xserver.property_type(win.wid, "_NET_WM_NAME") is None
    assert xserver.property_type(win.wid, "WM_NAME") == "COMPOUND_TEXT"
    assert desktop.active_window() == WindowSample(
        app="OpTermUtf8", title="Café ☕", process="xterm", pid=win.pid
    )


def test_utf8_title_set_by_the_program_in_xterm(xserver: XServer, desktop: X11Desktop) -> None:
    script = r"printf '\033]2;%s\007' 'Café ☕ from OSC'; exec sleep infinity"
    win = xserver.xterm("OpTermOsc", "before", command=["sh", "-c", script])
    xserver.activate(win)
    xserver.wait_for(lambda: title_of(desktop) == "Café ☕ from OSC", what="the OSC title")
    assert xserver.property_type(win.wid, "_NET_WM_NAME") == "UTF8_STRING"


def test_compound_text_titles_in_many_charsets(bare_xserver: XServer) -> None:
    """What Xlib writes for titles beyond Latin-1: ISO 8859 sets, JIS/KSC, UTF-8 segments."""
    title = "naïve € Ω Ж ł 日本語 한국 中文 ☕"
    win = bare_xserver.xterm("OpTermCtext", title)
    assert bare_xserver.property_type(win.wid, "WM_NAME") == "COMPOUND_TEXT"
    bare_xserver.set_root_property("_NET_ACTIVE_WINDOW", "WINDOW", 32, [win.wid])
    with X11Desktop(bare_xserver.display) as desk:
        assert desk.active_window() == WindowSample(
            app="OpTermCtext", title=title, process="xterm", pid=win.pid
        )


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"plain", "plain"),
        (b"Caf\xe9 \x1b%G\xe2\x98\x95\x1b%@!", "Café ☕!"),
        (b"\x1b-F\xd9\x1b-A\xfc", "Ωü"),  # GR switched to Greek, then back to Latin-1
        (b"\x1b$(BF|K\\8l\x1b(B.", "日本語."),  # JIS X 0208 in GL
        (b"\x1b$)C\xc7\xd1", "한"),  # KS C 5601 in GR
        (b"\x1b%/1\x80\x8fiso8859-15\x02\xa4uro", "€uro"),  # extended segment
        (b"a\x9b1]b\x9b]c\x07", "abc"),  # direction marks and stray controls dropped
        (b"\x1b$(Z!!\x1b(B ok", "\ufffd\ufffd ok"),  # unknown charset
        (b"cut \x1b$", "cut "),  # truncated escape
    ],
)
def test_decode_compound_text(raw: bytes, text: str) -> None:
    assert decode_compound_text(raw) == text


def test_nothing_focused_with_wm_is_none(xserver: XServer, desktop: X11Desktop) -> None:
    assert desktop.active_window() is None  # openbox running, no windows
    win = xserver.xterm("OpTermGone", "Soon gone")
    xserver.activate(win)
    assert desktop.active_window() is not None
    win.proc.terminate()
    win.proc.wait(10)
    xserver.wait_for(
        lambda: desktop.active_window() is None, what="focus to go when the window closed"
    )


def test_no_window_manager_is_none(bare_xserver: XServer) -> None:
    bare_xserver.xterm("OpTermNoWm", "Unmanaged")  # a window exists, but nobody says it is active
    with X11Desktop(bare_xserver.display) as desk:
        assert desk.active_window() is None


def test_active_window_that_no_longer_exists_is_none(bare_xserver: XServer) -> None:
    """The race where the window closes between reading its id and its properties,
    made deterministic: _NET_ACTIVE_WINDOW keeps pointing at a destroyed window."""
    wid = bare_xserver.create_window({"WM_CLASS": ("STRING", 8, b"inst\0Doomed\0")})
    bare_xserver.set_root_property("_NET_ACTIVE_WINDOW", "WINDOW", 32, [wid])
    with X11Desktop(bare_xserver.display) as desk:
        assert desk.active_window() == WindowSample(app="Doomed", title="")
        bare_xserver.destroy_window(wid)
        assert desk.active_window() is None
        assert desk.active_window() is None  # the connection is still usable
        bare_xserver.set_root_property("_NET_ACTIVE_WINDOW", "WINDOW", 32, [0])
        assert desk.active_window() is None


def test_missing_properties_fall_back(bare_xserver: XServer) -> None:
    me = psutil.Process().name()
    dead = subprocess.Popen(["true"])
    dead.wait()
    cases: list[tuple[dict[str, tuple[str, int, object]], WindowSample]] = [
        # Nothing at all.
        ({}, WindowSample(app="", title="")),
        # No WM_CLASS: the process name; legacy WM_NAME as Latin-1 STRING.
        (
            {"_NET_WM_PID": ("CARDINAL", 32, [os.getpid()]), "WM_NAME": ("STRING", 8, b"caf\xe9")},
            WindowSample(app=me, title="café", process=me, pid=os.getpid()),
        ),
        # Only an instance name, and a pid whose process is gone.
        (
            {"WM_CLASS": ("STRING", 8, b"lonely\0"), "_NET_WM_PID": ("CARDINAL", 32, [dead.pid])},
            WindowSample(app="lonely", title="", process=None, pid=dead.pid),
        ),
        # _NET_WM_NAME wins over WM_NAME.
        (
            {
                "WM_CLASS": ("STRING", 8, b"i\0Klass\0"),
                "WM_NAME": ("STRING", 8, b"old"),
                "_NET_WM_NAME": ("UTF8_STRING", 8, "new ✓".encode()),
            },
            WindowSample(app="Klass", title="new ✓"),
        ),
        # A pid from another host (ssh -X) says nothing about local processes.
        (
            {
                "WM_CLASS": ("STRING", 8, b"x\0Remote\0"),
                "_NET_WM_PID": ("CARDINAL", 32, [os.getpid()]),
                "WM_CLIENT_MACHINE": ("STRING", 8, b"elsewhere.example.org"),
            },
            WindowSample(app="Remote", title=""),
        ),
    ]
    with X11Desktop(bare_xserver.display) as desk:
        for props, expected in cases:
            wid = bare_xserver.create_window(props)
            bare_xserver.set_root_property("_NET_ACTIVE_WINDOW", "WINDOW", 32, [wid])
            assert desk.active_window() == expected, props


# -- idle -------------------------------------------------------------------------------


def test_idle_grows_and_resets_on_input(bare_xserver: XServer) -> None:
    with X11Desktop(bare_xserver.display) as desk:
        assert desk.idle_available
        assert desk.idle_unavailable_reason is None
        before = desk.idle_seconds()
        time.sleep(0.5)
        grown = desk.idle_seconds()
        assert grown - before >= 0.4  # the server's clock moved on, no input came

        started = time.monotonic()
        bare_xserver.mousemove(200, 200)
        after = desk.idle_seconds()
        # No more idle than the time since the mouse moved (plus the server's ms rounding):
        # without the reset it would be at least `grown` more, whatever the machine's load.
        assert after <= time.monotonic() - started + 0.01


def test_idle_without_screensaver_extension(
    xserver_factory: Callable[..., XServer],
) -> None:
    server = xserver_factory(wm=False, xvfb_args=["-extension", "MIT-SCREEN-SAVER"])
    with X11Desktop(server.display) as desk:
        assert not desk.idle_available
        assert desk.idle_unavailable_reason is not None
        assert "MIT-SCREEN-SAVER" in desk.idle_unavailable_reason
        with pytest.raises(SourceUnavailable, match="MIT-SCREEN-SAVER"):
            desk.idle_seconds()
        assert desk.active_window() is None  # windows still work


# -- no display, lost display -------------------------------------------------------------


def test_display_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(SourceUnavailable, match="DISPLAY is not set"):
        X11Desktop()
    monkeypatch.setenv("DISPLAY", "")
    with pytest.raises(SourceUnavailable, match="DISPLAY is not set"):
        X11Desktop()


def unused_display() -> str:
    for n in range(900, 1000):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return f":{n}"
    pytest.skip("no unused display number in :900-:999")


@pytest.mark.parametrize("name", ["unused", "bogus", ":70000", "unix:"])
def test_display_that_cannot_be_opened(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Also checks that no socket is left open: python-xlib leaks it on these paths, which
    # pytest (warnings are errors) reports as an unclosed-socket ResourceWarning.
    if name == "unused":
        name = unused_display()
    with pytest.raises(SourceUnavailable, match=f"cannot open X display '{name}': .+"):
        X11Desktop(name)
    monkeypatch.setenv("DISPLAY", name)
    with pytest.raises(SourceUnavailable, match=f"cannot open X display '{name}'"):
        X11Desktop()


def test_display_that_refuses_us(
    xserver_factory: Callable[..., XServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Xvfb with an access cookie: connecting without it fails after the socket is open."""
    cookie = tmp_path / "Xauthority"
    secret = os.urandom(16).hex()
    # The server takes any cookie in its file, but a client looks one up by display
    # number, and the server takes the first free display (:0 may be another's): the
    # cookie for each it may take.
    subprocess.run(
        ["xauth", "-q", "-f", str(cookie), "source", "-"],
        input="".join(f"add :{number} . {secret}\n" for number in range(64)),
        text=True,
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("XAUTHORITY", str(cookie))
    server = xserver_factory(wm=False, xvfb_args=["-auth", str(cookie)])
    with X11Desktop(server.display) as desk:  # the right cookie works
        assert desk.active_window() is None
    monkeypatch.setenv("XAUTHORITY", str(tmp_path / "none"))
    with pytest.raises(
        SourceUnavailable,
        match=f"cannot open X display '{server.display}': Authorization required",
    ):
        X11Desktop(server.display)


@pytest.mark.parametrize("first", ["active_window", "idle_seconds"])
def test_server_killed_under_open_source(first: str, xserver: XServer, desktop: X11Desktop) -> None:
    win = xserver.xterm("OpTermKill", "Doomed server")
    xserver.activate(win)
    assert desktop.active_window() is not None
    xserver.kill_server()
    lost = f"lost the connection to X display '{xserver.display}'"
    with pytest.raises(SourceUnavailable, match=lost):
        getattr(desktop, first)()
    # And it stays that way, saying why, without touching the dead socket again.
    with pytest.raises(SourceUnavailable, match=lost):
        desktop.idle_seconds()
    with pytest.raises(SourceUnavailable, match=lost):
        desktop.active_window()
    desktop.close()
    desktop.close()


def test_closed_source_says_so(bare_xserver: XServer) -> None:
    desk = X11Desktop(bare_xserver.display)
    desk.close()
    desk.close()
    with pytest.raises(SourceUnavailable, match=r"closed by close\(\)"):
        desk.active_window()
    with pytest.raises(SourceUnavailable, match=r"closed by close\(\)"):
        desk.idle_seconds()


def test_satisfies_both_protocols(bare_xserver: XServer) -> None:
    with X11Desktop(bare_xserver.display) as desk:
        window_source: WindowSource = desk
        idle_source: IdleSource = desk
        assert window_source.active_window() is None
        assert idle_source.idle_seconds() >= 0
        assert desk.display_name == bare_xserver.display


# -- by hand ------------------------------------------------------------------------------


def run_module(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "officepulse.agent.sources.x11"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_module_prints_one_reading(xserver: XServer) -> None:
    win = xserver.xterm("OpTermMain", "Checked by hand")
    xserver.activate(win)
    done = run_module({**os.environ, "DISPLAY": xserver.display})
    assert done.returncode == 0, done.stderr
    assert "OpTermMain" in done.stdout
    assert "Checked by hand" in done.stdout
    assert "idle seconds:" in done.stdout


def test_module_without_display_explains_and_fails() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    done = run_module(env)  # also shows that importing the module opens nothing
    assert done.returncode == 1
    assert "DISPLAY is not set" in done.stdout
    assert done.stderr == ""
