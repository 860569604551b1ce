"""``officepulse demo``: an office of scripted people, streamed to a running server."""

from __future__ import annotations

import argparse

from officepulse.cli.running import configure_logging, run_loop
from officepulse.settings import AgentSettings, load


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from officepulse.agent.transport import with_agent_url
    from officepulse.demo import run_demo

    agent_settings = load(AgentSettings, {"server_url": args.server_url}, env_file=args.env_file)
    configure_logging("info")
    agent_settings = with_agent_url(agent_settings)
    run_loop(run_demo(agent_settings.server_url, people=args.people, days=args.days))
    return 0
