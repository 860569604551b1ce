"""``officepulse agent``: run the agent, or ``agent probe`` (what it sees, source by
source) and ``agent install-gnome-extension``."""

from __future__ import annotations

import argparse
import io
import os
import sys

from officepulse.agent import desktop_cli
from officepulse.cli.flags import add_setting_flags, setting_flags
from officepulse.cli.running import configure_logging, run_loop
from officepulse.settings import HELP, AgentSettings, env_name

DESCRIPTION = "Watch this desktop (or replay a timeline) and stream it to the server."


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agent = sub.add_parser(
        "agent",
        help="run the agent that tells the server what is in front of this person",
        description=DESCRIPTION,
    )
    configure(agent)


def configure(agent: argparse.ArgumentParser) -> None:
    """The agent's flags and commands on ``agent``: ``officepulse agent``'s parser, or
    ``officepulse-agent``'s own (packaged.py)."""
    add_setting_flags(agent, AgentSettings)
    agent.set_defaults(run=run)
    probes = agent.add_subparsers(
        dest="agent_command",
        metavar="{probe,settings,install,uninstall,native-host,install-gnome-extension}",
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
    desktop_cli.add_parsers(probes)


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

    configure_logging("error")  # the probe shows what fails itself
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


def run(args: argparse.Namespace) -> int:
    if args.agent_command == "install-gnome-extension":
        return _install_gnome_extension(args.shell_version, args.enable_extension)
    flags = setting_flags(args, AgentSettings)
    if args.agent_command in desktop_cli.COMMANDS:
        configure_logging("info")
        return desktop_cli.run(args, flags)
    from officepulse.agent.config import load_agent_settings
    from officepulse.agent.main import run_agent

    probing = args.agent_command == "probe"
    agent_settings = load_agent_settings(flags, args.env_file, bad_file_ok=probing)
    if probing:
        return _probe(agent_settings)
    configure_logging(agent_settings.log_level, agent_settings.log_format)
    if agent_settings.tray:
        done = desktop_cli.run_tray(flags, args.env_file)
        if done is not None:
            return done
    run_loop(run_agent(agent_settings))
    return 0
