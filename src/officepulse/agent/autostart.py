"""``officepulse agent install`` / ``uninstall``: start the agent (with its tray) at login.

- **Linux**: a systemd user unit, ``~/.config/systemd/user/officepulse-agent.service``,
  wanted by ``graphical-session.target`` (the session of GNOME, KDE and the other desktops
  that run under systemd), and an XDG autostart entry,
  ``~/.config/autostart/officepulse-agent.desktop``, for the desktops that start autostart
  entries themselves (XFCE, LXQt, a window manager with an autostart tool). The entry says
  ``X-systemd-skip=true``, so where systemd turns autostart entries into units it is left
  out and the unit alone runs: one agent either way.
- **macOS**: a LaunchAgent, ``~/Library/LaunchAgents/org.officepulse.agent.plist``, loaded
  in the GUI session (``launchctl bootstrap gui/UID``).
- **Windows**: a value named ``officepulse agent`` under
  ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run`` (Task Manager lists it among
  the startup apps), run with ``pythonw.exe`` so that no console opens.

Each starts the command this agent was started with (the packaged ``officepulse-agent``, or
this Python with ``-m officepulse agent``), with ``--tray`` and the agent settings
given as flags before ``install``. The file contents are built by pure functions, tested
against each platform's format; only the Linux files are used for real in the tests.

The browser extension's native messaging manifests (``install --browser``) live in their
own module: ``add_parser`` leaves the parser open for that option.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from officepulse.agent.launch import agent_head
from officepulse.errors import OfficepulseError

__all__ = [
    "LABEL",
    "UNIT",
    "AutostartError",
    "Entry",
    "add_parsers",
    "agent_command",
    "desktop_entry",
    "entries",
    "install",
    "launch_agent",
    "systemd_unit",
    "uninstall",
    "windows_command",
]

UNIT = "officepulse-agent.service"
DESKTOP_FILE = "officepulse-agent.desktop"
LABEL = "org.officepulse.agent"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "officepulse agent"
MADE_BY = "Made by `officepulse agent install`; `officepulse agent uninstall` removes it."
SUMMARY = "Tells your team's officepulse server which app is in front of you"
# Settings never written into a start-up command: anyone on the computer can read it.
SECRET_SETTINGS = frozenset({"enroll_token"})


class AutostartError(OfficepulseError):
    """The start-up entry cannot be written or removed; the message says why."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing ``install`` writes: a file (``path``) or a registry value (``path`` None)."""

    what: str
    path: Path | None
    content: str | bytes


# -- the command ----------------------------------------------------------------------------


def agent_command(
    settings: Mapping[str, object], *, tray: bool = True, env_file: str | None = None
) -> list[str]:
    """The command that starts this agent again: the packaged program itself, or this
    Python (pythonw on Windows) with ``-m officepulse agent``; then the settings given
    as flags (``settings``: key to value, secrets left out), ``--env-file`` and ``--tray``."""
    head = agent_head(env_file=env_file, quiet=True)
    flags = []
    for key, value in settings.items():
        if value is None or key in SECRET_SETTINGS or key == "tray":
            continue
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        flags += ["--" + key.replace("_", "-"), shown]
    return [*head, *flags, *(["--tray"] if tray else [])]


# -- Linux ---------------------------------------------------------------------------------


def _systemd_quote(arg: str) -> str:
    # systemd.service(5), "Command lines": specifiers (%) and variables ($) are expanded,
    # so both are doubled; a word with spaces, quotes or backslashes goes in double quotes.
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c in arg for c in " \t\"'\\;"):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def systemd_unit(command: Sequence[str]) -> str:
    """The user unit: started with the graphical session, stopped with it (PartOf), started
    again after a crash but not after Quit (it exits 0)."""
    return "\n".join(
        [
            f"# {MADE_BY}",
            "[Unit]",
            f"Description=officepulse agent: {SUMMARY[0].lower()}{SUMMARY[1:]}",
            "PartOf=graphical-session.target",
            "After=graphical-session.target",
            "",
            "[Service]",
            "Type=exec",
            "ExecStart=" + " ".join(_systemd_quote(a) for a in command),
            "Restart=on-failure",
            "RestartSec=10",
            "",
            "[Install]",
            "WantedBy=graphical-session.target",
            "",
        ]
    )


_DESKTOP_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def _desktop_quote(arg: str) -> str:
    # Desktop Entry Specification, "The Exec key": an argument with a reserved character
    # is quoted, and `"`, `` ` ``, `$` and `\` in it are escaped with a backslash; a literal
    # % is %%. The value is then a string, whose own escapes double every backslash.
    arg = arg.replace("%", "%%")
    if arg and not any(c in _DESKTOP_RESERVED for c in arg):
        return arg.replace("\\", "\\\\")
    inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return ('"' + inner + '"').replace("\\", "\\\\")


def desktop_entry(command: Sequence[str]) -> str:
    return "\n".join(
        [
            f"# {MADE_BY}",
            "[Desktop Entry]",
            "Type=Application",
            "Name=officepulse agent",
            f"Comment={SUMMARY}",
            "Exec=" + " ".join(_desktop_quote(a) for a in command),
            "Terminal=false",
            "NoDisplay=true",
            "X-GNOME-Autostart-enabled=true",
            # Where systemd starts the session, the unit above does it (and only it).
            "X-systemd-skip=true",
            "",
        ]
    )


def _config_home(environ: Mapping[str, str]) -> Path:
    given = environ.get("XDG_CONFIG_HOME")
    if given and Path(given).is_absolute():
        return Path(given)
    home = environ.get("HOME")
    if not home:
        raise AutostartError("HOME is not set: cannot tell where your start-up files go")
    return Path(home) / ".config"


# -- macOS ---------------------------------------------------------------------------------


def launch_agent(command: Sequence[str], home: Path) -> bytes:
    """The LaunchAgent (launchd.plist(5)): started at login in the GUI session (Aqua),
    again if it crashes but not after Quit; its output in ~/Library/Logs."""
    import plistlib  # only here: it loads an XML parser

    log = str(home / "Library" / "Logs" / "officepulse-agent.log")
    plist = {
        "Label": LABEL,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "LimitLoadToSessionType": "Aqua",
        "ProcessType": "Interactive",
        "StandardOutPath": log,
        "StandardErrorPath": log,
    }
    return plistlib.dumps(plist, fmt=plistlib.FMT_XML, sort_keys=False)


# -- Windows -------------------------------------------------------------------------------


def windows_command(command: Sequence[str]) -> str:
    """The Run value: one command line, quoted the way Windows programs split it
    (``subprocess.list2cmdline`` follows the Microsoft C runtime's rules)."""
    return subprocess.list2cmdline(list(command))


# -- what install writes -------------------------------------------------------------------


def entries(command: Sequence[str], platform: str, environ: Mapping[str, str]) -> list[Entry]:
    """What ``install`` writes on ``platform`` (``sys.platform``)."""
    if platform.startswith("linux") or platform.startswith("freebsd"):
        config = _config_home(environ)
        return [
            Entry("systemd user unit", config / "systemd" / "user" / UNIT, systemd_unit(command)),
            Entry(
                "XDG autostart entry", config / "autostart" / DESKTOP_FILE, desktop_entry(command)
            ),
        ]
    if platform == "darwin":
        home = Path(environ.get("HOME") or Path.home())
        path = home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        return [Entry("LaunchAgent", path, launch_agent(command, home))]
    if platform == "win32":
        return [
            Entry(f"Run value {RUN_VALUE!r} in HKCU\\{RUN_KEY}", None, windows_command(command))
        ]
    raise AutostartError(f"starting at login is not supported on {platform}")


def _write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp")
    if isinstance(content, bytes):
        scratch.write_bytes(content)
    else:
        scratch.write_text(content, encoding="utf-8")
    os.replace(scratch, path)


def _wants_link(config: Path) -> Path:
    return config / "systemd" / "user" / "graphical-session.target.wants" / UNIT


def _systemctl(*args: str) -> str | None:
    """Ask the user's systemd; None when done, else why not (no systemd, no session)."""
    if shutil.which("systemctl") is None:
        return "systemctl is not installed"
    try:
        done = subprocess.run(
            ["systemctl", "--user", *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


def install(
    command: Sequence[str],
    platform: str = sys.platform,
    environ: Mapping[str, str] | None = None,
    *,
    ask_systemd: bool = True,
) -> list[str]:
    """Write the start-up entries; returns what was done, in lines for the person."""
    env = os.environ if environ is None else environ
    done: list[str] = []
    for entry in entries(command, platform, env):
        try:
            if entry.path is None:
                _write_run_value(str(entry.content))
                done.append(f"wrote the {entry.what}")
                continue
            _write(entry.path, entry.content)
        except OSError as exc:
            raise AutostartError(f"cannot write the {entry.what}: {exc}") from exc
        done.append(f"wrote the {entry.what}: {entry.path}")
    if platform.startswith("linux") or platform.startswith("freebsd"):
        config = _config_home(env)
        link = _wants_link(config)
        # What `systemctl --user enable` makes; made here so that it works without a
        # running user manager (a first install over ssh, a container).
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(Path("..") / UNIT)
        done.append(f"enabled it for graphical-session.target: {link}")
        problem = _systemctl("daemon-reload") if ask_systemd else "not asked"
        done.append(
            "systemd has read it: `systemctl --user start officepulse-agent` starts it now"
            if problem is None
            else f"systemd was not told ({problem}): it starts at your next login"
        )
    elif platform == "darwin":
        done.append(_launchctl("bootstrap", entries(command, platform, env)[0].path))
    return done


def uninstall(
    platform: str = sys.platform,
    environ: Mapping[str, str] | None = None,
    *,
    ask_systemd: bool = True,
) -> list[str]:
    """Remove what ``install`` wrote (what is not there is fine)."""
    env = os.environ if environ is None else environ
    done: list[str] = []
    if platform.startswith("linux") or platform.startswith("freebsd"):
        if ask_systemd:
            _systemctl("disable", UNIT)
        _wants_link(_config_home(env)).unlink(missing_ok=True)
    if platform == "darwin":
        done.append(_launchctl("bootout", None))
    for entry in entries([], platform, env):
        if entry.path is None:
            done.append(_delete_run_value())
            continue
        try:
            entry.path.unlink()
        except FileNotFoundError:
            done.append(f"no {entry.what} to remove ({entry.path})")
        except OSError as exc:
            raise AutostartError(f"cannot remove the {entry.what}: {exc}") from exc
        else:
            done.append(f"removed the {entry.what}: {entry.path}")
    return done


def _launchctl(action: str, plist: Path | None) -> str:
    target = f"gui/{os.getuid()}" if hasattr(os, "getuid") else "gui"
    args = [target, str(plist)] if action == "bootstrap" else [f"{target}/{LABEL}"]
    if shutil.which("launchctl") is None:
        return "launchctl was not found: it starts at your next login"
    done = subprocess.run(["launchctl", action, *args], capture_output=True, text=True)
    if done.returncode == 0:
        return f"launchctl {action} {' '.join(args)}: done"
    return f"launchctl {action} said: {done.stderr.strip() or done.returncode}"


def _write_run_value(command: str) -> None:
    if sys.platform == "win32":
        import winreg

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, command)
        return
    raise AutostartError("the Windows Run value can only be written on Windows")


def _delete_run_value() -> str:
    if sys.platform == "win32":
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, RUN_VALUE)
        except FileNotFoundError:
            return f"no Run value {RUN_VALUE!r} to remove"
        return f"removed the Run value {RUN_VALUE!r}"
    raise AutostartError("the Windows Run value can only be removed on Windows")


# -- the command line ----------------------------------------------------------------------


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """``install`` and ``uninstall`` under ``officepulse agent``; the two parsers, for
    the browser extension's ``--browser`` (which installs that instead)."""
    inst = commands.add_parser(
        "install",
        help="start the agent, with its tray icon, when you log in",
        description="Start the agent when you log in: a systemd user unit and an XDG "
        "autostart entry on Linux, a LaunchAgent on macOS, a Run entry on Windows. Agent "
        "settings given before `install` (officepulse agent --server-url URL install) are "
        "kept in the command it starts; the enrollment token never is. With --browser, "
        "it installs the helper of officepulse's browser extension for that browser instead.",
    )
    inst.add_argument(
        "--no-tray",
        dest="autostart_tray",
        action="store_false",
        help="start it without the tray icon",
    )
    inst.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be written, and write nothing",
    )
    uninst = commands.add_parser(
        "uninstall",
        help="stop starting the agent when you log in",
        description="Remove what `officepulse agent install` wrote (with --browser, what "
        "`install --browser` wrote for that browser).",
    )
    return inst, uninst


def run(args: argparse.Namespace, flags: Mapping[str, object]) -> int:
    """``officepulse agent install`` or ``uninstall``; ``flags`` are the agent settings
    given on the command line."""
    try:
        if args.agent_command == "uninstall":
            lines = uninstall()
        else:
            env_file = args.env_file if args.env_file and Path(args.env_file).is_file() else None
            command = agent_command(
                flags,
                tray=args.autostart_tray,
                env_file=str(Path(env_file).resolve()) if env_file else None,
            )
            if args.dry_run:
                for entry in entries(command, sys.platform, os.environ):
                    shown = entry.content
                    text = shown.decode() if isinstance(shown, bytes) else shown
                    print(f"--- {entry.what}: {entry.path or ''}\n{text}")
                return 0
            lines = install(command)
            if flags.get("enroll_token"):
                lines.append(
                    "the enrollment token was left out of the start-up command (anyone "
                    "here could read it): set it on the settings page, or in agent.toml"
                )
    except AutostartError as exc:
        print(f"officepulse agent {args.agent_command}: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0
