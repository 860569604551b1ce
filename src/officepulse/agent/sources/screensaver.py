"""The freedesktop screensaver service, ``org.freedesktop.ScreenSaver`` on
``/org/freedesktop/ScreenSaver`` (KDE's kscreenlocker, and others).

- ``GetActive`` says whether the screen is locked or blanked: the lock source for KDE.
- ``GetSessionIdleTime`` gives the idle time in seconds where it is implemented. KDE Plasma on
  Wayland answers it with an error ("not supported on this platform"), so on Wayland the idle
  time comes from ``ext-idle-notify`` (``wayland_idle``) instead; this class is the fallback
  for desktops that do implement it.
"""

from __future__ import annotations

from officepulse.agent.sources._dbus import DBusError, Polled, SessionBus, describe
from officepulse.agent.sources.base import IdleSource, SourceUnavailable

SERVICE = "org.freedesktop.ScreenSaver"
PATH = "/org/freedesktop/ScreenSaver"


class ScreenSaverLock:
    """Whether the screen is locked; a busy service's late answer is the last one again
    (``Polled``)."""

    def __init__(self, bus: SessionBus) -> None:
        try:
            self._active = Polled(bus, SERVICE, PATH, SERVICE, "GetActive", _first_bool)
        except DBusError as exc:
            raise SourceUnavailable(_no_lock(exc)) from exc

    def locked(self) -> bool:
        try:
            return self._active()
        except DBusError as exc:
            raise SourceUnavailable(_no_lock(exc)) from exc

    def close(self) -> None:
        """The bus is shared and closed by its owner."""


class ScreenSaverIdle(IdleSource):
    def __init__(self, bus: SessionBus) -> None:
        try:
            self._seconds = Polled(bus, SERVICE, PATH, SERVICE, "GetSessionIdleTime", _first_float)
        except DBusError as exc:
            raise SourceUnavailable(_no_idle(exc)) from exc

    def idle_seconds(self) -> float:
        try:
            return self._seconds()
        except DBusError as exc:
            raise SourceUnavailable(_no_idle(exc)) from exc

    def close(self) -> None:
        """The bus is shared and closed by its owner."""


def _no_lock(exc: DBusError) -> str:
    return f"cannot tell whether the screen is locked: {describe(exc, SERVICE)}"


def _no_idle(exc: DBusError) -> str:
    # The service (not its method) is what runs or not; a refusal names the method.
    return f"cannot read idle time with GetSessionIdleTime: {describe(exc, SERVICE)}"


def _first_bool(body: tuple[object, ...]) -> bool:
    return bool(body[0])


def _first_float(body: tuple[object, ...]) -> float:
    return float(str(body[0]))
