"""The ``officepulse`` command, one module per command group: ``server``, ``agent``
(with ``probe`` and ``install-gnome-extension``), ``import-aw``, ``admin`` / ``people``
(accounts.py: people's accounts), ``agents``, ``tokens``, ``demo``, ``gateway`` and
``panel`` (scaleout.py: the server as several processes), and ``backup`` / ``restore``
(backup.py). Each module adds
its parser and sets the function that runs it. ``officepulse-agent`` (packaged.py) is
``officepulse agent`` alone, as packaged.

Every flag of ``server`` and ``agent`` is a setting (see settings.py): ``--port`` is also
OFFICEPULSE_PORT in the environment or in ``.env``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from officepulse import __version__
from officepulse.settings import SettingsError


def build_parser() -> argparse.ArgumentParser:
    # The groups are imported here, not with the package: `officepulse-agent` imports
    # cli.agent alone, without the server's, the store's and the accounts' modules.
    from officepulse.cli import (
        accounts,
        agent,
        agents,
        backup,
        demo,
        import_aw,
        scaleout,
        server,
        tokens,
    )

    parser = argparse.ArgumentParser(
        prog="officepulse",
        description="Live presence and time per app for teams in a virtual office.",
    )
    parser.add_argument("--version", action="version", version=f"officepulse {__version__}")
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # In the order ``officepulse --help`` lists them.
    for group in (server, agent, import_aw, accounts, agents, tokens, demo, scaleout, backup):
        group.add_parser(sub)
    return parser


def run_parsed(args: argparse.Namespace, prog: str = "officepulse") -> int:
    """Run the command ``args`` chose; its exit status. ``prog`` names the command in
    messages."""
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:
        return 0  # stopped by SIGTERM, after cleaning up


def main(argv: Sequence[str] | None = None) -> int:
    return run_parsed(build_parser().parse_args(argv))
