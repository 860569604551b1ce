"""The capabilities a desktop source offers, as Protocols with typed samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SourceUnavailable(Exception):
    """This desktop cannot be read by this source. The message is for people:
    it says what is missing and, where there is one, what to do about it."""


@dataclass(frozen=True, slots=True)
class WindowSample:
    """The window in front. ``app`` is the application's name as the window
    system knows it (WM_CLASS on X11), ``process`` the executable's name."""

    app: str
    title: str
    process: str | None = None
    pid: int | None = None


class WindowSource(Protocol):
    def active_window(self) -> WindowSample | None:
        """The focused window, or None when nothing has focus."""
        ...

    def close(self) -> None: ...


class IdleSource(Protocol):
    def idle_seconds(self) -> float:
        """Seconds since the person last touched keyboard or mouse."""
        ...

    def close(self) -> None: ...
