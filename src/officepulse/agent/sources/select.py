"""Choose the desktop backends at run time from the platform and the session.

Three tables of candidates, one per capability, in order of preference:

- ``WINDOWS``: which window is in front (one is used: the first that opens);
- ``IDLES``: seconds since the last input (one is used: the first that opens);
- ``LOCKS``: whether the screen is locked (every one that opens is asked; any "yes" counts).

A candidate says whether it applies to this session (``applies`` gives the reason when it does
not) and how to open it; opening checks, with a real call, that the thing is there, and raises
``SourceUnavailable`` with a reason a person can act on. Connections that several candidates
use (the X display, the D-Bus session bus) are opened once per desktop, by ``Resources``.

``open_desktop`` returns a ``Desktop`` as soon as a window source opens; a missing idle time or
lock is not an error but a note (``Desktop.notes``), said once, and the rest keeps working.
``survey`` opens every candidate that applies and reports each, for ``officepulse agent probe``.

Nothing here opens anything at import time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from officepulse.agent.sources.base import (
    HasNotes,
    IdleSource,
    LockSource,
    SourceUnavailable,
    WindowSource,
)

Capability = Literal["window", "idle", "lock"]
T = TypeVar("T")


class _Closeable(Protocol):
    def close(self) -> None: ...


# -- the session ------------------------------------------------------------------------


def session_kind(platform: str, environ: Mapping[str, str]) -> str:
    """x11, wayland, macos, windows or unknown."""
    if platform == "darwin":
        return "macos"
    if platform == "win32":
        return "windows"
    if platform.startswith("linux") or "bsd" in platform:
        session = environ.get("XDG_SESSION_TYPE", "").lower()
        if session == "wayland" or (environ.get("WAYLAND_DISPLAY") and session != "x11"):
            return "wayland"
        if environ.get("DISPLAY") or session == "x11":
            return "x11"
    return "unknown"


@dataclass(frozen=True, slots=True)
class Session:
    """What the platform and the environment say about the desktop session."""

    platform: str
    environ: Mapping[str, str]
    kind: str
    # XDG_CURRENT_DESKTOP's entries in lower case, and "kde" for KDE_FULL_SESSION=true
    desktops: frozenset[str]

    @classmethod
    def of(cls, platform: str, environ: Mapping[str, str]) -> Session:
        desktops = {
            part.strip().lower()
            for part in environ.get("XDG_CURRENT_DESKTOP", "").split(":")
            if part.strip()
        }
        if environ.get("KDE_FULL_SESSION", "").lower() == "true":
            desktops.add("kde")
        return cls(platform, environ, session_kind(platform, environ), frozenset(desktops))

    @property
    def unix_desktop(self) -> bool:
        return self.platform.startswith("linux") or "bsd" in self.platform

    def is_desktop(self, name: str) -> bool:
        return any(name in entry for entry in self.desktops)


# -- shared connections -----------------------------------------------------------------


class Resources:
    """What the candidates of one desktop share, opened on first use and closed together.

    A connection that failed to open is not tried again by the same ``Resources``: every
    candidate that needs it gets the same reason.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.environ = session.environ
        self._shared: dict[str, object] = {}
        self._failed: dict[str, SourceUnavailable] = {}
        self._owned: list[_Closeable] = []

    def shared(self, key: str, opener: Callable[[], T]) -> T:
        if key in self._failed:
            raise self._failed[key]
        if key not in self._shared:
            try:
                thing = opener()
            except SourceUnavailable as exc:
                self._failed[key] = exc
                raise
            self._shared[key] = thing
            self._owned.append(thing)  # type: ignore[arg-type]  # every opener gives a closeable
        return self._shared[key]  # type: ignore[return-value]  # stored by the same key

    def own(self, thing: T) -> T:
        """Close ``thing`` with the rest (for a candidate's own connection)."""
        self._owned.append(thing)  # type: ignore[arg-type]
        return thing

    def x11(self) -> Any:
        from officepulse.agent.sources.x11 import X11Desktop

        return self.shared("x11", lambda: X11Desktop(self.environ.get("DISPLAY")))

    def session_bus(self) -> Any:
        from officepulse.agent.sources._dbus import SessionBus

        return self.shared("dbus", lambda: SessionBus(self.environ))

    def macos(self) -> Any:
        from officepulse.agent.sources.macos import MacDesktop

        return self.shared("macos", MacDesktop)

    def windows(self) -> Any:
        from officepulse.agent.sources.windows import WindowsDesktop

        return self.shared("windows", WindowsDesktop)

    def close(self) -> None:
        """Close everything opened, last first, each once."""
        owned, self._owned = self._owned, []
        self._shared.clear()
        seen: set[int] = set()
        for thing in reversed(owned):
            if id(thing) not in seen:
                seen.add(id(thing))
                thing.close()


# -- the candidates -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate(Generic[T]):
    name: str
    reads: str
    applies: Callable[[Session], str | None]  # None when it applies, else why not
    open: Callable[[Resources], T]


def _needs_env(variable: str, what: str) -> Callable[[Session], str | None]:
    def applies(session: Session) -> str | None:
        return None if session.environ.get(variable) else f"not {what} ({variable} is not set)"

    return applies


def _on(platform: str, name: str) -> Callable[[Session], str | None]:
    def applies(session: Session) -> str | None:
        return None if session.platform == platform else f"only on {name}"

    return applies


def _wayland_desktop(desktop: str, name: str) -> Callable[[Session], str | None]:
    def applies(session: Session) -> str | None:
        if not session.is_desktop(desktop):
            return f"not a {name} session (XDG_CURRENT_DESKTOP does not name it)"
        if session.kind != "wayland":
            return f"{name} on X11 is read through X11"
        return None

    return applies


def _desktop(desktop: str, name: str) -> Callable[[Session], str | None]:
    def applies(session: Session) -> str | None:
        if not session.unix_desktop or not session.is_desktop(desktop):
            return f"not a {name} session (XDG_CURRENT_DESKTOP does not name it)"
        return None

    return applies


def _x11_windows(session: Session) -> str | None:
    if not session.unix_desktop:
        return "not a Linux or BSD desktop"
    if session.kind == "x11" or (session.kind == "wayland" and session.environ.get("DISPLAY")):
        return None
    if session.kind == "wayland":
        return "no XWayland display (DISPLAY is not set)"
    return "no X display (DISPLAY is not set)"


def _x11_session(session: Session) -> str | None:
    if session.kind == "x11":
        return None
    if session.kind == "wayland":
        return "a Wayland session: XWayland's counters see only X11 windows"
    return "not an X11 session"


def _wayland(session: Session) -> str | None:
    return None if session.kind == "wayland" else "not a Wayland session"


def _session_bus(session: Session) -> str | None:
    if not session.unix_desktop:
        return "not a Linux or BSD desktop"
    if session.kind == "unknown":
        return "no graphical session"
    return None


def _open_sway(r: Resources) -> WindowSource:
    from officepulse.agent.sources.sway import SwayWindow

    return r.own(SwayWindow(r.environ))


def _open_hyprland(r: Resources) -> WindowSource:
    from officepulse.agent.sources.hyprland import HyprlandWindow

    return r.own(HyprlandWindow(r.environ))


def _open_kwin(r: Resources) -> WindowSource:
    from officepulse.agent.sources.kde import KWinScriptWindow

    return r.own(KWinScriptWindow(r.session_bus(), r.environ))


def _open_gnome_window(r: Resources) -> WindowSource:
    from officepulse.agent.sources.gnome import OfficepulseExtensionWindow

    return r.own(OfficepulseExtensionWindow(r.session_bus(), r.environ))


def _open_focused_window(r: Resources) -> WindowSource:
    from officepulse.agent.sources.gnome import GnomeFocusedWindow

    return r.own(GnomeFocusedWindow(r.session_bus()))


def _open_gnome_eval(r: Resources) -> WindowSource:
    from officepulse.agent.sources.gnome import GnomeShellEval

    return r.own(GnomeShellEval(r.session_bus()))


def _open_x11_window(r: Resources) -> WindowSource:
    desktop: WindowSource = r.x11()
    return desktop


def _open_x11_idle(r: Resources) -> IdleSource:
    desktop = r.x11()
    if not desktop.idle_available:
        raise SourceUnavailable(str(desktop.idle_unavailable_reason))
    idle: IdleSource = desktop
    return idle


def _open_x11_lock(r: Resources) -> LockSource:
    desktop = r.x11()
    if not desktop.idle_available:
        raise SourceUnavailable(str(desktop.idle_unavailable_reason))
    lock: LockSource = desktop
    return lock


def _open_mutter(r: Resources) -> IdleSource:
    from officepulse.agent.sources.gnome import MutterIdle

    return r.own(MutterIdle(r.session_bus()))


def _open_ext_idle(r: Resources) -> IdleSource:
    from officepulse.agent.sources.wayland_idle import EXT_IDLE_NOTIFY, WaylandIdle

    return r.own(WaylandIdle(r.environ, protocol=EXT_IDLE_NOTIFY))


def _open_kde_idle(r: Resources) -> IdleSource:
    from officepulse.agent.sources.wayland_idle import KDE_IDLE, WaylandIdle

    return r.own(WaylandIdle(r.environ, protocol=KDE_IDLE))


def _open_screensaver_idle(r: Resources) -> IdleSource:
    from officepulse.agent.sources.screensaver import ScreenSaverIdle

    return r.own(ScreenSaverIdle(r.session_bus()))


def _open_sway_lock(r: Resources) -> LockSource:
    from officepulse.agent.sources.sway import SwayLock

    return r.own(SwayLock(r.environ))


def _open_gnome_lock(r: Resources) -> LockSource:
    from officepulse.agent.sources.gnome import GnomeScreenSaverLock

    return r.own(GnomeScreenSaverLock(r.session_bus()))


def _open_screensaver_lock(r: Resources) -> LockSource:
    from officepulse.agent.sources.screensaver import ScreenSaverLock

    return r.own(ScreenSaverLock(r.session_bus()))


def _open_macos(r: Resources) -> Any:
    return r.macos()


def _open_windows(r: Resources) -> Any:
    return r.windows()


WINDOWS: tuple[Candidate[WindowSource], ...] = (
    Candidate(
        "sway",
        "the focused node of sway's tree (IPC GET_TREE on $SWAYSOCK)",
        _needs_env("SWAYSOCK", "a sway session"),
        _open_sway,
    ),
    Candidate(
        "hyprland",
        "Hyprland's active window (j/activewindow on its socket, as hyprctl)",
        _needs_env("HYPRLAND_INSTANCE_SIGNATURE", "a Hyprland session"),
        _open_hyprland,
    ),
    Candidate(
        "kde",
        "a KWin script that reports the active window over D-Bus",
        _wayland_desktop("kde", "KDE Plasma"),
        _open_kwin,
    ),
    Candidate(
        "gnome",
        "officepulse's GNOME Shell extension (org.officepulse.FocusedWindow)",
        _wayland_desktop("gnome", "GNOME"),
        _open_gnome_window,
    ),
    Candidate(
        "focused-window",
        "the third-party Focused Window D-Bus GNOME Shell extension",
        _wayland_desktop("gnome", "GNOME"),
        _open_focused_window,
    ),
    Candidate(
        "gnome-eval",
        "org.gnome.Shell.Eval (GNOME 40 and older, or unsafe mode)",
        _wayland_desktop("gnome", "GNOME"),
        _open_gnome_eval,
    ),
    Candidate(
        "x11",
        "_NET_ACTIVE_WINDOW, WM_CLASS, _NET_WM_NAME and _NET_WM_PID on the X display",
        _x11_windows,
        _open_x11_window,
    ),
    Candidate(
        "macos",
        "NSRunningApplication and Accessibility titles",
        _on("darwin", "macOS"),
        _open_macos,
    ),
    Candidate(
        "windows",
        "GetForegroundWindow, GetWindowTextW and the process image name",
        _on("win32", "Windows"),
        _open_windows,
    ),
)

IDLES: tuple[Candidate[IdleSource], ...] = (
    Candidate("x11", "the MIT-SCREEN-SAVER extension's idle time", _x11_session, _open_x11_idle),
    Candidate(
        "gnome",
        "org.gnome.Mutter.IdleMonitor.GetIdletime",
        _desktop("gnome", "GNOME"),
        _open_mutter,
    ),
    Candidate(
        "ext-idle-notify",
        "the Wayland protocol ext-idle-notify-v1 (sway 1.8+, Hyprland, KWin)",
        _wayland,
        _open_ext_idle,
    ),
    Candidate(
        "kde-idle",
        "the Wayland protocol org_kde_kwin_idle (sway 1.7 and older, KWin 5)",
        _wayland,
        _open_kde_idle,
    ),
    Candidate(
        "screensaver",
        "org.freedesktop.ScreenSaver.GetSessionIdleTime",
        _session_bus,
        _open_screensaver_idle,
    ),
    Candidate(
        "macos",
        "CGEventSourceSecondsSinceLastEventType",
        _on("darwin", "macOS"),
        _open_macos,
    ),
    Candidate("windows", "GetLastInputInfo", _on("win32", "Windows"), _open_windows),
)

LOCKS: tuple[Candidate[LockSource], ...] = (
    Candidate("x11", "the X screen saver's state", _x11_session, _open_x11_lock),
    Candidate(
        "sway",
        "a screen locker's process (swaylock, gtklock, waylock) on this Wayland display",
        _needs_env("SWAYSOCK", "a sway session"),
        _open_sway_lock,
    ),
    Candidate(
        "gnome",
        "org.gnome.ScreenSaver.GetActive",
        _desktop("gnome", "GNOME"),
        _open_gnome_lock,
    ),
    Candidate(
        "screensaver",
        "org.freedesktop.ScreenSaver.GetActive (KDE and others)",
        _session_bus,
        _open_screensaver_lock,
    ),
    Candidate(
        "macos",
        "CGSessionCopyCurrentDictionary (CGSSessionScreenIsLocked)",
        _on("darwin", "macOS"),
        _open_macos,
    ),
    Candidate(
        "windows",
        "LockApp.exe in front, or no input desktop",
        _on("win32", "Windows"),
        _open_windows,
    ),
)

WINDOW_BACKENDS = tuple(c.name for c in WINDOWS)


# -- choosing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackendReport:
    """One candidate, as ``survey`` found it. ``reason`` says why it does not apply or could
    not be opened (None when available); ``chosen`` says whether the agent would use it."""

    capability: Capability
    name: str
    reads: str
    applies: bool
    available: bool
    reason: str | None
    chosen: bool


class SessionIdle(IdleSource):
    """The desktop's ``IdleSource``: idle time from one source, the locked screen from any of
    several (True when any says so). With no idle source, the idle time is 0: only a locked
    screen then counts as away."""

    def __init__(self, idle: IdleSource | None, locks: Sequence[LockSource]) -> None:
        self.source = idle
        self.locks = tuple(locks)

    def idle_seconds(self) -> float:
        return self.source.idle_seconds() if self.source is not None else 0.0

    def locked(self) -> bool:
        return any(lock.locked() for lock in self.locks)

    def close(self) -> None:
        """The sources are closed by the desktop that owns them."""


@dataclass(frozen=True, slots=True)
class Desktop:
    """The sources the agent reads: ``window`` always; ``idle`` (idle time and the locked
    screen, see ``SessionIdle``) unless neither can be read here. ``notes`` says, once, what
    is missing or degraded. ``close()`` closes every connection opened for it."""

    name: str
    window: WindowSource
    idle: IdleSource | None
    notes: tuple[str, ...] = ()
    idle_name: str | None = None
    lock_names: tuple[str, ...] = ()
    closer: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    @property
    def can_tell_locked(self) -> bool:
        return bool(self.lock_names)

    def close(self) -> None:
        if self.closer is not None:
            self.closer()
            return
        self.window.close()
        if self.idle is not None and id(self.idle) != id(self.window):
            self.idle.close()


@dataclass
class _Choice(Generic[T]):
    reports: list[BackendReport]
    chosen: list[tuple[str, T]]
    failures: list[tuple[str, str]]  # (name, reason) of candidates that applied but failed


def _choose(
    capability: Capability,
    table: Sequence[Candidate[T]],
    resources: Resources,
    *,
    keep: Literal["first", "all"],
    try_all: bool,
    only: str | None = None,
) -> _Choice[T]:
    choice: _Choice[T] = _Choice([], [], [])
    for candidate in table:
        name, reads = candidate.name, candidate.reads
        if only is not None and name != only:
            why = f"the source is set to {only!r}"
            choice.reports.append(BackendReport(capability, name, reads, False, False, why, False))
            continue
        why_not = None if only is not None else candidate.applies(resources.session)
        if why_not is not None:
            choice.reports.append(
                BackendReport(capability, name, reads, False, False, why_not, False)
            )
            continue
        if choice.chosen and keep == "first" and not try_all:
            why = "not tried: an earlier backend is in use"
            choice.reports.append(BackendReport(capability, name, reads, True, False, why, False))
            continue
        try:
            thing = candidate.open(resources)
        except SourceUnavailable as exc:
            choice.failures.append((name, str(exc)))
            choice.reports.append(
                BackendReport(capability, name, reads, True, False, str(exc), False)
            )
            continue
        use = keep == "all" or not choice.chosen
        if use:
            choice.chosen.append((name, thing))
        choice.reports.append(BackendReport(capability, name, reads, True, True, None, use))
    return choice


def _reasons(failures: Sequence[tuple[str, str]]) -> str:
    if len(failures) == 1:
        return failures[0][1]
    return "; ".join(f"{name}: {reason}" for name, reason in failures)


def _no_window(session: Session, failures: Sequence[tuple[str, str]]) -> str:
    if failures:
        return _reasons(failures)
    if session.kind == "wayland":
        return (
            "this is a Wayland session whose compositor this agent cannot read (it reads sway, "
            "Hyprland, KDE Plasma and GNOME); windows of X11 apps can be read with "
            "--source x11 (XWayland) when DISPLAY is set"
        )
    if session.unix_desktop:
        return "no graphical session found (DISPLAY and WAYLAND_DISPLAY are not set)"
    return f"reading the desktop on {session.platform!r} is not supported"


def open_desktop(
    choice: str = "auto",
    platform: str = sys.platform,
    environ: Mapping[str, str] | None = None,
) -> Desktop:
    """The desktop's sources, or ``SourceUnavailable`` saying why its windows cannot be read.

    ``choice`` is ``auto`` or the name of one window backend (``WINDOW_BACKENDS``), which is
    then tried whatever the session looks like."""
    env = os.environ if environ is None else environ
    if choice != "auto" and choice not in WINDOW_BACKENDS:
        raise SourceUnavailable(
            f"unknown desktop source {choice!r}; one of: auto, {', '.join(WINDOW_BACKENDS)}"
        )
    session = Session.of(platform, env)
    resources = Resources(session)
    try:
        return _open(session, resources, None if choice == "auto" else choice)
    except BaseException:
        resources.close()
        raise


def _open(session: Session, resources: Resources, only: str | None) -> Desktop:
    windows = _choose("window", WINDOWS, resources, keep="first", try_all=False, only=only)
    if not windows.chosen:
        raise SourceUnavailable(_no_window(session, windows.failures))
    window_name, window = windows.chosen[0]
    idles = _choose("idle", IDLES, resources, keep="first", try_all=False)
    locks = _choose("lock", LOCKS, resources, keep="all", try_all=True)

    notes: list[str] = []
    if window_name == "x11" and session.kind == "wayland":
        notes.append(
            "this is a Wayland session read through XWayland: only windows of X11 apps are seen"
        )
    notes += _notes_of(window)
    idle_name, idle = idles.chosen[0] if idles.chosen else (None, None)
    if idle is not None and window_name == "sway":
        idle = _sway_idle(idle, window)
    if idle is None:
        why = _reasons(idles.failures) if idles.failures else "no idle source for this desktop"
        notes.append(f"idle time cannot be read: {why}")
    if not locks.chosen:
        why = _reasons(locks.failures) if locks.failures else "no lock source for this desktop"
        notes.append(f"a locked screen cannot be told apart from idle time here: {why}")
    away: IdleSource | None = None
    if idle is not None or locks.chosen:
        away = SessionIdle(idle, [lock for _, lock in locks.chosen])
    return Desktop(
        name=window_name,
        window=window,
        idle=away,
        notes=tuple(dict.fromkeys(notes)),
        idle_name=idle_name,
        lock_names=tuple(name for name, _ in locks.chosen),
        closer=resources.close,
    )


def _sway_idle(idle: IdleSource, window: WindowSource) -> IdleSource:
    """On sway, an idle protocol that honours inhibitors, read through sway's tree
    (``sway.InhibitedIdle``: sway 1.7's stops counting input while an app inhibits idle)."""
    from officepulse.agent.sources.sway import InhibitedIdle, SwayWindow

    if isinstance(window, SwayWindow) and getattr(idle, "respects_inhibitors", False):
        return InhibitedIdle(idle, window)
    return idle


def _notes_of(source: object) -> list[str]:
    return list(source.notes) if isinstance(source, HasNotes) else []


def survey(
    platform: str = sys.platform,
    environ: Mapping[str, str] | None = None,
    *,
    choice: str = "auto",
) -> list[BackendReport]:
    """Every candidate backend for every capability, in order of preference, with whether it
    applies to this session, whether it opened (each one that applies is opened and closed
    again, so this takes a moment and loads the KWin script once on KDE), why not, and
    whether ``open_desktop`` would use it."""
    env = os.environ if environ is None else environ
    session = Session.of(platform, env)
    resources = Resources(session)
    only = None if choice == "auto" else choice
    try:
        reports = _choose("window", WINDOWS, resources, keep="first", try_all=True, only=only)
        idles = _choose("idle", IDLES, resources, keep="first", try_all=True)
        locks = _choose("lock", LOCKS, resources, keep="all", try_all=True)
        return [*reports.reports, *idles.reports, *locks.reports]
    finally:
        resources.close()


def _main() -> int:
    """``python -m officepulse.agent.sources.select``: every backend, and which is used."""
    print(f"platform {sys.platform}, {session_kind(sys.platform, os.environ)} session")
    for report in survey():
        mark = "use" if report.chosen else ("yes" if report.available else " no")
        why = f": {report.reason}" if report.reason else ""
        print(f"  [{mark}] {report.capability:<6} {report.name:<16} {report.reads}{why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
