"""Windows: the foreground window, idle time, the lock screen and UAC prompts.

All calls into Windows go through one small adapter, ``Win32Api``. ``CtypesWin32`` is the
real one, written against user32 and kernel32 through ctypes (no pywin32; the DLLs are loaded
in its constructor, never at import time); it can only run on Windows. ``WindowsDesktop``
holds the logic and is tested with an adapter that replays recorded values
(tests/data/recorded/windows).

- Window: ``GetForegroundWindow``, ``GetWindowTextW``, ``GetWindowThreadProcessId``, then
  ``QueryFullProcessImageNameW`` with ``PROCESS_QUERY_LIMITED_INFORMATION`` (which works for
  elevated processes too). ``app`` is the executable's name without ``.exe``. A UWP app's
  frame belongs to ``ApplicationFrameHost.exe``; the app is the child window of another
  process, so that one is reported.
- Name: the executable's ``FileDescription`` ("Google Chrome" for chrome.exe), from its
  version resource: ``GetFileVersionInfoSizeW``/``GetFileVersionInfoW``, then
  ``VerQueryValueW`` of ``\\VarFileInfo\\Translation`` and of
  ``\\StringFileInfo\\<lang><codepage>\\FileDescription`` (``pick_description``); read once
  per executable. The agent tells the server (agent/app_names.py).
- Idle: ``GetTickCount64`` minus ``GetLastInputInfo().dwTime``, both in milliseconds; dwTime
  is 32-bit, so the difference is taken modulo 2**32 (it wraps every 49.7 days).
- Locked: the lock screen is ``LockApp.exe`` in front, or an input desktop that cannot be
  opened (``OpenInputDesktop`` fails while Winlogon's secure desktop has the input).
- UAC: a consent prompt also runs on the secure desktop, so there is no foreground window.
  The person is there, answering it: ``active_window()`` is None (no reading, the span in
  progress goes on) and ``locked()`` is False when ``consent.exe`` is running.
- While locked, ``active_window()`` repeats the window seen before the lock, so the away time
  is dated against the app that was in front rather than against "LockApp".
"""

from __future__ import annotations

import ntpath
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from officepulse.agent.sources.base import IdleSource, SourceUnavailable, WindowSample

LOCK_APP = "lockapp.exe"
CONSENT = "consent.exe"
FRAME_HOST = "applicationframehost.exe"
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
DESKTOP_SWITCHDESKTOP = 0x0100


def elapsed_ms(tick_count64: int, last_input_tick: int) -> int:
    """Milliseconds from ``GetLastInputInfo().dwTime`` (32-bit) to ``GetTickCount64()``:
    taken modulo 2**32, so the count stays right when the 32-bit tick wraps (every 49.7
    days of uptime)."""
    return ((tick_count64 & 0xFFFFFFFF) - last_input_tick) & 0xFFFFFFFF


class Win32Api(Protocol):
    def foreground_window(self) -> int:
        """GetForegroundWindow(), 0 when no window has the foreground."""
        ...

    def window_title(self, hwnd: int) -> str: ...

    def window_pid(self, hwnd: int) -> int:
        """GetWindowThreadProcessId's process id, 0 on failure."""
        ...

    def child_window_pids(self, hwnd: int) -> list[int]:
        """The process ids of the window's children (EnumChildWindows)."""
        ...

    def process_image(self, pid: int) -> str | None:
        """QueryFullProcessImageNameW, or None when the process cannot be opened."""
        ...

    def input_desktop_open(self) -> bool:
        """Whether OpenInputDesktop succeeds (the desktop was closed again at once)."""
        ...

    def idle_milliseconds(self) -> int:
        """GetTickCount64() - GetLastInputInfo().dwTime, modulo 2**32."""
        ...

    def process_running(self, image_name: str) -> bool:
        """Whether a process with this executable name runs (for consent.exe)."""
        ...

    def file_description(self, image: str) -> str | None:
        """The executable's FileDescription from its version resource, None without one."""
        ...


# Tried after the translations a resource lists (some list none, or a wrong one): US
# English in Unicode, in Windows-1252, and language-neutral, as Explorer does.
FALLBACK_TRANSLATIONS = ("040904b0", "040904e4", "04090000")


def pick_description(
    translations: Sequence[tuple[int, int]], value: Callable[[str], str | None]
) -> str | None:
    """The FileDescription of a version resource: ``value(sub_block)`` is what
    ``VerQueryValueW`` gives for a sub-block (None: not there); ``translations`` the
    (language, code page) pairs of its ``\\VarFileInfo\\Translation``, each tried in turn."""
    keys = [f"{lang:04x}{page:04x}" for lang, page in translations]
    for key in dict.fromkeys([*keys, *FALLBACK_TRANSLATIONS]):
        text = value(f"\\StringFileInfo\\{key}\\FileDescription")
        if text is not None and text.strip(" \0"):
            return text.strip(" \0")
    return None


@dataclass(frozen=True, slots=True)
class Foreground:
    hwnd: int
    pid: int
    image: str | None

    @property
    def exe(self) -> str:
        return ntpath.basename(self.image).lower() if self.image else ""


class WindowsDesktop(IdleSource):
    """A ``WindowSource``, ``IdleSource`` and ``LockSource`` over a ``Win32Api``."""

    def __init__(self, api: Win32Api | None = None) -> None:
        self._api = api if api is not None else CtypesWin32()
        self._last: WindowSample | None = None
        self._descriptions: dict[str, str | None] = {}  # by executable path, read once

    def active_window(self) -> WindowSample | None:
        front = self._foreground()
        if front is None:
            return None  # the secure desktop (UAC, Ctrl+Alt+Del) or nothing in front
        if front.exe == LOCK_APP:
            return self._last
        pid, image = front.pid, front.image
        if front.exe == FRAME_HOST:
            for child in self._api.child_window_pids(front.hwnd):
                if child and child != front.pid:
                    pid, image = child, self._api.process_image(child)
                    break
        process = ntpath.basename(image) if image else None
        app = process[:-4] if process and process.lower().endswith(".exe") else (process or "")
        sample = WindowSample(
            app=app,
            title=self._api.window_title(front.hwnd),
            process=process,
            pid=pid or None,
            name=self._description(image),
        )
        self._last = sample
        return sample

    def idle_seconds(self) -> float:
        return self._api.idle_milliseconds() / 1000

    def _description(self, image: str | None) -> str | None:
        if image is None:
            return None
        if image not in self._descriptions:
            self._descriptions[image] = self._api.file_description(image)
        return self._descriptions[image]

    def locked(self) -> bool:
        front = self._foreground()
        if front is not None and front.exe == LOCK_APP:
            return True
        if self._api.input_desktop_open():
            return False
        # The secure desktop has the input: the lock screen's sign-in, or a UAC prompt.
        return not self._api.process_running(CONSENT)

    def close(self) -> None:
        """Nothing to close."""

    def _foreground(self) -> Foreground | None:
        hwnd = self._api.foreground_window()
        if not hwnd:
            return None
        pid = self._api.window_pid(hwnd)
        return Foreground(hwnd, pid, self._api.process_image(pid) if pid else None)


class CtypesWin32:
    """The real ``Win32Api``, through ctypes. Runs only on Windows."""

    # Set in __init__, after the platform check (which mypy reads as the end on Linux).
    _ctypes: Any
    _wintypes: Any
    _user32: Any
    _kernel32: Any
    _version: Any
    _last_input_info: Any
    _enum_proc: Any

    def __init__(self) -> None:
        if sys.platform != "win32":
            raise SourceUnavailable("the Windows source runs only on Windows")
        import ctypes
        from ctypes import wintypes

        self._ctypes = ctypes
        self._wintypes = wintypes
        user32: Any = ctypes.WinDLL("user32", use_last_error=True)
        kernel32: Any = ctypes.WinDLL("kernel32", use_last_error=True)

        user32.GetForegroundWindow.restype = wintypes.HWND
        user32.GetWindowTextLengthW.argtypes = [wintypes.HWND]
        user32.GetWindowTextW.argtypes = [wintypes.HWND, wintypes.LPWSTR, ctypes.c_int]
        user32.GetWindowThreadProcessId.argtypes = [wintypes.HWND, ctypes.POINTER(wintypes.DWORD)]
        user32.GetWindowThreadProcessId.restype = wintypes.DWORD
        user32.OpenInputDesktop.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
        user32.OpenInputDesktop.restype = wintypes.HANDLE
        user32.CloseDesktop.argtypes = [wintypes.HANDLE]
        kernel32.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
        kernel32.OpenProcess.restype = wintypes.HANDLE
        kernel32.QueryFullProcessImageNameW.argtypes = [
            wintypes.HANDLE,
            wintypes.DWORD,
            wintypes.LPWSTR,
            ctypes.POINTER(wintypes.DWORD),
        ]
        kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
        kernel32.GetTickCount64.restype = ctypes.c_ulonglong

        class LastInputInfo(ctypes.Structure):
            _fields_ = [("cbSize", wintypes.UINT), ("dwTime", wintypes.DWORD)]

        version: Any = ctypes.WinDLL("version", use_last_error=True)
        version.GetFileVersionInfoSizeW.argtypes = [wintypes.LPCWSTR, wintypes.LPDWORD]
        version.GetFileVersionInfoSizeW.restype = wintypes.DWORD
        version.GetFileVersionInfoW.argtypes = [
            wintypes.LPCWSTR,
            wintypes.DWORD,
            wintypes.DWORD,
            wintypes.LPVOID,
        ]
        version.VerQueryValueW.argtypes = [
            wintypes.LPCVOID,
            wintypes.LPCWSTR,
            ctypes.POINTER(wintypes.LPVOID),
            ctypes.POINTER(wintypes.UINT),
        ]
        self._version = version
        self._user32, self._kernel32 = user32, kernel32
        self._last_input_info = LastInputInfo
        self._enum_proc = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)
        user32.EnumChildWindows.argtypes = [wintypes.HWND, self._enum_proc, wintypes.LPARAM]

    def foreground_window(self) -> int:
        return int(self._user32.GetForegroundWindow() or 0)

    def window_title(self, hwnd: int) -> str:
        length = int(self._user32.GetWindowTextLengthW(hwnd))
        if length <= 0:
            return ""
        buf = self._ctypes.create_unicode_buffer(length + 1)
        self._user32.GetWindowTextW(hwnd, buf, length + 1)
        return str(buf.value)

    def window_pid(self, hwnd: int) -> int:
        pid = self._wintypes.DWORD(0)
        self._user32.GetWindowThreadProcessId(hwnd, self._ctypes.byref(pid))
        return int(pid.value)

    def child_window_pids(self, hwnd: int) -> list[int]:
        pids: list[int] = []

        def visit(child: int, _: int) -> bool:
            pids.append(self.window_pid(child))
            return True

        self._user32.EnumChildWindows(hwnd, self._enum_proc(visit), 0)
        return pids

    def process_image(self, pid: int) -> str | None:
        handle = self._kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
        if not handle:
            return None  # protected or vanished process
        try:
            size = self._wintypes.DWORD(32768)
            buf = self._ctypes.create_unicode_buffer(size.value)
            ok = self._kernel32.QueryFullProcessImageNameW(handle, 0, buf, self._ctypes.byref(size))
            return str(buf.value) if ok else None
        finally:
            self._kernel32.CloseHandle(handle)

    def input_desktop_open(self) -> bool:
        desktop = self._user32.OpenInputDesktop(0, False, DESKTOP_SWITCHDESKTOP)
        if not desktop:
            return False
        self._user32.CloseDesktop(desktop)
        return True

    def idle_milliseconds(self) -> int:
        info = self._last_input_info()
        info.cbSize = self._ctypes.sizeof(info)
        if not self._user32.GetLastInputInfo(self._ctypes.byref(info)):
            raise SourceUnavailable("GetLastInputInfo failed: idle time is unknown")
        return elapsed_ms(int(self._kernel32.GetTickCount64()), int(info.dwTime))

    def file_description(self, image: str) -> str | None:
        ct, wt = self._ctypes, self._wintypes
        size = int(self._version.GetFileVersionInfoSizeW(image, None))
        if size <= 0:
            return None  # no version resource
        block = ct.create_string_buffer(size)
        if not self._version.GetFileVersionInfoW(image, 0, size, block):
            return None

        def query(sub_block: str) -> tuple[Any, int]:
            pointer, length = wt.LPVOID(), wt.UINT(0)
            ok = self._version.VerQueryValueW(block, sub_block, ct.byref(pointer), ct.byref(length))
            return (pointer, int(length.value)) if ok and pointer.value else (None, 0)

        pointer, length = query("\\VarFileInfo\\Translation")
        words = []
        if length:
            words = list(ct.cast(pointer, ct.POINTER(wt.WORD * (length // 2))).contents)
        pairs = [(int(words[i]), int(words[i + 1])) for i in range(0, len(words) - 1, 2)]

        def value(sub_block: str) -> str | None:
            pointer, length = query(sub_block)  # a string's length is in characters
            return str(ct.wstring_at(pointer, length)) if length else None

        return pick_description(pairs, value)

    def process_running(self, image_name: str) -> bool:
        wanted = image_name.lower()
        for proc in psutil.process_iter(["name"]):
            name = proc.info.get("name")
            if isinstance(name, str) and name.lower() == wanted:
                return True
        return False
