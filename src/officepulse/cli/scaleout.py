"""``officepulse gateway`` and ``officepulse panel``: the server split in two kinds of
process for offices one process cannot serve (docs/architecture.md, "Scaled out").
Several gateways (agents' websockets) and panels (dashboard, API) share one PostgreSQL
database and one NATS server; ``officepulse server`` stays the one-process default.
Both take every setting ``server`` takes, and need ``database`` (postgresql://) and
``nats_url``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from officepulse import database_choice
from officepulse.cli.flags import add_setting_flags, setting_flags
from officepulse.cli.running import configure_logging, run_loop
from officepulse.settings import ServerSettings, flag_and_env, load
from officepulse.store import is_postgres


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gateway = sub.add_parser(
        "gateway",
        help="run a gateway: the agents' websocket, scaled out (PostgreSQL and NATS)",
        description="Run an officepulse gateway: agents connect here; presence goes to the "
        "panels over NATS. Needs --database postgresql://... and --nats-url.",
    )
    add_setting_flags(gateway, ServerSettings)
    gateway.set_defaults(run=run_gateway)
    panel = sub.add_parser(
        "panel",
        help="run a control panel: dashboard, API and pages, scaled out (PostgreSQL and NATS)",
        description="Run an officepulse panel: the dashboard, API and pages, hearing the "
        "gateways over NATS. Needs --database postgresql://... and --nats-url.",
    )
    add_setting_flags(panel, ServerSettings)
    panel.set_defaults(run=run_panel)


def problem(settings: ServerSettings) -> str | None:
    """Why these settings cannot run a scaled-out process, or None."""
    if not is_postgres(settings.database):
        return (
            f"{flag_and_env('database')} must be a postgresql:// URL: gateways and panels "
            "share one database (SQLite serves one process: `officepulse server`)"
        )
    if settings.nats_url is None:
        return (
            f"{flag_and_env('nats_url')} is needed (nats://host:4222): gateways and panels "
            "talk through NATS"
        )
    return None


def _run(
    kind: str,
    args: argparse.Namespace,
    said: Callable[[ServerSettings, str], list[str]],
) -> int:
    from officepulse.bus.nats_bus import BusUnreachable
    from officepulse.cli.server import tls_setup
    from officepulse.server import wiring
    from officepulse.server.gateway_process import GatewayProcess
    from officepulse.server.listen_errors import listen_failure
    from officepulse.server.panel_process import PanelProcess

    settings = load(ServerSettings, setting_flags(args, ServerSettings), env_file=args.env_file)
    configure_logging(settings.log_level)
    trouble = problem(settings)
    if trouble is not None:
        print(f"officepulse {kind}: {trouble}", file=sys.stderr)
        return 2
    tls = tls_setup(settings)
    make = GatewayProcess if kind == "gateway" else PanelProcess

    def ready(url: str) -> None:
        print(f"officepulse {kind} listening on {url}", flush=True)
        for line in said(settings, url):
            print(f"  {line}", flush=True)
        print(f"  database: {database_choice.shown(settings.database)}", flush=True)
        print(f"  bus: {settings.nats_url}", flush=True)

    try:
        run_loop(wiring.serve(settings, make, ready=ready, tls=tls.context if tls else None))
    except BusUnreachable as exc:
        print(f"officepulse {kind}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        why = listen_failure(exc, settings.host, settings.port)
        if why is None:
            raise
        print(f"officepulse {kind}: {why}", file=sys.stderr)
        return 1
    return 0


def _gateway_lines(settings: ServerSettings, url: str) -> list[str]:
    return [f"agents connect to: ws{url[4:]}/agent"]


def _panel_lines(settings: ServerSettings, url: str) -> list[str]:
    return [f"dashboard: {url}/"]


def run_gateway(args: argparse.Namespace) -> int:
    return _run("gateway", args, _gateway_lines)


def run_panel(args: argparse.Namespace) -> int:
    return _run("panel", args, _panel_lines)
