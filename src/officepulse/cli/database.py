"""The database the offline commands (``agents``, ``tokens``, ``admin``, ``people``,
``import-aw``) work on: the ``--database`` flag, named by the same ``database`` setting as
the server's and said on standard error as it is chosen; the store opened for the
command's work; and the audit line each change leaves, by ``cli:<OS login>@<host>``."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from officepulse import database_choice
from officepulse.settings import HELP, ServerSettings, env_name, load, origin
from officepulse.store import is_postgres, store_from_url
from officepulse.store.accounts import Accounts, AuditEntry, cli_actor
from officepulse.store.base import Store

T = TypeVar("T")


def add_database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        default=None,
        metavar="DATABASE",
        help=f"{HELP['database']}; env {env_name('database')}",
    )


def chosen(args: argparse.Namespace, command: str) -> str | None:
    """The database ``command`` ("tokens create", "import-aw": as typed) works on, said
    on standard error; None (after saying why) when it cannot be a database."""
    flags = {"database": args.database}
    database = load(ServerSettings, flags, env_file=args.env_file).database
    database_choice.announce(command, database, origin("database", flags, env_file=args.env_file))
    trouble = database_choice.problem(database)
    if trouble is not None:
        print(f"officepulse {command}: {trouble}", file=sys.stderr)
        return None
    return database


def act(
    args: argparse.Namespace, work: Callable[[argparse.Namespace, Store], Awaitable[int]]
) -> int:
    """Run ``work`` on the database of ``officepulse agents|tokens ACTION``, which must
    be there already; the exit status."""
    database = chosen(args, f"{args.command} {args.action}")
    if database is None or not _existing(database, args.command):
        return 2
    return asyncio.run(with_store(database, functools.partial(work, args)))


def _existing(database: str, command: str) -> bool:
    """Whether there is a database at ``database``; if not, says so. (Opening a SQLite
    path makes a database there, which for agents and tokens would only hide a wrong
    path behind "no agent".)"""
    if is_postgres(database) or Path(database).is_file():
        return True
    print(
        f"officepulse {command}: there is no database at {database} (set --database "
        f"or {env_name('database')} as for the server)",
        file=sys.stderr,
    )
    return False


async def with_store(database: str, work: Callable[[Store], Awaitable[T]]) -> T:
    store = store_from_url(database)
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


async def audit(store: Accounts, action: str, target: str, detail: str = "") -> None:
    """One line in the audit log, by the person at this terminal."""
    entry = AuditEntry(int(time.time() * 1000), cli_actor(), action, target, detail)
    await store.add_audit(entry)
