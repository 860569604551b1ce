"""KDE Plasma's compositor for real: one ``kwin_wayland --virtual`` (KWin 5.27 on Debian 12)
on a private session bus for the module, real GTK windows, focus switched by a KWin script
(as a click would), and a real agent in the session reporting to a real server
(tests/support/compositors.py). The agent reads the window in front through its own KWin script;
idle time from ext-idle-notify-v1, reset by input through KWin's fake-input protocol (a
pointer motion, a typed key), which KWin handles as a real device's. The lock screen is
KScreenLocker inside KWin, locked and unlocked through logind's signals (a stand-in for logind
on the session's own system bus, tests/support/logind.py) as ``loginctl lock-session``, sleep
and ``loginctl unlock-session`` do. Its greeter (kscreenlocker_greet) does not start here (no
Qt Wayland platform plugin is installed): KWin locks and unlocks all the same, and the
greeter draws nothing the agent reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from officepulse.agent.sources.wayland_idle import (
    EXT_IDLE_NOTIFY,
    KDE_IDLE,
    IdleProtocol,
    WaylandIdle,
)
from tests.support.compositors import (
    Client,
    KWin,
    live,
    seen_live,
    started,
    stored_windows,
    wait_for,
)
from tests.support.servers import ServerProcess
from tests.support.usage_query import TODAY

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def kwin() -> Iterator[KWin]:
    with started(KWin) as session:
        yield session


@pytest.fixture(scope="module")
def editor(kwin: KWin) -> Client:
    return kwin.window("main.py - officepulse", "op-kate")


@pytest.fixture(scope="module")
def browser(kwin: KWin) -> Client:
    return kwin.window("YouTube - cat video", "op-firefox")


def test_the_agent_follows_every_switch(
    kwin: KWin, editor: Client, browser: Client, server: ServerProcess
) -> None:
    kwin.activate(editor)
    with kwin.agent(server, "--agent-id", "kdedesk", "--poll-interval", "0.2") as agent:
        first = seen_live(server, "kdedesk", app="op-kate")
        assert (first["title"], first["process"]) == ("main.py - officepulse", "python3")
        kwin.activate(browser)
        seen_live(server, "kdedesk", app="op-firefox", title="YouTube - cat video")
        browser.set_title("YouTube - dog video")  # the script follows captionChanged
        seen_live(server, "kdedesk", app="op-firefox", title="YouTube - dog video")
        kwin.activate(editor)
        seen_live(server, "kdedesk", app="op-kate", title="main.py - officepulse")
    out = agent.output
    browser.set_title("YouTube - cat video")
    assert "reading the kde desktop" in out
    assert "Traceback" not in out
    expected = [
        ("op-kate", "main.py - officepulse", editor.pid),
        ("op-firefox", "YouTube - cat video", browser.pid),
        ("op-firefox", "YouTube - dog video", browser.pid),
        ("op-kate", "main.py - officepulse", editor.pid),
    ]
    stored = stored_windows(server, "kdedesk")  # the open span waits in the agent's journal
    assert stored == expected[: len(stored)]
    assert len(stored) >= 3


def test_a_closed_window_hands_the_focus_on(
    kwin: KWin, editor: Client, server: ServerProcess
) -> None:
    scratch = kwin.window("scratch notes", "op-scratch")
    kwin.activate(scratch)
    with kwin.agent(server, "--agent-id", "kdeclose", "--poll-interval", "0.2") as agent:
        seen_live(server, "kdeclose", app="op-scratch")
        scratch.close()  # KWin activates another window, and the script says which
        after = wait_for(
            lambda: (cur := live(server, "kdeclose")) and cur["app"] != "op-scratch" and cur,
            "the focus to move on from the closed window",
        )
        assert after["app"] in ("op-kate", "op-firefox")
    out = agent.output
    assert "Traceback" not in out


@pytest.mark.parametrize("protocol", [EXT_IDLE_NOTIFY, KDE_IDLE], ids=lambda p: p.manager)
def test_idle_time_from_both_protocols(kwin: KWin, editor: Client, protocol: IdleProtocol) -> None:
    """KWin 5.27 offers ext-idle-notify-v1 and org_kde_kwin_idle; both count idle time,
    and input through KWin's input pipeline resets it: a pointer motion, a typed key."""
    idle = WaylandIdle(kwin.env, protocol=protocol, timeout_ms=2000)
    try:
        kwin.move_pointer()
        wait_for(lambda: idle.idle_seconds() >= 2.0, "KWin to say idle")
        kwin.move_pointer()
        wait_for(lambda: idle.idle_seconds() == 0.0, "a pointer motion to reset idle time")
        wait_for(lambda: idle.idle_seconds() >= 2.0, "KWin to say idle again")
        kwin.type_key()
        wait_for(lambda: idle.idle_seconds() == 0.0, "a typed key to reset idle time")
    finally:
        idle.close()


def test_the_agent_goes_idle_and_comes_back(
    kwin: KWin, editor: Client, server: ServerProcess
) -> None:
    kwin.activate(editor)
    kwin.move_pointer()
    with kwin.agent(
        server, "--agent-id", "kdeidle", "--poll-interval", "0.2", "--idle-threshold", "1.5"
    ) as agent:
        seen_live(server, "kdeidle", kwin.move_pointer, app="op-kate", idle=False)
        before = datetime.now(UTC)
        kwin.move_pointer()
        after = datetime.now(UTC)
        away = seen_live(server, "kdeidle", app="op-kate", idle=True)
        since = datetime.fromisoformat(str(away["since"]))
        assert before - timedelta(seconds=1) <= since <= after + timedelta(seconds=1)
        kwin.move_pointer()
        seen_live(server, "kdeidle", kwin.move_pointer, app="op-kate", idle=False)
    out = agent.output
    assert "Traceback" not in out
    (row,) = server.get(f"/api/v1/usage?{TODAY}&group_by=app")["rows"]
    assert row["app"] == "op-kate"
    assert row["idle_seconds"] >= 1.5


@pytest.mark.parametrize("plasma", ["5", None], ids=["KDE_SESSION_VERSION=5", "unset"])
def test_the_probe_names_each_backend_and_why(
    kwin: KWin, editor: Client, plasma: str | None
) -> None:
    """With KDE_SESSION_VERSION=5 the KWin 5 script object is tried first; without it, the
    KWin 6 one (/Scripting/Script<id>) is, and KWin 5.27 then takes the other."""
    kwin.activate(editor)
    env = kwin.agent_env
    if plasma is None:
        del env["KDE_SESSION_VERSION"]
    done = kwin.officepulse("--idle-threshold", "60", "probe", env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[in use] kde             a KWin script that reports the active window" in out
    assert "[ n/a  ] sway            not a sway session (SWAYSOCK is not set)" in out
    assert "[ n/a  ] gnome           not a GNOME session" in out
    assert "[ n/a  ] hyprland        not a Hyprland session" in out
    assert "[ n/a  ] x11             no XWayland display (DISPLAY is not set)" in out
    assert "[in use] ext-idle-notify the Wayland protocol ext-idle-notify-v1" in out
    assert "[works ] kde-idle        the Wayland protocol org_kde_kwin_idle" in out
    assert "[failed] screensaver     cannot read idle time" in out  # not on Wayland
    assert "  lock      [ n/a  ] x11" in out
    assert "[in use] screensaver     org.freedesktop.ScreenSaver.GetActive" in out
    assert "window      app 'op-kate', title 'main.py - officepulse'" in out
    assert f"process python3, pid {editor.pid}" in out
    assert "locked      no" in out


def test_lock_and_sleep_count_as_away(kwin: KWin, editor: Client, server: ServerProcess) -> None:
    """KWin's screen locker (KScreenLocker, inside KWin) locks when logind says so: the
    session's Lock signal (``loginctl lock-session``) and PrepareForSleep (it locks before
    the computer sleeps); and when asked on org.freedesktop.ScreenSaver (Plasma's "Lock
    Session"). It unlocks on the session's Unlock signal (``loginctl unlock-session``).
    logind is a stand-in on the session's own system bus; KWin and its locker are real.
    Each lock counts as away, though input goes on, and the agent is active again once
    unlocked; KWin tells logind each time (SetLockedHint)."""
    kwin.activate(editor)
    kwin.move_pointer()
    with kwin.agent(
        server, "--agent-id", "kdelock", "--poll-interval", "0.2", "--idle-threshold", "600"
    ) as agent:
        seen_live(server, "kdelock", kwin.move_pointer, app="op-kate", idle=False)
        causes = ("loginctl lock-session", "sleep", "org.freedesktop.ScreenSaver.Lock")
        for cause in causes:
            if cause == "sleep":
                kwin.logind.prepare_for_sleep(True)
            elif cause == "loginctl lock-session":
                kwin.logind.lock()
            else:
                kwin.lock()
            seen_live(server, "kdelock", kwin.move_pointer, idle=True)
            if cause == "sleep":
                kwin.logind.prepare_for_sleep(False)  # woken up: still locked
                seen_live(server, "kdelock", kwin.move_pointer, idle=True)
            if cause == causes[0]:
                done = kwin.probe("--idle-threshold", "600")
                assert "locked      yes (counts as away)" in done.stdout, done.stdout
            kwin.logind.unlock()
            seen_live(server, "kdelock", kwin.move_pointer, app="op-kate", idle=False)
    assert "Traceback" not in agent.output
    assert kwin.logind.session.hints == [True, False] * len(causes)
