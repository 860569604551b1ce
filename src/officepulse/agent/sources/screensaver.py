"""The freedesktop screensaver service, ``org.freedesktop.ScreenSaver`` on
``/org/freedesktop/ScreenSaver`` (KDE's kscreenlocker, and others).

- ``GetActive`` says whether the screen is locked or blanked: the lock source for KDE.
- ``GetSessionIdleTime`` gives the idle time in seconds where it is implemented. KDE Plasma on
  Wayland answers it with an error ("not supported on this platform"), so on Wayland the idle
  time comes from ``ext-idle-notify`` (``wayland_idle``) instead; this class is the fallback
  for desktops that do implement it.
"""

from __future__ import annotations

from officepulse.agent.sources._dbus import DBusError, SessionBus, describe
from officepulse.agent.sources.base import IdleSource, SourceUnavailable

SERVICE = "org.freedesktop.ScreenSaver"
PATH = "/org/freedesktop/ScreenSaver"


class ScreenSaverLock:
    def __init__(self, bus: SessionBus) -> None:
        self._bus = bus
        self.locked()

    def locked(self) -> bool:
        try:
            (active,) = self._bus.call(SERVICE, PATH, SERVICE, "GetActive")
        except DBusError as exc:
            raise SourceUnavailable(
                f"cannot tell whether the screen is locked: {describe(exc, SERVICE)}"
            ) from exc
        return bool(active)

    def close(self) -> None:
        """The bus is shared and closed by its owner."""


class ScreenSaverIdle(IdleSource):
    def __init__(self, bus: SessionBus) -> None:
        self._bus = bus
        self.idle_seconds()

    def idle_seconds(self) -> float:
        try:
            (seconds,) = self._bus.call(SERVICE, PATH, SERVICE, "GetSessionIdleTime")
        except DBusError as exc:
            raise SourceUnavailable(
                f"cannot read idle time: {describe(exc, SERVICE + '.GetSessionIdleTime')}"
            ) from exc
        return float(seconds)

    def close(self) -> None:
        """The bus is shared and closed by its owner."""
