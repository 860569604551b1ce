"""The command that runs this very agent again, for what starts it later without us: the
start-at-login entries (autostart.py) and the browser's native messaging launcher
(browser_install.py).

A packaged agent (PyInstaller sets ``sys.frozen``) is its own program, ``sys.executable``,
and takes ``officepulse agent``'s arguments directly; an agent run from a Python install is
that Python with ``-m officepulse agent``. Either way the settings file given with
``--env-file`` comes before the agent's own arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["agent_head"]


def agent_head(
    *,
    env_file: str | None = None,
    quiet: bool = False,
    frozen: bool | None = None,
    executable: str | None = None,
    platform: str = sys.platform,
) -> list[str]:
    """The start of the command: what runs ``officepulse agent``, then ``--env-file``.
    ``quiet``: on Windows, ``pythonw.exe`` rather than ``python.exe`` (no console window)
    when it is there. ``frozen`` and ``executable`` default to this process's."""
    program = executable if executable is not None else sys.executable
    settings = ["--env-file", env_file] if env_file else []
    if frozen if frozen is not None else getattr(sys, "frozen", False):
        return [program, *settings]
    python = Path(program)
    if quiet and platform == "win32" and (windowless := python.with_name("pythonw.exe")).exists():
        python = windowless
    return [str(python), "-m", "officepulse", *settings, "agent"]
