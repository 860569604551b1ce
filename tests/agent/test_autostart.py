"""Starting the agent at login: `officepulse agent install` / `uninstall`.

Linux for real: the systemd user unit checked by `systemd-analyze verify`, the XDG
autostart entry by `desktop-file-validate` and by systemd's own autostart generator (which
must leave it to the unit), the command they hold run as written. macOS and Windows only
against their formats, as this machine can run neither: a property list that plistlib
reads back with the keys launchd requires, and a command line that splits, by the
Microsoft C runtime's rules, into the command given."""

from __future__ import annotations

import plistlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from officepulse.agent.autostart import (
    LABEL,
    RUN_KEY,
    RUN_VALUE,
    UNIT,
    agent_command,
    desktop_entry,
    entries,
    launch_agent,
    systemd_unit,
    windows_command,
)
from officepulse.agent.launch import agent_head
from tests.support.processes import OFFICEPULSE, clean_env

GENERATOR = Path("/usr/lib/systemd/user-generators/systemd-xdg-autostart-generator")
# Words a start-up command may hold: spaces, quotes, %-escapes of URLs, a name with an
# apostrophe, a semicolon (a separator to systemd), a dollar (a variable to both).
AWKWARD = {
    "name": 'Ada O\'Brien "the analyst"; 100% $HOME',
    "server_url": "wss://office.example.com/agent?x=%20y",
    "state_dir": "/home/ada/My Files/state",
}


def need(tool: str) -> str:
    found = shutil.which(tool) or (str(GENERATOR) if tool == GENERATOR.name else None)
    if found is None or not Path(found).exists():
        pytest.fail(f"needs {tool}: run `make system-deps`")
    return found


def command() -> list[str]:
    return agent_command(AWKWARD)


def test_the_command_starts_this_agent_with_the_settings_given_but_no_secret() -> None:
    cmd = agent_command(AWKWARD | {"enroll_token": "opet_secret", "poll_interval": None})
    assert cmd[:4] == [sys.executable, "-m", "officepulse", "agent"]
    assert cmd[-1] == "--tray"
    assert "--name" in cmd
    assert cmd[cmd.index("--name") + 1] == AWKWARD["name"]
    assert not any("opet_secret" in word for word in cmd)
    assert "--poll-interval" not in cmd
    assert agent_command({}, tray=False, env_file="/home/ada/.env") == [
        sys.executable, "-m", "officepulse", "--env-file", "/home/ada/.env", "agent",
    ]  # fmt: skip


def test_a_packaged_agent_starts_itself_and_a_python_one_starts_python(tmp_path: Path) -> None:
    """Whatever starts the agent later runs what runs now: the packaged file with the same
    arguments (tests/project/test_package.py runs it), or Python with ``-m officepulse agent``;
    pythonw on Windows when there is one (no console window at login)."""
    packaged = agent_head(frozen=True, executable="/opt/officepulse-agent")
    assert packaged == ["/opt/officepulse-agent"]
    assert agent_head(frozen=True, executable="/opt/officepulse-agent", env_file="/e/.env") == [
        "/opt/officepulse-agent", "--env-file", "/e/.env",
    ]  # fmt: skip
    python = tmp_path / "python.exe"
    (tmp_path / "pythonw.exe").touch()
    windows = agent_head(quiet=True, frozen=False, executable=str(python), platform="win32")
    assert windows == [str(tmp_path / "pythonw.exe"), "-m", "officepulse", "agent"]
    assert agent_head(frozen=False, executable=str(python), platform="win32")[0] == str(python)
    assert agent_head(quiet=True, frozen=False, executable=str(python), platform="linux")[0] == (
        str(python)
    )


def systemd_words(line: str) -> list[str]:
    """ExecStart's words by systemd.service(5), "Command lines": double-quoted words with
    C-style backslash escapes; %% is a literal %, $$ a literal $."""
    words: list[str] = []
    for quoted, bare in re.findall(r'"((?:[^"\\]|\\.)*)"|(\S+)', line):
        word = re.sub(r"\\(.)", r"\1", quoted) if quoted or not bare else bare
        words.append(word.replace("%%", "%").replace("$$", "$"))
    return words


def test_the_systemd_unit_is_valid_and_runs_the_command(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    unit = tmp_path / UNIT
    unit.write_text(systemd_unit(command()))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # The check can fail: a relative program is refused.
    broken = tmp_path / "broken.service"
    broken.write_text(systemd_unit(["officepulse", "agent"]))
    refused = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True)
    assert refused.returncode != 0
    assert "Command officepulse is not executable" in refused.stderr
    exec_start = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    words = systemd_words(exec_start.removeprefix("ExecStart="))
    assert words == command()
    # As systemd would start it (--help: it only says what it takes).
    ran = subprocess.run([*words, "--help"], capture_output=True, text=True, env=clean_env())
    assert ran.returncode == 0, ran.stderr
    assert "--tray" in ran.stdout


def desktop_words(value: str) -> list[str]:
    """Exec's words by the Desktop Entry Specification: the string escapes first (\\\\ is
    a backslash), then quoted arguments whose \\", \\`, \\$ and \\\\ are the character."""
    text = re.sub(r"\\([\\sntr])", lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(
        m.group(1), "\\"), value)  # fmt: skip
    words = []
    for quoted, bare in re.findall(r'"((?:[^"\\]|\\.)*)"|(\S+)', text):
        word = re.sub(r'\\(["`$\\])', r"\1", quoted) if quoted or not bare else bare
        words.append(word.replace("%%", "%"))
    return words


def test_the_autostart_entry_is_valid_and_systemd_leaves_it_to_the_unit(tmp_path: Path) -> None:
    validate = need("desktop-file-validate")
    need(GENERATOR.name)
    text = desktop_entry(command())
    entry = tmp_path / "config" / "autostart" / "officepulse-agent.desktop"
    entry.parent.mkdir(parents=True)
    entry.write_text(text)
    done = subprocess.run([validate, str(entry)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""
    exec_line = next(x for x in text.splitlines() if x.startswith("Exec="))
    assert desktop_words(exec_line.removeprefix("Exec=")) == command()

    def generated() -> list[Path]:
        out = tmp_path / "generated"
        shutil.rmtree(out, ignore_errors=True)
        dirs = [out / "normal", out / "early", out / "late"]
        for folder in dirs:
            folder.mkdir(parents=True)
        env = clean_env(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CONFIG_DIRS="/nonexistent")
        subprocess.run([str(GENERATOR), *map(str, dirs)], env=env, check=True, timeout=30)
        # The units themselves, not the .wants links to them.
        return sorted(p for p in out.rglob("*.service") if not p.is_symlink())

    # Where systemd runs the session it turns autostart entries into units: not this one.
    assert generated() == []
    # Without X-systemd-skip it would have (the generator reads the file), and the
    # command it would run is the unit's own.
    entry.write_text(text.replace("X-systemd-skip=true\n", ""))
    (made,) = generated()
    exec_start = next(x for x in made.read_text().splitlines() if x.startswith("ExecStart="))
    assert systemd_words(exec_start.removeprefix("ExecStart=:")) == command()


def test_install_and_uninstall_from_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(HOME=str(home), XDG_CONFIG_HOME=None)
    args = [
        OFFICEPULSE,
        "--env-file",
        "/dev/null",
        "agent",
        "--server-url",
        "wss://o.example/agent",
    ]
    shown = subprocess.run(
        [*args, "--enroll-token", "opet_x", "install", "--dry-run"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "ExecStart=" in shown.stdout
    assert "opet_x" not in shown.stdout
    assert not (home / ".config").exists()  # a dry run writes nothing

    done = subprocess.run(
        [*args, "--enroll-token", "opet_x", "install"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    unit = home / ".config" / "systemd" / "user" / UNIT
    desktop = home / ".config" / "autostart" / "officepulse-agent.desktop"
    wants = home / ".config" / "systemd" / "user" / "graphical-session.target.wants" / UNIT
    assert f"wrote the systemd user unit: {unit}" in done.stdout
    assert f"wrote the XDG autostart entry: {desktop}" in done.stdout
    assert wants.resolve() == unit.resolve()  # enabled, as `systemctl --user enable` does
    assert "--server-url wss://o.example/agent --tray" in unit.read_text()
    assert "the enrollment token was left out" in done.stdout
    assert "opet_x" not in unit.read_text() + desktop.read_text()
    # Installing again replaces them.
    again = subprocess.run([*args, "install", "--no-tray"], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "--tray" not in unit.read_text()

    gone = subprocess.run(
        [OFFICEPULSE, "agent", "uninstall"], env=env, capture_output=True, text=True, check=True
    )
    assert f"removed the systemd user unit: {unit}" in gone.stdout
    assert not unit.exists()
    assert not desktop.exists()
    assert not wants.is_symlink()
    twice = subprocess.run(
        [OFFICEPULSE, "agent", "uninstall"], env=env, capture_output=True, text=True, check=True
    )
    assert "no systemd user unit to remove" in twice.stdout


def test_the_launch_agent_is_a_property_list_launchd_can_load() -> None:
    """Only against the format: launchd.plist(5) needs Label and ProgramArguments (or
    Program); `plutil -lint` and `launchctl bootstrap` need a Mac, which this is not."""
    home = Path("/Users/ada")
    raw = launch_agent(command(), home)
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC')
    plist = plistlib.loads(raw, fmt=plistlib.FMT_XML)
    assert plistlib.loads(plistlib.dumps(plist)) == plist
    assert plist["Label"] == LABEL
    assert plist["ProgramArguments"] == command()
    assert all(isinstance(word, str) for word in plist["ProgramArguments"])
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] == {"SuccessfulExit": False}  # again after a crash, not Quit
    assert plist["LimitLoadToSessionType"] == "Aqua"
    assert plist["StandardErrorPath"] == "/Users/ada/Library/Logs/officepulse-agent.log"
    (entry,) = entries(command(), "darwin", {"HOME": str(home)})
    assert entry.path == home / "Library" / "LaunchAgents" / f"{LABEL}.plist"


def windows_words(line: str) -> list[str]:
    """CommandLineToArgvW's rules (the Microsoft C runtime): 2n backslashes before a quote
    are n backslashes and the quote opens or closes; 2n+1 are n and a literal quote; other
    backslashes are literal; unquoted spaces and tabs separate."""
    words: list[str] = []
    word: list[str] = []
    quoted = started = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            n = len(line[i:]) - len(line[i:].lstrip("\\"))
            if line[i + n : i + n + 1] == '"':
                word.append("\\" * (n // 2))
                if n % 2:
                    word.append('"')
                    i += n + 1
                    continue
                i += n
                continue
            word.append("\\" * n)
            i += n
            started = True
            continue
        if c == '"':
            quoted = not quoted
            started = True
        elif c in " \t" and not quoted:
            if started or word:
                words.append("".join(word))
            word, started = [], False
        else:
            word.append(c)
            started = True
        i += 1
    if started or word:
        words.append("".join(word))
    return words


def test_the_windows_run_value_splits_back_into_the_command() -> None:
    """Only against the format: writing it needs winreg, which is Windows only."""
    cmd = [
        r"C:\Users\Ada O'Brien\officepulse\pythonw.exe", "-m", "officepulse", "agent",
        "--name", 'Ada "the analyst"', "--state-dir", "C:\\state dir\\", "--tray",
    ]  # fmt: skip
    line = windows_command(cmd)
    assert windows_words(line) == cmd
    (entry,) = entries(cmd, "win32", {})
    assert entry.path is None
    assert entry.content == line
    assert RUN_KEY == r"Software\Microsoft\Windows\CurrentVersion\Run"
    assert RUN_VALUE in entry.what
