"""Small helpers shared by the desktop sources."""

from __future__ import annotations

import os
from collections.abc import Mapping

import psutil

from officepulse.agent.sources.base import WindowSample


def process_name(pid: int | None) -> str | None:
    """The executable name of a local process, or None (gone, not ours to see, or no pid)."""
    if pid is None or pid <= 0:
        return None
    try:
        return psutil.Process(pid).name()
    except psutil.Error:  # NoSuchProcess (and zombies), AccessDenied
        return None


def as_pid(value: object) -> int | None:
    """A pid as compositors report it (int, numeric string, 0 or -1 for none)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        pid = value
    elif isinstance(value, str) and value.strip().isdigit():
        pid = int(value.strip())
    else:
        return None
    return pid if pid > 0 else None


def local_sample(app: str, title: str, pid: int | None) -> WindowSample:
    """A sample for a window of a process on this machine: the process name is looked up,
    and stands in for the app name when the window system gives none."""
    process = process_name(pid)
    return WindowSample(app=app or process or "", title=title, process=process, pid=pid)


def runtime_path(environ: Mapping[str, str], name: str) -> str:
    """``name`` if it is absolute, else inside ``$XDG_RUNTIME_DIR`` (how Wayland and
    Hyprland place their sockets)."""
    if os.path.isabs(name):
        return name
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if not runtime:
        raise ValueError("XDG_RUNTIME_DIR is not set")
    return os.path.join(runtime, name)


def socket_trouble(exc: OSError) -> str:
    """Why a local socket could not be used, in words rather than "[Errno 111] ..."."""
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return "nothing answers there (it is not running, or its session has ended)"
    if isinstance(exc, PermissionError):
        return "not allowed to connect (is it another user's?)"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    reason = exc.strerror or str(exc) or type(exc).__name__
    return reason[:1].lower() + reason[1:]
