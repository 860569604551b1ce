"""``officepulse agents ...`` and ``officepulse tokens ...``: what a team lead does to
agents and enrollment tokens, on the database named by the same ``database`` setting as
the server's. A running server acts on a change within a second (server/control.py).
Each change goes in the audit log as done by ``cli:<OS login>@<host>``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from officepulse.accounts_cli import cli_audit
from officepulse.enrollment import (
    DEFAULT_EXPIRES_HOURS,
    TokenOptionError,
    create_token,
    token_state,
    utc_minute,
)
from officepulse.settings import HELP, env_name
from officepulse.store import is_postgres, store_from_url
from officepulse.store.accounts import agent_action
from officepulse.store.base import Store

ADMIN_COMMANDS = ("agents", "tokens")


def _database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        default=None,
        metavar="DATABASE",
        help=f"{HELP['database']}; env {env_name('database')}",
    )


def _agent_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=text, description=text)
    parser.add_argument("agent_id", help="the agent's id (see `officepulse agents list`)")
    _database_flag(parser)
    return parser


def add_admin_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agents = sub.add_parser(
        "agents",
        help="list, block, unblock, remove agents, or revoke their credentials",
        description="Act on agents in the database (a running server follows within a second).",
    )
    actions = agents.add_subparsers(dest="action", required=True, metavar="ACTION")
    _database_flag(actions.add_parser("list", help="every agent, blocked or not"))
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

    tokens = sub.add_parser(
        "tokens",
        help="create, list or revoke enrollment tokens",
        description="Enrollment tokens: each is exchanged by an agent for its own credential.",
    )
    token_actions = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = token_actions.add_parser("create", help="make a token; it is shown once")
    create.add_argument("--label", default="", help="what it is for, e.g. the person's name")
    create.add_argument(
        "--expires-in-hours",
        type=float,
        default=DEFAULT_EXPIRES_HOURS,
        help=f"hours it can be used for (default: {DEFAULT_EXPIRES_HOURS:g})",
    )
    create.add_argument(
        "--uses", type=int, default=1, help="how many agents may enroll with it (default: 1)"
    )
    create.add_argument(
        "--unlimited", action="store_true", help="any number of agents may enroll with it"
    )
    _database_flag(create)
    _database_flag(token_actions.add_parser("list", help="every token and whether it is usable"))
    revoke = token_actions.add_parser("revoke", help="make a token unusable")
    revoke.add_argument("token_id", help="the token's id (see `officepulse tokens list`)")
    _database_flag(revoke)


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _agents(args: argparse.Namespace, store: Store) -> int:
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
    now = _now_ms()
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
    await cli_audit(
        store, agent_action(args.action, args.action == "remove" and args.erase), agent_id, reason
    )
    print(said)
    return 0


async def _tokens(args: argparse.Namespace, store: Store) -> int:
    now = _now_ms()
    if args.action == "create":
        try:
            made = await create_token(
                store, args.label, now, args.expires_in_hours, None if args.unlimited else args.uses
            )
        except TokenOptionError as exc:
            print(f"officepulse tokens create: {exc}", file=sys.stderr)
            return 2
        await cli_audit(store, "token.create", made.token.id, made.token.label)
        print(f"token {made.token.id} ({token_state(made.token, now)}); shown once:")
        print(made.secret)
        print(f"on the teammate's computer: officepulse agent --enroll-token {made.secret}")
        return 0
    if args.action == "list":
        for token in await store.tokens():
            created = utc_minute(token.created_ms)
            print(f"{token.id}\t{token.label}\tcreated {created}\t{token_state(token, now)}")
        return 0
    if not await store.revoke_token(args.token_id, now):
        print(f"officepulse tokens revoke: no token with id {args.token_id!r}", file=sys.stderr)
        return 1
    await cli_audit(store, "token.revoke", args.token_id)
    print(f"revoked token {args.token_id}")
    return 0


async def _run(args: argparse.Namespace, database: str) -> int:
    store = store_from_url(database)
    await store.open()
    try:
        if args.command == "agents":
            return await _agents(args, store)
        return await _tokens(args, store)
    finally:
        await store.close()


def run_admin(args: argparse.Namespace, database: str) -> int:
    if not is_postgres(database) and not Path(database).is_file():
        print(
            f"officepulse {args.command}: there is no database at {database} (set --database "
            f"or {env_name('database')} as for the server)",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(_run(args, database))
