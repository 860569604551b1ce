"""The ``officepulse`` command: ``server``, ``agent``, ``agents``, ``tokens``, ``demo``,
``import-aw``, and ``admin`` / ``people`` for people's accounts.

Every flag is a setting (see settings.py): ``--port`` is also OFFICEPULSE_PORT
in the environment or in ``.env``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from officepulse import __version__, database_choice, logtext
from officepulse.admin_cli import ADMIN_COMMANDS, add_admin_commands, run_admin
from officepulse.settings import (
    HELP,
    AgentSettings,
    ServerSettings,
    SettingsError,
    env_name,
    load,
    origin,
)

if TYPE_CHECKING:
    from officepulse.server.tls import TlsSetup


def _add_setting_flags(parser: argparse.ArgumentParser, cls: type[msgspec.Struct]) -> None:
    for field in msgspec.structs.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        default = field.default if field.default is not msgspec.NODEFAULT else None
        shown = f" (default: {default})" if default not in (None, "") else ""
        # A yes/no setting's flag alone means yes: `--dev-tls` is `--dev-tls true`.
        switch = {"nargs": "?", "const": "true"} if field.type is bool else {}
        parser.add_argument(
            flag,
            dest=field.name,
            default=None,
            metavar=field.name.upper(),
            help=f"{HELP.get(field.name, '')}{shown}; env {env_name(field.name)}",
            **switch,  # type: ignore[arg-type]
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="officepulse",
        description="Live presence and time per app for teams in a virtual office.",
    )
    parser.add_argument("--version", action="version", version=f"officepulse {__version__}")
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server = sub.add_parser(
        "server",
        help="run the server: dashboard, API and the agents' websocket",
        description="Run the officepulse server on the embedded store (SQLite) and bus.",
    )
    _add_setting_flags(server, ServerSettings)
    agent = sub.add_parser(
        "agent",
        help="run the agent that tells the server what is in front of this person",
        description="Watch this desktop (or replay a timeline) and stream it to the server.",
    )
    _add_setting_flags(agent, AgentSettings)
    _add_probe(agent)
    imp = sub.add_parser(
        "import-aw",
        help="import an ActivityWatch export (aw-buckets-export.json)",
        description="Import an ActivityWatch export into the database; importing again "
        "changes nothing.",
    )
    imp.add_argument("file", help="the export file")
    imp.add_argument(
        "--database",
        default=None,
        metavar="DATABASE",
        help=f"{HELP['database']}; env {env_name('database')}",
    )
    from officepulse.accounts_cli import add_parsers

    add_parsers(sub, f"{HELP['database']}; env {env_name('database')}")
    add_admin_commands(sub)
    demo = sub.add_parser(
        "demo",
        help="fill an office with scripted people (needs a running server)",
        description="Run several scripted agents: a week of history, then live activity. "
        "They are kept in that server's database: `make demo` starts a server of its own "
        "on var/demo.sqlite3 for them.",
    )
    demo.add_argument("--server-url", default=None, help="the server's /agent websocket URL")
    demo.add_argument("--people", type=int, default=5, help="how many people (default: 5)")
    demo.add_argument("--days", type=int, default=7, help="days of history (default: 7)")
    return parser


def _add_probe(agent: argparse.ArgumentParser) -> None:
    from officepulse.agent import browser_cli

    probes = agent.add_subparsers(
        dest="agent_command",
        metavar="{probe,install-gnome-extension,install,uninstall,native-host}",
        required=False,
    )
    probe = probes.add_parser(
        "probe",
        help="print what the agent sees right now, source by source, and exit",
        description="Print what the agent sees right now, source by source: desktop backends, "
        "the window in front, idle, introspection, your privacy lists, and what it would send. "
        "Sends nothing.",
    )
    for name in ("source", "idle_threshold", "agent_config", "state_dir"):
        # SUPPRESS: flags given before "probe" (agent --source x11 probe) must not be
        # overwritten by this parser's defaults.
        probe.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=argparse.SUPPRESS,
            metavar=name.upper(),
            help=f"{HELP[name]}; env {env_name(name)}",
        )
    gnome = probes.add_parser(
        "install-gnome-extension",
        help="install and enable officepulse's GNOME Shell extension, which tells the agent "
        "the window in front on GNOME",
        description="Install officepulse's GNOME Shell extension (GNOME 43 and later) in your "
        "extensions folder and enable it. GNOME Shell loads it at your next login.",
    )
    gnome.add_argument(
        "--shell-version",
        type=int,
        default=None,
        metavar="MAJOR",
        help="build it for this GNOME Shell (default: the gnome-shell installed here)",
    )
    gnome.add_argument(
        "--no-enable",
        dest="enable_extension",
        action="store_false",
        help="only install it; do not add it to org.gnome.shell enabled-extensions",
    )
    browser_cli.add_commands(probes)


# Options of agent subcommands that are not agent settings.
_SUBCOMMAND_OPTIONS = (
    "shell_version",
    "enable_extension",
    "browser",
    "extension_id",
    "browser_args",
)


def _install_gnome_extension(shell: int | None, enable_it: bool) -> int:
    from officepulse.agent.gnome_setup import InstallError, install, report

    try:
        done = install(os.environ, shell=shell, enable_it=enable_it)
    except InstallError as exc:
        print(f"officepulse: cannot install the GNOME Shell extension: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(report(done))
    return 0


def _probe(agent_settings: AgentSettings) -> int:
    from officepulse.agent.probe import collect, render

    _logging("error")  # the probe shows what fails itself
    probe = collect(
        source=agent_settings.source,
        idle_threshold=agent_settings.idle_threshold,
        config=agent_settings.agent_config,
        state_dir=agent_settings.state_dir,
    )
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")  # a title in a script the console lacks
    sys.stdout.write(render(probe))
    sys.stdout.flush()
    # A desktop that cannot be read is an answer; a bad config file stops the agent.
    return 2 if probe.config_error is not None else 0


def _tls(settings: ServerSettings) -> TlsSetup | None:
    from datetime import UTC, datetime
    from pathlib import Path

    from platformdirs import user_data_dir

    from officepulse.server.hosts import default_names
    from officepulse.server.netnames import machine_names
    from officepulse.server.tls import prepare

    extra = [n for n in settings.allowed_hosts or () if n != "*"]
    names = default_names(settings.host, [*machine_names(), *extra])
    data_dir = Path(user_data_dir("officepulse", appauthor=False))
    return prepare(settings, data_dir, names, datetime.now(UTC))


def _logging(level: str) -> None:
    # Escaping: what clients send (names, titles, logins) cannot forge a log line.
    logtext.configure(level, "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")


def _database(args: argparse.Namespace, command: str) -> str | None:
    """The database a command works on, said on standard error; None (after saying why)
    when it cannot be a database."""
    flags = {"database": args.database}
    database = load(ServerSettings, flags, env_file=args.env_file).database
    database_choice.announce(command, database, origin("database", flags, env_file=args.env_file))
    trouble = database_choice.problem(database)
    if trouble is not None:
        print(f"officepulse {command}: {trouble}", file=sys.stderr)
        return None
    return database


def _command_name(args: argparse.Namespace) -> str:
    """ "tokens create", "people list", "admin create", "import-aw": as typed."""
    sub = getattr(args, "action", None) or getattr(args, "people_command", None)
    if args.command == "admin":
        sub = "create"
    return f"{args.command} {sub}" if sub else args.command


def _serve(args: argparse.Namespace, flags: dict[str, Any]) -> int:
    from officepulse.server.app import serve
    from officepulse.server.listen_errors import listen_failure

    settings = load(ServerSettings, flags, env_file=args.env_file)
    _logging(settings.log_level)
    trouble = database_choice.problem(settings.database)
    if trouble is not None:
        print(f"officepulse server: {trouble}", file=sys.stderr)
        return 2
    tls = _tls(settings)
    chosen = origin("database", flags, env_file=args.env_file)

    def ready(url: str) -> None:
        agents = f"ws{url[4:]}/agent"
        print(f"officepulse server listening on {url}", flush=True)
        print(f"  dashboard: {url}/   agents connect to: {agents}", flush=True)
        how = f"from {chosen}" if chosen is not None else "the default"
        print(f"  database: {database_choice.shown(settings.database)} ({how})", flush=True)
        if tls is not None and tls.ca is not None:
            print(
                f"  self-signed (--dev-tls, {'made now' if tls.made else 'reused'}): "
                f"agents trust it with --ca-file {tls.ca}",
                flush=True,
            )
        if settings.agent_auth_mode() == "open":
            print(
                "  WARNING: agent_auth is open: anyone who can reach this port can "
                "connect an agent without a credential, and see the office; fine for "
                "one computer (loopback), not for a team: set agent_auth = required",
                flush=True,
            )
        else:
            make = database_choice.command("tokens create", settings.database)
            print(
                f"  agents must be enrolled: `{make}` makes a token for "
                f"`officepulse agent --server-url {agents} --enroll-token TOKEN`",
                flush=True,
            )

    try:
        _run(serve(settings, ready=ready, tls=tls.context if tls else None))
    except OSError as exc:
        said = listen_failure(exc, settings.host, settings.port)
        if said is None:
            raise
        print(f"officepulse server: {said}", file=sys.stderr)
        return 1
    return 0


def _run(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    skip = ("command", "env_file", "agent_command", *_SUBCOMMAND_OPTIONS)
    flags = {k: v for k, v in vars(args).items() if k not in skip}
    try:
        if args.command == "server":
            return _serve(args, flags)
        elif args.command == "agent" and args.agent_command == "install-gnome-extension":
            return _install_gnome_extension(args.shell_version, args.enable_extension)
        elif args.command == "agent" and args.agent_command in (
            "native-host",
            "install",
            "uninstall",
        ):
            from officepulse.agent import browser_cli

            return browser_cli.run(args)
        elif args.command == "agent":
            from officepulse.agent.main import run_agent

            agent_settings = load(AgentSettings, flags, env_file=args.env_file)
            if getattr(args, "agent_command", None) == "probe":
                return _probe(agent_settings)
            _logging(agent_settings.log_level)
            _run(run_agent(agent_settings))
        elif args.command in ("admin", "people", "import-aw", *ADMIN_COMMANDS):
            database = _database(args, _command_name(args))
            if database is None:
                return 2
            if args.command in ADMIN_COMMANDS:
                return run_admin(args, database)
            if args.command == "import-aw":
                from officepulse.aw_import import run

                return run(args.file, database)
            from officepulse import accounts_cli

            return accounts_cli.run(args, database)
        else:
            from officepulse.agent.transport import with_agent_url
            from officepulse.demo import run_demo

            agent_settings = load(
                AgentSettings, {"server_url": args.server_url}, env_file=args.env_file
            )
            _logging("info")
            agent_settings = with_agent_url(agent_settings)
            _run(run_demo(agent_settings.server_url, people=args.people, days=args.days))
    except SettingsError as exc:
        print(f"officepulse: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:
        return 0  # stopped by SIGTERM, after cleaning up
    return 0


if __name__ == "__main__":
    sys.exit(main())
