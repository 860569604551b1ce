"""The capabilities a desktop source offers, as Protocols with typed samples.

Three capabilities, each its own seam, so that a desktop that offers one and not another
still gives what it can:

- ``WindowSource``: the window in front (``WindowSample``), or None.
- ``IdleSource``: seconds since the last input, and whether the person is away for a reason
  the idle time does not show: the screen is locked or the screensaver is on (``locked``).
- ``LockSource``: only the second half of that, for desktops that tell the lock apart from
  the idle time (GNOME's and KDE's screensaver services, sway's screen locker process, the
  macOS session dictionary).

``locked()`` is part of ``IdleSource`` rather than an infinite ``idle_seconds()``: the idle
time stays the real time since the last input (the driver dates going away from it), and a
locked screen is a separate, plain yes/no. A source that cannot tell returns False, which is
what the default below does for classes that subclass ``IdleSource`` explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from officepulse.errors import OfficepulseError


class SourceUnavailable(OfficepulseError):
    """This desktop cannot be read by this source. The message is for people:
    it says what is missing and, where there is one, what to do about it."""


@dataclass(frozen=True, slots=True)
class WindowSample:
    """The window in front. ``app`` is the application's name as the window
    system knows it (WM_CLASS on X11), ``process`` the executable's name, ``name`` what
    people call the app where the platform says so (Windows: the FileDescription), else
    None (agent/app_names.py)."""

    app: str
    title: str
    process: str | None = None
    pid: int | None = None
    name: str | None = None


class WindowSource(Protocol):
    def active_window(self) -> WindowSample | None:
        """The focused window, or None when nothing has focus."""
        ...

    def close(self) -> None: ...


class IdleSource(Protocol):
    def idle_seconds(self) -> float:
        """Seconds since the person last touched keyboard or mouse."""
        ...

    def locked(self) -> bool:
        """True while the screen is locked or the screensaver is on: the person counts as
        away whatever ``idle_seconds`` says. False when this source cannot tell."""
        return False

    def close(self) -> None: ...


class LockSource(Protocol):
    def locked(self) -> bool:
        """True while the screen is locked or the screensaver is on."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Settles(Protocol):
    """An idle source that learns about idleness from events only (Wayland's idle
    protocols): it knows nothing right after it opens, and at any time only that the
    person has not touched anything for *at least* the time it gives, counted from when it
    started watching, in steps of ``resolution`` seconds. ``settle()`` waits (up to a little
    over ``resolution``) until its first answer is in, for a one-off look such as ``probe``."""

    resolution: float

    def settle(self) -> None: ...


@runtime_checkable
class HasNotes(Protocol):
    """A source that works, but with something a person should know (say, window titles
    are empty until a permission is granted). ``select`` passes these on as notes."""

    @property
    def notes(self) -> tuple[str, ...]: ...
