"""Idle time on Wayland from the ``ext-idle-notify-v1`` protocol, spoken directly.

Wayland has no "seconds since the last input" query. ``ext-idle-notify-v1`` instead sends an
``idled`` event once the seat has had no input for a timeout the client chooses, and
``resumed`` at the next input. sway (1.8+), Hyprland and KWin (5.27+) offer it; GNOME's
Mutter does not (GNOME has ``org.gnome.Mutter.IdleMonitor``, see ``gnome``).

This is a minimal Wayland client in pure Python (no libwayland, no pywayland): the wire
format is 32-bit words in host byte order, each message ``object id``, ``size << 16 | opcode``,
then the arguments (strings as length, bytes, NUL, padding to 4). It:

1. asks ``wl_display`` for the registry and a ``sync`` callback, and reads the globals;
2. binds ``wl_seat`` (version 1) and ``ext_idle_notifier_v1`` (up to version 2);
3. asks for a notification with a one-second timeout: ``get_input_idle_notification``
   (version 2: real input only, ignoring idle inhibitors such as a playing video) or else
   ``get_idle_notification``;
4. on each ``idle_seconds()``, reads the events that arrived, without waiting.

While idled, the idle time is the timeout plus the time since ``idled`` was read; otherwise it
is 0. So it is exact to within one poll interval once past the timeout, which is all the
driver's threshold (minutes) needs.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable, Mapping

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
# ext_idle_notifier_v1 requests
NOTIFIER_GET_IDLE_NOTIFICATION, NOTIFIER_GET_INPUT_IDLE_NOTIFICATION = 1, 2
# ext_idle_notification_v1 events
NOTIFICATION_IDLED, NOTIFICATION_RESUMED = 0, 1

NOTIFIER = "ext_idle_notifier_v1"
SEAT = "wl_seat"
HANDSHAKE_TIMEOUT = 2.0
DEFAULT_TIMEOUT_MS = 1000


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


class WaylandIdle(IdleSource):
    """Idle time from ``ext-idle-notify-v1`` on the compositor at ``$WAYLAND_DISPLAY``."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = socket_path(environ)
        self._clock = clock
        self._timeout = timeout_ms / 1000
        self._buffer = bytearray()
        self._next_id = 2
        self._globals: dict[int, tuple[str, int]] = {}
        self._pending: set[int] = set()  # sync callbacks not yet done
        self._registry = self._notification = 0
        self._idle_since: float | None = None
        self.respects_inhibitors = False
        self._sock: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(HANDSHAKE_TIMEOUT)
            self._sock.connect(self._path)
            self._registry = self._new_id()
            self._send(message(DISPLAY_ID, DISPLAY_GET_REGISTRY, words(self._registry)))
            self._roundtrip()
            notifier = self._find(NOTIFIER)
            seat = self._find(SEAT)
            if notifier is None:
                raise SourceUnavailable(
                    "the Wayland compositor does not offer ext-idle-notify-v1, so idle time "
                    "is unknown (sway 1.8+, Hyprland and KWin 5.27+ offer it; GNOME does not)"
                )
            if seat is None:
                raise SourceUnavailable("the Wayland compositor offers no seat (wl_seat)")
            self._seat = self._bind(seat[0], SEAT, 1)
            version = min(notifier[2], 2)
            self._notifier = self._bind(notifier[0], NOTIFIER, version)
            self._notification = self._new_id()
            request = (
                NOTIFIER_GET_INPUT_IDLE_NOTIFICATION
                if version >= 2
                else NOTIFIER_GET_IDLE_NOTIFICATION
            )
            self.respects_inhibitors = version < 2
            self._send(
                message(self._notifier, request, words(self._notification, timeout_ms, self._seat))
            )
            self._roundtrip()  # a protocol error would arrive before this sync's done
            self._sock.setblocking(False)
        except OSError as exc:
            self.close()
            raise SourceUnavailable(
                f"cannot talk to the Wayland compositor at {self._path}: {socket_trouble(exc)}"
            ) from exc
        except BaseException:
            self.close()
            raise

    def idle_seconds(self) -> float:
        self._pump()
        if self._idle_since is None:
            return 0.0
        return self._timeout + max(0.0, self._clock() - self._idle_since)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- internals -------------------------------------------------------------

    def _new_id(self) -> int:
        new, self._next_id = self._next_id, self._next_id + 1
        return new

    def _find(self, interface: str) -> tuple[int, str, int] | None:
        for name, (found, version) in sorted(self._globals.items()):
            if found == interface:
                return name, found, version
        return None

    def _bind(self, name: int, interface: str, version: int) -> int:
        new = self._new_id()
        args = words(name) + pack_string(interface) + words(version, new)
        self._send(message(self._registry, REGISTRY_BIND, args))
        return new

    def _send(self, data: bytes) -> None:
        if self._sock is None:
            raise SourceUnavailable("the connection to the Wayland compositor was closed")
        self._sock.sendall(data)

    def _roundtrip(self) -> None:
        callback = self._new_id()
        self._pending.add(callback)
        self._send(message(DISPLAY_ID, DISPLAY_SYNC, words(callback)))
        assert self._sock is not None
        while callback in self._pending:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ConnectionResetError("the compositor closed the connection")
            self._buffer += chunk
            self._dispatch()

    def _pump(self) -> None:
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
            raise SourceUnavailable(f"lost the Wayland compositor ({self._path}): {lost}")

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
            self._globals[name] = (interface, version)
        elif object_id == self._registry and opcode == REGISTRY_GLOBAL_REMOVE:
            self._globals.pop(WORD.unpack_from(payload)[0], None)
        elif object_id in self._pending and opcode == CALLBACK_DONE:
            self._pending.discard(object_id)
        elif object_id == self._notification and self._notification:
            if opcode == NOTIFICATION_IDLED:
                self._idle_since = self._clock()
            elif opcode == NOTIFICATION_RESUMED:
                self._idle_since = None
