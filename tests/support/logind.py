"""A stand-in for systemd-logind (and for GDM's one property GNOME Shell asks about) on a
compositor session's private system bus, so that a test can do what logind does when the
person locks the session (``loginctl lock-session``), unlocks it, or the computer is about
to sleep: emit ``Lock`` / ``Unlock`` on the session object and ``PrepareForSleep`` on the
manager. The compositors react as they would to the real logind: KWin's screen locker and
GNOME Shell's screen shield lock (and unlock), which is what the agent then sees.

logind is the operating system's boundary, so it is the one thing faked here; the bus is a
real dbus-daemon and the compositors are real. The interfaces are logind's own
(org.freedesktop.login1(5)): only the members the compositors were seen to use are there —
``GetSession``/``GetSessionByPID`` (GNOME Shell 43 asks for ``$XDG_SESSION_ID``,
KScreenLocker 5.27 for the session of its pid), ``Inhibit`` (a delay lock on sleep, an fd),
the session's ``Active``, ``LockedHint`` and ``SetLockedHint``, and the user's ``Display``.
GNOME Shell offers its lock screen only when GDM answers ``Version`` (misc/loginManager.js
``canLock``) and ``/run/systemd/seats`` exists (``haveSystemd``).

The service runs in a thread of the test process (tests/support/dbus_services.py), as root:
the session's bus configuration lets root in next to the session's user.
"""

from __future__ import annotations

import contextlib
import os
from typing import Annotated, Any

from dbus_fast.annotations import DBusBool, DBusObjectPath, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

from tests.support.dbus_services import ServiceThread

SESSION_ID = "c1"
SESSION_PATH = f"/org/freedesktop/login1/session/{SESSION_ID}"
SEATS = "/run/systemd/seats"  # GNOME Shell's haveSystemd() looks for it
GDM_VERSION = "43.0"  # Debian 12's gdm3; GNOME Shell wants 3.5.91 or later

SessionRef = Annotated[list[Any], DBusSignature("(so)")]
SessionRefs = Annotated[list[Any], DBusSignature("a(so)")]
UnixFd = Annotated[int, DBusSignature("h")]
VarDict = Annotated[dict[str, Any], DBusSignature("a{sv}")]


class _Session(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.login1.Session")
        self.locked_hint = False
        self.hints: list[bool] = []  # every SetLockedHint, in order

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> DBusStr:
        return SESSION_ID

    @dbus_property(access=PropertyAccess.READ)
    def Active(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Class(self) -> DBusStr:
        return "user"

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return "wayland"

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> DBusStr:
        return "active"

    @dbus_property(access=PropertyAccess.READ)
    def LockedHint(self) -> DBusBool:
        return self.locked_hint

    @method()
    def SetLockedHint(self, locked: DBusBool):  # type: ignore[no-untyped-def]  # returns nothing
        self.locked_hint = locked
        self.hints.append(locked)
        self.emit_properties_changed({"LockedHint": locked})

    @method()
    def Lock(self):  # type: ignore[no-untyped-def]
        self.LockSignal()

    @method()
    def Unlock(self):  # type: ignore[no-untyped-def]
        self.UnlockSignal()

    @signal(name="Lock")
    def LockSignal(self) -> None:
        return None

    @signal(name="Unlock")
    def UnlockSignal(self) -> None:
        return None


class _Manager(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.login1.Manager")
        self.inhibitors: list[tuple[str, str, str, str]] = []
        self._held: list[int] = []  # our ends of the inhibitor pipes

    @method()
    def GetSession(self, session_id: DBusStr) -> DBusObjectPath:
        return SESSION_PATH  # "auto", "self" or ours: there is one session

    @method()
    def GetSessionByPID(self, pid: DBusUInt32) -> DBusObjectPath:
        return SESSION_PATH

    @method()
    def CanSuspend(self) -> DBusStr:
        return "na"

    @method()
    def Inhibit(self, what: DBusStr, who: DBusStr, why: DBusStr, mode: DBusStr) -> UnixFd:
        """A delay lock: the caller holds one end of a pipe until it is ready to sleep."""
        self.inhibitors.append((what, who, why, mode))
        theirs, ours = os.pipe()
        self._held.append(ours)
        return theirs

    @signal()
    def PrepareForSleep(self, start: bool) -> DBusBool:
        return start

    def close(self) -> None:
        for fd in self._held:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._held.clear()


class _User(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.login1.User")

    @dbus_property(access=PropertyAccess.READ)
    def Display(self) -> SessionRef:
        return [SESSION_ID, SESSION_PATH]

    @dbus_property(access=PropertyAccess.READ)
    def Sessions(self) -> SessionRefs:
        return [[SESSION_ID, SESSION_PATH]]


class _DisplayManager(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.gnome.DisplayManager.Manager")

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusStr:
        return GDM_VERSION

    @method()
    def RegisterSession(self, details: VarDict):  # type: ignore[no-untyped-def]
        return None


class Logind:
    """logind (and GDM's version) on the system bus at ``address``, for one session
    (``SESSION_ID``; give the compositor ``XDG_SESSION_ID``)."""

    def __init__(self, address: str) -> None:
        self.session = _Session()
        self.manager = _Manager()
        self._service = ServiceThread(address, unix_fds=True)  # Inhibit passes an fd
        self._service.serve("/org/freedesktop/login1", self.manager, "org.freedesktop.login1")
        self._service.serve(SESSION_PATH, self.session)
        self._service.serve("/org/freedesktop/login1/user/self", _User())
        self._service.serve(
            "/org/gnome/DisplayManager/Manager", _DisplayManager(), "org.gnome.DisplayManager"
        )

    @property
    def locked_hint(self) -> bool:
        """What the compositor last told logind with ``SetLockedHint``."""
        return self.session.locked_hint

    def lock(self) -> None:
        """What logind does for ``loginctl lock-session``: the session's ``Lock`` signal."""
        self._service.call_soon(self.session.LockSignal)

    def unlock(self) -> None:
        """``loginctl unlock-session``: the session's ``Unlock`` signal."""
        self._service.call_soon(self.session.UnlockSignal)

    def prepare_for_sleep(self, start: bool) -> None:
        """The manager's ``PrepareForSleep``: True before a suspend, False after it."""
        self._service.call_soon(lambda: self.manager.PrepareForSleep(start))

    def close(self) -> None:
        self._service.close()
        self.manager.close()
