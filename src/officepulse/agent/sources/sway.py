"""sway (and i3's IPC, which sway speaks): the focused window from ``GET_TREE``.

The IPC is a Unix socket (``$SWAYSOCK``) carrying messages framed as
``"i3-ipc" <length: u32> <type: u32> <payload>``, both integers in native byte order, the
payload JSON (sway-ipc(7)). One connection is kept for every poll; a reply is read whole
before the next request is sent.

The focused node is the one with ``"focused": true`` among ``nodes`` and ``floating_nodes``.
When it is a window (``con`` or ``floating_con`` with a ``pid``), its app is ``app_id`` for
native Wayland windows and ``window_properties.class`` (else ``instance``) for XWayland ones;
the title is ``name``. A focused workspace (an empty one) means no window: None.

An app that inhibits idle (``InhibitedIdle``): sway 1.7's ``org_kde_kwin_idle`` (wlroots
0.15) stops its idle timers while any window inhibits idle (a playing video, or sway's
``inhibit_idle``), without first saying "resumed": someone idle when it began stays idle to
that protocol, whatever they type, until it ends and they touch something again (seen on the
real sway in test_wayland_sway.py). Newer wlroots' ext-idle-notify-v1 says "resumed" instead,
so the person counts as active while an app keeps the session awake. sway's tree says which
windows inhibit idle (``inhibit_idle``), and the agent reads the tree on every poll anyway:
while any does, the idle time is 0, as on newer sways, and afterwards it counts from the end.

A locked screen (``SwayLock``): sway's IPC does not say whether the session is locked, and
swaylock sets no logind ``LockedHint`` (swaylock issue 382: its authors keep D-Bus out of it);
the lock protocol, ext-session-lock-v1, is for the locker alone. So the lock is the screen
locker's process: one of ``LOCKERS`` run by this user on this Wayland display (its
``WAYLAND_DISPLAY`` under its ``XDG_RUNTIME_DIR``), as ``pgrep -u $USER swaylock`` in
swaylock's own issues (422) and other trackers do. The process is the lock's lifetime: swaylock
exits when it unlocks (on the password, or SIGUSR1).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any

import psutil

from officepulse.agent.sources._common import as_pid, local_sample, socket_trouble
from officepulse.agent.sources.base import IdleSource, Settles, SourceUnavailable, WindowSample

MAGIC = b"i3-ipc"
HEADER = struct.Struct("=6sII")  # native byte order, no padding
GET_TREE = 4
TIMEOUT = 2.0
MAX_REPLY = 64 * 1024 * 1024  # a tree is tens of kB; this only guards against garbage
# Screen lockers for wlroots compositors, by process name (swaylock-effects is "swaylock" too).
LOCKERS = frozenset({"swaylock", "gtklock", "waylock"})


def encode(message_type: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(MAGIC, len(payload), message_type) + payload


def focused_node(tree: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The node with ``focused: true``, searched depth first."""
    for node in _walk(tree):
        if node.get("focused") is True:
            return node
    return None


def sample_from_node(node: Mapping[str, Any]) -> WindowSample | None:
    """A window node as a sample; None for a node that is not a window (a workspace)."""
    if node.get("type") not in ("con", "floating_con") or "pid" not in node:
        return None
    props = node.get("window_properties")
    x11_class = ""
    if isinstance(props, Mapping):
        x11_class = _text(props.get("class")) or _text(props.get("instance"))
    app = _text(node.get("app_id")) or x11_class
    return local_sample(app, _text(node.get("name")), as_pid(node.get("pid")))


def sample_from_tree(tree: Mapping[str, Any]) -> WindowSample | None:
    node = focused_node(tree)
    return sample_from_node(node) if node is not None else None


def inhibits_idle(tree: Mapping[str, Any]) -> bool:
    """Whether any window of the tree inhibits idle now (sway 1.7 and later: each view's
    ``inhibit_idle``)."""
    return any(node.get("inhibit_idle") is True for node in _walk(tree))


class SwayWindow:
    """The focused window of the sway instance at ``socket_path`` (default ``$SWAYSOCK``)."""

    def __init__(self, environ: Mapping[str, str], socket_path: str | None = None) -> None:
        path = socket_path or environ.get("SWAYSOCK", "")
        if not path:
            raise SourceUnavailable("not a sway session: SWAYSOCK is not set")
        self._path = path
        self.idle_inhibited = False  # as of the last tree read
        self._sock: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(TIMEOUT)
        try:
            self._sock.connect(path)
        except OSError as exc:
            self.close()
            raise SourceUnavailable(
                f"cannot connect to sway's IPC socket {path!r}: {socket_trouble(exc)}"
            ) from exc

    def active_window(self) -> WindowSample | None:
        tree = self.get_tree()
        self.idle_inhibited = inhibits_idle(tree)
        return sample_from_tree(tree)

    def get_tree(self) -> Mapping[str, Any]:
        reply = self._request(GET_TREE)
        try:
            tree = json.loads(reply)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SourceUnavailable(f"sway sent a tree that is not JSON: {exc}") from exc
        if not isinstance(tree, dict):
            raise SourceUnavailable("sway sent a tree that is not a JSON object")
        return tree

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- internals -------------------------------------------------------------

    def _request(self, message_type: int) -> bytes:
        if self._sock is None:
            raise SourceUnavailable(f"the connection to sway ({self._path}) was closed")
        try:
            self._sock.sendall(encode(message_type))
            magic, length, reply_type = HEADER.unpack(self._recv(HEADER.size))
            if magic != MAGIC or length > MAX_REPLY:
                raise ConnectionError("the reply does not start like an i3-ipc message")
            payload = self._recv(length)
        except OSError as exc:
            self.close()
            raise SourceUnavailable(f"lost the connection to sway ({self._path}): {exc}") from exc
        if reply_type != message_type:
            # Only events carry another type, and this connection subscribes to none.
            self.close()
            raise SourceUnavailable(f"sway answered type {reply_type} to a type {message_type}")
        return payload

    def _recv(self, size: int) -> bytes:
        assert self._sock is not None
        chunks = bytearray()
        while len(chunks) < size:
            chunk = self._sock.recv(min(size - len(chunks), 1 << 20))
            if not chunk:
                raise ConnectionResetError("sway closed the connection")
            chunks += chunk
        return bytes(chunks)


class InhibitedIdle(IdleSource):
    """``idle`` (a Wayland idle protocol that honours inhibitors), set to 0 while sway's tree
    last said that a window inhibits idle, and counted from when that ended afterwards. The
    window source is read before the idle source on every poll, so the tree is fresh."""

    def __init__(
        self,
        idle: IdleSource,
        window: SwayWindow,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = idle
        self._window = window
        self._clock = clock
        self._inhibited_at: float | None = None  # when inhibition was last seen
        if isinstance(idle, Settles):  # the probe waits for a Wayland source's first answer
            self.resolution = idle.resolution

    def idle_seconds(self) -> float:
        seconds = self.source.idle_seconds()
        now = self._clock()
        if self._window.idle_inhibited:
            self._inhibited_at = now
            return 0.0
        if self._inhibited_at is not None:
            seconds = min(seconds, now - self._inhibited_at)
        return seconds

    def settle(self) -> None:
        if isinstance(self.source, Settles):
            self.source.settle()

    def close(self) -> None:
        """The sources are closed by the desktop that owns them."""


def wayland_socket(environ: Mapping[str, str]) -> str | None:
    """The path of the Wayland display a process with ``environ`` talks to: WAYLAND_DISPLAY,
    relative to XDG_RUNTIME_DIR unless absolute (wayland-client's rule)."""
    display = environ.get("WAYLAND_DISPLAY", "")
    if not display:
        return None
    if display.startswith("/"):
        return display
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    return str(PurePosixPath(runtime) / display) if runtime else None


def locks_this_session(
    name: str, uid: int, environ: Mapping[str, str] | None, my_uid: int, my_display: str
) -> bool:
    """Whether a process (its name, real uid and environment; None when the environment
    cannot be read) is a screen locker of this person's session on ``my_display``.

    An unreadable environment counts: a locker installed setuid (swaylock built for
    shadow passwords) hides it even from its own user, and a person's locker almost always
    locks their one session."""
    if name not in LOCKERS or uid != my_uid:
        return False
    return environ is None or wayland_socket(environ) == my_display


class SwayLock:
    """Whether a screen locker (``LOCKERS``) of this user runs on this session's display."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        display = wayland_socket(environ)
        if display is None:
            raise SourceUnavailable(
                "cannot tell which Wayland display this is: WAYLAND_DISPLAY or XDG_RUNTIME_DIR "
                "is not set"
            )
        self._display = display
        self._uid = os.getuid()
        self.locked()

    def locked(self) -> bool:
        # Names only for every process (one read of /proc/PID/stat each); the rest only
        # for the few lockers among them.
        for process in psutil.process_iter(["name"]):
            name = process.info.get("name")
            if name not in LOCKERS:
                continue
            try:
                uid = process.uids().real
            except psutil.Error:  # gone meanwhile
                continue
            try:
                environ: Mapping[str, str] | None = process.environ()
            except psutil.AccessDenied:
                environ = None
            except psutil.Error:  # gone, or a zombie: it no longer locks anything
                continue
            if locks_this_session(name, uid, environ, self._uid, self._display):
                return True
        return False

    def close(self) -> None:
        """Nothing is kept open between looks."""


def _walk(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children: list[Mapping[str, Any]] = []
        for key in ("nodes", "floating_nodes"):
            value = current.get(key)
            if isinstance(value, list):
                children.extend(child for child in value if isinstance(child, Mapping))
        stack.extend(reversed(children))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
