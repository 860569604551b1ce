"""The agent's browser commands: ``native-host`` (what the browser starts), and ``install``
/ ``uninstall --browser …`` (the native messaging host manifests)."""

from __future__ import annotations

import argparse
import sys

from officepulse.agent.browser_install import BROWSERS

COMMANDS = ("native-host", "install", "uninstall")


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    install: argparse.ArgumentParser,
    uninstall: argparse.ArgumentParser,
) -> None:
    """``native-host``, and ``--browser`` on the agent's ``install`` and ``uninstall``
    (which without it are about starting the agent at login, agent/autostart.py)."""
    native = commands.add_parser(
        "native-host",
        help="the helper your browser starts for officepulse's extension (not run by hand)",
        description="Pass what officepulse's browser extension reports (native messaging on "
        "standard input) to the running agent. The browser starts it; `install --browser` "
        "tells the browser where it is.",
    )
    # Whatever the browser passes: the caller's origin, Firefox's manifest path and
    # extension id, Chrome's --parent-window on Windows.
    native.add_argument("browser_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    add_browser_option(
        install,
        "let this browser start the agent's helper for officepulse's extension: write the "
        "native messaging host manifest where it looks (your user only); may be repeated",
    )
    install.add_argument(
        "--extension-id",
        action="append",
        default=None,
        metavar="ID",
        help="another id officepulse's extension has (one from a store); may be repeated",
    )
    add_browser_option(
        uninstall, "remove the native messaging host manifest of this browser; may be repeated"
    )


def add_browser_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--browser", action="append", choices=BROWSERS, help=help)


def run(args: argparse.Namespace) -> int:
    if args.agent_command == "native-host":
        from officepulse import logtext
        from officepulse.agent.native_host import run as serve

        # Standard error: the browser reads standard output as messages.
        logtext.configure("info", "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        return serve(args.browser_args)
    from officepulse.agent.browser_install import InstallError, install, report, uninstall

    try:
        for browser in dict.fromkeys(args.browser):
            if args.agent_command == "install":
                done = install(browser, extension_ids=args.extension_id or ())
            else:
                done = uninstall(browser)
            sys.stdout.write(report(done))
    except InstallError as exc:
        print(f"officepulse agent {args.agent_command}: {exc}", file=sys.stderr)
        return 1
    return 0
