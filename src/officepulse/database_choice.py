"""Which database a command works on, said to the person.

The ``database`` setting is easy to get wrong: a server started with ``--database X`` and
a token made without it land in two different databases, and the agent is refused. So
every command that opens the database says which one on standard error (standard output
stays what scripts read), and the server's hints spell out the command to run, with
``--database`` when the server is not on the default one.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TextIO

from officepulse.settings import ServerSettings, env_name
from officepulse.store import is_postgres

SQLITE_HEADER = b"SQLite format 3\x00"


def default_database() -> str:
    return ServerSettings().database


def shown(database: str) -> str:
    """The database as it may be printed: a SQLite file as an absolute path, a URL
    without its password."""
    if not is_postgres(database):
        return str(Path(database).expanduser().absolute())
    try:
        from officepulse.store.postgres import redact
    except ImportError:  # no psycopg: opening it says so; meanwhile no password is shown
        return "a postgresql:// URL"
    return redact(database)


def announce(command: str, database: str, origin: str | None, out: TextIO = sys.stderr) -> None:
    """One line saying which database ``command`` uses, and where that choice came from."""
    if origin is None:
        how = f"the default; choose another with --database or {env_name('database')}"
    else:
        how = f"from {origin}"
    print(f"officepulse {command}: database {shown(database)} ({how})", file=out, flush=True)


def problem(database: str) -> str | None:
    """Why ``database`` cannot be a SQLite database, or None (PostgreSQL is asked when
    it is opened). A missing file is fine: it is made."""
    if is_postgres(database):
        return None
    path = Path(database).expanduser()
    if path.is_dir():
        return f"{path} is a folder, not a SQLite database file"
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            return f"{path} cannot be made: {parent} is a file, not a folder"
    if not path.is_file():
        return None
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"{path} cannot be read: {(exc.strerror or str(exc)).lower()}"
    if head and head != SQLITE_HEADER:
        return f"{path} is not a SQLite database file"
    return None


def command(args: str, database: str) -> str:
    """``officepulse ARGS`` as the person should type it to reach ``database``: with
    ``--database`` when it is not the default (a PostgreSQL password is left out)."""
    if shown(database) == shown(default_database()):
        return f"officepulse {args}"
    return f"officepulse {args} --database {shlex.quote(shown(database))}"
