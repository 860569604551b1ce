"""One agent per state folder (agent/instance.py): real agent processes on a real server.
A second agent on the same folder is refused, naming the first one's pid, and touches
nothing; after the first is killed with SIGKILL the lock is the operating system's to
let go, so the next start runs; an agent on another folder runs beside it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.support.processes import stop
from tests.support.servers import run_agent, start_agent, start_server


def test_a_second_agent_on_one_state_folder_is_refused_until_the_first_is_gone(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path / "server")
    first = second = elsewhere = None
    try:
        first = start_agent(server, tmp_path, "--source", "none", "--agent-id", "ann")
        first.wait_for_log("agent ann for")
        journal = tmp_path / "agent-state" / "journal.sqlite3"
        size = journal.stat().st_size

        refused = run_agent(server, tmp_path, "--source", "none", "--agent-id", "ann", timeout=60)
        assert refused.returncode == 2, refused.stderr
        said = refused.stderr.strip().splitlines()[-1]
        assert "another officepulse agent is running with the state folder" in said
        assert str(tmp_path / "agent-state") in said
        assert f"(pid {first.pid})" in said
        assert "--state-dir" in said  # what to do about it
        assert journal.stat().st_size == size
        assert first.poll() is None  # the first one goes on

        # Another folder is another agent.
        elsewhere = start_agent(server, tmp_path / "b", "--source", "none", "--agent-id", "bob")
        elsewhere.wait_for_log("agent bob for")

        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
        second = start_agent(server, tmp_path, "--source", "none", "--agent-id", "ann")
        second.wait_for_log("agent ann for")
        assert second.poll() is None
    finally:
        for proc in (first, second, elsewhere):
            if proc is not None:
                stop(proc)
        server.stop()
