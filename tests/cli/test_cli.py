"""The command line as a person meets it: help, settings errors, and an agent
that cannot read the desktop or reach the server."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.processes import OFFICEPULSE, clean_env, stop, wait_until
from tests.support.servers import ServerProcess, start_agent, start_server


def run(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OFFICEPULSE, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(**env),
        cwd=cwd,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [[], ["server"], ["agent"], ["demo"], ["agents"], ["agents", "block"], ["tokens", "create"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "usage: officepulse" in result.stdout


def test_flags_name_their_environment_variable() -> None:
    out = run("server", "--help").stdout
    assert "OFFICEPULSE_PORT" in out
    assert "OFFICEPULSE_DATABASE" in out


SOURCES = (
    "auto, x11, sway, hyprland, kde, gnome, focused-window, gnome-eval, macos, windows, "
    "scripted, none"
)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (  # a whole number
            ["server", "--port", "eighty"],
            {},
            "--port takes a whole number from 0 to 65535 (got 'eighty')",
        ),
        (
            ["server"],
            {"OFFICEPULSE_PORT": "70000"},
            "OFFICEPULSE_PORT in the environment takes a whole number from 0 to 65535 "
            "(got '70000')",
        ),
        (  # a number, with its unit
            ["agent", "--idle-threshold", "abc"],
            {},
            "--idle-threshold takes a number of seconds above 0 and at most 86400 (got 'abc')",
        ),
        (  # yes or no
            ["server", "--dev-tls", "maybe"],
            {},
            "--dev-tls takes true or false (got 'maybe')",
        ),
        (  # a choice
            ["agent"],
            {"OFFICEPULSE_SOURCE": "telepathy"},
            f"OFFICEPULSE_SOURCE in the environment takes one of {SOURCES} (got 'telepathy')",
        ),
        (  # a date and time
            ["agent", "--start", "yesterday"],
            {},
            "--start takes a date and time in ISO 8601, like 2026-03-02T09:00:00+01:00 "
            "(got 'yesterday')",
        ),
        (  # a pattern
            ["agent", "--agent-id", "my laptop"],
            {},
            "--agent-id takes 1 to 64 letters, digits, - or _ (got 'my laptop')",
        ),
        (  # a URL
            ["agent", "--server-url", "localhost:8080"],
            {},
            "--server-url (OFFICEPULSE_SERVER_URL) takes the server's agent address, like "
            "ws://localhost:8080/agent or wss://office.example.com/agent (got 'localhost:8080')",
        ),
        (  # a file
            ["agent", "--source", "scripted", "--timeline", "/nonexistent/day.jsonl"],
            {},
            "--timeline (OFFICEPULSE_TIMELINE) names /nonexistent/day.jsonl, which cannot be "
            "read: no such file or directory",
        ),
        (
            ["server", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/k.pem"],
            {},
            "--tls-cert (OFFICEPULSE_TLS_CERT) names /nonexistent/cert.pem, which cannot be "
            "read: no such file or directory",
        ),
        (  # a database file
            ["server", "--database", "/"],
            {},
            "officepulse server: / is a folder, not a SQLite database file",
        ),
        (
            ["server"],
            {"OFFICEPULSE_PROT": "1"},
            "unknown setting OFFICEPULSE_PROT (from environment)",
        ),
    ],
)
def test_bad_settings_stop_start_up_and_say_what_the_setting_takes(
    args: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    result = run(
        "--env-file",
        "/dev/null",
        *args,
        "--state-dir" if args[0] == "agent" else "--host",
        str(tmp_path) if args[0] == "agent" else "127.0.0.1",
        **env,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    # Nothing of the libraries' wording, nor a traceback, reaches the person.
    for leak in ("Traceback", "Expected `", "Errno", "Invalid enum", "RFC3339", "regex"):
        assert leak not in result.stderr + result.stdout


def test_settings_come_from_the_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OFFICEPULSE_PORT=not-a-port\n")
    result = run("server", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        "OFFICEPULSE_PORT in .env takes a whole number from 0 to 65535 (got 'not-a-port')"
        in result.stderr
    )


def test_an_agent_without_a_desktop_says_so_once_and_stays_online(
    server: ServerProcess, tmp_path: Path
) -> None:
    agent = start_agent(
        server, tmp_path, "--agent-id", "headless", DISPLAY=None, WAYLAND_DISPLAY=None
    )
    try:
        listed = wait_until(
            lambda: [a for a in server.get("/api/v1/agents")["agents"] if a["online"]],
            what="the agent online",
        )
        assert listed[0]["id"] == "headless"
        assert listed[0]["current"] is None
        time.sleep(0.5)
    finally:
        out = stop(agent)
    assert out.count("cannot read this desktop") == 1
    assert "no graphical session found (DISPLAY and WAYLAND_DISPLAY are not set)" in out
    assert "Traceback" not in out


def test_an_agent_outlives_its_server_and_reconnects(tmp_path: Path) -> None:
    first = start_server(tmp_path / "one")
    port = first.url.rsplit(":", 1)[1]
    timeline = tmp_path / "t.jsonl"
    lines = [{"offset": 0, "app": "Code", "title": "main.py"}, {"offset": 86400, "end": True}]
    timeline.write_text("\n".join(json.dumps(line) for line in lines))
    agent = start_agent(
        first,
        tmp_path,
        "--agent-id",
        "survivor",
        "--source",
        "scripted",
        "--timeline",
        str(timeline),
        "--speed",
        "1",
    )
    try:
        wait_until(lambda: first.get("/api/v1/agents")["agents"], what="first connection")
        first.stop()
        agent.wait_for_log("cannot reach")  # it has retried against the closed port
        assert agent.poll() is None, "the agent must not exit when the server goes away"
        second = start_server(tmp_path / "two", "--port", port)
        try:
            back = wait_until(
                lambda: [
                    a
                    for a in second.get("/api/v1/agents")["agents"]
                    if a["online"] and a["current"]
                ],
                timeout=60,  # beyond its longest back-off (30 s)
                what="the agent reconnecting",
            )
            assert back[0]["id"] == "survivor"
            assert back[0]["current"]["app"] == "Code"
        finally:
            second.stop()
    finally:
        out = stop(agent)
    assert "lost; reconnecting" in out
    assert "Traceback" not in out
