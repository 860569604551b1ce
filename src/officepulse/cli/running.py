"""What the long-running commands (server, agent, demo) share: their log lines and the
event loop they run on."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from officepulse import logtext
from officepulse.logjson import JsonFormatter


def configure_logging(level: str, log_format: str = "text") -> None:
    # Escaping: what clients send (names, titles, logins) cannot forge a log line.
    logtext.configure(
        level,
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        "%H:%M:%S",
        formatter=JsonFormatter() if log_format == "json" else None,
    )


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed, else on asyncio's own loop."""
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
