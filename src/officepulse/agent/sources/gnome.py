"""GNOME (Wayland or X11), over the session bus.

- The window in front: GNOME Shell gives no public way to ask. Three ways are tried, in order:
  officepulse's own shell extension (``gnome_extension/``, installed by ``officepulse agent
  install-gnome-extension``), whose ``org.officepulse.FocusedWindow.Get`` on the shell's bus
  name returns the focused window as JSON (``{}`` when nothing has focus) and whose
  ``Changed`` signal carries the same on every change; the third-party *Focused Window D-Bus*
  extension (github.com/flexagoon/focused-window-dbus), whose ``Get`` answers the same way;
  and ``org.gnome.Shell.Eval``, which GNOME 41 and later answer only in unsafe mode.
- Idle time: ``org.gnome.Mutter.IdleMonitor.GetIdletime`` on ``/org/gnome/Mutter/IdleMonitor/Core``
  (milliseconds since the last input, for the whole session).
- A locked screen: ``org.gnome.ScreenSaver.GetActive`` (the shell's lock screen and blanking).

Each class takes an open ``SessionBus`` (``select`` shares one among them) and checks with a
real call in its constructor that the service is there, so a missing one is reported at once;
when officepulse's extension does not answer, the shell's own extension registry
(``org.gnome.Shell.Extensions.GetExtensionInfo``) says why: not installed, installed after
login, disabled, failed, or made for another shell version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from officepulse.agent.sources._common import as_pid, local_sample
from officepulse.agent.sources._dbus import (
    NOT_THERE,
    SERVICE_UNKNOWN,
    TIMEOUT,
    DBusError,
    Polled,
    SessionBus,
    describe,
)
from officepulse.agent.sources.base import IdleSource, SourceUnavailable, WindowSample

SHELL = "org.gnome.Shell"
SHELL_PATH = "/org/gnome/Shell"
SHELL_EXTENSIONS = "org.gnome.Shell.Extensions"

# officepulse's own extension (src/officepulse/agent/gnome_extension/).
EXTENSION_UUID = "focused-window@officepulse"
EXTENSION_PATH = "/org/officepulse/FocusedWindow"
EXTENSION_INTERFACE = "org.officepulse.FocusedWindow"
INSTALL_HINT = "run `officepulse agent install-gnome-extension`, then log out and in again"
# GNOME Shell's ExtensionState (js/misc/extensionUtils.js, the same numbers from 43 on).
ENABLED, DISABLED, ERROR, OUT_OF_DATE = 1, 2, 3, 4

# The extension moved its object: releases up to 2024 exported the capitalised path and
# interface its README still shows; extension.js now exports the lower-case ones.
FOCUSED_WINDOW_OBJECTS = (
    ("/org/gnome/shell/extensions/FocusedWindow", "org.gnome.shell.extensions.FocusedWindow"),
    ("/org/gnome/Shell/Extensions/FocusedWindow", "org.gnome.Shell.Extensions.FocusedWindow"),
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


class _ExtensionWindow:
    """The focused window from a shell extension's ``Get`` (JSON) on the shell's bus name."""

    _path = ""
    _interface = ""
    _what = ""

    def __init__(self, bus: SessionBus) -> None:
        self._bus = bus

    def active_window(self) -> WindowSample | None:
        try:
            (text,) = self._bus.call(SHELL, self._path, self._interface, "Get")
        except DBusError as exc:
            if exc.name == TIMEOUT:
                return None  # the shell is busy: no reading this time
            raise SourceUnavailable(
                f"{self._what} stopped answering: {describe(exc, 'GNOME Shell')}"
            ) from exc
        return parse_focused_window(str(text))

    def close(self) -> None:
        """The bus is shared and closed by its owner."""


class OfficepulseExtensionWindow(_ExtensionWindow):
    """The focused window from officepulse's own GNOME Shell extension. ``environ`` is used
    to find where the extension would be installed, to say why it does not answer."""

    _path = EXTENSION_PATH
    _interface = EXTENSION_INTERFACE
    _what = "the officepulse GNOME Shell extension"

    def __init__(self, bus: SessionBus, environ: Mapping[str, str]) -> None:
        super().__init__(bus)
        try:
            bus.call(SHELL, self._path, self._interface, "Get", timeout=2.0)
        except DBusError as exc:
            if exc.name == SERVICE_UNKNOWN:
                raise SourceUnavailable("GNOME Shell is not running on this session bus") from exc
            if exc.name in NOT_THERE:
                raise SourceUnavailable(why_no_extension(bus, environ)) from exc
            raise SourceUnavailable(describe(exc, "GNOME Shell")) from exc


class GnomeFocusedWindow(_ExtensionWindow):
    """The focused window from the third-party Focused Window D-Bus extension."""

    _what = "the Focused Window extension"

    def __init__(self, bus: SessionBus) -> None:
        super().__init__(bus)
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
        if SERVICE_UNKNOWN in missing:
            raise SourceUnavailable("GNOME Shell is not running on this session bus")
        raise SourceUnavailable(
            "the third-party 'Focused Window D-Bus' extension "
            "(github.com/flexagoon/focused-window-dbus) is not installed or not enabled"
        )


def extension_folder(environ: Mapping[str, str]) -> Path:
    """Where ``install-gnome-extension`` puts officepulse's extension for this user."""
    data = environ.get("XDG_DATA_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "share"
    )
    return Path(data) / "gnome-shell" / "extensions" / EXTENSION_UUID


def why_no_extension(bus: SessionBus, environ: Mapping[str, str]) -> str:
    """Why officepulse's extension does not answer, from the shell's extension registry."""
    folder = extension_folder(environ)
    try:
        (info,) = bus.call(
            SHELL, SHELL_PATH, SHELL_EXTENSIONS, "GetExtensionInfo", "s", (EXTENSION_UUID,)
        )
    except DBusError:
        info = {}
    try:
        (enabled,) = bus.call(
            SHELL,
            SHELL_PATH,
            "org.freedesktop.DBus.Properties",
            "Get",
            "ss",
            (SHELL_EXTENSIONS, "UserExtensionsEnabled"),
        )
    except DBusError:
        enabled = ("b", True)  # a shell without the property: nothing to tell
    fields = {key: value[1] for key, value in dict(info).items()}
    state = int(fields.get("state", 0))
    name = f"the officepulse GNOME Shell extension ({EXTENSION_UUID})"
    if enabled[1] is False:
        return (
            "GNOME's user extensions are turned off: turn them on in the Extensions app "
            "(or `gsettings set org.gnome.shell disable-user-extensions false`)"
        )
    if not fields:
        if (folder / "metadata.json").exists():
            return (
                f"{name} is installed in {folder} but GNOME Shell has not loaded it yet: "
                "log out and in again (GNOME Shell reads extensions at login)"
            )
        return f"{name} is not installed: {INSTALL_HINT}"
    if state == DISABLED:
        return f"{name} is installed but disabled: {INSTALL_HINT}"
    if state == OUT_OF_DATE:
        return f"{name} is made for another GNOME Shell version: {INSTALL_HINT}"
    if state == ENABLED:  # running, yet without our object: another version of it
        return f"{name} runs but does not answer as this agent expects: {INSTALL_HINT}"
    if state == ERROR:
        return f"{name} failed in GNOME Shell: {fields.get('error') or 'no reason given'}"
    return f"{name} does not answer (GNOME Shell says its state is {state}): {INSTALL_HINT}"


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
                "org.gnome.Shell.Eval is refused (GNOME 41 and later allow it only in unsafe mode)"
            )

    def active_window(self) -> WindowSample | None:
        try:
            ok, text = self._bus.call(
                SHELL, "/org/gnome/Shell", SHELL, "Eval", "s", (EVAL_FOCUSED_WINDOW,)
            )
        except DBusError as exc:
            if exc.name == TIMEOUT:
                return None
            raise SourceUnavailable(describe(exc, "GNOME Shell")) from exc
        if not ok:
            raise SourceUnavailable(f"org.gnome.Shell.Eval failed: {text}")
        return parse_focused_window(str(text))

    def close(self) -> None:
        """The bus is shared and closed by its owner."""


class MutterIdle(IdleSource):
    """Idle time from Mutter's idle monitor (GNOME on Wayland and X11). A busy shell's late
    answer is the last one again (``Polled``)."""

    def __init__(self, bus: SessionBus) -> None:
        try:
            self._idle_ms = Polled(
                bus, IDLE_MONITOR, IDLE_MONITOR_PATH, IDLE_MONITOR, "GetIdletime", _first_int
            )
        except DBusError as exc:
            raise SourceUnavailable(_no_idle(exc)) from exc

    def idle_seconds(self) -> float:
        try:
            return self._idle_ms() / 1000
        except DBusError as exc:
            raise SourceUnavailable(_no_idle(exc)) from exc

    def close(self) -> None:
        """The bus is shared and closed by its owner."""


class GnomeScreenSaverLock:
    """Whether GNOME's lock screen (or blank screen) is up: org.gnome.ScreenSaver, a small
    gjs service that GNOME starts on the first call and that asks the shell. A busy shell's
    late answer is the last one again (``Polled``)."""

    def __init__(self, bus: SessionBus) -> None:
        try:
            self._active = Polled(
                bus, SCREENSAVER, SCREENSAVER_PATH, SCREENSAVER, "GetActive", _first_bool
            )
        except DBusError as exc:
            raise SourceUnavailable(_no_lock(exc)) from exc

    def locked(self) -> bool:
        try:
            return self._active()
        except DBusError as exc:
            raise SourceUnavailable(_no_lock(exc)) from exc

    def close(self) -> None:
        """The bus is shared and closed by its owner."""


def _no_idle(exc: DBusError) -> str:
    return f"cannot read idle time: {describe(exc, 'Mutter (org.gnome.Mutter.IdleMonitor)')}"


def _no_lock(exc: DBusError) -> str:
    return f"cannot tell whether the screen is locked: {describe(exc, SCREENSAVER)}"


def _first_int(body: tuple[object, ...]) -> int:
    return int(str(body[0]))


def _first_bool(body: tuple[object, ...]) -> bool:
    return bool(body[0])


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
