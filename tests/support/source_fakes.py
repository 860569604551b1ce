"""Stand-ins for the compositors these tests cannot run (sway, Hyprland, a Wayland compositor
with ext-idle-notify), each a real server on a real Unix socket speaking the real wire format,
replying with outputs recorded from the real programs (tests/data/recorded/sources/README.md).

The sources under test open real sockets to them, so their socket code runs for real. Every
server runs in one thread, accepts with a short timeout so that ``close()`` can stop it, and
closes every socket it opened. This module holds no tests; the test_sources_* modules use it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.support import paths

RECORDED = paths.DATA / "recorded" / "sources"


def recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def recorded_json(name: str) -> Any:
    return json.loads(recorded(name))


@contextlib.contextmanager
def short_dir() -> Iterator[Path]:
    """A private directory with a short path: a Unix socket path must fit in 108 bytes, and
    pytest's tmp_path often does not leave room for ``hypr/<signature>/.socket.sock``."""
    path = Path(tempfile.mkdtemp(prefix="op-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def recv_exact(conn: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return bytes(data)


class _Server:
    """A Unix socket server in a thread: ``handle(conn)`` serves one connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._listener.bind(str(path))
        except OSError:
            self._listener.close()
            raise
        self._listener.listen(8)
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self._lock:
                self._conns.append(conn)
                self.accepted += 1
            try:
                self.handle(conn)
            except OSError:
                pass  # the client or the test closed the connection: that client is done
            finally:
                with self._lock:
                    if conn in self._conns:
                        self._conns.remove(conn)
                conn.close()

    def drop_clients(self) -> None:
        """Close every open client connection (the compositor went away)."""
        with self._lock:
            for conn in self._conns:
                conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self.drop_clients()
        self._thread.join(5)
        self._listener.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- sway ------------------------------------------------------------------------------

I3_HEADER = struct.Struct("=6sII")


class FakeSway(_Server):
    """sway's IPC: reads ``i3-ipc`` framed requests, answers GET_TREE (4) with ``tree``
    (bytes as sway sent them), framed the same way. ``requests`` keeps what was asked."""

    def __init__(self, path: Path, tree: bytes, *, garbage: bool = False) -> None:
        self.tree = tree
        self.garbage = garbage
        self.requests: list[tuple[bytes, int, bytes]] = []
        super().__init__(path)

    def handle(self, conn: socket.socket) -> None:
        while True:
            header = recv_exact(conn, I3_HEADER.size)
            if header is None:
                return
            magic, length, kind = I3_HEADER.unpack(header)
            payload = recv_exact(conn, length) if length else b""
            if payload is None:
                return
            self.requests.append((magic, kind, payload))
            if self.garbage:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                return
            reply = self.tree if kind == 4 else b'{"success": false}'
            conn.sendall(I3_HEADER.pack(b"i3-ipc", len(reply), kind) + reply)


# -- Hyprland --------------------------------------------------------------------------


class FakeHyprland(_Server):
    """Hyprland's request socket: one request per connection, answered then closed."""

    def __init__(self, path: Path, reply: bytes) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        super().__init__(path)

    def handle(self, conn: socket.socket) -> None:
        request = conn.recv(8192)
        self.requests.append(request)
        conn.sendall(self.reply)


# -- Wayland ---------------------------------------------------------------------------

WL_HEADER = struct.Struct("=II")


def wl_string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("=I", len(data)) + data + b"\0" * (-len(data) % 4)


def wl_message(object_id: int, opcode: int, args: bytes = b"") -> bytes:
    return WL_HEADER.pack(object_id, (8 + len(args)) << 16 | opcode) + args


def parse_globals(trace: str) -> list[tuple[int, str, int]]:
    """The ``wl_registry#2.global(name, "interface", version)`` lines of a WAYLAND_DEBUG
    trace, in order."""
    found = []
    for line in trace.splitlines():
        if ".global(" in line and "->" not in line:
            inner = line.split(".global(", 1)[1].rsplit(")", 1)[0]
            name, interface, version = (part.strip() for part in inner.split(","))
            found.append((int(name), interface.strip('"'), int(version)))
    return found


class FakeCompositor(_Server):
    """The Wayland side of ext-idle-notify: wl_display.get_registry / sync, wl_registry.bind,
    ext_idle_notifier_v1.get_(input_)idle_notification, and the idled / resumed events sent
    when the test says. ``requests`` keeps every request as (object, opcode, payload)."""

    def __init__(self, path: Path, globals_: list[tuple[int, str, int]]) -> None:
        self.globals = globals_
        self.requests: list[tuple[int, int, bytes]] = []
        self.bound: dict[int, tuple[str, int]] = {}  # client object id -> (interface, version)
        self.notification: int | None = None
        self.notification_request: tuple[int, int, int, int] | None = None  # opcode, id, ms, seat
        self.on_request: Callable[[socket.socket, int, int, bytes], bool] | None = None
        self._client: socket.socket | None = None
        self.ready = threading.Event()
        super().__init__(path)

    def handle(self, conn: socket.socket) -> None:
        self._client = conn
        registry = 0
        serial = 100
        while True:
            header = recv_exact(conn, 8)
            if header is None:
                return
            obj, size_op = WL_HEADER.unpack(header)
            size, opcode = size_op >> 16, size_op & 0xFFFF
            payload = recv_exact(conn, size - 8) if size > 8 else b""
            if payload is None:
                return
            self.requests.append((obj, opcode, payload))
            if self.on_request is not None and self.on_request(conn, obj, opcode, payload):
                continue
            if obj == 1 and opcode == 1:  # get_registry(new_id)
                (registry,) = struct.unpack("=I", payload)
                for name, interface, version in self.globals:
                    args = (
                        struct.pack("=I", name) + wl_string(interface) + struct.pack("=I", version)
                    )
                    conn.sendall(wl_message(registry, 0, args))
            elif obj == 1 and opcode == 0:  # sync(new_id callback)
                (callback,) = struct.unpack("=I", payload)
                serial += 1
                conn.sendall(wl_message(callback, 0, struct.pack("=I", serial)))
                conn.sendall(wl_message(1, 1, struct.pack("=I", callback)))  # delete_id
            elif obj == registry and opcode == 0:  # bind(name, interface, version, new_id)
                (name,) = struct.unpack_from("=I", payload)
                (length,) = struct.unpack_from("=I", payload, 4)
                interface = payload[8 : 8 + length - 1].decode()
                offset = 8 + length + (-length % 4)
                version, new_id = struct.unpack_from("=II", payload, offset)
                self.bound[new_id] = (interface, version)
            elif self.bound.get(obj, ("",))[0] == "ext_idle_notifier_v1" and opcode in (1, 2):
                new_id, timeout, seat = struct.unpack("=III", payload)
                self.notification = new_id
                self.notification_request = (opcode, new_id, timeout, seat)
                self.ready.set()

    def send(self, data: bytes) -> None:
        assert self._client is not None
        self._client.sendall(data)

    def idled(self) -> None:
        assert self.notification is not None
        self.send(wl_message(self.notification, 0))

    def resumed(self) -> None:
        assert self.notification is not None
        self.send(wl_message(self.notification, 1))

    def object_of(self, interface: str) -> int:
        return next(new_id for new_id, (name, _) in self.bound.items() if name == interface)
