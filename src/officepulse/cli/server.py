"""``officepulse server``: the server on the embedded store (SQLite) and bus, with what
it says at start-up (where it listens, which database, how agents get in)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from officepulse import database_choice
from officepulse.cli.flags import add_setting_flags, setting_flags
from officepulse.cli.running import configure_logging, run_loop
from officepulse.errors import StoreUnavailable
from officepulse.settings import ServerSettings, load, origin

if TYPE_CHECKING:
    from officepulse.security.tls import TlsSetup


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = sub.add_parser(
        "server",
        help="run the server: dashboard, API and the agents' websocket",
        description="Run the officepulse server on the embedded store (SQLite) and bus.",
    )
    add_setting_flags(server, ServerSettings)
    server.set_defaults(run=run)


def tls_setup(settings: ServerSettings) -> TlsSetup | None:
    from datetime import UTC, datetime
    from pathlib import Path

    from platformdirs import user_data_dir

    from officepulse.security.hosts import default_names
    from officepulse.security.tls import prepare
    from officepulse.server.netnames import machine_names

    extra = [n for n in settings.allowed_hosts or () if n != "*"]
    names = default_names(settings.host, [*machine_names(), *extra])
    data_dir = Path(user_data_dir("officepulse", appauthor=False))
    return prepare(settings, data_dir, names, datetime.now(UTC))


def run(args: argparse.Namespace) -> int:
    from officepulse.server.app import serve
    from officepulse.server.listen_errors import listen_failure

    flags = setting_flags(args, ServerSettings)
    settings = load(ServerSettings, flags, env_file=args.env_file)
    configure_logging(settings.log_level, settings.log_format)
    trouble = database_choice.problem(settings.database)
    if trouble is not None:
        print(f"officepulse server: {trouble}", file=sys.stderr)
        return 2
    tls = tls_setup(settings)
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
        run_loop(serve(settings, ready=ready, tls=tls.context if tls else None))
    except OSError as exc:
        said = listen_failure(exc, settings.host, settings.port)
        if said is None:
            raise
        print(f"officepulse server: {said}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:  # away, unusable, or newer than this code: said, no trace
        print(f"officepulse server: {exc}", file=sys.stderr)
        return 1
    return 0
