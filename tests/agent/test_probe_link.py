"""`officepulse agent probe` shows the link's state as the running agent's
journal records it: connected or offline since when, and what waits."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.support.processes import OFFICEPULSE, clean_env, stop, wait_until
from tests.support.servers import start_agent, start_server


def probe(state_dir: Path) -> str:
    result = subprocess.run(
        [
            OFFICEPULSE,
            "--env-file",
            "/dev/null",
            "agent",
            "--source",
            "none",
            "--state-dir",
            str(state_dir),
            "probe",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(DISPLAY=None),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def link_line(text: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith("link")]
    return line


def test_probe_shows_connected_then_offline_with_spans_waiting(tmp_path: Path) -> None:
    assert "no journal yet" in link_line(probe(tmp_path / "agent-state"))
    timeline = tmp_path / "t.jsonl"
    lines = [{"offset": i, "app": f"app{i % 3}", "title": "x"} for i in range(0, 600)]
    timeline.write_text("\n".join(json.dumps(x) for x in [*lines, {"offset": 600, "end": True}]))
    server = start_server(tmp_path / "srv")
    agent = start_agent(
        server,
        tmp_path,
        "--agent-id",
        "probed",
        "--source",
        "scripted",
        "--timeline",
        str(timeline),
        "--speed",
        "1",
    )
    try:
        connected = wait_until(
            lambda: "connected to" in (line := link_line(probe(tmp_path / "agent-state"))) and line,
            what="the probe to see the link up",
        )
        assert server.ws_url in connected
        server.stop()
        offline = wait_until(
            lambda: (
                (
                    m := re.search(
                        r"offline from .* (\d+) spans waiting",
                        link_line(probe(tmp_path / "agent-state")),
                    )
                )
                and int(m.group(1)) > 0
                and m
            ),
            what="the probe to see the link down with spans waiting",
        )
        assert offline
    finally:
        stop(agent)
        server.stop()
