"""``officepulse agent native-host``: the helper the browser starts for officepulse's
extension (native messaging).

The browser writes each message of the extension to standard input as a 4-byte length in
the computer's byte order and that many bytes of UTF-8 JSON. The host checks each one
(``browser_tabs``) and passes it on to the running agent over the local channel
(``tab_channel``), after a hello of its own that names the browser's process. It writes
nothing to standard output (the browser would read it as a message); what it has to say
goes to standard error, which the browser keeps (Chrome: its own standard error; Firefox:
the Browser Console).

While no agent listens, the host keeps the extension's latest report and tries again every
second, so an agent started later hears at once which tab is in front. The host ends when
the browser closes its standard input (the browser ends, or the extension is reloaded).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from typing import BinaryIO

import msgspec
import psutil

from officepulse.agent import tab_channel
from officepulse.agent.browser_tabs import (
    MAX_LINE,
    ExtensionHello,
    HostHello,
    TabReport,
)
from officepulse.errors import OfficepulseError

log = logging.getLogger("officepulse.native-host")

# Larger messages are read, dropped and said: the extension never sends one (it cuts its
# texts), and one message cannot be allowed to hold the host's memory.
MAX_MESSAGE = MAX_LINE
_HEADER = struct.Struct("=I")  # native byte order, as the browsers write it
# Programs that may stand between the browser and the host (a wrapper that did not exec;
# Chrome on Windows starts hosts through cmd.exe): the browser is above them.
_LAUNCHERS = frozenset({"cmd.exe", "conhost.exe", "sh", "bash", "dash", "zsh"})

_extension_message = msgspec.json.Decoder(ExtensionHello | TabReport)


class MessageError(OfficepulseError):
    """A message from the browser that cannot be used; the message says what was wrong."""


def encode_message(payload: bytes) -> bytes:
    """``payload`` framed as the browser frames it (for tests and tools that talk to a host)."""
    return _HEADER.pack(len(payload)) + payload


def read_message(stream: BinaryIO) -> bytes | None:
    """The next message's bytes, or None at the end of the input (also when it ends inside
    a message: the browser went away). ``MessageError`` for a message longer than
    ``MAX_MESSAGE``, after it has been read past."""
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        left = size
        while left:
            chunk = stream.read(min(left, 65536))
            if not chunk:
                return None
            left -= len(chunk)
        raise MessageError(f"a message of {size} bytes; the most taken is {MAX_MESSAGE}")
    return _read_exactly(stream, size)


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def parse_message(data: bytes) -> ExtensionHello | TabReport:
    """One message of the extension, checked; ``MessageError`` names what is wrong."""
    try:
        return _extension_message.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise MessageError(f"not a message of officepulse's extension: {exc}") from exc


def caller_of(argv: Sequence[str]) -> str:
    """Who the browser says is calling: Chromium passes the extension's origin
    (``chrome-extension://<id>/``, and on Windows ``--parent-window=…``); Firefox the
    path of the host manifest and then the extension's id."""
    for arg in argv:
        if arg.startswith("chrome-extension://"):
            return arg
    plain = [a for a in argv if not a.startswith("--")]
    return plain[1] if len(plain) >= 2 else ""


def browser_pids(pid: int | None = None) -> tuple[int, ...]:
    """The host's parent (the browser), and above it while the parent is only a launcher."""
    found: list[int] = []
    try:
        process = psutil.Process(pid).parent()
        while process is not None and len(found) < 4:
            found.append(process.pid)
            if process.name().lower() not in _LAUNCHERS:
                break
            process = process.parent()
    except psutil.Error:
        pass
    return tuple(found)


class Relay:
    """Passes lines to the agent, keeps the extension's hello and latest report for an
    agent that connects later, and reconnects every ``retry`` seconds while none listens.
    ``connect`` opens the channel (``tab_channel.connect``)."""

    def __init__(
        self,
        hello: HostHello,
        address: str,
        *,
        retry: float = 1.0,
        connect: Callable[[str], tab_channel.Connection] = tab_channel.connect,
    ) -> None:
        self.address = address
        self.retry = retry
        self.connect = connect
        self._hello = msgspec.json.encode(hello) + b"\n"
        self._lock = threading.Lock()
        self._conn: tab_channel.Connection | None = None
        self._extension: bytes | None = None
        self._tab: bytes | None = None
        self._stop = threading.Event()
        self._broken = threading.Event()
        self._thread = threading.Thread(target=self._keep_connected, name="relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def pass_on(self, message: ExtensionHello | TabReport) -> None:
        line = msgspec.json.encode(message) + b"\n"
        with self._lock:
            if isinstance(message, ExtensionHello):
                self._extension = line
            else:
                self._tab = line
            if self._conn is not None:
                try:
                    self._conn.sendall(line)
                except OSError:
                    self._lost(self._conn)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._conn is not None:
                self._lost(self._conn)
        self._thread.join(5)

    def _keep_connected(self) -> None:
        waiting_said = False
        while not self._stop.is_set():
            conn: tab_channel.Connection | None
            try:
                conn = self.connect(self.address)
            except OSError as exc:
                if not waiting_said:
                    log.info("no officepulse agent listens on %s (%s); waiting", self.address, exc)
                    waiting_said = True
                self._stop.wait(self.retry)
                continue
            with self._lock:
                try:
                    # What the agent needs to know now: who we are, and the latest state.
                    conn.sendall(self._hello + (self._extension or b"") + (self._tab or b""))
                except OSError:
                    conn.close()
                    conn = None
                else:
                    self._broken.clear()
                    self._conn = conn
            if conn is None:
                self._stop.wait(self.retry)
                continue
            log.info("passing the browser extension's reports to the agent at %s", self.address)
            waiting_said = False
            self._wait_closed(conn)
            with self._lock:
                if self._conn is conn:
                    self._lost(conn)
            if not self._stop.is_set():
                log.info("the agent went away; waiting for it")

    def _wait_closed(self, conn: tab_channel.Connection) -> None:
        if isinstance(conn, socket.socket):
            # The agent never writes to a host: a read returns when it closes.
            with contextlib.suppress(OSError):
                while conn.recv(4096):
                    pass
        else:
            # A Windows pipe cannot be read and written at once from two threads: a
            # failed write says the agent has gone instead.
            self._broken.wait()

    def _lost(self, conn: tab_channel.Connection) -> None:
        """Drop the connection (with the lock held); wakes ``_wait_closed``."""
        self._conn = None
        self._broken.set()
        if isinstance(conn, socket.socket):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        conn.close()


def run(argv: Sequence[str], stdin: BinaryIO | None = None) -> int:
    """Serve the browser until it closes standard input. ``argv``: what the browser passed."""
    caller = caller_of(argv)
    hello = HostHello(pid=os.getpid(), browser_pids=browser_pids(), caller=caller)
    relay = Relay(hello, tab_channel.channel_address())
    relay.start()
    stream = stdin if stdin is not None else sys.stdin.buffer
    complained = False
    try:
        while True:
            try:
                data = read_message(stream)
                if data is None:
                    return 0
                relay.pass_on(parse_message(data))
            except MessageError as exc:
                if not complained:  # once: a confused extension must not fill the log
                    log.warning("ignored %s", exc)
                    complained = True
    finally:
        relay.stop()
