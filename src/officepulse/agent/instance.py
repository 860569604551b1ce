"""One agent per state folder. Two agents on one journal and one identity would record
the same desktop twice and take the server's session from each other (4009) over and
over; so ``run_agent`` holds ``agent.lock`` in its state folder while it runs, and a
second start is refused with the first one's pid.

The lock is the operating system's (flock on Unix, LockFileEx on Windows, through
filelock): it is let go when its process ends, however it ends, so a killed agent
never leaves a stale lock behind. The file itself stays (deleting it on release would
let two later agents lock two different files of the same name).
"""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, Timeout

from officepulse.settings import SettingsError

LOCK_NAME = "agent.lock"


class AgentRunning(SettingsError):
    """Another agent runs with this state folder (its pid in the message, when known)."""


class Instance:
    """Held while an agent runs; ``release()`` (or leaving the ``with``) lets it go."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = Path(state_dir) / LOCK_NAME
        self._lock = FileLock(
            self.path,
            thread_local=False,  # the tray's agent starts and stops in its own thread
            fallback_to_soft=False,  # a lock a killed agent would leave is worse than none
            preserve_lock_file=True,
            on_acquired=_write_pid,
        )

    def acquire(self) -> Instance:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(blocking=False)
        except Timeout:
            raise AgentRunning(
                f"another officepulse agent is running with the state folder "
                f"{self.path.parent}{_pid_said(self.path)}",
                hint="quit it first (its tray's Quit, or stop its service), "
                "or give this one another --state-dir",
            ) from None
        return self

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> Instance:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _write_pid(fd: int) -> None:
    """The holder's pid in the lock file, for the message a second start gets."""
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid()}\n".encode())


def _pid_said(path: Path) -> str:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return ""  # Windows does not let others read a locked file
    return f" (pid {pid})"
