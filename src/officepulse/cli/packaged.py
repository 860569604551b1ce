"""``officepulse-agent``: ``officepulse agent`` on its own, the command of the packaged
agent (``make package``, packaging/officepulse-agent.spec) and of a pip install alike.

It takes the same arguments (``officepulse-agent probe``, ``install``, ``settings``,
``native-host``, ``--tray``), ``--env-file``, and ``--version``. It imports the agent's
modules only: none of the server, the store or the dashboard, which the package leaves out.

A windowed program (the Windows ``.exe``, built without a console) has no standard output:
what it would print goes to ``agent.log`` in the user log folder instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from officepulse import __version__

__all__ = ["PROG", "build_parser", "main"]

PROG = "officepulse-agent"
LOG_KEEP_BYTES = 5 * 1024 * 1024  # a windowed agent's log starts over past this


def build_parser() -> argparse.ArgumentParser:
    from officepulse.cli import agent

    parser = argparse.ArgumentParser(prog=PROG, description=agent.DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    agent.configure(parser)
    return parser


def _windowed_output() -> None:
    """Where a program without a console (sys.stdout or sys.stderr None) writes."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    from platformdirs import user_log_dir

    folder = Path(user_log_dir(PROG, appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "agent.log"
    if log.exists() and log.stat().st_size > LOG_KEEP_BYTES:
        log.replace(log.with_suffix(".log.1"))
    out = log.open("a", encoding="utf-8", buffering=1)  # open for the process's life
    sys.stdout = sys.stdout or out
    sys.stderr = sys.stderr or out


def main(argv: Sequence[str] | None = None) -> int:
    _windowed_output()
    from officepulse.cli import run_parsed

    return run_parsed(build_parser().parse_args(argv), PROG)
