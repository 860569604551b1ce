"""macOS: the app in front, its focused window's title, idle time and the locked screen.

All calls into macOS go through one small adapter, ``MacApi``. ``PyObjCMac`` is the real one,
written against the real frameworks through pyobjc (imported in its constructor, never at
import time); it can only run on a Mac. ``MacDesktop`` holds the logic and is tested here
with an adapter that replays values recorded on real Macs (tests/data/recorded/macos).

Which app is in front: ``NSWorkspace.frontmostApplication`` is a cache that only a running
main run loop refreshes, and the agent runs none, so it would stay frozen at the first answer.
So the front app is read live: the focused application from Accessibility (the system-wide
element's ``AXFocusedApplication``) when the agent is trusted, else the owner of the
frontmost normal-layer window from ``CGWindowListCopyWindowInfo``. ``NSRunningApplication``
gives its name, bundle id and executable.

The window title needs the Accessibility permission (``AXIsProcessTrusted``). Without it the
title is empty and ``notes`` says how to grant it; everything else works.

Idle time: ``CGEventSourceSecondsSinceLastEventType(kCGEventSourceStateCombinedSessionState,
kCGAnyInputEventType)``. Locked: ``CGSessionCopyCurrentDictionary`` has
``CGSSessionScreenIsLocked`` = 1 while the screen is locked; a session that is not on the
console (``kCGSSessionOnConsoleKey`` = 0: another user switched in, or the screens sleep)
counts as away too.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from officepulse.agent.sources.base import IdleSource, SourceUnavailable, WindowSample

# AXError values (HIServices/AXError.h)
AX_SUCCESS = 0
AX_FAILURE = -25200
AX_CANNOT_COMPLETE = -25204
AX_ATTRIBUTE_UNSUPPORTED = -25205
AX_API_DISABLED = -25211
AX_NO_VALUE = -25212

NORMAL_WINDOW_LAYER = 0
ANY_INPUT_EVENT = 0xFFFFFFFF  # kCGAnyInputEventType, ~0


@dataclass(frozen=True, slots=True)
class MacApp:
    """A running application, as NSRunningApplication describes it."""

    name: str
    pid: int
    bundle_id: str | None = None
    executable: str | None = None


@dataclass(frozen=True, slots=True)
class MacWindow:
    """One entry of CGWindowListCopyWindowInfo, the fields this module reads."""

    owner_pid: int
    owner_name: str
    layer: int


class MacApi(Protocol):
    def accessibility_trusted(self) -> bool:
        """AXIsProcessTrusted()."""
        ...

    def focused_app_pid(self) -> tuple[int, int | None]:
        """(AXError, pid) of the system-wide element's AXFocusedApplication."""
        ...

    def on_screen_windows(self) -> list[MacWindow]:
        """CGWindowListCopyWindowInfo(on screen only), front to back."""
        ...

    def app(self, pid: int) -> MacApp | None:
        """NSRunningApplication.runningApplicationWithProcessIdentifier_(pid)."""
        ...

    def focused_window_title(self, pid: int) -> tuple[int, str | None]:
        """(AXError, title) of the app's AXFocusedWindow's AXTitle."""
        ...

    def seconds_since_input(self) -> float:
        """CGEventSourceSecondsSinceLastEventType(combined session state, any input)."""
        ...

    def session(self) -> Mapping[str, Any] | None:
        """CGSessionCopyCurrentDictionary(), or None outside a GUI session."""
        ...


def accessibility_hint(program: str) -> str:
    return (
        "window titles are empty because the agent does not have the Accessibility "
        "permission: open System Settings → Privacy & Security → Accessibility, turn it on "
        f"for the program that runs the agent ({program}; for a terminal, the terminal app), "
        "then quit and restart that program"
    )


def session_away(session: Mapping[str, Any] | None) -> bool:
    """Whether a CGSession dictionary says the person cannot be at this session."""
    if session is None:
        return False  # not a GUI session: this cannot be told
    if bool(session.get("CGSSessionScreenIsLocked", False)):
        return True
    return "kCGSSessionOnConsoleKey" in session and not bool(session["kCGSSessionOnConsoleKey"])


class MacDesktop(IdleSource):
    """A ``WindowSource``, ``IdleSource`` and ``LockSource`` over a ``MacApi``."""

    def __init__(self, api: MacApi | None = None, program: str | None = None) -> None:
        self._api = api if api is not None else PyObjCMac()
        self._program = program or os.path.realpath(sys.executable)
        self._notes: tuple[str, ...] = ()
        if not self._api.accessibility_trusted():
            self._notes = (accessibility_hint(self._program),)

    @property
    def notes(self) -> tuple[str, ...]:
        return self._notes

    def active_window(self) -> WindowSample | None:
        trusted = self._api.accessibility_trusted()
        pid = self._front_pid(trusted)
        if pid is None:
            return None
        app = self._api.app(pid)
        owner = self._owner_name(pid)
        name = app.name if app is not None and app.name else owner
        process = os.path.basename(app.executable) if app and app.executable else None
        title = ""
        if trusted:
            err, text = self._api.focused_window_title(pid)
            # NoValue: the app has no focused window (only a menu bar); CannotComplete: the
            # app did not answer in time; APIDisabled: the permission was just taken away.
            if err == AX_SUCCESS and text is not None:
                title = text
        return WindowSample(app=name, title=title, process=process, pid=pid)

    def idle_seconds(self) -> float:
        return max(0.0, float(self._api.seconds_since_input()))

    def locked(self) -> bool:
        return session_away(self._api.session())

    def close(self) -> None:
        """Nothing to close."""

    def _front_pid(self, trusted: bool) -> int | None:
        if trusted:
            err, pid = self._api.focused_app_pid()
            if err == AX_SUCCESS and pid:
                return pid
        for window in self._api.on_screen_windows():
            if window.layer == NORMAL_WINDOW_LAYER:
                return window.owner_pid
        return None

    def _owner_name(self, pid: int) -> str:
        for window in self._api.on_screen_windows():
            if window.owner_pid == pid:
                return window.owner_name
        return ""


class PyObjCMac:
    """The real ``MacApi``: AppKit, Quartz and ApplicationServices through pyobjc.

    Runs only on macOS with pyobjc installed (``pyobjc-framework-Cocoa``,
    ``pyobjc-framework-Quartz``, ``pyobjc-framework-ApplicationServices``); it cannot run on
    the Linux machines the tests use, which replay recorded values through ``MacDesktop``.
    """

    # Set in __init__, after the platform check (which mypy reads as the end off macOS).
    _appkit: Any
    _quartz: Any
    _ax: Any
    _system: Any

    def __init__(self) -> None:
        if sys.platform != "darwin":
            raise SourceUnavailable("the macOS source runs only on macOS")
        try:
            self._appkit = importlib.import_module("AppKit")
            self._quartz = importlib.import_module("Quartz")
            self._ax = importlib.import_module("ApplicationServices")
        except ImportError as exc:
            raise SourceUnavailable(
                "cannot read the macOS desktop: pyobjc is not installed "
                f"(pip install pyobjc-framework-Cocoa pyobjc-framework-Quartz "
                f"pyobjc-framework-ApplicationServices): {exc}"
            ) from exc
        self._system = self._ax.AXUIElementCreateSystemWide()

    def accessibility_trusted(self) -> bool:
        return bool(self._ax.AXIsProcessTrusted())

    def focused_app_pid(self) -> tuple[int, int | None]:
        err, element = self._ax.AXUIElementCopyAttributeValue(
            self._system, self._ax.kAXFocusedApplicationAttribute, None
        )
        if err != AX_SUCCESS or element is None:
            return int(err), None
        err, pid = self._ax.AXUIElementGetPid(element, None)
        return int(err), (int(pid) if err == AX_SUCCESS else None)

    def on_screen_windows(self) -> list[MacWindow]:
        q = self._quartz
        infos = q.CGWindowListCopyWindowInfo(
            q.kCGWindowListOptionOnScreenOnly | q.kCGWindowListExcludeDesktopElements,
            q.kCGNullWindowID,
        )
        return [
            MacWindow(
                owner_pid=int(info.get(q.kCGWindowOwnerPID, 0)),
                owner_name=str(info.get(q.kCGWindowOwnerName, "") or ""),
                layer=int(info.get(q.kCGWindowLayer, 0)),
            )
            for info in (infos or ())
        ]

    def app(self, pid: int) -> MacApp | None:
        running = self._appkit.NSRunningApplication.runningApplicationWithProcessIdentifier_(pid)
        if running is None:
            return None
        url = running.executableURL()
        bundle = running.bundleIdentifier()
        return MacApp(
            name=str(running.localizedName() or ""),
            pid=pid,
            bundle_id=str(bundle) if bundle else None,
            executable=str(url.path()) if url is not None else None,
        )

    def focused_window_title(self, pid: int) -> tuple[int, str | None]:
        element = self._ax.AXUIElementCreateApplication(pid)
        # A hung app would otherwise hold the poll for the 6 s default.
        self._ax.AXUIElementSetMessagingTimeout(element, 0.5)
        err, window = self._ax.AXUIElementCopyAttributeValue(
            element, self._ax.kAXFocusedWindowAttribute, None
        )
        if err != AX_SUCCESS or window is None:
            return int(err), None
        err, title = self._ax.AXUIElementCopyAttributeValue(
            window, self._ax.kAXTitleAttribute, None
        )
        return int(err), (str(title) if err == AX_SUCCESS and title is not None else None)

    def seconds_since_input(self) -> float:
        q = self._quartz
        return float(
            q.CGEventSourceSecondsSinceLastEventType(
                q.kCGEventSourceStateCombinedSessionState, ANY_INPUT_EVENT
            )
        )

    def session(self) -> Mapping[str, Any] | None:
        d = self._quartz.CGSessionCopyCurrentDictionary()
        return dict(d) if d is not None else None
