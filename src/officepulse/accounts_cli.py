"""``officepulse admin create`` and ``officepulse people ...``: people's accounts, on the
database the ``database`` setting names, from the command line. Each change goes in the
audit log with ``cli:<OS login>@<host>`` as who did it."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TextIO, cast

from officepulse.errors import CliError
from officepulse.server.passwords import PasswordError, check_new, hash_password
from officepulse.store import store_from_url
from officepulse.store.accounts import (
    DEFAULT_VISIBILITY,
    ROLES,
    VISIBILITIES,
    AccountError,
    AuditEntry,
    NewPerson,
    Person,
    PersonChange,
    Role,
    Visibility,
    cli_actor,
)
from officepulse.store.base import Store


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], database_help: str
) -> None:
    admin = sub.add_parser(
        "admin",
        help="create the first admin (or another)",
        description="Create an admin account. Once a person account exists, everyone "
        "signs in to see the office.",
    )
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="create")
    create = admin_sub.add_parser("create", help="create an admin account")
    _person_flags(create, database_help)

    people = sub.add_parser(
        "people",
        help="list and change people's accounts",
        description="People's accounts: list, add, set role or visibility, assign agents, remove.",
    )
    people_sub = people.add_subparsers(dest="people_command", required=True, metavar="COMMAND")
    listing = people_sub.add_parser("list", help="everyone, with role, visibility and agents")
    _database(listing, database_help)
    add = people_sub.add_parser("add", help="add a person")
    _person_flags(add, database_help)
    add.add_argument("--role", choices=ROLES, default="member", help="default: member")
    role = people_sub.add_parser("set-role", help="make a person admin or member")
    role.add_argument("login")
    role.add_argument("role", choices=ROLES)
    _database(role, database_help)
    vis = people_sub.add_parser("set-visibility", help="what others see of a person")
    vis.add_argument("login")
    vis.add_argument("visibility", choices=VISIBILITIES)
    _database(vis, database_help)
    assign = people_sub.add_parser(
        "assign-agent", help="say whose an agent is (its detail is theirs)"
    )
    assign.add_argument("agent_id")
    assign.add_argument("login", help="the person, or - for nobody")
    _database(assign, database_help)
    remove = people_sub.add_parser("remove", help="remove a person (their agents stay)")
    remove.add_argument("login")
    _database(remove, database_help)


def _database(parser: argparse.ArgumentParser, database_help: str) -> None:
    parser.add_argument("--database", default=None, metavar="DATABASE", help=database_help)


def _person_flags(parser: argparse.ArgumentParser, database_help: str) -> None:
    parser.add_argument("--login", required=True, help="the name to sign in with")
    parser.add_argument("--name", default=None, help="the name others see (default: the login)")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of asking",
    )
    _database(parser, database_help)


def read_password(from_stdin: bool, stdin: TextIO) -> str:
    if from_stdin:
        password = stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise CliError("the two passwords differ")
    try:
        return check_new(password)
    except PasswordError as exc:
        raise CliError(str(exc)) from exc


async def _with_store(database: str, work: Callable[[Store], Awaitable[str]]) -> str:
    store = store_from_url(database)
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


async def _find(store: Store, login: str) -> Person:
    person = await store.person_by_login(login)
    if person is None:
        raise CliError(f"nobody has the login {login!r}")
    return person


async def cli_audit(store: Store, action: str, target: str, detail: str = "") -> None:
    """One line in the audit log, by the person at this terminal."""
    entry = AuditEntry(int(time.time() * 1000), cli_actor(), action, target, detail)
    await store.add_audit(entry)


def run(args: argparse.Namespace, database: str, out: TextIO = sys.stdout) -> int:
    """Run ``admin create`` or a ``people`` command; the exit status."""
    command = "create" if args.command == "admin" else args.people_command
    try:
        password_hash = ""
        if command in ("create", "add"):
            # Asked before the database is opened, and hashed outside the event loop.
            password_hash = hash_password(read_password(args.password_stdin, sys.stdin))
        message = asyncio.run(_with_store(database, _command(args, command, password_hash)))
    except (CliError, AccountError) as exc:
        print(f"officepulse: {exc}", file=sys.stderr)
        return 1
    out.write(message + ("\n" if message and not message.endswith("\n") else ""))
    return 0


def _command(
    args: argparse.Namespace, command: str, password_hash: str
) -> Callable[[Store], Awaitable[str]]:
    async def create(store: Store) -> str:
        role = cast(Role, "admin" if command == "create" else args.role)
        login = args.login.strip()
        if not login:
            raise CliError("the login is empty")
        created = int(time.time() * 1000)
        await store.add_person(
            NewPerson(login, args.name or login, role, password_hash, DEFAULT_VISIBILITY, created)
        )
        await cli_audit(store, "person.add", login, role)
        return f"{login} can sign in now ({role})."

    async def listing(store: Store) -> str:
        owners = await store.agent_owners()
        lines = []
        for p in await store.people():
            agents = ", ".join(sorted(a for a, o in owners.items() if o == p.id)) or "-"
            lines.append(f"{p.login}\t{p.name}\t{p.role}\t{p.visibility}\t{agents}")
        return "\n".join(["login\tname\trole\tvisibility\tagents", *lines])

    async def set_role(store: Store) -> str:
        person = await _find(store, args.login)
        await store.update_person(person.id, PersonChange(role=cast(Role, args.role)))
        await cli_audit(store, "person.role", person.login, args.role)
        return f"{person.login} is now {args.role}."

    async def set_visibility(store: Store) -> str:
        person = await _find(store, args.login)
        await store.update_person(
            person.id, PersonChange(visibility=cast(Visibility, args.visibility))
        )
        await cli_audit(store, "person.visibility", person.login, args.visibility)
        return f"Others now see {args.visibility} of {person.login}."

    async def assign(store: Store) -> str:
        if await store.agent(args.agent_id) is None:
            raise CliError(f"no agent {args.agent_id!r} has connected to this database")
        person = None if args.login == "-" else await _find(store, args.login)
        await store.assign_agent(args.agent_id, person.id if person else None)
        owner = person.login if person else "nobody"
        await cli_audit(store, "agent.assign", args.agent_id, owner)
        return f"Agent {args.agent_id} now belongs to {owner}."

    async def remove(store: Store) -> str:
        person = await _find(store, args.login)
        await store.remove_person(person.id)
        await cli_audit(store, "person.remove", person.login)
        return f"Removed {person.login}."

    commands: dict[str, Callable[[Store], Awaitable[str]]] = {
        "create": create,
        "add": create,
        "list": listing,
        "set-role": set_role,
        "set-visibility": set_visibility,
        "assign-agent": assign,
        "remove": remove,
    }
    return commands[command]
