"""GNOME (Wayland or X11), over the session bus.

- The window in front: GNOME Shell gives no public way to ask. Two ways are tried:
  the *Focused Window D-Bus* shell extension (github.com/flexagoon/focused-window-dbus), whose
  ``Get`` returns the focused window as JSON (``{}`` when nothing has focus), and
  ``org.gnome.Shell.Eval``, which GNOME 41 and later answer only in unsafe mode.
- Idle time: ``org.gnome.Mutter.IdleMonitor.GetIdletime`` on ``/org/gnome/Mutter/IdleMonitor/Core``
  (milliseconds since the last input, for the whole session).
- A locked screen: ``org.gnome.ScreenSaver.GetActive`` (the shell's lock screen and blanking).

Each class takes an open ``SessionBus`` (``select`` shares one among them) and checks with a
real call in its constructor that the service is there, so a missing one is reported at once.
"""

from __future__ import annotations

import json

from officepulse.agent.sources._common import as_pid, local_sample
from officepulse.agent.sources._dbus import NOT_THERE, DBusError, SessionBus, describe
from officepulse.agent.sources.base import IdleSource, SourceUnavailable, WindowSample

SHELL = "org.gnome.Shell"

# The extension moved its object: releases up to 2024 exported the capitalised path and
# interface its README still shows; extension.js now exports the lower-case ones.
FOCUSED_WINDOW_OBJECTS = (
    ("/org/gnome/shell/extensions/FocusedWindow", "org.gnome.shell.extensions.FocusedWindow"),
    ("/org/gnome/Shell/Extensions/FocusedWindow", "org.gnome.Shell.Extensions.FocusedWindow"),
)
EXTENSION_HINT = (
    "install and enable the 'Focused Window D-Bus' GNOME Shell extension "
    "(github.com/flexagoon/focused-window-dbus, also on extensions.gnome.org), then log out "
    "and in again"
)

# Evaluated by org.gnome.Shell.Eval, which JSON-encodes what the expression returns.
EVAL_FOCUSED_WINDOW = (
    "(() => { const w = global.display.focus_window; return w ? {"
    "title: w.get_title(), wm_class: w.get_wm_class(), "
    "wm_class_instance: w.get_wm_class_instance(), pid: w.get_pid()} : {}; })()"
)

IDLE_MONITOR = "org.gnome.Mutter.IdleMonitor"
IDLE_MONITOR_PATH = "/org/gnome/Mutter/IdleMonitor/Core"
SCREENSAVER = "org.gnome.ScreenSaver"
SCREENSAVER_PATH = "/org/gnome/ScreenSaver"


def parse_focused_window(text: str) -> WindowSample | None:
    """The Focused Window extension's ``Get`` reply (or the same fields from ``Eval``) as a
    sample; None for ``{}`` (nothing focused). ``app`` is the WM class (on Wayland, the app
    id GTK and Qt set, e.g. ``org.gnome.Calculator``)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceUnavailable(
            f"GNOME Shell sent a focused window that is not JSON: {exc}"
        ) from exc
    if isinstance(data, str):  # Eval encodes once more when the expression gave a string
        return parse_focused_window(data)
    if not isinstance(data, dict):
        raise SourceUnavailable(
            f"GNOME Shell sent a focused window that is not an object: {text!r}"
        )
    if not data:
        return None
    app = _text(data.get("wm_class")) or _text(data.get("wm_class_instance"))
    return local_sample(app, _text(data.get("title")), as_pid(data.get("pid")))


class GnomeFocusedWindow:
    """The focused window from the Focused Window D-Bus extension."""

    def __init__(self, bus: SessionBus) -> None:
        self._bus = bus
        missing = []
        for path, interface in FOCUSED_WINDOW_OBJECTS:
            try:
                bus.call(SHELL, path, interface, "Get", timeout=2.0)
            except DBusError as exc:
                if exc.name in NOT_THERE:
                    missing.append(exc.name)
                    continue
                raise SourceUnavailable(describe(exc, "GNOME Shell")) from exc
            self._path, self._interface = path, interface
            return
        if "org.freedesktop.DBus.Error.ServiceUnknown" in missing:
            raise SourceUnavailable("GNOME Shell is not running on this session bus")
        raise SourceUnavailable(
            f"GNOME Shell cannot say which window is in front: {EXTENSION_HINT}"
        )

    def active_window(self) -> WindowSample | None:
        try:
            (text,) = self._bus.call(SHELL, self._path, self._interface, "Get")
        except DBusError as exc:
            if exc.name == "timeout":
                return None  # the shell is busy: no reading this time
            raise SourceUnavailable(
                f"the Focused Window extension stopped answering: {describe(exc, 'GNOME Shell')}"
            ) from exc
        return parse_focused_window(str(text))

    def close(self) -> None:
        """The bus is shared and closed by its owner."""


class GnomeShellEval:
    """The focused window through ``org.gnome.Shell.Eval`` (GNOME 40 and older, or 41+ in
    unsafe mode)."""

    def __init__(self, bus: SessionBus) -> None:
        self._bus = bus
        try:
            ok, _ = bus.call(SHELL, "/org/gnome/Shell", SHELL, "Eval", "s", ("0",), timeout=2.0)
        except DBusError as exc:
            raise SourceUnavailable(describe(exc, "GNOME Shell")) from exc
        if not ok:
            raise SourceUnavailable(
                "org.gnome.Shell.Eval is refused (GNOME 41 and later allow it only in unsafe "
                f"mode); {EXTENSION_HINT}"
            )

    def active_window(self) -> WindowSample | None:
        try:
            ok, text = self._bus.call(
                SHELL, "/org/gnome/Shell", SHELL, "Eval", "s", (EVAL_FOCUSED_WINDOW,)
            )
        except DBusError as exc:
            if exc.name == "timeout":
                return None
            raise SourceUnavailable(describe(exc, "GNOME Shell")) from exc
        if not ok:
            raise SourceUnavailable(f"org.gnome.Shell.Eval failed: {text}")
        return parse_focused_window(str(text))

    def close(self) -> None:
        """The bus is shared and closed by its owner."""


class MutterIdle(IdleSource):
    """Idle time from Mutter's idle monitor (GNOME on Wayland and X11)."""

    def __init__(self, bus: SessionBus) -> None:
        self._bus = bus
        self.idle_seconds()  # raises SourceUnavailable when Mutter does not answer

    def idle_seconds(self) -> float:
        try:
            (ms,) = self._bus.call(IDLE_MONITOR, IDLE_MONITOR_PATH, IDLE_MONITOR, "GetIdletime")
        except DBusError as exc:
            raise SourceUnavailable(
                f"cannot read idle time: {describe(exc, 'Mutter (org.gnome.Mutter.IdleMonitor)')}"
            ) from exc
        return int(ms) / 1000

    def close(self) -> None:
        """The bus is shared and closed by its owner."""


class GnomeScreenSaverLock:
    """Whether GNOME's lock screen (or blank screen) is up."""

    def __init__(self, bus: SessionBus) -> None:
        self._bus = bus
        self.locked()

    def locked(self) -> bool:
        try:
            (active,) = self._bus.call(SCREENSAVER, SCREENSAVER_PATH, SCREENSAVER, "GetActive")
        except DBusError as exc:
            raise SourceUnavailable(
                f"cannot tell whether the screen is locked: {describe(exc, SCREENSAVER)}"
            ) from exc
        return bool(active)

    def close(self) -> None:
        """The bus is shared and closed by its owner."""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
