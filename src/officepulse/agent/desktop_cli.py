"""The agent's commands for a person at a desktop: ``officepulse agent --tray``,
``officepulse agent settings``, ``install`` and ``uninstall`` (autostart.py).

Kept apart from cli.py so that the agent imports none of it (nor the tray's toolkit, nor
the pages' web server) unless asked.
"""

from __future__ import annotations

import argparse
import logging
import webbrowser
from collections.abc import Mapping
from typing import Any

from officepulse.agent import autostart, browser_cli

__all__ = ["COMMANDS", "add_parsers", "run", "run_tray"]

log = logging.getLogger("officepulse.agent")

COMMANDS = ("install", "uninstall", "settings", "native-host")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    install, uninstall = autostart.add_parsers(commands)
    browser_cli.add_commands(commands, install, uninstall)
    page = commands.add_parser(
        "settings",
        help="change the agent's settings and privacy lists in your browser",
        description="Open the settings page in your browser (on this computer only, through "
        "a link that works once) and wait until you save. It writes the agent's config file, "
        "keeping your comments in it. An agent started with --tray has the same page in its "
        "menu, and starts again with what you saved.",
    )
    page.add_argument(
        "--no-browser",
        dest="open_browser",
        action="store_false",
        help="only print the link (to open it yourself)",
    )


def run(args: argparse.Namespace, flags: Mapping[str, Any]) -> int:
    """``install``, ``uninstall`` or ``settings``."""
    if args.agent_command == "native-host" or getattr(args, "browser", None):
        return browser_cli.run(args)
    if args.agent_command in ("install", "uninstall"):
        return autostart.run(args, flags)
    import asyncio

    from officepulse.agent.settings_page import context_for, serve

    context = context_for(flags, args.env_file)

    def opened(link: str) -> None:
        print(f"the settings page: {link}", flush=True)
        print("(it works once; stop with Ctrl-C, or save)", flush=True)
        if args.open_browser:
            webbrowser.open(link)

    asyncio.run(serve(context, opened))
    print(f"saved to {context.config_path}", flush=True)
    return 0


def run_tray(flags: Mapping[str, Any], env_file: str | None) -> int | None:
    """The agent with its tray icon, until Quit; None (after saying why) when no tray can
    be shown here: the caller runs the agent without one."""
    from officepulse.agent.config import load_agent_settings
    from officepulse.agent.controls import Controls
    from officepulse.agent.tray import TrayUnavailable, run_with_tray

    def settings() -> Any:
        return load_agent_settings(flags, env_file)

    def pages(controls: Controls) -> Any:
        from officepulse.agent.settings_page import PageServer, context_for

        context = context_for(
            flags, env_file, on_saved=controls.restart, status=lambda: controls.status.line
        )
        return PageServer(context)

    try:
        return run_with_tray(settings, pages)
    except TrayUnavailable as exc:
        log.warning("%s; the agent runs without its tray icon", exc)
        return None
