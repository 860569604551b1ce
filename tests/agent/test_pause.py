"""Pausing the agent: the pure pause, what the drivers send while it lasts (and that they
read nothing of the desktop meanwhile), the pause kept across restarts, and the status
the tray shows. The tray itself, end to end with a real server: tests/agent/test_tray.py."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from officepulse.agent.controls import Controls, Status
from officepulse.agent.drivers import DesktopDriver, NoDesktop
from officepulse.agent.pause import PAUSED, Pause, PauseState
from officepulse.agent.privacy import NO_RULES
from officepulse.agent.sources.base import SourceUnavailable, WindowSample
from officepulse.protocol.messages import Activity, Heartbeat
from tests.support.pause_status import status
from tests.support.replayed_desktop import ReplayedDesktop

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
EDITOR = WindowSample("Code", "main.py - officepulse", "code", 10)
EDITING = Activity(app="Code", title="main.py - officepulse", process="code", pid=10)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ms(seconds: float) -> int:
    return int(at(seconds).timestamp() * 1000)


class Clock:
    """Moved by the test only."""

    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now

    def to(self, seconds: float) -> None:
        self.now = T0.timestamp() + seconds


def test_a_pause_for_a_while_ends_by_itself() -> None:
    state = PauseState().start(ms(0), 900)
    assert state.active(ms(899))
    assert not state.active(ms(900))
    assert state.describe(ms(1), lambda t: f"<{t}>") == f"paused until <{ms(900)}>"
    assert state.describe(ms(901), str) == "running"


def test_a_pause_until_resumed_lasts_and_pausing_again_keeps_its_start() -> None:
    state = PauseState().start(ms(0), None)
    assert state.active(ms(10**6))
    assert state.describe(ms(5), str) == "paused until resumed"
    longer = state.start(ms(60), 3600)
    assert longer == PauseState(ms(0), ms(3660))
    # Once it has ended, a new pause starts anew.
    assert PauseState(ms(0), ms(10)).start(ms(20), None) == PauseState(ms(20), None)


def test_a_pause_is_kept_in_the_state_folder_across_restarts(tmp_path: Path) -> None:
    clock = Clock()
    Pause(tmp_path, clock).start(None)
    again = Pause(tmp_path, clock)  # the agent started again
    assert again.active()
    assert again.describe() == "paused until resumed"
    again.resume()
    assert not (tmp_path / "pause.json").exists()
    assert not Pause(tmp_path, clock).active()


def test_a_garbled_pause_file_is_said_and_not_obeyed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "pause.json").write_text('{"since_ms": "yesterday"}')
    with caplog.at_level(logging.WARNING):
        assert not Pause(tmp_path).active()
    assert "makes no sense: not paused" in caplog.text


async def drive(
    desktop: ReplayedDesktop, clock: Clock, pause: Pause, on_beat: dict[int, object]
) -> list[tuple[datetime, Activity]]:
    """Run a DesktopDriver over ``desktop`` until the replay is over; ``on_beat[n]`` is
    called as the n-th heartbeat (from 0) is emitted: the person clicking in the tray."""
    beats: list[tuple[datetime, Activity]] = []

    async def emit(beat: Heartbeat) -> None:
        beats.append((beat.ts, beat.activity))
        act = on_beat.get(len(beats) - 1)
        if callable(act):
            act()

    driver = DesktopDriver(
        desktop,
        desktop,
        poll_interval=0,
        idle_threshold=180,
        clock=clock,
        privacy=NO_RULES,
        introspect=None,
        pause=pause,
    )
    with pytest.raises(SourceUnavailable, match="the replay is over"):
        async with asyncio.timeout(10):
            await driver.run(emit, interval=10)
    return beats


async def test_while_paused_the_desktop_is_not_read_and_paused_is_sent() -> None:
    clock = Clock()
    pause = Pause(None, clock)
    desktop = ReplayedDesktop([EDITOR, EDITOR])

    def click_pause() -> None:
        clock.to(5)
        pause.start(None)

    def later() -> None:
        clock.to(20)

    def click_resume() -> None:
        clock.to(25)
        pause.resume()

    beats = await drive(desktop, clock, pause, {0: click_pause, 1: later, 2: click_resume})
    assert beats == [
        (at(0), EDITING),
        (at(5), PAUSED),  # dated at the click: the editor's span ends there
        (at(20), PAUSED),  # every interval while it lasts
        (at(25), PAUSED),  # and where it ended
        (at(25), EDITING),  # the first look after it, at once
    ]
    assert desktop.polls == 2  # nothing was read in between


async def test_a_pause_for_a_while_ends_at_its_end_not_when_it_is_noticed() -> None:
    clock = Clock()
    pause = Pause(None, clock)
    desktop = ReplayedDesktop([EDITOR, EDITOR])

    def click_pause() -> None:
        clock.to(5)
        pause.start(60)

    def much_later() -> None:
        clock.to(100)  # a laptop asleep over the end of the pause

    beats = await drive(desktop, clock, pause, {0: click_pause, 1: much_later})
    assert beats == [(at(0), EDITING), (at(5), PAUSED), (at(65), PAUSED), (at(100), EDITING)]


async def test_a_pause_is_sent_when_the_desktop_cannot_be_read() -> None:
    clock = Clock()
    pause = Pause(None, clock)
    beats: list[tuple[datetime, Activity]] = []
    gaps: list[datetime] = []
    ended = asyncio.Event()

    async def emit(beat: Heartbeat) -> None:
        beats.append((beat.ts, beat.activity))
        if len(beats) == 1:
            clock.to(30)
            pause.resume()

    async def gap(ts: datetime) -> None:
        gaps.append(ts)
        ended.set()

    def nothing() -> DesktopDriver:
        raise SourceUnavailable("still no display")

    clock.to(3)
    pause.start(None)
    driver = NoDesktop("no display", nothing, every=3600, pause=pause, gap=gap)
    task = asyncio.create_task(driver.run(emit, interval=10))
    async with asyncio.timeout(10):
        await ended.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert beats == [(at(3), PAUSED), (at(30), PAUSED)]
    assert gaps == [at(30)]  # nothing to go back to: the paused span ends there


# An agent that cannot read its desktop tells the office why: at once, and again after a
# pause, since there is no activity to go back to (end to end, a real agent's card says it:
# tests/panel/test_office_browser.py).
WHY = "this is a Wayland session whose compositor this agent cannot read"


async def test_the_reason_is_told_at_once_and_again_after_a_pause() -> None:
    clock = Clock()
    pause = Pause(None, clock)
    told: list[tuple[datetime, str]] = []
    beats: list[tuple[datetime, Activity]] = []
    again = asyncio.Event()

    async def unseen(ts: datetime, reason: str) -> None:
        told.append((ts, reason))
        if len(told) == 1:
            clock.to(10)
            pause.start(None)  # the person pauses, then resumes at 40
        else:
            again.set()

    async def emit(beat: Heartbeat) -> None:
        beats.append((beat.ts, beat.activity))
        if len(beats) == 1:
            clock.to(40)
            pause.resume()

    def nothing() -> DesktopDriver:
        raise SourceUnavailable("still no display")

    clock.to(3)
    driver = NoDesktop(WHY, nothing, every=3600, pause=pause, unseen=unseen, clock=clock)
    task = asyncio.create_task(driver.run(emit, interval=10))
    async with asyncio.timeout(10):
        await again.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert told == [(at(3), WHY), (at(40), WHY)]
    assert beats == [(at(10), PAUSED), (at(40), PAUSED)]


def test_the_status_goes_from_the_most_pressing_down() -> None:
    assert status() == Status("connected", "Connected to office.example.com")
    assert status(waiting=9).state == "connected"  # a span or two between sends
    assert status(waiting=1234) == Status("catching-up", "Catching up: 1,234 spans to send")
    assert status(connected=False, offline_since_ms=1, waiting=1) == Status(
        "offline", "Offline since 14:02 · 1 span waiting"
    )
    unreadable = status(connected=False, desktop_problem="no display")
    assert unreadable == Status("no-desktop", "Cannot read this desktop: no display")
    paused = status(pause="paused until 15:00", desktop_problem="no display", connected=False)
    assert paused == Status("paused", "Paused until 15:00; offline")


async def test_the_controls_act_on_the_agents_loop_and_tell_changes_once() -> None:
    told: list[Status] = []
    controls = Controls(on_status=told.append)
    pause = Pause(None)
    stopped = asyncio.Event()
    controls.attach(asyncio.get_running_loop(), pause, stopped.set)
    assert controls.can_pause
    # The tray calls these from its own thread.
    await asyncio.to_thread(controls.pause_for, 900)
    await pause.changed(10)
    assert pause.active()
    await asyncio.to_thread(controls.resume)
    await pause.changed(10)
    assert not pause.active()
    controls.publish(Status("connected", "Connected to x"))
    controls.publish(Status("connected", "Connected to x", waiting=3))  # the same to the eye
    assert told == [Status("connected", "Connected to x")]
    await asyncio.to_thread(controls.quit)
    async with asyncio.timeout(10):
        await stopped.wait()
    assert controls.quit_requested
