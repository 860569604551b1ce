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

from officepulse.cli.database import add_database_flag, audit, chosen, with_store
from officepulse.errors import CliError
from officepulse.security.passwords import PasswordError, check_new, hash_password
from officepulse.store.accounts import (
    DEFAULT_VISIBILITY,
    ROLES,
    VISIBILITIES,
    AccountError,
    NewPerson,
    PeopleAdmin,
    Person,
    PersonChange,
    Role,
    Visibility,
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = sub.add_parser(
        "admin",
        help="create the first admin (or another)",
        description="Create an admin account. Once a person account exists, everyone "
        "signs in to see the office.",
    )
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="create")
    create = admin_sub.add_parser("create", help="create an admin account")
    _person_flags(create)
    admin.set_defaults(run=run)

    people = sub.add_parser(
        "people",
        help="list and change people's accounts",
        description="People's accounts: list, add, set role or visibility, assign agents, remove.",
    )
    people_sub = people.add_subparsers(dest="people_command", required=True, metavar="COMMAND")
    listing = people_sub.add_parser("list", help="everyone, with role, visibility and agents")
    add_database_flag(listing)
    add = people_sub.add_parser("add", help="add a person")
    _person_flags(add)
    add.add_argument("--role", choices=ROLES, default="member", help="default: member")
    role = people_sub.add_parser("set-role", help="make a person admin or member")
    role.add_argument("login")
    role.add_argument("role", choices=ROLES)
    add_database_flag(role)
    vis = people_sub.add_parser("set-visibility", help="what others see of a person")
    vis.add_argument("login")
    vis.add_argument("visibility", choices=VISIBILITIES)
    add_database_flag(vis)
    assign = people_sub.add_parser(
        "assign-agent", help="say whose an agent is (its detail is theirs)"
    )
    assign.add_argument("agent_id")
    assign.add_argument("login", help="the person, or - for nobody")
    add_database_flag(assign)
    remove = people_sub.add_parser("remove", help="remove a person (their agents stay)")
    remove.add_argument("login")
    add_database_flag(remove)
    people.set_defaults(run=run)


def _person_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--login", required=True, help="the name to sign in with")
    parser.add_argument("--name", default=None, help="the name others see (default: the login)")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of asking",
    )
    add_database_flag(parser)


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


async def _find(store: PeopleAdmin, login: str) -> Person:
    person = await store.person_by_login(login)
    if person is None:
        raise CliError(f"nobody has the login {login!r}")
    return person


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Run ``admin create`` or a ``people`` command; the exit status."""
    command = "create" if args.command == "admin" else args.people_command
    database = chosen(args, f"{args.command} {command}")
    if database is None:
        return 2
    try:
        password_hash = ""
        if command in ("create", "add"):
            # Asked before the database is opened, and hashed outside the event loop.
            password_hash = hash_password(read_password(args.password_stdin, sys.stdin))
        message = asyncio.run(with_store(database, _command(args, command, password_hash)))
    except (CliError, AccountError) as exc:
        print(f"officepulse: {exc}", file=sys.stderr)
        return 1
    out.write(message + ("\n" if message and not message.endswith("\n") else ""))
    return 0


def _command(
    args: argparse.Namespace, command: str, password_hash: str
) -> Callable[[PeopleAdmin], Awaitable[str]]:
    async def create(store: PeopleAdmin) -> str:
        role = cast(Role, "admin" if command == "create" else args.role)
        login = args.login.strip()
        if not login:
            raise CliError("the login is empty")
        created = int(time.time() * 1000)
        await store.add_person(
            NewPerson(login, args.name or login, role, password_hash, DEFAULT_VISIBILITY, created)
        )
        await audit(store, "person.add", login, role)
        return f"{login} can sign in now ({role})."

    async def listing(store: PeopleAdmin) -> str:
        owners = await store.agent_owners()
        lines = []
        for p in await store.people():
            agents = ", ".join(sorted(a for a, o in owners.items() if o == p.id)) or "-"
            lines.append(f"{p.login}\t{p.name}\t{p.role}\t{p.visibility}\t{agents}")
        return "\n".join(["login\tname\trole\tvisibility\tagents", *lines])

    async def set_role(store: PeopleAdmin) -> str:
        person = await _find(store, args.login)
        await store.update_person(person.id, PersonChange(role=cast(Role, args.role)))
        await audit(store, "person.role", person.login, args.role)
        return f"{person.login} is now {args.role}."

    async def set_visibility(store: PeopleAdmin) -> str:
        person = await _find(store, args.login)
        await store.update_person(
            person.id, PersonChange(visibility=cast(Visibility, args.visibility))
        )
        await audit(store, "person.visibility", person.login, args.visibility)
        return f"Others now see {args.visibility} of {person.login}."

    async def assign(store: PeopleAdmin) -> str:
        if await store.agent(args.agent_id) is None:
            raise CliError(f"no agent {args.agent_id!r} has connected to this database")
        person = None if args.login == "-" else await _find(store, args.login)
        await store.assign_agent(args.agent_id, person.id if person else None)
        owner = person.login if person else "nobody"
        await audit(store, "agent.assign", args.agent_id, owner)
        return f"Agent {args.agent_id} now belongs to {owner}."

    async def remove(store: PeopleAdmin) -> str:
        person = await _find(store, args.login)
        await store.remove_person(person.id)
        await audit(store, "person.remove", person.login)
        return f"Removed {person.login}."

    commands: dict[str, Callable[[PeopleAdmin], Awaitable[str]]] = {
        "create": create,
        "add": create,
        "list": listing,
        "set-role": set_role,
        "set-visibility": set_visibility,
        "assign-agent": assign,
        "remove": remove,
    }
    return commands[command]
