"""Idle time on Wayland from the compositor's idle protocol, spoken directly.

Wayland has no "seconds since the last input" query. Its idle protocols instead send an
event once the seat has had no input for a timeout the client chooses, and another at the
next input. Two are in use:

- ``ext-idle-notify-v1`` (``ext_idle_notifier_v1``): sway 1.8+, Hyprland, KWin 5.27+;
- ``org_kde_kwin_idle`` (KDE's ``idle`` protocol): sway 1.7 and older (Debian 12's sway
  offers only this one) and KWin 5; KWin 6 dropped it.

GNOME's Mutter offers neither (GNOME has ``org.gnome.Mutter.IdleMonitor``, see ``gnome``).

This is a minimal Wayland client in pure Python (no libwayland, no pywayland): the wire
format is 32-bit words in host byte order, each message ``object id``, ``size << 16 | opcode``,
then the arguments (strings as length, bytes, NUL, padding to 4). ``WaylandIdle``:

1. asks ``wl_display`` for the registry and a ``sync`` callback, and reads the globals;
2. binds ``wl_seat`` (version 1) and the protocol's manager global;
3. asks for a timeout object with a one-second timeout: for ext-idle-notify,
   ``get_input_idle_notification`` (version 2: real input only, ignoring idle inhibitors
   such as a playing video) or else ``get_idle_notification``; for KDE's,
   ``get_idle_timeout`` (whose arguments come in another order);
4. on each ``idle_seconds()``, reads the events that arrived, without waiting.

While idled, the idle time is the timeout plus the time since the idle event was read;
otherwise it is 0. So it is exact to within one poll interval once past the timeout, which is
all the driver's threshold (minutes) needs. It is a lower bound all the same: the compositor
counts from when the client asked, so someone away since before the agent started is counted
from then (``base.Settles``; ``probe`` says so).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from officepulse.agent.sources._common import socket_trouble
from officepulse.agent.sources.base import IdleSource, SourceUnavailable

WORD = struct.Struct("=I")
HEADER = struct.Struct("=II")

DISPLAY_ID = 1
# wl_display requests / events
DISPLAY_SYNC, DISPLAY_GET_REGISTRY = 0, 1
DISPLAY_ERROR, DISPLAY_DELETE_ID = 0, 1
# wl_registry
REGISTRY_BIND = 0
REGISTRY_GLOBAL, REGISTRY_GLOBAL_REMOVE = 0, 1
# wl_callback
CALLBACK_DONE = 0

SEAT = "wl_seat"
HANDSHAKE_TIMEOUT = 2.0
DEFAULT_TIMEOUT_MS = 1000


@dataclass(frozen=True, slots=True)
class IdleProtocol:
    """What differs between the idle protocols: the manager global, how a timeout object is
    asked for, and the events of that object (both send "idle" as 0 and "resumed" as 1)."""

    name: str  # as people know it
    manager: str  # the global's interface name
    max_version: int

    def request(self, version: int, new_id: int, seat: int, timeout_ms: int) -> tuple[int, bytes]:
        """The opcode and arguments of the request that creates the timeout object."""
        if self.manager == KDE_IDLE.manager:
            return 0, words(new_id, seat, timeout_ms)  # get_idle_timeout(id, seat, timeout)
        # get_idle_notification (1) / get_input_idle_notification (2): (id, timeout, seat)
        return (2 if version >= 2 else 1), words(new_id, timeout_ms, seat)


EXT_IDLE_NOTIFY = IdleProtocol("ext-idle-notify-v1", "ext_idle_notifier_v1", 2)
KDE_IDLE = IdleProtocol("org_kde_kwin_idle", "org_kde_kwin_idle", 1)
PROTOCOLS = (EXT_IDLE_NOTIFY, KDE_IDLE)
IDLED, RESUMED = 0, 1

MISSING = {
    EXT_IDLE_NOTIFY: "sway 1.8+, Hyprland and KWin 5.27+ offer it; sway 1.7 offers only "
    "org_kde_kwin_idle; GNOME offers neither",
    KDE_IDLE: "sway 1.7 and older and KWin 5 offer it; newer compositors offer "
    "ext-idle-notify-v1 instead; GNOME offers neither",
}


def pack_string(text: str) -> bytes:
    data = text.encode("utf-8") + b"\0"
    return WORD.pack(len(data)) + data + b"\0" * (-len(data) % 4)


def unpack_string(payload: bytes, offset: int) -> tuple[str, int]:
    (length,) = WORD.unpack_from(payload, offset)
    offset += 4
    raw = payload[offset : offset + length]
    if length == 0 or len(raw) != length:
        raise ValueError("a string runs past its message")
    return raw[:-1].decode("utf-8", "replace"), offset + length + (-length % 4)


def message(object_id: int, opcode: int, args: bytes = b"") -> bytes:
    return HEADER.pack(object_id, (HEADER.size + len(args)) << 16 | opcode) + args


def words(*values: int) -> bytes:
    return b"".join(WORD.pack(v) for v in values)


def socket_path(environ: Mapping[str, str]) -> str:
    display = environ.get("WAYLAND_DISPLAY") or "wayland-0"
    if os.path.isabs(display):
        return display
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if not runtime:
        raise SourceUnavailable("cannot find the Wayland socket: XDG_RUNTIME_DIR is not set")
    return os.path.join(runtime, display)


EventHandler = Callable[[int, int, bytes], None]


class WaylandConnection:
    """A client connection: the registry's globals, binding, requests, and the events of the
    objects it made, handed to ``on_event(object_id, opcode, payload)``.

    The constructor connects and reads the globals (blocking, with a timeout); ``pump``
    later reads what arrived without waiting. Every failure is ``SourceUnavailable``.
    """

    def __init__(self, path: str, on_event: EventHandler | None = None) -> None:
        self.path = path
        self.globals: dict[int, tuple[str, int]] = {}
        self._on_event = on_event
        self._buffer = bytearray()
        self._next_id = 2
        self._pending: set[int] = set()  # sync callbacks not yet done
        self._registry = 0
        self._sock: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(HANDSHAKE_TIMEOUT)
            self._sock.connect(path)
            self._registry = self.new_id()
            self.send(message(DISPLAY_ID, DISPLAY_GET_REGISTRY, words(self._registry)))
            self.roundtrip()
        except OSError as exc:
            self.close()
            raise SourceUnavailable(
                f"cannot talk to the Wayland compositor at {path}: {socket_trouble(exc)}"
            ) from exc
        except BaseException:
            self.close()
            raise

    def find(self, interface: str) -> tuple[int, int] | None:
        """The (name, version) of the first global offering ``interface``."""
        for name, (found, version) in sorted(self.globals.items()):
            if found == interface:
                return name, version
        return None

    def new_id(self) -> int:
        new, self._next_id = self._next_id, self._next_id + 1
        return new

    def bind(self, name: int, interface: str, version: int) -> int:
        new = self.new_id()
        args = words(name) + pack_string(interface) + words(version, new)
        self.send(message(self._registry, REGISTRY_BIND, args))
        return new

    def send(self, data: bytes) -> None:
        if self._sock is None:
            raise SourceUnavailable("the connection to the Wayland compositor was closed")
        self._sock.sendall(data)

    def roundtrip(self) -> None:
        """Wait until the compositor has handled everything sent so far (a protocol error
        would arrive before this sync's done)."""
        callback = self.new_id()
        self._pending.add(callback)
        self.send(message(DISPLAY_ID, DISPLAY_SYNC, words(callback)))
        assert self._sock is not None
        while callback in self._pending:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ConnectionResetError("the compositor closed the connection")
            self._buffer += chunk
            self._dispatch()

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for events, then handle what arrived."""
        if self._sock is None:
            raise SourceUnavailable("the connection to the Wayland compositor was closed")
        select.select([self._sock], [], [], max(0.0, timeout))
        self.pump()

    def stop_waiting(self) -> None:
        """From now on, reads never block (``pump``)."""
        if self._sock is not None:
            self._sock.setblocking(False)

    def pump(self) -> None:
        """Handle the events that arrived, without waiting."""
        if self._sock is None:
            raise SourceUnavailable("the connection to the Wayland compositor was closed")
        try:
            while chunk := self._sock.recv(4096):
                self._buffer += chunk
            lost: str | None = "the compositor closed the connection"
        except BlockingIOError:
            lost = None
        except OSError as exc:
            lost = str(exc)
        self._dispatch()
        if lost is not None:
            self.close()
            raise SourceUnavailable(f"lost the Wayland compositor ({self.path}): {lost}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- internals -------------------------------------------------------------

    def _dispatch(self) -> None:
        while len(self._buffer) >= HEADER.size:
            object_id, size_opcode = HEADER.unpack_from(self._buffer)
            size, opcode = size_opcode >> 16, size_opcode & 0xFFFF
            if size < HEADER.size:
                raise SourceUnavailable("the compositor sent a malformed message")
            if len(self._buffer) < size:
                return
            payload = bytes(self._buffer[HEADER.size : size])
            del self._buffer[:size]
            self._event(object_id, opcode, payload)

    def _event(self, object_id: int, opcode: int, payload: bytes) -> None:
        if object_id == DISPLAY_ID and opcode == DISPLAY_ERROR:
            culprit, code = struct.unpack_from("=II", payload)
            text, _ = unpack_string(payload, 8)
            raise SourceUnavailable(
                f"the Wayland compositor reported protocol error {code} on object {culprit}: {text}"
            )
        if object_id == self._registry and opcode == REGISTRY_GLOBAL:
            (name,) = WORD.unpack_from(payload)
            interface, offset = unpack_string(payload, 4)
            (version,) = WORD.unpack_from(payload, offset)
            self.globals[name] = (interface, version)
        elif object_id == self._registry and opcode == REGISTRY_GLOBAL_REMOVE:
            self.globals.pop(WORD.unpack_from(payload)[0], None)
        elif object_id in self._pending and opcode == CALLBACK_DONE:
            self._pending.discard(object_id)
        elif self._on_event is not None:
            self._on_event(object_id, opcode, payload)


class WaylandIdle(IdleSource):
    """Idle time from ``protocol`` (ext-idle-notify-v1 unless told otherwise) on the
    compositor at ``$WAYLAND_DISPLAY``."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        protocol: IdleProtocol = EXT_IDLE_NOTIFY,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.protocol = protocol
        self._clock = clock
        self._timeout = timeout_ms / 1000
        self.resolution = self._timeout
        self._opened = time.monotonic()  # real time: settle() waits on the socket
        self._timer = 0
        self._idle_since: float | None = None
        self.respects_inhibitors = False
        self._conn = WaylandConnection(socket_path(environ), self._event)
        try:
            manager = self._conn.find(protocol.manager)
            seat = self._conn.find(SEAT)
            if manager is None:
                raise SourceUnavailable(
                    f"the Wayland compositor does not offer {protocol.name} ({MISSING[protocol]})"
                )
            if seat is None:
                raise SourceUnavailable("the Wayland compositor offers no seat (wl_seat)")
            seat_id = self._conn.bind(seat[0], SEAT, 1)
            version = min(manager[1], protocol.max_version)
            manager_id = self._conn.bind(manager[0], protocol.manager, version)
            self._timer = self._conn.new_id()
            opcode, args = protocol.request(version, self._timer, seat_id, timeout_ms)
            # Only ext-idle-notify version 2 can ignore inhibitors; the others honour them.
            self.respects_inhibitors = opcode != 2
            self._conn.send(message(manager_id, opcode, args))
            self._conn.roundtrip()
            self._conn.stop_waiting()
        except OSError as exc:
            self.close()
            raise SourceUnavailable(
                f"cannot talk to the Wayland compositor at {self._conn.path}: {socket_trouble(exc)}"
            ) from exc
        except BaseException:
            self.close()
            raise

    def idle_seconds(self) -> float:
        self._conn.pump()
        if self._idle_since is None:
            return 0.0
        return self._timeout + max(0.0, self._clock() - self._idle_since)

    def settle(self) -> None:
        """Wait until the compositor could have said "idle": the timeout after opening, and
        a little for the message to arrive."""
        deadline = self._opened + self._timeout + 0.25
        while self._idle_since is None and (left := deadline - time.monotonic()) > 0:
            self._conn.wait(left)

    def close(self) -> None:
        self._conn.close()

    # -- internals -------------------------------------------------------------

    def _event(self, object_id: int, opcode: int, payload: bytes) -> None:
        if object_id == self._timer and self._timer:
            if opcode == IDLED:
                self._idle_since = self._clock()
            elif opcode == RESUMED:
                self._idle_since = None
