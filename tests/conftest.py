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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tests.xserver"]

BIN = Path(sys.executable).parent
OFFICEPULSE = str(BIN / "officepulse")


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


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    url: str
    database: Path
    log: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def __post_init__(self) -> None:
        # Keep reading the server's output so that tests can wait for a log line
        # and the pipe never fills up.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line.rstrip("\n"))

    def wait_for_log(self, needle: str, timeout: float = 10) -> str:
        return wait_until(
            lambda: next((line for line in self.log if needle in line), None),
            timeout,
            f"server log line containing {needle!r}",
        )

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[4:] + "/agent"

    @property
    def browser_url(self) -> str:
        return "ws" + self.url[4:] + "/browser"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def get_status(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
            exc.close()
            return exc.code, body

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


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
    proc = subprocess.Popen(
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(**env),
        cwd=cwd or Path(__file__).parent.parent,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("officepulse server listening on "):
            url = line.split(" on ", 1)[1].strip().replace("localhost", "127.0.0.1")
            return ServerProcess(proc, url, database, lines)
    proc.kill()
    proc.wait()
    proc.stdout.close()
    raise RuntimeError("server did not start:\n" + "\n".join(lines))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path)
    yield srv
    srv.stop()


def run_agent(
    server: ServerProcess, tmp: Path, *args: str, timeout: float = 60, **env: str | None
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


def start_agent(
    server: ServerProcess, tmp: Path, *args: str, **env: str | None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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
    if proc.stdout is None or proc.stdout.closed:
        return ""  # stopped before
    out = proc.stdout.read()
    proc.stdout.close()
    return out


def wait_until(predicate: Any, timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


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
