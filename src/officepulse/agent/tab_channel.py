"""The local channel between the browser's native messaging host and the running agent.

On Linux and macOS it is a Unix socket, ``tabs.sock`` in the person's runtime folder
(``$XDG_RUNTIME_DIR/officepulse`` on Linux, as ``platformdirs`` finds it): the folder is
the person's own with mode 0700, the socket 0600, and on Linux the agent also checks
that whoever connects runs as the same user (``SO_PEERCRED``). On Windows it is a named
pipe that only the person's account may open (``windows_pipe.py``).

What goes over it is one JSON object a line (``browser_tabs``): the host's hello, then
what the extension says; or one ``probe`` line, which the agent answers with what the
browsers report and closes.

``TabListener`` is the agent's end. One agent listens per person: a second one finds the
socket answering and leaves it to the first, trying again now and then in case the first
stops (the probe asks the agent; it never listens itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import struct
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import msgspec
from platformdirs import user_runtime_dir

from officepulse.agent.browser_tabs import (
    MAX_LINE,
    ProbeReply,
    ProbeRequest,
    Tabs,
)
from officepulse.agent.tab_session import ChannelError, Session

log = logging.getLogger(__name__)

SOCKET_NAME = "tabs.sock"
# How often a second agent (or one that could not listen) tries again.
RETRY_LISTEN = 10.0


class Connection(Protocol):
    """The host's and the probe's end: blocking sends and receives."""

    def sendall(self, data: bytes, /) -> None: ...

    def recv(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


def runtime_folder() -> Path:
    """The person's runtime folder for officepulse (Linux: ``$XDG_RUNTIME_DIR/officepulse``)."""
    with warnings.catch_warnings():
        # platformdirs warns when it falls back from an unset XDG_RUNTIME_DIR; where it
        # lands is checked below, and a failure said there.
        warnings.simplefilter("ignore")
        return Path(user_runtime_dir("officepulse", appauthor=False))


def channel_address() -> str:
    """Where the agent listens and the host connects: a socket path, or a pipe name."""
    if sys.platform == "win32":
        from officepulse.agent.windows_pipe import pipe_name

        return pipe_name()
    return str(runtime_folder() / SOCKET_NAME)


def prepare_folder(folder: Path) -> None:
    """Make ``folder`` (mode 0700), or check that it is a folder of this user's alone:
    nobody else may put a socket there, or open ours."""
    if sys.platform == "win32":
        raise ChannelError("Windows has no socket folder: the channel is a named pipe")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as exc:
        raise ChannelError(f"cannot make {folder}: {exc.strerror or exc}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise ChannelError(f"{folder} is not a folder")
    if info.st_uid != os.getuid():
        raise ChannelError(f"{folder} belongs to another user (uid {info.st_uid})")
    if info.st_mode & 0o077:
        raise ChannelError(
            f"{folder} may be opened by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            "it must be 700"
        )


def connect(address: str, timeout: float = 2.0) -> Connection:
    """Open the channel to the running agent; ``OSError`` when none listens."""
    if sys.platform == "win32":
        from officepulse.agent.windows_pipe import connect_pipe

        return connect_pipe(address, timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.settimeout(None)
    except OSError:
        sock.close()
        raise
    return sock


def ask_agent(address: str | None = None, timeout: float = 3.0) -> ProbeReply:
    """What the running agent hears from the browsers; ``OSError`` when no agent listens
    (or it does not answer within ``timeout`` seconds)."""
    conn = connect(address or channel_address(), timeout)
    try:
        conn.sendall(msgspec.json.encode(ProbeRequest()) + b"\n")
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\n"):
            if time.monotonic() > deadline:
                raise TimeoutError("the agent did not answer")
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        conn.close()
    try:
        return msgspec.json.decode(data, type=ProbeReply)
    except msgspec.DecodeError as exc:
        raise OSError(f"the agent's answer cannot be read: {exc}") from exc


class TabListener:
    """The agent's end: listens on ``address`` and keeps what the browsers say in
    ``tabs``. ``start`` never fails the agent: a channel that cannot be opened is logged
    and tried again every ``retry`` seconds."""

    def __init__(
        self,
        tabs: Tabs,
        address: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        retry: float = RETRY_LISTEN,
    ) -> None:
        self.tabs = tabs
        self.address = address or channel_address()
        self.clock = clock
        self.retry = retry
        self._server: asyncio.AbstractServer | None = None
        self._windows: object | None = None
        self._task: asyncio.Task[None] | None = None
        self._inode: tuple[int, int] | None = None
        self._keys = 0
        # The open connections' handlers: closing the server does not end them.
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def listening(self) -> bool:
        return self._server is not None or self._windows is not None

    async def start(self) -> None:
        """Listen now if it can; else say why, and keep trying in the background."""
        said = await self._try(None)
        if said is not None:
            self._task = asyncio.create_task(self._keep_trying(said), name="browser-channel")

    async def _try(self, said: str | None) -> str | None:
        """One try: None once listening, else why not (logged when it is news)."""
        try:
            await self._listen()
        except ChannelError as exc:
            if str(exc) != said:
                log.info(
                    "not listening for the browser extension: %s; trying again every %g s",
                    exc,
                    self.retry,
                )
            return str(exc)
        log.info("listening for the browser extension on %s", self.address)
        return None

    async def _keep_trying(self, said: str | None) -> None:
        while said is not None:
            await asyncio.sleep(self.retry)
            said = await self._try(said)

    async def _listen(self) -> None:
        if sys.platform == "win32":
            from officepulse.agent.windows_pipe import PipeServer

            server = PipeServer(self.address, self._pipe_session)
            server.start(asyncio.get_running_loop())
            self._windows = server
            return
        path = Path(self.address)
        _make_room(path)
        old = os.umask(0o177)  # the socket is made 0600 from the start
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=path, limit=MAX_LINE)
        except OSError as exc:
            raise ChannelError(f"cannot listen on {path}: {exc.strerror or exc}") from exc
        finally:
            os.umask(old)
        self._inode = _identity(path)

    def _next_key(self) -> int:
        self._keys += 1
        return self._keys

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self.tabs, self._next_key(), self.clock)
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        try:
            if not _same_user(writer):
                log.warning("browser channel: refused a connection from another user")
                return
            while True:
                try:
                    data = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    return  # the host ended
                except asyncio.LimitOverrunError:
                    log.warning("browser channel: a line longer than %d bytes; closed", MAX_LINE)
                    return
                answer = session.line(data)
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
                    return
        except ConnectionError:
            return
        finally:
            self._handlers.pop(task, None)
            session.close()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _pipe_session(self) -> Session:
        return Session(self.tabs, self._next_key(), self.clock)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._server is not None:
            self._server.close()
            self._server = None
            _remove_if(Path(self.address), self._inode)
            # The hosts see their connection end, and wait for the next agent.
            for writer in list(self._handlers.values()):
                writer.close()
            await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._windows is not None:
            from officepulse.agent.windows_pipe import PipeServer

            assert isinstance(self._windows, PipeServer)
            self._windows.close()
            self._windows = None


def _make_room(path: Path) -> None:
    """Check the folder, and remove a socket that nobody listens on (an agent that was
    killed left it); ``ChannelError`` when another agent listens there."""
    prepare_folder(path.parent)
    if _answers(path):
        raise ChannelError(f"another officepulse agent of yours listens on {path}")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return (info.st_dev, info.st_ino)


def _remove_if(path: Path, identity: tuple[int, int] | None) -> None:
    """Remove the socket if it is still the one made (not a newer agent's)."""
    with contextlib.suppress(FileNotFoundError):
        if _identity(path) == identity:
            path.unlink()


def _answers(path: Path) -> bool:
    """Whether something listens on the socket at ``path``."""
    try:
        conn = connect(str(path), timeout=1.0)
    except OSError:
        return False
    conn.close()
    return True


def _same_user(writer: asyncio.StreamWriter) -> bool:
    """On Linux, whether the peer runs as this user (the folder's mode already keeps
    others out; this is the second lock). Elsewhere the folder's mode is the lock."""
    if not sys.platform.startswith("linux"):
        return True
    sock = writer.get_extra_info("socket")
    if sock is None:
        return False
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())
