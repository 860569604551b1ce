"""GNOME for real: one ``gnome-shell --headless`` (GNOME Shell 43 on Debian 12) for the
module, with officepulse's own extension installed by ``officepulse agent
install-gnome-extension`` before the shell starts, real GTK windows, focus switched with
Alt+Tab typed through ``org.gnome.Mutter.RemoteDesktop``, and a real agent in the session
reporting to a real server (tests/support/compositors.py). Idle time is Mutter's IdleMonitor,
reset by pointer motion through the same remote-desktop session.

Beside officepulse's extension, two test-only ones (tests/support/gnome_extensions), swapped
in one at a time: a stand-in exporting the third-party Focused Window D-Bus extension's
interface, and a loader that runs officepulse's GNOME 45+ build (an ES module) in this 43.

GNOME Shell offers its lock screen only where GDM and logind answer (``LoginManager.canLock``):
stand-ins for both on the session's own system bus (tests/support/logind.py) give it one, which
locks on ``loginctl lock-session`` and before sleep, and unlocks on ``loginctl unlock-session``,
as logind tells it; the agent reads GNOME's own org.gnome.ScreenSaver.

The last test uninstalls the extension (the shell cannot load it again until it restarts),
so it comes last.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from officepulse.agent.sources.gnome import EXTENSION_UUID
from tests.support.compositors import (
    ESM_LOADER,
    FOCUSED_WINDOW_DOUBLE,
    Client,
    Gnome,
    live,
    seen_live,
    started,
    stored_windows,
    wait_for,
)
from tests.support.servers import ServerProcess
from tests.support.usage_query import TODAY

pytestmark = pytest.mark.timeout(150)


@pytest.fixture(scope="module")
def gnome() -> Iterator[Gnome]:
    with started(Gnome) as session:
        yield session


@pytest.fixture(scope="module")
def editor(gnome: Gnome) -> Client:
    return gnome.window("main.py - officepulse", "op-gedit")


@pytest.fixture(scope="module")
def browser(gnome: Gnome, editor: Client) -> Client:
    return gnome.window("YouTube - cat video", "op-epiphany")


def _extension_state(gnome: Gnome) -> int:
    (info,) = gnome.call(
        "org.gnome.Shell",
        "/org/gnome/Shell",
        "org.gnome.Shell.Extensions",
        "GetExtensionInfo",
        "s",
        (EXTENSION_UUID,),
    )
    return int(info["state"][1]) if "state" in info else 0


def test_the_install_command_made_the_shell_load_our_extension(gnome: Gnome) -> None:
    """GNOME 43 takes imports.gi extensions: the installer built that kind, for 43 and 44,
    and enabled it; the shell loaded and enabled it at startup (state 1)."""
    assert "imports.gi version for GNOME Shell 43" in gnome.installed, gnome.installed
    assert "log out and in again" in gnome.installed
    folder = gnome.home / ".local/share/gnome-shell/extensions" / EXTENSION_UUID
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["uuid"] == EXTENSION_UUID
    assert metadata["shell-version"] == ["43", "44"]
    assert "imports.gi" in (folder / "extension.js").read_text()
    assert _extension_state(gnome) == 1


def test_the_extension_tells_every_change(gnome: Gnome, editor: Client, browser: Client) -> None:
    assert gnome.focused_window() == {
        "title": "YouTube - cat video",
        "wm_class": "op-epiphany",
        "wm_class_instance": "op-epiphany",
        "app_id": "",  # no .desktop file: the shell matched it to no app
        "pid": browser.pid,
    }
    with gnome.focus_changes() as change_to:
        gnome.alt_tab(editor)
        change = change_to(pid=editor.pid)
        assert (change["title"], change["wm_class"]) == ("main.py - officepulse", "op-gedit")
        editor.set_title("main.py - officepulse (edited)")
        change_to(pid=editor.pid, title="main.py - officepulse (edited)")
        gnome.alt_tab(browser)
        change_to(pid=browser.pid, title="YouTube - cat video")
    editor.set_title("main.py - officepulse")


def test_the_agent_follows_every_switch(
    gnome: Gnome, editor: Client, browser: Client, server: ServerProcess
) -> None:
    gnome.alt_tab(browser)
    with gnome.agent(server, "--agent-id", "gnomedesk", "--poll-interval", "0.2") as agent:
        first = seen_live(server, "gnomedesk", app="op-epiphany")
        assert (first["title"], first["process"]) == ("YouTube - cat video", "python3")
        gnome.alt_tab(editor)
        seen_live(server, "gnomedesk", app="op-gedit", title="main.py - officepulse")
        editor.set_title("notes.md - officepulse")
        seen_live(server, "gnomedesk", app="op-gedit", title="notes.md - officepulse")
        gnome.alt_tab(browser)
        seen_live(server, "gnomedesk", app="op-epiphany", title="YouTube - cat video")
    out = agent.output
    editor.set_title("main.py - officepulse")
    assert "reading the gnome desktop" in out
    assert "Traceback" not in out
    expected = [
        ("op-epiphany", "YouTube - cat video", browser.pid),
        ("op-gedit", "main.py - officepulse", editor.pid),
        ("op-gedit", "notes.md - officepulse", editor.pid),
        ("op-epiphany", "YouTube - cat video", browser.pid),
    ]
    stored = stored_windows(server, "gnomedesk")  # the open span waits in the agent's journal
    assert stored == expected[: len(stored)]
    assert len(stored) >= 3


def test_a_closed_window_hands_the_focus_on(
    gnome: Gnome, browser: Client, server: ServerProcess
) -> None:
    scratch = gnome.window("scratch notes", "op-scratch")
    with gnome.agent(server, "--agent-id", "gnomeclose", "--poll-interval", "0.2") as agent:
        seen_live(server, "gnomeclose", app="op-scratch")
        scratch.close()
        after = wait_for(
            lambda: (cur := live(server, "gnomeclose")) and cur["app"] != "op-scratch" and cur,
            "the focus to move on from the closed window",
        )
        assert after["app"] in ("op-gedit", "op-epiphany")
    assert "Traceback" not in agent.output


def test_idle_time_from_mutter_reset_by_input(gnome: Gnome, browser: Client) -> None:
    gnome.move_pointer()
    wait_for(lambda: gnome.idle_ms() >= 2000, "Mutter's idle time to grow")
    gnome.move_pointer()  # back under 2 s: it would take 2 s without input to get there again
    wait_for(lambda: gnome.idle_ms() < 2000, "a pointer motion to reset Mutter's idle time")


def test_the_agent_goes_idle_and_comes_back(
    gnome: Gnome, browser: Client, server: ServerProcess
) -> None:
    gnome.alt_tab(browser)
    gnome.move_pointer()
    idle_agent = ("--agent-id", "gnomeidle", "--poll-interval", "0.2", "--idle-threshold", "1.5")
    with gnome.agent(server, *idle_agent) as agent:
        seen_live(server, "gnomeidle", gnome.move_pointer, app="op-epiphany", idle=False)
        before = datetime.now(UTC)
        gnome.move_pointer()
        after = datetime.now(UTC)
        away = seen_live(server, "gnomeidle", app="op-epiphany", idle=True)
        # Dated from the last input, not from when the threshold passed (1.5 s later).
        since = datetime.fromisoformat(str(away["since"]))
        assert before - timedelta(seconds=1) <= since <= after + timedelta(seconds=1)
        gnome.move_pointer()
        seen_live(server, "gnomeidle", gnome.move_pointer, app="op-epiphany", idle=False)
    assert "Traceback" not in agent.output
    (row,) = server.get(f"/api/v1/usage?{TODAY}&group_by=app")["rows"]
    assert row["app"] == "op-epiphany"
    assert row["idle_seconds"] >= 1.5


def test_the_probe_names_each_backend_and_why(gnome: Gnome, browser: Client) -> None:
    gnome.alt_tab(browser)
    done = gnome.probe("--idle-threshold", "60")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[in use] gnome           officepulse's GNOME Shell extension" in out
    assert "[ n/a  ] sway            not a sway session (SWAYSOCK is not set)" in out
    assert "[ n/a  ] hyprland        not a Hyprland session" in out
    assert "[ n/a  ] kde             not a KDE Plasma session" in out
    assert "[ n/a  ] x11             no XWayland display (DISPLAY is not set)" in out
    assert "[failed] focused-window  the third-party 'Focused Window D-Bus' extension" in out
    assert "[failed] gnome-eval      org.gnome.Shell.Eval is refused" in out
    assert "[in use] gnome           org.gnome.Mutter.IdleMonitor.GetIdletime" in out
    assert "[failed] ext-idle-notify the Wayland compositor does not offer ext-idle" in out
    assert "lock      [ n/a  ] x11" in out
    assert "[in use] gnome           org.gnome.ScreenSaver.GetActive" in out
    assert "window      app 'op-epiphany', title 'YouTube - cat video'" in out
    assert f"process python3, pid {browser.pid}" in out
    idle = next(line for line in out.splitlines() if line.startswith("idle "))
    assert "s since the last input → active (threshold 60 s)" in idle
    assert "locked      no" in out


def test_the_gnome_45_build_runs_as_an_es_module(
    gnome: Gnome, editor: Client, browser: Client, server: ServerProcess
) -> None:
    """GNOME Shell 45 and later load extensions as ES modules; only 43 runs here. The 45+
    build, as ``install-gnome-extension --shell-version 46`` writes it, runs here all the
    same in place of the 43 one: a test-only extension registers a stand-in for the one
    module GNOME 45 gives it (the Extension base class, at the same resource path), imports
    it with GJS's own module loader, and enables it. So its module syntax, its ``gi://``
    imports and its class run in real GJS against the real shell, and the agent follows
    it; the 45+ shells' own Meta and Shell libraries are what is not exercised."""
    assert "ES module version for GNOME Shell 46" in gnome.installed_esm, gnome.installed_esm
    with gnome.only_extension(ESM_LOADER):
        wait_for(
            lambda: gnome.focused_window() is not None,
            "the GNOME 45+ build to answer",
            log=gnome.log_tail,
        )
        with gnome.focus_changes() as change_to:
            gnome.alt_tab(editor)
            change_to(pid=editor.pid, title="main.py - officepulse", wm_class="op-gedit")
        with gnome.agent(server, "--agent-id", "gnomeesm", "--poll-interval", "0.2") as agent:
            seen_live(server, "gnomeesm", app="op-gedit", title="main.py - officepulse")
            gnome.alt_tab(browser)
            seen_live(server, "gnomeesm", app="op-epiphany", title="YouTube - cat video")
        assert "reading the gnome desktop" in agent.output
    assert "Traceback" not in agent.output
    assert stored_windows(server, "gnomeesm")[:1] == [
        ("op-gedit", "main.py - officepulse", editor.pid)
    ]


def test_the_third_party_focused_window_extension(
    gnome: Gnome, editor: Client, browser: Client, server: ServerProcess
) -> None:
    """With only the third-party Focused Window D-Bus extension enabled (a stand-in that
    exports its interface, tests/support/gnome_extensions), the agent falls back to it,
    the probe says why officepulse's own is not used, and the agent follows switches."""
    with gnome.only_extension(FOCUSED_WINDOW_DOUBLE):
        gnome.alt_tab(browser)
        done = gnome.probe()
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert (
            "[failed] gnome           the officepulse GNOME Shell extension "
            f"({EXTENSION_UUID}) is installed but disabled" in out
        ), out
        assert "[in use] focused-window  the third-party Focused Window D-Bus" in out, out
        assert "window      app 'op-epiphany', title 'YouTube - cat video'" in out, out
        with gnome.agent(server, "--agent-id", "gnomefw", "--poll-interval", "0.2") as agent:
            seen_live(server, "gnomefw", app="op-epiphany", title="YouTube - cat video")
            gnome.alt_tab(editor)
            seen_live(server, "gnomefw", app="op-gedit", title="main.py - officepulse")
    assert "Traceback" not in agent.output
    stored = stored_windows(server, "gnomefw")
    assert stored[:1] == [("op-epiphany", "YouTube - cat video", browser.pid)]


def test_lock_and_sleep_count_as_away(gnome: Gnome, browser: Client, server: ServerProcess) -> None:
    """GNOME Shell offers its lock screen where GDM and logind answer (stand-ins here, on
    the session's own system bus; the shell is real): it locks on the session's Lock signal
    (``loginctl lock-session``) and before the computer sleeps (PrepareForSleep), and
    unlocks on Unlock (``loginctl unlock-session``). The agent asks GNOME's own
    org.gnome.ScreenSaver service. Away while locked, though input goes on; officepulse's
    extension keeps answering on the lock screen (session mode unlock-dialog), so the probe
    still reads the window; active again once unlocked."""
    gnome.alt_tab(browser)
    with gnome.agent(
        server, "--agent-id", "gnomelock", "--poll-interval", "0.2", "--idle-threshold", "600"
    ) as agent:
        seen_live(server, "gnomelock", gnome.move_pointer, app="op-epiphany", idle=False)
        causes = ("loginctl lock-session", "sleep")
        for cause in causes:
            if cause == "sleep":
                gnome.logind.prepare_for_sleep(True)
            else:
                gnome.logind.lock()
            wait_for(gnome.screen_locked, f"GNOME to lock on {cause}", log=gnome.log_tail)
            seen_live(server, "gnomelock", gnome.move_pointer, app="op-epiphany", idle=True)
            if cause == "sleep":
                gnome.logind.prepare_for_sleep(False)  # woken up: still locked
                seen_live(server, "gnomelock", gnome.move_pointer, app="op-epiphany", idle=True)
            else:
                done = gnome.probe("--idle-threshold", "600")
                assert "locked      yes (counts as away)" in done.stdout, done.stdout
                assert "[in use] gnome           officepulse's GNOME Shell" in done.stdout
            gnome.logind.unlock()
            wait_for(lambda: not gnome.screen_locked(), "GNOME to unlock", log=gnome.log_tail)
            seen_live(server, "gnomelock", gnome.move_pointer, app="op-epiphany", idle=False)
    assert "Traceback" not in agent.output
    assert gnome.logind.session.hints == [True, False] * len(causes)


def test_the_probe_says_why_the_extension_does_not_answer(gnome: Gnome, browser: Client) -> None:
    """Turned off, then removed, then installed again while the shell runs: each time the
    probe says what is wrong and what to do. The last test of the module: the shell cannot
    load the extension again until it restarts."""

    def window_line() -> str:
        done = gnome.probe()
        assert done.returncode == 0, done.stderr
        return next(line for line in done.stdout.splitlines() if "] gnome  " in line)

    done = gnome.officepulse("install-gnome-extension", "--no-enable")
    assert done.returncode == 0, done.stderr
    assert "not enabled" in done.stdout
    off = gnome.run_as_user(["gsettings", "set", "org.gnome.shell", "enabled-extensions", "[]"])
    assert off.returncode == 0, off.stderr
    wait_for(lambda: _extension_state(gnome) == 2, "the shell to disable the extension")
    assert "is installed but disabled: run `officepulse agent install-gnome-extension`" in (
        window_line()
    )

    done = gnome.officepulse("install-gnome-extension")  # enables it again, live
    assert done.returncode == 0, done.stderr
    wait_for(lambda: _extension_state(gnome) == 1, "the shell to enable the extension again")
    assert "[in use] gnome" in window_line()

    gnome.call(
        "org.gnome.Shell",
        "/org/gnome/Shell",
        "org.gnome.Shell.Extensions",
        "UninstallExtension",
        "s",
        (EXTENSION_UUID,),
    )
    wait_for(lambda: _extension_state(gnome) == 0, "the shell to forget the extension")
    assert "is not installed: run `officepulse agent install-gnome-extension`" in window_line()

    done = gnome.officepulse("install-gnome-extension")
    assert done.returncode == 0, done.stderr
    assert "but GNOME Shell has not loaded it yet: log out and in again" in window_line()
