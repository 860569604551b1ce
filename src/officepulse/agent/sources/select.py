"""Choose the desktop backend at run time from the platform and the session.

Nothing here opens anything at import time; ``open_desktop`` either returns a
working source or raises SourceUnavailable with a reason a person can act on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from officepulse.agent.sources.base import IdleSource, SourceUnavailable, WindowSource


@dataclass(frozen=True, slots=True)
class Desktop:
    name: str
    window: WindowSource
    idle: IdleSource | None
    notes: tuple[str, ...] = ()

    def close(self) -> None:
        self.window.close()
        if self.idle is not None and id(self.idle) != id(self.window):
            self.idle.close()


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


def open_desktop(
    choice: str = "auto",
    platform: str = sys.platform,
    environ: Mapping[str, str] | None = None,
) -> Desktop:
    env = os.environ if environ is None else environ
    kind = "x11" if choice == "x11" else session_kind(platform, env)
    if kind == "x11":
        from officepulse.agent.sources.x11 import X11Desktop

        desktop = X11Desktop(env.get("DISPLAY"))
        notes: tuple[str, ...] = ()
        idle: IdleSource | None = desktop
        if not desktop.idle_available:
            notes = (f"idle time cannot be read: {desktop.idle_unavailable_reason}",)
            idle = None
        return Desktop("x11", desktop, idle, notes)
    if kind == "wayland":
        raise SourceUnavailable(
            "this is a Wayland session, which this agent cannot read yet; windows of "
            "X11 apps can be read with --source x11 (XWayland)"
        )
    if kind in ("macos", "windows"):
        raise SourceUnavailable(f"reading the {kind} desktop is not supported yet")
    raise SourceUnavailable("no graphical session found (DISPLAY and WAYLAND_DISPLAY are not set)")
