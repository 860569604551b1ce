"""``officepulse agents ...``: what a team lead does to agents (list, block, unblock,
remove, revoke their credentials), on the database named by the same ``database`` setting
as the server's. A running server acts on a change within a second (gateway/control.py).
Each change goes in the audit log as done by ``cli:<OS login>@<host>``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Protocol

from officepulse.cli.database import act, add_database_flag, audit
from officepulse.security.enrollment import utc_minute
from officepulse.store.accounts import Accounts, agent_action
from officepulse.store.enrollment import AgentAdmin


def _agent_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=text, description=text)
    parser.add_argument("agent_id", help="the agent's id (see `officepulse agents list`)")
    add_database_flag(parser)
    return parser


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agents = sub.add_parser(
        "agents",
        help="list, block, unblock, remove agents, or revoke their credentials",
        description="Act on agents in the database (a running server follows within a second).",
    )
    actions = agents.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_database_flag(actions.add_parser("list", help="every agent, blocked or not"))
    block = _agent_command(
        actions, "block", "disconnect the agent now and refuse it until unblocked; keeps history"
    )
    block.add_argument("--reason", default="", help="told to the agent and shown to the team")
    _agent_command(actions, "unblock", "let a blocked agent connect again")
    remove = _agent_command(
        actions, "remove", "delete the agent and its credential (its history stays unless --erase)"
    )
    remove.add_argument("--erase", action="store_true", help="erase its history (spans) too")
    _agent_command(actions, "revoke", "revoke the agent's credential (it must enroll again)")
    agents.set_defaults(run=run)


class AgentsCliStore(AgentAdmin, Accounts, Protocol):
    """What ``officepulse agents`` changes, and the audit log it writes to."""


async def _agents(args: argparse.Namespace, store: AgentsCliStore) -> int:
    if args.action == "list":
        for status in await store.agents():
            info = status.info
            if status.blocked is not None:
                state = f"blocked since {utc_minute(status.blocked.at_ms)}"
                if status.blocked.reason:
                    state += f" ({status.blocked.reason})"
            else:
                state = (
                    "online"
                    if info.online
                    else f"offline, last seen {utc_minute(info.last_seen_ms)}"
                )
            cred = await store.credential(info.id)
            credential = (
                "no credential"
                if cred is None
                else ("credential revoked" if cred.revoked_ms is not None else "enrolled")
            )
            print(f"{info.id}\t{info.name}\t{info.host}\t{state}\t{credential}")
        return 0
    now = int(time.time() * 1000)
    agent_id: str = args.agent_id
    if args.action == "block":
        ok = await store.block_agent(agent_id, args.reason, now)
        said = (
            f"blocked agent {agent_id} at {utc_minute(now)}; a running server disconnects it "
            "within a second"
        )
    elif args.action == "unblock":
        ok = await store.unblock_agent(agent_id, now)
        said = f"unblocked agent {agent_id}; it is let in at its next try"
    elif args.action == "remove":
        ok = await store.remove_agent(agent_id, args.erase, now)
        said = f"removed agent {agent_id}" + (" and erased its history" if args.erase else "")
    else:
        ok = await store.revoke_credential(agent_id, now)
        said = f"revoked the credential of agent {agent_id}"
    if not ok:
        what = "no enrolled agent" if args.action == "revoke" else "no agent"
        print(f"officepulse agents {args.action}: {what} with id {agent_id!r}", file=sys.stderr)
        return 1
    reason = args.reason if args.action == "block" else ""
    await audit(
        store, agent_action(args.action, args.action == "remove" and args.erase), agent_id, reason
    )
    print(said)
    return 0


def run(args: argparse.Namespace) -> int:
    return act(args, _agents)
