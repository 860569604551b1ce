"""The agent's browser commands: ``native-host`` (what the browser starts), and ``install``
/ ``uninstall --browser …`` (the native messaging host manifests)."""

from __future__ import annotations

import argparse
import sys

from officepulse.agent.browser_install import BROWSERS

COMMANDS = ("native-host", "install", "uninstall")
# The options these commands add to the agent's parser (not agent settings).
OPTIONS = ("browser", "extension_id", "browser_args")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    install = commands.add_parser(
        "install",
        help="let a browser start the agent's helper for officepulse's extension",
        description="Write the native messaging host manifest where the browser looks for it "
        "(your user only), so that officepulse's browser extension can reach the agent.",
    )
    add_browser_option(install)
    install.add_argument(
        "--extension-id",
        action="append",
        default=None,
        metavar="ID",
        help="another id officepulse's extension has (one from a store); may be repeated",
    )
    uninstall = commands.add_parser(
        "uninstall",
        help="remove what `install --browser` wrote",
        description="Remove the native messaging host manifest of the browser.",
    )
    add_browser_option(uninstall)


def add_browser_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--browser",
        action="append",
        required=True,
        choices=BROWSERS,
        help="the browser (may be repeated)",
    )


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
