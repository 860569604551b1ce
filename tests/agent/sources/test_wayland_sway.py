"""sway for real: one headless sway (wlroots' headless backend) for the module, real foot
terminals with their own app ids and titles, focus switched with swaymsg, and a real agent
in the session reporting to a real server (tests/support/compositors.py).

Idle time comes from whichever idle protocol sway offers: Debian 12's sway 1.7 has
``org_kde_kwin_idle`` only, sway 1.8 and later ``ext-idle-notify-v1``; input that resets it
is a pointer motion of the seat (swaymsg) or a key typed through a virtual keyboard (wtype).
sway has no lock-screen query: a locked screen is swaylock's process, run here for real,
by the test or by swayidle on logind's signals (sleep, ``loginctl lock-session``; logind is a
stand-in on the session's own system bus, tests/support/logind.py).
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from officepulse.agent.sources.base import SourceUnavailable
from officepulse.agent.sources.wayland_idle import (
    EXT_IDLE_NOTIFY,
    KDE_IDLE,
    IdleProtocol,
    WaylandConnection,
    WaylandIdle,
)
from tests.support.compositors import (
    WAIT,
    Client,
    Sway,
    seen_live,
    started,
    stored_windows,
    wait_for,
)
from tests.support.servers import ServerProcess
from tests.support.usage_query import TODAY

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sway() -> Iterator[Sway]:
    with started(Sway) as session:
        yield session


@pytest.fixture(scope="module")
def editor(sway: Sway) -> Client:
    return sway.foot("op-editor", "main.py - officepulse")


@pytest.fixture(scope="module")
def browser(sway: Sway) -> Client:
    return sway.foot("op-browser", "YouTube - cat video")


def _offered(sway: Sway) -> set[str]:
    conn = WaylandConnection(sway.env["XDG_RUNTIME_DIR"] + "/" + sway.display)
    try:
        return {interface for interface, _ in conn.globals.values()}
    finally:
        conn.close()


def test_the_agent_follows_every_switch(
    sway: Sway, editor: Client, browser: Client, server: ServerProcess
) -> None:
    sway.focus(editor)
    with sway.agent(server, "--agent-id", "swaydesk", "--poll-interval", "0.2") as agent:
        first = seen_live(server, "swaydesk", app="op-editor")
        assert (first["title"], first["process"]) == ("main.py - officepulse", "foot")
        sway.focus(browser)
        seen_live(server, "swaydesk", app="op-browser", title="YouTube - cat video")
        browser.set_title("YouTube - dog video")
        seen_live(server, "swaydesk", app="op-browser", title="YouTube - dog video")
        sway.focus(editor)
        seen_live(server, "swaydesk", app="op-editor", title="main.py - officepulse")
    out = agent.output
    browser.set_title("YouTube - cat video")
    assert "reading the sway desktop" in out
    assert "Traceback" not in out
    expected = [
        ("op-editor", "main.py - officepulse", editor.pid),
        ("op-browser", "YouTube - cat video", browser.pid),
        ("op-browser", "YouTube - dog video", browser.pid),
        ("op-editor", "main.py - officepulse", editor.pid),
    ]
    # The spans carry the pid; the one still open when the agent stopped waits in the
    # agent's journal for its next connection.
    stored = stored_windows(server, "swaydesk")
    assert stored == expected[: len(stored)]
    assert len(stored) >= 3


@pytest.mark.parametrize("protocol", [EXT_IDLE_NOTIFY, KDE_IDLE], ids=lambda p: p.manager)
def test_idle_time_from_the_protocols_sway_offers(
    sway: Sway, editor: Client, protocol: IdleProtocol
) -> None:
    """Each idle protocol sway offers gives idle time that input resets; one it lacks is
    refused naming it. sway 1.7 (Debian 12) offers only org_kde_kwin_idle."""
    offered = _offered(sway)
    if str(sway.version()).startswith("1.7"):
        assert KDE_IDLE.manager in offered
        assert EXT_IDLE_NOTIFY.manager not in offered
    if protocol.manager not in offered:
        with pytest.raises(SourceUnavailable, match=f"does not offer {protocol.name}"):
            WaylandIdle(sway.env, protocol=protocol)
        return
    # A 2 s timeout leaves the test that long to see "active" after each input.
    idle = WaylandIdle(sway.env, protocol=protocol, timeout_ms=2000)
    try:
        sway.move_pointer()
        wait_for(lambda: idle.idle_seconds() >= 2.0, f"{protocol.name} to say idle")
        sway.move_pointer()  # a pointer motion
        wait_for(lambda: idle.idle_seconds() == 0.0, "the pointer motion to reset idle time")
        wait_for(lambda: idle.idle_seconds() >= 2.0, f"{protocol.name} to say idle again")
        # a key typed through a virtual keyboard (the seat has no keyboard of its own)
        subprocess.run(["wtype", "x"], env=sway.env, check=True, timeout=10)
        wait_for(lambda: idle.idle_seconds() == 0.0, "a typed key to reset idle time")
    finally:
        idle.close()


def test_the_agent_goes_idle_and_comes_back(
    sway: Sway, editor: Client, server: ServerProcess
) -> None:
    sway.focus(editor)
    sway.move_pointer()
    with sway.agent(
        server, "--agent-id", "swayidle", "--poll-interval", "0.2", "--idle-threshold", "1.5"
    ) as agent:
        seen_live(server, "swayidle", sway.move_pointer, app="op-editor", idle=False)
        before = datetime.now(UTC)
        sway.move_pointer()  # the last input before the person walks away
        after = datetime.now(UTC)
        away = seen_live(server, "swayidle", app="op-editor", idle=True)
        # Dated from the last input, not from when the threshold passed (1.5 s later).
        since = datetime.fromisoformat(str(away["since"]))
        assert before - timedelta(seconds=1) <= since <= after + timedelta(seconds=1)
        sway.move_pointer()
        seen_live(server, "swayidle", sway.move_pointer, app="op-editor", idle=False)
    out = agent.output
    assert "Traceback" not in out
    (row,) = server.get(f"/api/v1/usage?{TODAY}&group_by=app")["rows"]
    assert row["app"] == "op-editor"
    assert row["idle_seconds"] >= 1.5


def test_an_app_that_inhibits_idle_keeps_the_person_active(
    sway: Sway, editor: Client, server: ServerProcess
) -> None:
    """A window that inhibits idle (a playing video; here sway's ``inhibit_idle open`` on
    the editor, the inhibition a client's zwp_idle_inhibit_v1 sets): sway 1.7's
    org_kde_kwin_idle then stops its timers without saying "resumed", and someone idle
    when it began stayed idle to it whatever input came, until it ended (found here). The
    agent reads from sway's tree that a window inhibits idle and counts the person active
    meanwhile, as newer sways' ext-idle-notify-v1 does; afterwards idle time counts from
    the end of it."""
    sway.focus(editor)
    with sway.agent(
        server, "--agent-id", "swayvideo", "--poll-interval", "0.2", "--idle-threshold", "1.5"
    ) as agent:
        seen_live(server, "swayvideo", sway.move_pointer, app="op-editor", idle=False)
        seen_live(server, "swayvideo", app="op-editor", idle=True)  # no input: away
        sway.msg(f'[app_id="{editor.app_id}"] inhibit_idle open')
        try:
            # Input while the video plays (the person is back): active again.
            seen_live(server, "swayvideo", sway.move_pointer, app="op-editor", idle=False)
        finally:
            sway.msg(f'[app_id="{editor.app_id}"] inhibit_idle none')
        seen_live(server, "swayvideo", app="op-editor", idle=True)  # idle since it ended
        seen_live(server, "swayvideo", sway.move_pointer, app="op-editor", idle=False)
    assert "Traceback" not in agent.output


def test_the_probe_names_each_backend_and_why(sway: Sway, editor: Client) -> None:
    sway.focus(editor)
    done = sway.probe("--idle-threshold", "60")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "linux, wayland session" in out
    assert "  window    [in use] sway            the focused node of sway's tree" in out
    assert "[ n/a  ] kde             not a KDE Plasma session" in out
    assert "[ n/a  ] gnome           not a GNOME session" in out
    assert (
        "[ n/a  ] hyprland        not a Hyprland session (HYPRLAND_INSTANCE_SIGNATURE is not set)"
        in out
    )
    assert "[ n/a  ] x11             no XWayland display (DISPLAY is not set)" in out
    if str(sway.version()).startswith("1.7"):
        assert (
            "[failed] ext-idle-notify the Wayland compositor does not offer ext-idle-notify-v1"
            in out
        )
        assert "[in use] kde-idle        the Wayland protocol org_kde_kwin_idle" in out
    assert "window      app 'op-editor', title 'main.py - officepulse'" in out
    assert f"process foot, pid {editor.pid}" in out
    idle = next(line for line in out.splitlines() if line.startswith("idle "))
    assert "since the last input → " in idle
    assert idle.split()[1] in ("less", "at"), idle  # a lower bound, said as one
    assert "[in use] sway            a screen locker's process" in out
    assert "locked      no" in out


def test_a_locked_screen_counts_as_away(sway: Sway, editor: Client, server: ServerProcess) -> None:
    """swaylock running in the session: away while it runs, though the person's input goes
    on and the idle threshold is ten minutes off; active again once it unlocks.

    sway itself does nothing when the computer is about to sleep, or when logind is asked to
    lock the session (``loginctl lock-session``): people have swayidle run a locker then
    (swayidle(1): ``before-sleep``, ``lock``), which it does on logind's PrepareForSleep and
    the session's Lock signal. Here logind is a stand-in on the session's own system bus;
    swayidle and swaylock are real, and each such lock counts as away too."""
    sway.focus(editor)
    with sway.agent(
        server, "--agent-id", "swaylocked", "--poll-interval", "0.2", "--idle-threshold", "600"
    ) as agent:
        seen_live(server, "swaylocked", sway.move_pointer, app="op-editor", idle=False)
        locker = sway.lock()
        try:

            def input_while_locked() -> None:
                sway.alive(locker, "swaylock")
                sway.move_pointer()

            # swaylock takes the focus: sway's tree has no focused window while it runs,
            # and the editor goes on, away.
            seen_live(server, "swaylocked", input_while_locked, app="op-editor", idle=True)
            assert sway.focused() is None
            probe = sway.probe("--idle-threshold", "600")
            assert probe.returncode == 0, probe.stderr
            assert "locked      yes (counts as away)" in probe.stdout
            assert "would send  nothing new (the last activity goes on, away)" in probe.stdout
        finally:
            locker.send_signal(signal.SIGUSR1)  # swaylock unlocks and exits
            assert locker.wait(WAIT) == 0, sway.log_tail()
        seen_live(server, "swaylocked", sway.move_pointer, app="op-editor", idle=False)

        detached = "swaylock -f --color 000000"  # -f: detach once locked, as swayidle(1) advises
        swayidle = sway.swayidle("before-sleep", detached, "lock", detached)
        try:
            for cause in ("sleep", "loginctl lock-session"):
                if cause == "sleep":
                    sway.logind.prepare_for_sleep(True)
                else:
                    sway.logind.lock()
                wait_for(sway.lockers, f"swayidle to run swaylock on {cause}")
                seen_live(server, "swaylocked", sway.move_pointer, app="op-editor", idle=True)
                if cause == "sleep":
                    sway.logind.prepare_for_sleep(False)  # woken up: still locked
                    seen_live(server, "swaylocked", sway.move_pointer, app="op-editor", idle=True)
                    assert sway.lockers()
                sway.unlock()
                seen_live(server, "swaylocked", sway.move_pointer, app="op-editor", idle=False)
        finally:
            swayidle.terminate()
            swayidle.wait(WAIT)
    assert "Traceback" not in agent.output
