"""Between the running agent and the windows a person uses (the tray, the settings page).

The agent runs on its own event loop; a tray runs its toolkit's loop in another thread.
``Controls`` is the one way across: the agent ``attach``es its loop and ``publish``es its
``Status``; the tray reads the status and calls ``pause_for``, ``resume``, ``restart`` and
``quit``, which run on the agent's loop. ``status_of`` is the pure rule for what the
status is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from officepulse.agent.pause import Pause
from officepulse.agent.updates import Update

__all__ = ["CATCHING_UP_FROM", "Controls", "State", "Status", "status_of"]

State = Literal["starting", "connected", "catching-up", "offline", "paused", "no-desktop"]

# Spans waiting to be sent, while connected, from which the agent shows it is catching
# up: after every switch one span waits for up to a second, which is not catching up.
CATCHING_UP_FROM = 10


@dataclass(frozen=True, slots=True)
class Status:
    """What the tray shows: ``state`` picks the icon, ``line`` is said in words."""

    state: State
    line: str
    # Not compared: the tray changes when the state or the words do, not at every span.
    waiting: int = field(default=0, compare=False)
    # A newer agent the server told of: the tray's menu has a row for it.
    update: Update | None = None


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%H:%M")


def _spans(n: int) -> str:
    return f"{n:,} span{'' if n == 1 else 's'}"


def status_of(
    *,
    pause: str | None,
    desktop_problem: str | None,
    connected: bool,
    waiting: int,
    offline_since_ms: int | None,
    server_url: str,
    local: Callable[[int], str] = _clock,
    update: Update | None = None,
    outdated: str | None = None,
) -> Status:
    """The status, from the most pressing down: paused (the person's choice), the desktop
    cannot be read, offline (refused as too old: ``outdated`` says why), catching up,
    connected. ``pause`` is how the pause is described ("paused until 14:30"), None when
    not paused. ``update``, a newer agent the server told of, goes with any of them."""
    host = urlsplit(server_url).hostname or server_url
    offline = "offline" if offline_since_ms is None else f"offline since {local(offline_since_ms)}"
    if pause is not None:
        link = "" if connected else f"; {offline}"
        return Status("paused", f"{pause[:1].upper()}{pause[1:]}{link}", waiting, update)
    if desktop_problem is not None:
        line = f"Cannot read this desktop: {desktop_problem}"
        return Status("no-desktop", line, waiting, update)
    if not connected:
        if outdated is not None:
            return Status("offline", f"Update required: {outdated}", waiting, update)
        waits = f" · {_spans(waiting)} waiting" if waiting else ""
        return Status("offline", f"{offline[:1].upper()}{offline[1:]}{waits}", waiting, update)
    if waiting >= CATCHING_UP_FROM:
        line = f"Catching up: {_spans(waiting)} to send"
        return Status("catching-up", line, waiting, update)
    return Status("connected", f"Connected to {host}", waiting, update)


class Controls:
    """Thread-safe. ``on_status`` is called (in the agent's thread) when the status changes."""

    def __init__(self, on_status: Callable[[Status], None] | None = None) -> None:
        self.on_status = on_status
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pause: Pause | None = None
        self._stop: Callable[[], object] | None = None
        self._status = Status("starting", "Starting…")
        self.restart_requested = False
        self.quit_requested = False

    # -- the agent's side ---------------------------------------------------------------

    def attach(
        self, loop: asyncio.AbstractEventLoop, pause: Pause | None, stop: Callable[[], object]
    ) -> None:
        """The agent runs on ``loop``; ``pause`` is None when it cannot pause (a timeline
        replay); ``stop`` ends it (called on that loop)."""
        with self._lock:
            self._loop, self._pause, self._stop = loop, pause, stop

    def detach(self) -> None:
        with self._lock:
            self._loop = self._pause = self._stop = None

    def publish(self, status: Status) -> None:
        with self._lock:
            if status == self._status:
                return
            self._status = status
        if self.on_status is not None:
            self.on_status(status)

    # -- the tray's side ----------------------------------------------------------------

    @property
    def status(self) -> Status:
        with self._lock:
            return self._status

    @property
    def can_pause(self) -> bool:
        with self._lock:
            return self._pause is not None

    @property
    def paused(self) -> bool:
        return self.status.state == "paused"

    def pause_for(self, seconds: float | None) -> None:
        """Pause for ``seconds``, or until ``resume`` (None)."""
        self._on_loop(lambda pause: pause.start(seconds))

    def resume(self) -> None:
        self._on_loop(lambda pause: pause.resume())

    def restart(self) -> None:
        """Stop the agent so that it starts again with the settings read anew."""
        self.restart_requested = True
        self._call_stop()

    def quit(self) -> None:
        self.quit_requested = True
        self._call_stop()

    def _call_stop(self) -> None:
        with self._lock:
            loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop)

    def _on_loop(self, act: Callable[[Pause], None]) -> None:
        with self._lock:
            loop, pause = self._loop, self._pause
        if loop is not None and pause is not None:
            loop.call_soon_threadsafe(act, pause)
