"""Windows: the named pipe between the browser's native messaging host and the agent.

Written to Microsoft's documentation of CreateNamedPipeW, ConnectNamedPipe, security
descriptors in SDDL and GetNamedPipeServerProcessId; this project's tests run on Linux
and do not run it (``mypy --platform win32`` checks its types).

The pipe ``\\\\.\\pipe\\officepulse-tabs-<user>`` is made with a DACL that grants the
person's own account (its SID) and nobody else, and refuses remote clients. The first
instance is made with FILE_FLAG_FIRST_PIPE_INSTANCE, so the agent cannot end up serving a
pipe someone else made first; the host, for its part, checks that the pipe's server runs
as the same user before it says anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import re
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from officepulse.agent.browser_tabs import MAX_LINE

if TYPE_CHECKING:
    from officepulse.agent.tab_session import Session

log = logging.getLogger(__name__)

PIPE_PREFIX = "\\\\.\\pipe\\officepulse-tabs-"

_PIPE_ACCESS_DUPLEX = 0x00000003
_FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000
_PIPE_TYPE_BYTE = 0x00000000
_PIPE_READMODE_BYTE = 0x00000000
_PIPE_WAIT = 0x00000000
_PIPE_REJECT_REMOTE_CLIENTS = 0x00000008
_PIPE_UNLIMITED_INSTANCES = 255
_ERROR_PIPE_CONNECTED = 535
_ERROR_ACCESS_DENIED = 5
_INVALID_HANDLE_VALUE = -1
_SDDL_REVISION_1 = 1
_TOKEN_QUERY = 0x0008
_TOKEN_USER = 1
_GENERIC_READ_WRITE = 0x80000000 | 0x40000000
_OPEN_EXISTING = 3
_BUFFER = 65536


def pipe_name(user: str | None = None) -> str:
    """The person's pipe; the user name kept to characters a pipe name may hold."""
    name = user if user is not None else getpass.getuser()
    return PIPE_PREFIX + (re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "user")


def _user_sid() -> str:
    """The current account's SID as a string ("S-1-5-21-…")."""
    if sys.platform != "win32":
        raise OSError("the browser channel's named pipe is Windows only")
    import ctypes
    from ctypes import wintypes

    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    token = wintypes.HANDLE()
    if not advapi32.OpenProcessToken(
        kernel32.GetCurrentProcess(), _TOKEN_QUERY, ctypes.byref(token)
    ):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        size = wintypes.DWORD()
        advapi32.GetTokenInformation(token, _TOKEN_USER, None, 0, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        if not advapi32.GetTokenInformation(token, _TOKEN_USER, buffer, size, ctypes.byref(size)):
            raise ctypes.WinError(ctypes.get_last_error())
        # TOKEN_USER starts with a SID_AND_ATTRIBUTES whose first member is the PSID.
        sid = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_void_p))[0]
        text = wintypes.LPWSTR()
        if not advapi32.ConvertSidToStringSidW(ctypes.c_void_p(sid), ctypes.byref(text)):
            raise ctypes.WinError(ctypes.get_last_error())
        try:
            return str(text.value)
        finally:
            kernel32.LocalFree(text)
    finally:
        kernel32.CloseHandle(token)


class PipeServer:
    """The agent's end: an accepting thread, and a thread per connected host that hands
    each line to its ``Session`` on the event loop."""

    def __init__(self, name: str, make_session: Callable[[], Session]) -> None:
        self.name = name
        self.make_session = make_session
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._first: Any = None
        self._attributes: Any = None
        self._descriptor: Any = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make the first instance (``ChannelError`` when the name is taken) and accept."""
        from officepulse.agent.tab_session import ChannelError

        self._loop = loop
        self._attributes = self._security()
        try:
            self._first = self._instance(first=True)
        except OSError as exc:
            if getattr(exc, "winerror", None) == _ERROR_ACCESS_DENIED:
                raise ChannelError(f"another program already serves {self.name}") from exc
            raise ChannelError(f"cannot make {self.name}: {exc}") from exc
        self._thread = threading.Thread(target=self._accept, name="browser-pipe", daemon=True)
        self._thread.start()

    def _security(self) -> Any:
        if sys.platform != "win32":
            raise OSError("the browser channel's named pipe is Windows only")
        import ctypes
        from ctypes import wintypes

        class SecurityAttributes(ctypes.Structure):
            _fields_ = [
                ("nLength", wintypes.DWORD),
                ("lpSecurityDescriptor", ctypes.c_void_p),
                ("bInheritHandle", wintypes.BOOL),
            ]

        advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
        descriptor = ctypes.c_void_p()
        # Protected DACL, one entry: generic all for this account. Nobody else, not
        # even Everyone's read access that the default descriptor gives.
        sddl = f"D:P(A;;GA;;;{_user_sid()})"
        if not advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl, _SDDL_REVISION_1, ctypes.byref(descriptor), None
        ):
            raise ctypes.WinError(ctypes.get_last_error())
        self._descriptor = descriptor
        attributes = SecurityAttributes()
        attributes.nLength = ctypes.sizeof(SecurityAttributes)
        attributes.lpSecurityDescriptor = descriptor.value
        attributes.bInheritHandle = False
        return attributes

    def _instance(self, *, first: bool) -> Any:
        if sys.platform != "win32":
            raise OSError("the browser channel's named pipe is Windows only")
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.CreateNamedPipeW.restype = ctypes.c_void_p
        open_mode = _PIPE_ACCESS_DUPLEX | (_FILE_FLAG_FIRST_PIPE_INSTANCE if first else 0)
        pipe_mode = _PIPE_TYPE_BYTE | _PIPE_READMODE_BYTE | _PIPE_WAIT | _PIPE_REJECT_REMOTE_CLIENTS
        handle = kernel32.CreateNamedPipeW(
            self.name,
            open_mode,
            pipe_mode,
            _PIPE_UNLIMITED_INSTANCES,
            _BUFFER,
            _BUFFER,
            0,
            ctypes.byref(self._attributes),
        )
        if handle is None or handle == ctypes.c_void_p(_INVALID_HANDLE_VALUE).value:
            raise ctypes.WinError(ctypes.get_last_error())
        return handle

    def _accept(self) -> None:
        if sys.platform != "win32":
            raise OSError("the browser channel's named pipe is Windows only")
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = self._first
        while not self._stop.is_set():
            ok = kernel32.ConnectNamedPipe(ctypes.c_void_p(handle), None)
            if not ok and ctypes.get_last_error() != _ERROR_PIPE_CONNECTED:
                kernel32.CloseHandle(ctypes.c_void_p(handle))
            elif self._stop.is_set():
                kernel32.CloseHandle(ctypes.c_void_p(handle))
                return
            else:
                threading.Thread(
                    target=self._serve, args=(handle,), name="browser-pipe-host", daemon=True
                ).start()
            try:
                handle = self._instance(first=False)
            except OSError as exc:
                log.warning("browser channel: cannot make another pipe instance: %s", exc)
                return

    def _serve(self, handle: Any) -> None:
        if sys.platform != "win32":
            raise OSError("the browser channel's named pipe is Windows only")
        import ctypes
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        loop = self._loop
        assert loop is not None
        session = asyncio.run_coroutine_threadsafe(self._session(), loop).result()
        buffer = ctypes.create_string_buffer(_BUFFER)
        pending = b""
        try:
            while not self._stop.is_set():
                read = wintypes.DWORD()
                if not kernel32.ReadFile(
                    ctypes.c_void_p(handle), buffer, _BUFFER, ctypes.byref(read), None
                ):
                    return  # the host closed its end
                pending += buffer.raw[: read.value]
                if len(pending) > MAX_LINE and b"\n" not in pending:
                    log.warning("browser channel: a line longer than %d bytes; closed", MAX_LINE)
                    return
                while b"\n" in pending:
                    line, _, pending = pending.partition(b"\n")
                    answer = asyncio.run_coroutine_threadsafe(
                        self._line(session, line + b"\n"), loop
                    ).result()
                    if answer is not None:
                        written = wintypes.DWORD()
                        kernel32.WriteFile(
                            ctypes.c_void_p(handle),
                            answer,
                            len(answer),
                            ctypes.byref(written),
                            None,
                        )
                        kernel32.FlushFileBuffers(ctypes.c_void_p(handle))
                        return
        finally:
            loop.call_soon_threadsafe(session.close)
            kernel32.DisconnectNamedPipe(ctypes.c_void_p(handle))
            kernel32.CloseHandle(ctypes.c_void_p(handle))

    async def _session(self) -> Session:
        return self.make_session()

    @staticmethod
    async def _line(session: Session, line: bytes) -> bytes | None:
        return session.line(line)

    def close(self) -> None:
        self._stop.set()
        # ConnectNamedPipe blocks the accepting thread: a connection of our own wakes it.
        with contextlib.suppress(OSError):
            connect_pipe(self.name, 1.0, check_owner=False).close()
        if self._descriptor is not None:
            if sys.platform != "win32":
                raise OSError("the browser channel's named pipe is Windows only")
            import ctypes

            ctypes.WinDLL("kernel32").LocalFree(self._descriptor)
            self._descriptor = None


class PipeConnection:
    """The host's and the probe's end of the pipe (``tab_channel.Connection``)."""

    def __init__(self, file: Any) -> None:
        self._file = file

    def sendall(self, data: bytes, /) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written:]

    def recv(self, size: int, /) -> bytes:
        data: bytes = self._file.read(size)
        return data or b""

    def close(self) -> None:
        self._file.close()


def connect_pipe(name: str, timeout: float, *, check_owner: bool = True) -> PipeConnection:
    """Open the agent's pipe; ``OSError`` when no agent serves it, or when the program
    serving it runs as another user."""
    if sys.platform != "win32":
        raise OSError("the browser channel's named pipe is Windows only")
    import ctypes
    import msvcrt

    import psutil

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    if not kernel32.WaitNamedPipeW(name, max(1, int(timeout * 1000))):
        raise ctypes.WinError(ctypes.get_last_error())
    file = open(name, "r+b", buffering=0)  # noqa: SIM115 (owned by the connection)
    if check_owner:
        try:
            server = ctypes.c_ulong()
            handle = msvcrt.get_osfhandle(file.fileno())
            if not kernel32.GetNamedPipeServerProcessId(
                ctypes.c_void_p(handle), ctypes.byref(server)
            ):
                raise ctypes.WinError(ctypes.get_last_error())
            owner = psutil.Process(server.value).username()
        except psutil.Error as exc:
            file.close()
            raise PermissionError(f"cannot tell who serves {name}: {exc}") from exc
        except OSError:
            file.close()
            raise
        if owner != psutil.Process().username():
            file.close()
            raise PermissionError(f"{name} is served by another user's program")
    return PipeConnection(file)
