"""Real processes for tests: one whose output a thread reads line by line as it comes,
stopping it, the environment without the developer's settings, and waiting for a
condition with a deadline."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


OFFICEPULSE = str(BIN / "officepulse")


# How long a test waits for anything before it fails: generous, because on a loaded
# 2-core machine a process can take many seconds to start or to answer, and a wait
# that is met returns at once.
WAIT = 30.0


def clean_env(**extra: str | None) -> dict[str, str]:
    """The environment without any OFFICEPULSE_ settings of the developer's;
    ``extra`` adds variables, or removes those given as None."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFICEPULSE_")}
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


class Process(subprocess.Popen[str]):
    """A process whose output (stdout and stderr together) a thread of its own reads line
    by line as it comes. A test waits for a line with ``wait_for_log``: what has been
    read "so far" may lag behind what the process has printed. And the pipe never fills
    up, which would stall the process."""

    def __init__(self, args: Sequence[str], name: str, **kwargs: Any) -> None:
        super().__init__(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs
        )
        self.name = name  # for messages: "the server"
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.stdout is not None
        with self.stdout:
            for line in self.stdout:
                self.lines.append(line.rstrip("\n"))

    def logged(self, needle: str) -> list[str]:
        """The lines read so far that contain ``needle``. To count them, first wait for
        a line the process prints after them, or for its end (``stop``)."""
        return [line for line in list(self.lines) if needle in line]

    def wait_for_log(self, needle: str, timeout: float = WAIT, count: int = 1) -> str:
        """The first line containing ``needle``, once ``count`` such lines have been
        read. Fails with the end of the output if they have not come within ``timeout``
        seconds, or as soon as the process has ended without printing them."""

        def found() -> str | None:
            ended = self.poll() is not None and not self._reader.is_alive()
            lines = self.logged(needle)
            if len(lines) >= count:
                return lines[0]
            if ended:
                raise AssertionError(
                    f"{self.name} ended ({self.returncode}) without printing {count} "
                    f"line(s) containing {needle!r}\n{self.tail()}"
                )
            return None

        what = f"{count} line(s) containing {needle!r} from {self.name}"
        return str(wait_until(found, timeout, what, self.tail))

    def tail(self, lines: int = 40) -> str:
        return f"the last lines of {self.name}:\n" + "\n".join(self.lines[-lines:])

    def output(self) -> str:
        """Everything printed, once the process has ended (``stop`` ends it)."""
        self._reader.join(WAIT)  # its children may hold the pipe open a moment longer
        return "".join(line + "\n" for line in self.lines)


def stop(proc: subprocess.Popen[str]) -> str:
    """Stop a process and return what it printed."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if isinstance(proc, Process):
        return proc.output()
    if proc.stdout is None or proc.stdout.closed:
        return ""  # stopped before
    out = proc.stdout.read()
    proc.stdout.close()
    return out


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = WAIT,
    what: str = "condition",
    context: Callable[[], str] | None = None,
) -> Any:
    """What ``predicate`` returns once it is truthy, polled until ``timeout`` seconds
    have passed; then fails naming ``what``, followed by ``context()`` if given."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:g} s waiting for {what}"
            raise AssertionError(message + ("\n" + context() if context else ""))
        time.sleep(0.05)
