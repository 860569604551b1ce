"""Shared fixtures: a real officepulse server process on a free port, and real
agent processes. Nothing here is mocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

pytest_plugins = ["tests.xserver"]

BIN = Path(sys.executable).parent
OFFICEPULSE = str(BIN / "officepulse")

# How long a test waits for anything before it fails: generous, because on a loaded
# 2-core machine a process can take many seconds to start or to answer, and a wait
# that is met returns at once.
WAIT = 30.0

# Hypothesis's default 200 ms deadline per example fails tests on a loaded machine,
# where one example can wait that long for a core: time is not what they check.
settings.register_profile("officepulse", deadline=None)
settings.load_profile("officepulse")


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


@dataclass
class ServerProcess:
    proc: Process
    url: str
    database: Path

    @property
    def log(self) -> list[str]:
        return self.proc.lines

    def logged(self, needle: str) -> list[str]:
        return self.proc.logged(needle)

    def wait_for_log(self, needle: str, timeout: float = WAIT, count: int = 1) -> str:
        return self.proc.wait_for_log(needle, timeout, count)

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[4:] + "/agent"

    @property
    def browser_url(self) -> str:
        return "ws" + self.url[4:] + "/browser"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=WAIT) as response:
            return json.loads(response.read())

    def get_status(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=WAIT) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
            exc.close()
            return exc.code, body

    def stop(self) -> None:
        stop(self.proc)


def start_server(
    tmp: Path,
    *args: str,
    program: str = OFFICEPULSE,
    cwd: Path | None = None,
    prefix: tuple[str, ...] = (),
    **env: str | None,
) -> ServerProcess:
    """``program`` (officepulse) ``server`` on a free port, run in ``cwd`` (the checkout);
    ``prefix`` runs it under a command (``prlimit --nofile=256``)."""
    database = tmp / "officepulse.sqlite3"  # unless --database in args says otherwise
    proc = Process(
        [
            *prefix,
            program,
            "--env-file",
            "/dev/null",
            "server",
            "--port",
            "0",
            "--database",
            str(database),
            *args,
        ],
        name="the server",
        env=clean_env(**env),
        cwd=cwd or Path(__file__).parent.parent,
    )
    try:
        line = proc.wait_for_log("officepulse server listening on ")
    except AssertionError as exc:
        stop(proc)
        raise RuntimeError(f"server did not start: {exc}") from None
    url = line.split(" on ", 1)[1].strip().replace("localhost", "127.0.0.1")
    return ServerProcess(proc, url, database)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path)
    yield srv
    srv.stop()


def run_agent(
    server: ServerProcess, tmp: Path, *args: str, timeout: float = 120, **env: str | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            OFFICEPULSE,
            "--env-file",
            "/dev/null",
            "agent",
            "--server-url",
            server.ws_url,
            "--state-dir",
            str(tmp / "agent-state"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(**env),
        check=False,
    )


def start_agent(server: ServerProcess, tmp: Path, *args: str, **env: str | None) -> Process:
    return Process(
        [
            OFFICEPULSE,
            "--env-file",
            "/dev/null",
            "agent",
            "--server-url",
            server.ws_url,
            "--state-dir",
            str(tmp / "agent-state"),
            *args,
        ],
        name="the agent",
        env=clean_env(**env),
    )


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


@pytest.fixture(scope="session")
def aw_installed() -> None:
    """ActivityWatch's real server and client, which `make test` installs in .venv-aw."""
    aw = Path(__file__).parent.parent / ".venv-aw" / "bin" / "aw-server"
    assert aw.exists(), f"{aw} is missing: run `make test` (it installs ActivityWatch there)"


def admin(database: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    """`officepulse agents|tokens ...` on ``database``, as a team lead runs it."""
    return subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", *args, "--database", str(database)],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
        check=False,
    )


def usage_from_spans(
    stored: list[tuple[str, Any]], lo: int, hi: int
) -> dict[tuple[str, str], list[int]]:
    """{(agent, app): [active_ms, idle_ms]} recomputed from stored (agent, Span) pairs
    clipped to [lo, hi): what every answer from the rollups must equal."""
    expected: dict[tuple[str, str], list[int]] = {}
    for who, span in stored:
        ms = min(span.end_ms, hi) - max(span.start_ms, lo)
        if ms > 0:
            slot = expected.setdefault((who, span.activity.app), [0, 0])
            slot[1 if span.activity.idle else 0] += ms
    return expected


def assert_refused(server: ServerProcess, path: str, cases: dict[str, str]) -> None:
    """Each query of ``cases`` on ``path`` is a 400 whose error says the given text."""
    for query, message in cases.items():
        status, body = server.get_status(f"{path}?{query}")
        assert status == 400, query
        assert message in body["error"], (query, body)
