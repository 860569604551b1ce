"""Pausing the agent: for a while (15 minutes, an hour) or until the person resumes.

A pause is never silent. While it lasts the drivers read nothing of the desktop and send
one activity, ``PAUSED`` (``app="paused", paused=True``): the office shows the person as
paused, and the time is stored as paused time, not as time offline or away.

``PauseState`` is the pure part (time is a parameter). ``Pause`` holds it for the running
agent, keeps it in the state folder so that a restart (a reboot, a crash) does not resume
without the person, and wakes whatever waits on a change. ``hold`` is what a driver runs
while paused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from officepulse.protocol.messages import Activity, Heartbeat

__all__ = ["PAUSED", "PAUSED_APP", "Pause", "PauseState", "hold"]

log = logging.getLogger(__name__)

PAUSED_APP = "paused"
PAUSED = Activity(app=PAUSED_APP, paused=True)
FILE_NAME = "pause.json"


@dataclass(frozen=True, slots=True)
class PauseState:
    """Paused since ``since_ms`` until ``until_ms`` (None: until resumed); both None: running."""

    since_ms: int | None = None
    until_ms: int | None = None

    def active(self, now_ms: int) -> bool:
        if self.since_ms is None:
            return False
        return self.until_ms is None or now_ms < self.until_ms

    def start(self, now_ms: int, seconds: float | None) -> PauseState:
        """Paused from ``now_ms`` for ``seconds`` (None: until resumed). Pausing again
        while paused keeps the start and sets the new end."""
        since = self.since_ms if self.active(now_ms) and self.since_ms is not None else now_ms
        until = None if seconds is None else now_ms + round(seconds * 1000)
        return PauseState(since, until)

    def describe(self, now_ms: int, local: Callable[[int], str]) -> str:
        """ "paused until 14:30", "paused until resumed", or "running"; ``local`` shows an
        instant (ms) on this computer's clock."""
        if not self.active(now_ms):
            return "running"
        if self.until_ms is None:
            return "paused until resumed"
        return f"paused until {local(self.until_ms)}"


def clock_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%H:%M")


class Pause:
    """The running agent's pause. Its methods are called on the agent's event loop (the
    tray's thread goes through ``Controls``)."""

    def __init__(self, state_dir: str | Path | None, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.path = Path(state_dir) / FILE_NAME if state_dir is not None else None
        self.state = self._load()
        self._changed = asyncio.Event()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def active(self) -> bool:
        return self.state.active(self.now_ms())

    def describe(self) -> str:
        return self.state.describe(self.now_ms(), clock_time)

    def start(self, seconds: float | None) -> None:
        self._set(self.state.start(self.now_ms(), seconds))
        log.info("%s (nothing of the desktop is read; the office shows you as paused)", self)

    def resume(self) -> None:
        if self.state.since_ms is not None:
            self._set(PauseState())
            log.info("resumed")

    def __str__(self) -> str:
        return self.describe()

    async def changed(self, within: float | None) -> None:
        """Return when the pause was started, changed or ended since the last return from
        here, or after ``within`` s. (Cleared after the wait, not before: a change made
        while the caller was busy still counts.)"""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._changed.wait()
        self._changed.clear()

    def _set(self, state: PauseState) -> None:
        self.state = state
        self._save()
        self._changed.set()

    def _load(self) -> PauseState:
        if self.path is None:
            return PauseState()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            since, until = data.get("since_ms"), data.get("until_ms")
            if isinstance(since, int) and (until is None or isinstance(until, int)):
                return PauseState(since, until)
        except FileNotFoundError:
            return PauseState()
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("cannot read the pause kept in %s (%s): not paused", self.path, exc)
            return PauseState()
        log.warning("the pause kept in %s makes no sense: not paused", self.path)
        return PauseState()

    def _save(self) -> None:
        if self.path is None:
            return
        try:
            if self.state.since_ms is None:
                self.path.unlink(missing_ok=True)
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_suffix(".tmp")
            scratch.write_text(
                json.dumps({"since_ms": self.state.since_ms, "until_ms": self.state.until_ms}),
                encoding="utf-8",
            )
            os.replace(scratch, self.path)
        except OSError as exc:
            # The pause holds for this run all the same; only a restart would forget it.
            log.warning("cannot keep the pause in %s: %s", self.path, exc)


Emit = Callable[[Heartbeat], Awaitable[None]]


def _instant(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def hold(pause: Pause, emit: Emit, interval: float, not_before_ms: int = 0) -> int:
    """While ``pause`` lasts: emit ``PAUSED`` from when it started (no earlier than
    ``not_before_ms``, the last thing sent), again every ``interval`` seconds, and a last
    time where it ended. Returns that instant (ms)."""
    since = max(pause.state.since_ms or pause.now_ms(), not_before_ms)
    await emit(Heartbeat(ts=_instant(since), activity=PAUSED))
    last = since
    while True:
        now = pause.now_ms()
        state = pause.state
        if not state.active(now):
            # An hour's pause ends at its hour, not when this loop noticed.
            end = state.until_ms if state.until_ms is not None and state.until_ms < now else now
            end = max(end, last)
            await emit(Heartbeat(ts=_instant(end), activity=PAUSED))
            return end
        if now - last >= interval * 1000:
            await emit(Heartbeat(ts=_instant(now), activity=PAUSED))
            last = now
        wait = interval - (now - last) / 1000
        if state.until_ms is not None:
            wait = min(wait, (state.until_ms - now) / 1000)
        await pause.changed(max(0.01, wait))
