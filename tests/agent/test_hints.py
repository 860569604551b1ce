"""What the command line tells a person, followed to the letter: the real `officepulse`
command in a subprocess, its output read as a person reads it. A busy port, the server's
start-up hint, which database each command used, a web address given as --server-url,
and a desktop without D-Bus."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from officepulse.agent.transport import agent_url
from tests.support.processes import OFFICEPULSE, Process, clean_env, stop, wait_until
from tests.support.servers import ServerProcess, start_agent, start_server

if TYPE_CHECKING:
    from tests.support.xserver import XServer


def officepulse(
    *args: str, cwd: Path, stdin: str = "", **env: str | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OFFICEPULSE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**env),
        cwd=cwd,
        check=False,
    )


def no_python_in(text: str) -> None:
    for leak in ("Traceback", "Error:", "Errno", "KeyError", "'DBUS_SESSION_BUS_ADDRESS'"):
        assert leak not in text, text


# -- a busy port -----------------------------------------------------------------------------


def test_a_busy_port_is_named_with_how_to_choose_another(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = officepulse(
            "--env-file",
            "/dev/null",
            "server",
            "--port",
            str(port),
            "--database",
            str(tmp_path / "office.sqlite3"),
            cwd=tmp_path,
        )
    assert done.returncode == 1
    assert done.stdout == ""  # it never said it was listening
    said = done.stderr.strip().splitlines()
    assert said == [
        f"officepulse server: port {port} is taken: another program (perhaps another "
        f"officepulse server) listens on 127.0.0.1:{port}; stop it, or choose another with "
        "--port or OFFICEPULSE_PORT"
    ]
    no_python_in(done.stderr)


# -- the start-up hint, followed to the letter ---------------------------------------------


def backticked(line: str) -> list[str]:
    return re.findall(r"`([^`]+)`", line)


@pytest.mark.parametrize("own_database", [True, False], ids=["own-database", "default"])
def test_following_the_start_up_hint_lets_an_agent_in(tmp_path: Path, own_database: bool) -> None:
    # The default database lives in the user data folder: here, one of this test's own.
    data_home = tmp_path / "data"
    default = data_home / "officepulse" / "officepulse.sqlite3"
    database = tmp_path / "office.sqlite3" if own_database else default
    env = {"XDG_DATA_HOME": str(data_home)}
    server = start_server(tmp_path, "--agent-auth", "required", "--database", str(database), **env)
    try:
        hint = server.wait_for_log("agents must be enrolled")
        make_token, run_agent = backticked(hint)
        expected = f"officepulse tokens create --database {database}" if own_database else ""
        assert make_token == (expected or "officepulse tokens create")
        said = server.wait_for_log("  database: ")
        assert said == f"  database: {database} (from --database)"

        # As a person would: in another folder, with nothing but what the hint says.
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        command = shlex.split(make_token)
        made = officepulse(*command[1:], cwd=elsewhere, **env)
        assert made.returncode == 0, made.stderr
        assert made.stderr.startswith(f"officepulse tokens create: database {database} (")
        secret = made.stdout.splitlines()[1]

        agent_args = shlex.split(run_agent.replace("TOKEN", secret))[1:]
        assert agent_args[:2] == ["agent", "--server-url"]
        agent = Process(
            [
                OFFICEPULSE,
                *agent_args,
                *("--agent-id", "hinted", "--source", "none", "--credential-store", "file"),
                *("--state-dir", str(tmp_path / "agent")),
            ],
            name="the agent",
            env=clean_env(**env),
            cwd=elsewhere,
        )
        try:
            wait_until(
                lambda: any(
                    a["id"] == "hinted" and a["online"]
                    for a in server.get("/api/v1/agents")["agents"]
                ),
                timeout=30,
                what="the agent enrolled with the hinted token online",
            )
            agent.wait_for_log("enrolled with the server")  # said once the credential is kept
        finally:
            out = stop(agent)
        assert "enrolled with the server" in out
    finally:
        server.stop()


# -- which database each command used -------------------------------------------------------


def commands(tmp_path: Path) -> list[tuple[list[str], str]]:
    """Every command that opens the database, in an order that works on a new one, with
    what it is called in its message and what it reads on standard input."""
    export = tmp_path / "aw-buckets-export.json"
    export.write_text(json.dumps({"buckets": {}}))
    return [
        (["admin", "create", "--login", "ann", "--password-stdin"], "ann-password-1"),
        (["people", "add", "--login", "bob", "--password-stdin"], "bob-password-2"),
        (["people", "list"], ""),
        (["people", "set-visibility", "bob", "full"], ""),
        (["tokens", "create", "--label", "laptop"], ""),
        (["tokens", "list"], ""),
        (["agents", "list"], ""),
        (["import-aw", str(export)], ""),
    ]


def test_every_command_that_opens_the_database_says_which(tmp_path: Path) -> None:
    database = tmp_path / "office.sqlite3"
    for args, stdin in commands(tmp_path):
        done = officepulse(
            "--env-file", "/dev/null", *args, "--database", str(database), cwd=tmp_path, stdin=stdin
        )
        assert done.returncode == 0, (args, done.stderr)
        name = " ".join(args[:1] if args[0] == "import-aw" else args[:2])
        assert done.stderr.splitlines()[0] == (
            f"officepulse {name}: database {database} (from --database)"
        )
        if args[0] != "import-aw":  # whose report names the database it filled
            assert str(database) not in done.stdout  # what scripts read stays as it was
    listing = officepulse(
        "--env-file", "/dev/null", "people", "list", "--database", str(database), cwd=tmp_path
    )
    assert listing.stdout.splitlines()[0] == "login\tname\trole\tvisibility\tagents"


def test_the_database_says_where_it_was_chosen(tmp_path: Path) -> None:
    data_home = tmp_path / "data"
    default = data_home / "officepulse" / "officepulse.sqlite3"
    by_env = tmp_path / "env.sqlite3"
    (tmp_path / ".env").write_text(f"OFFICEPULSE_DATABASE={tmp_path / 'file.sqlite3'}\n")
    cases = [
        (
            ["--env-file", "/dev/null"],
            {},
            f"database {default} (the default; choose another with --database or "
            "OFFICEPULSE_DATABASE)",
        ),
        (
            ["--env-file", "/dev/null"],
            {"OFFICEPULSE_DATABASE": str(by_env)},
            f"database {by_env} (from OFFICEPULSE_DATABASE in the environment)",
        ),
        ([], {}, f"database {tmp_path / 'file.sqlite3'} (from OFFICEPULSE_DATABASE in .env)"),
    ]
    for first, env, said in cases:
        done = officepulse(
            *first,
            "admin",
            "create",
            "--login",
            "ann",
            "--password-stdin",
            cwd=tmp_path,
            stdin="ann-password-1",
            XDG_DATA_HOME=str(data_home),
            **env,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr.splitlines()[0] == f"officepulse admin create: {said}"


def test_a_file_that_is_not_a_database_is_refused_in_words(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    done = officepulse(
        "--env-file", "/dev/null", "tokens", "list", "--database", str(notes), cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"officepulse tokens list: database {notes} (from --database)",
        f"officepulse tokens list: {notes} is not a SQLite database file",
    ]
    assert notes.read_text() == "not a database\n"


# -- the server's web address as --server-url ------------------------------------------------


def test_agent_url_turns_a_web_address_into_the_agents_websocket() -> None:
    assert agent_url("ws://localhost:8080/agent") == ("ws://localhost:8080/agent", None)
    url, note = agent_url("https://office.example.com:8443/agent")
    assert url == "wss://office.example.com:8443/agent"
    assert note is not None
    assert "wss://office.example.com:8443/agent" in note
    assert agent_url("http://localhost:8080")[0] == "ws://localhost:8080/agent"
    assert agent_url("HTTP://localhost:8080/")[0] == "ws://localhost:8080/agent"
    assert agent_url("localhost:8080") == ("localhost:8080", None)  # refused later, in words


def test_an_agent_given_the_servers_web_address_connects_and_says_so(
    server: ServerProcess, tmp_path: Path
) -> None:
    web = server.url + "/agent"  # http://127.0.0.1:PORT/agent, as the browser shows it
    agent = start_agent(
        server, tmp_path, "--server-url", web, "--agent-id", "webby", "--source", "none"
    )
    try:
        wait_until(
            lambda: any(
                a["id"] == "webby" and a["online"] for a in server.get("/api/v1/agents")["agents"]
            ),
            timeout=30,
            what="the agent online",
        )
    finally:
        out = stop(agent)
    assert f"server_url {web} is a web address; connecting to its websocket {server.ws_url}" in out
    no_python_in(out)


# -- a desktop without D-Bus ---------------------------------------------------------------


def probe(tmp_path: Path, **env: str | None) -> str:
    done = officepulse(
        "--env-file",
        "/dev/null",
        "agent",
        "probe",
        cwd=tmp_path,
        XDG_CONFIG_HOME=str(tmp_path),
        XDG_DATA_HOME=str(tmp_path),
        **env,
    )
    assert done.returncode == 0, done.stderr
    no_python_in(done.stdout + done.stderr)
    return done.stdout


def test_no_session_bus_is_said_in_words(xserver: XServer, tmp_path: Path) -> None:
    window = xserver.xterm("OpHints", "notes")
    xserver.activate(window)
    x11 = {"DISPLAY": xserver.display, "XDG_SESSION_TYPE": "x11", "WAYLAND_DISPLAY": None}
    # The media row reads the players on the session bus, whatever window is in front.
    media = re.compile(r"^  media +cannot look: (.*)$", re.MULTILINE)
    out = probe(tmp_path, DBUS_SESSION_BUS_ADDRESS=None, **x11)
    found = media.search(out)
    assert found is not None, out
    assert found.group(1) == (
        "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set "
        "(run the agent inside the desktop session)"
    )
    gone = f"unix:path={tmp_path}/bus-of-an-ended-session"
    out = probe(tmp_path, DBUS_SESSION_BUS_ADDRESS=gone, **x11)
    found = media.search(out)
    assert found is not None, out
    assert found.group(1) == (
        f"cannot connect to the D-Bus session bus at {gone}: nothing answers there "
        "(it is not running, or its session has ended)"
    )


def test_a_wayland_desktop_whose_bus_is_gone_is_said_in_words(tmp_path: Path) -> None:
    gone = f"unix:path={tmp_path}/bus-of-an-ended-session"
    out = probe(
        tmp_path,
        DISPLAY=None,
        WAYLAND_DISPLAY="wayland-hints",
        XDG_RUNTIME_DIR=str(tmp_path),
        XDG_SESSION_TYPE="wayland",
        XDG_CURRENT_DESKTOP="GNOME",
        DBUS_SESSION_BUS_ADDRESS=gone,
    )
    nothing = "nothing answers there (it is not running, or its session has ended)"
    assert (
        f"[failed] gnome           cannot connect to the D-Bus session bus at {gone}: {nothing}"
        in out
    )
    assert (
        f"[failed] ext-idle-notify cannot talk to the Wayland compositor at "
        f"{tmp_path}/wayland-hints: {nothing}" in out
    )
