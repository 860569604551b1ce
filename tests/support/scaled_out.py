"""Starting the scaled-out processes for tests: ``officepulse gateway`` and
``officepulse panel`` on a free port, on PostgreSQL and NATS."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import OFFICEPULSE, Process, clean_env, stop
from tests.support.servers import ServerProcess


def start(kind: str, database: str, nats_url: str, tmp: Path, *args: str) -> ServerProcess:
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
