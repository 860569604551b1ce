"""``officepulse tokens ...``: enrollment tokens (create, list, revoke), each exchanged
by an agent for its own credential, on the database named by the same ``database``
setting as the server's. Each change goes in the audit log as done by
``cli:<OS login>@<host>``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Protocol

from officepulse.cli.database import act, add_database_flag, audit
from officepulse.security.enrollment import (
    DEFAULT_EXPIRES_HOURS,
    TokenOptionError,
    create_token,
    token_state,
    utc_minute,
)
from officepulse.store.accounts import Accounts
from officepulse.store.enrollment import Enrollment


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    add_database_flag(create)
    add_database_flag(token_actions.add_parser("list", help="every token and whether it is usable"))
    revoke = token_actions.add_parser("revoke", help="make a token unusable")
    revoke.add_argument("token_id", help="the token's id (see `officepulse tokens list`)")
    add_database_flag(revoke)
    tokens.set_defaults(run=run)


class TokenStore(Enrollment, Accounts, Protocol):
    """What ``officepulse tokens`` changes, and the audit log it writes to."""


async def _tokens(args: argparse.Namespace, store: TokenStore) -> int:
    now = int(time.time() * 1000)
    if args.action == "create":
        try:
            made = await create_token(
                store, args.label, now, args.expires_in_hours, None if args.unlimited else args.uses
            )
        except TokenOptionError as exc:
            print(f"officepulse tokens create: {exc}", file=sys.stderr)
            return 2
        await audit(store, "token.create", made.token.id, made.token.label)
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
    await audit(store, "token.revoke", args.token_id)
    print(f"revoked token {args.token_id}")
    return 0


def run(args: argparse.Namespace) -> int:
    return act(args, _tokens)
