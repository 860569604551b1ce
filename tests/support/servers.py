"""A real officepulse server process on a free port, real agent processes talking to it,
and the CLI acting on its database."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import paths
from tests.support.processes import OFFICEPULSE, WAIT, Process, clean_env, stop


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
        cwd=cwd or paths.ROOT,
    )
    try:
        line = proc.wait_for_log("officepulse server listening on ")
    except AssertionError as exc:
        stop(proc)
        raise RuntimeError(f"server did not start: {exc}") from None
    url = line.split(" on ", 1)[1].strip().replace("localhost", "127.0.0.1")
    return ServerProcess(proc, url, database)


def start_scaled(kind: str, database: str, nats_url: str, tmp: Path, *args: str) -> ServerProcess:
    """``officepulse gateway`` or ``officepulse panel`` on a free port."""
    proc = Process(
        [
            OFFICEPULSE,
            "--env-file",
            "/dev/null",
            kind,
            "--port",
            "0",
            "--database",
            database,
            "--nats-url",
            nats_url,
            *args,
        ],
        name=f"the {kind}",
        env=clean_env(),
    )
    try:
        line = proc.wait_for_log(f"officepulse {kind} listening on ")
    except AssertionError:
        stop(proc)
        raise
    url = line.split(" on ", 1)[1].strip().replace("localhost", "127.0.0.1")
    return ServerProcess(proc, url, tmp)  # its database is PostgreSQL: the path is unused


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


def assert_refused(server: ServerProcess, path: str, cases: dict[str, str]) -> None:
    """Each query of ``cases`` on ``path`` is a 400 whose error says the given text."""
    for query, message in cases.items():
        status, body = server.get_status(f"{path}?{query}")
        assert status == 400, query
        assert message in body["error"], (query, body)


def dev_ca(server: ServerProcess) -> Path:
    line = server.wait_for_log("--ca-file")
    return Path(line.rsplit("--ca-file ", 1)[1].strip())
