"""Running AppleScript on macOS: the one way out is ``osascript -e <script>``, with a time
limit, behind a ``Runner`` that tests replace with recorded outputs.

A script prints its answer on stdout. A failed one exits non-zero and prints
``<range>: execution error: <message> (<number>)`` on stderr, for example
``15:50: execution error: Not authorized to send Apple events to Google Chrome. (-1743)``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

from officepulse.agent.introspect.base import IntrospectionError

# A script's answer (its stdout, without the final newline) or AppleScriptError.
Runner = Callable[[str], str]

# The errors worth telling apart (AppleScript Language Guide, "Error Numbers").
NOT_AUTHORIZED = -1743  # the person has not allowed us to control the app (Automation)
INVALID_INDEX = -1719  # e.g. "Can't get window 1": the app has no window
NOT_RUNNING = -600  # the application is not running

_ERROR = re.compile(r"execution error: (?P<message>.*?)\s*\((?P<number>-?\d+)\)\s*$", re.S)


class AppleScriptError(IntrospectionError):
    def __init__(self, message: str, number: int | None = None) -> None:
        super().__init__(message)
        self.number = number


def parse_error(stderr: str) -> AppleScriptError:
    """The error osascript printed, with its number when it gave one."""
    text = stderr.strip()
    match = _ERROR.search(text)
    if match is None:
        return AppleScriptError(text or "osascript failed and said nothing")
    number = int(match["number"])
    message = match["message"]
    if number == NOT_AUTHORIZED:
        message += (
            " Allow it in System Settings → Privacy & Security → Automation, under the"
            " program that runs the agent."
        )
    return AppleScriptError(message, number)


class OsascriptRunner:
    """Runs a script with ``osascript -e``. It never activates an app, sends keys or
    touches the clipboard: the scripts only read properties."""

    def __init__(self, timeout: float = 2.0, osascript: str = "osascript") -> None:
        self.timeout = timeout
        self.osascript = osascript

    def __call__(self, script: str) -> str:
        try:
            done = subprocess.run(
                [self.osascript, "-e", script],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            # An app that is busy or showing a modal dialog does not answer Apple events.
            raise AppleScriptError(f"osascript took longer than {self.timeout} s") from exc
        except FileNotFoundError as exc:
            raise AppleScriptError(f"{self.osascript} is not installed (macOS only)") from exc
        if done.returncode != 0:
            raise parse_error(done.stderr)
        return done.stdout.removesuffix("\n")


def quote(text: str) -> str:
    """``text`` as an AppleScript string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
