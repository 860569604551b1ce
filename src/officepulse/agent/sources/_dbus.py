"""A small typed layer over jeepney's blocking D-Bus connection, for the sources that read
GNOME, KDE and freedesktop services.

jeepney is pure Python and synchronous, which suits a source polled once a second. It is
imported when a connection is opened, never at import time, and through ``importlib`` so that
this module type-checks whether or not jeepney (which has no type hints) is installed.

Every failure becomes one of two exceptions: ``DBusError`` (the service answered with an
error: it is there but refuses, or the name or method does not exist) and
``SourceUnavailable`` (no bus, or the connection is gone). Calls have a short timeout: the
agent polls from its event loop, and a hung shell must not stop it. A call not answered in
time is a ``DBusError`` named ``TIMEOUT``; ``Polled`` turns it into the last answer, for
sources polled every second (a busy shell is not a gone one).
"""

from __future__ import annotations

import importlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

from officepulse.agent.sources._common import socket_trouble
from officepulse.agent.sources.base import SourceUnavailable
from officepulse.errors import OfficepulseError

CALL_TIMEOUT = 1.0
# The first call to a service may start it (D-Bus activation: GNOME's org.gnome.ScreenSaver
# is a gjs program started on demand), which takes longer than answering.
FIRST_CALL_TIMEOUT = 5.0
TIMEOUT = "timeout"  # the DBusError name of a call not answered in time

T = TypeVar("T")

SERVICE_UNKNOWN = "org.freedesktop.DBus.Error.ServiceUnknown"
NAME_HAS_NO_OWNER = "org.freedesktop.DBus.Error.NameHasNoOwner"
UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
UNKNOWN_OBJECT = "org.freedesktop.DBus.Error.UnknownObject"
UNKNOWN_INTERFACE = "org.freedesktop.DBus.Error.UnknownInterface"
NOT_SUPPORTED = "org.freedesktop.DBus.Error.NotSupported"
NOT_THERE = frozenset(
    {SERVICE_UNKNOWN, NAME_HAS_NO_OWNER, UNKNOWN_METHOD, UNKNOWN_OBJECT, UNKNOWN_INTERFACE}
)


NO_SESSION_BUS = (
    "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set "
    "(run the agent inside the desktop session)"
)


def session_address(environ: Mapping[str, str]) -> str | None:
    """The session bus's address, or None when the environment names none."""
    return environ.get("DBUS_SESSION_BUS_ADDRESS") or None


def unreachable(address: str, exc: BaseException) -> str:
    """Why connecting to the session bus at ``address`` failed with ``exc``, in words
    (jeepney says ``KeyError: 'DBUS_SESSION_BUS_ADDRESS'`` or ``[Errno 111] ...``)."""
    where = f"the D-Bus session bus at {address}"
    if isinstance(exc, KeyError):
        return NO_SESSION_BUS
    if isinstance(exc, OSError):
        return f"cannot connect to {where}: {socket_trouble(exc)}"
    if type(exc).__name__ == "AuthenticationError":  # jeepney's (a ValueError), not imported
        return f"{where} refused this agent (authentication failed: is it another user's?)"
    if isinstance(exc, ValueError):
        return f"DBUS_SESSION_BUS_ADDRESS is not a D-Bus address: {address!r}"
    return f"cannot use {where}: {exc}"  # jeepney's RuntimeError: an unsupported transport


class DBusError(OfficepulseError):
    """The peer answered a call with an error."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.message = message


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A method call someone made on this connection (KDE's KWin script calls back)."""

    sender: str
    path: str
    interface: str
    member: str
    body: tuple[Any, ...]
    raw: Any  # the jeepney Message, for the reply


class SessionBus:
    """One connection to the session bus named by ``DBUS_SESSION_BUS_ADDRESS`` in ``environ``.

    ``close()`` is safe to call twice. One thread at a time.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        address = session_address(environ)
        if address is None:
            raise SourceUnavailable(NO_SESSION_BUS)
        try:
            self._jeepney: Any = importlib.import_module("jeepney")
            blocking: Any = importlib.import_module("jeepney.io.blocking")
        except ImportError as exc:
            raise SourceUnavailable(
                f"cannot use D-Bus: the jeepney package is not installed ({exc})"
            ) from exc
        try:
            self._conn: Any = blocking.open_dbus_connection(bus=address)
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise SourceUnavailable(unreachable(address, exc)) from exc
        self.address = address
        self.unique_name: str = str(self._conn.unique_name)
        self._closed = False
        self._incoming: deque[Any] = deque(maxlen=256)
        self._filter: Any = None

    def call(
        self,
        destination: str,
        path: str,
        interface: str,
        member: str,
        signature: str | None = None,
        body: tuple[Any, ...] = (),
        *,
        timeout: float = CALL_TIMEOUT,
    ) -> tuple[Any, ...]:
        """Call a method and return the reply's body."""
        self._check()
        address = self._jeepney.DBusAddress(path, bus_name=destination, interface=interface)
        message = self._jeepney.new_method_call(address, member, signature, body)
        try:
            reply = self._conn.send_and_get_reply(message, timeout=timeout)
        except TimeoutError as exc:
            raise DBusError(
                TIMEOUT,
                f"{destination} did not answer {interface}.{member} within {timeout:g} s",
            ) from exc
        except (OSError, ValueError) as exc:  # ConnectionResetError is an OSError
            self._lost(exc)
        if reply.header.message_type == self._jeepney.MessageType.error:
            fields = reply.header.fields
            name = str(fields.get(self._jeepney.HeaderFields.error_name, "unknown error"))
            detail = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise DBusError(name, detail)
        return tuple(reply.body)

    def name_owner(self, name: str) -> str | None:
        """The unique name that owns ``name`` now, or None."""
        try:
            (owner,) = self.call(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "GetNameOwner",
                "s",
                (name,),
            )
        except DBusError as exc:
            if exc.name in (NAME_HAS_NO_OWNER, SERVICE_UNKNOWN):
                return None
            raise
        return str(owner)

    def accept_calls(self, interface: str) -> None:
        """Keep method calls on ``interface`` that arrive (also while waiting for replies)
        until ``incoming_calls`` takes them."""
        self._check()
        rule = self._jeepney.MatchRule(type="method_call", interface=interface)
        self._filter = self._conn.filter(rule, queue=self._incoming)

    def incoming_calls(self, wait: float = 0.0) -> list[IncomingCall]:
        """Method calls received so far on the accepted interface, oldest first. Reads what
        has arrived on the socket; with ``wait``, waits up to that long for a first one."""
        self._check()
        deadline = time.monotonic() + wait
        while True:
            timeout = 0.0 if self._incoming else max(0.0, deadline - time.monotonic())
            try:
                self._conn.recv_messages(timeout=timeout)
            except TimeoutError:
                break
            except (OSError, ValueError) as exc:
                self._lost(exc)
        calls = []
        fields_enum = self._jeepney.HeaderFields
        while self._incoming:
            msg = self._incoming.popleft()
            fields = msg.header.fields
            calls.append(
                IncomingCall(
                    sender=str(fields.get(fields_enum.sender, "")),
                    path=str(fields.get(fields_enum.path, "")),
                    interface=str(fields.get(fields_enum.interface, "")),
                    member=str(fields.get(fields_enum.member, "")),
                    body=tuple(msg.body),
                    raw=msg,
                )
            )
        return calls

    def reply(self, call: IncomingCall) -> None:
        """Answer a call with an empty return, so the caller is not left waiting."""
        self._check()
        try:
            self._conn.send(self._jeepney.new_method_return(call.raw))
        except OSError as exc:
            self._lost(exc)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._filter is not None:
                self._filter.close()
            self._conn.close()

    # -- internals -------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise SourceUnavailable("the D-Bus session connection was closed")

    def _lost(self, exc: BaseException) -> NoReturn:
        self.close()
        raise SourceUnavailable(f"lost the D-Bus session bus connection: {exc}") from exc


class Polled(Generic[T]):
    """One method of a service, called on every poll, whose last answer stands in when the
    service does not answer in time. GNOME Shell, busy drawing its lock screen on a loaded
    machine, was seen to take over a second to say whether the screen is locked: that is no
    reason to give up reading the desktop (which a ``SourceUnavailable`` from a poll does,
    for a minute). Every other error is raised as it is.

    The constructor makes the first call, with a longer timeout (``FIRST_CALL_TIMEOUT``), so
    a missing service is known at once; ``DBusError`` there too."""

    def __init__(
        self,
        bus: SessionBus,
        destination: str,
        path: str,
        interface: str,
        member: str,
        answer: Callable[[tuple[Any, ...]], T],
    ) -> None:
        self._bus = bus
        self._call = (destination, path, interface, member)
        self._answer = answer
        self.last: T = answer(bus.call(*self._call, timeout=FIRST_CALL_TIMEOUT))

    def __call__(self) -> T:
        try:
            body = self._bus.call(*self._call)
        except DBusError as exc:
            if exc.name == TIMEOUT:
                return self.last
            raise
        self.last = self._answer(body)
        return self.last


def describe(error: DBusError, service: str) -> str:
    """Why a call failed, for people."""
    if error.name in (SERVICE_UNKNOWN, NAME_HAS_NO_OWNER):
        return f"{service} is not running on this session bus"
    if error.name in (UNKNOWN_METHOD, UNKNOWN_OBJECT, UNKNOWN_INTERFACE):
        return f"{service} does not offer this ({error.name}: {error.message})"
    return f"{service} refused: {error}"
