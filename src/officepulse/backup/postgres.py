"""Backing up and restoring a PostgreSQL database with PostgreSQL's own tools.

``pg_dump --format=custom`` reads one snapshot of the database while the servers keep
writing (a consistent copy, as SQLite's backup API gives), and ``pg_restore`` loads it
in one transaction. Their major version must be at least the server's, so the folder
holding them can be named (``--pg-bin``). The URL's password goes to them in
``PGPASSWORD``, never on their command line, where any user of the machine could read it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from officepulse.backup import BackupError

DUMP_HEADER = b"PGDMP"


@dataclass(frozen=True, slots=True)
class Command:
    argv: list[str]
    env: dict[str, str]  # added to the environment: PGPASSWORD when the URL has one

    def shown(self) -> str:
        """The command as a person would type it (the password left out)."""
        prefix = "PGPASSWORD=... " if self.env else ""
        return prefix + shlex.join(self.argv)


def _conninfo(url: str) -> tuple[str, dict[str, str]]:
    """libpq's connection string for ``url`` without the password, and the environment
    that gives the password."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    password = params.pop("password", None)
    return make_conninfo(**params), ({"PGPASSWORD": password} if password else {})


def program(name: str, bin_dir: Path | None) -> str | None:
    """Where ``name`` (pg_dump, pg_restore) is: in ``bin_dir`` if given, else on PATH."""
    if bin_dir is not None:
        candidate = bin_dir / name
        return str(candidate) if os.access(candidate, os.X_OK) else None
    return shutil.which(name)


def dump_command(url: str, target: Path, pg_dump: str = "pg_dump") -> Command:
    conninfo, env = _conninfo(url)
    argv = [pg_dump, "--format=custom", "--no-owner", "--file", str(target), "--dbname", conninfo]
    return Command(argv, env)


def restore_command(source: Path, url: str, clean: bool, pg_restore: str = "pg_restore") -> Command:
    conninfo, env = _conninfo(url)
    argv = [pg_restore, "--no-owner", "--exit-on-error", "--single-transaction"]
    if clean:
        argv += ["--clean", "--if-exists"]
    return Command([*argv, "--dbname", conninfo, str(source)], env)


def _run(command: Command, what: str, shown: Command | None = None) -> None:
    """Run ``command``; a failure says ``shown`` (the command as the person would type
    it: the backup's own name, not the temporary one written first)."""
    try:
        done = subprocess.run(
            command.argv,
            env={**os.environ, **command.env},
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise BackupError(f"cannot run {command.argv[0]}: {exc.strerror}") from exc
    if done.returncode != 0:
        said = done.stderr.strip() or f"exit status {done.returncode}"
        said_command = (shown or command).shown()
        raise BackupError(f"{what} failed: {said}", hint=f"the command was: {said_command}")


def _needed(name: str, bin_dir: Path | None, command: Command) -> str:
    found = program(name, bin_dir)
    if found is None:
        where = f"in {bin_dir}" if bin_dir is not None else "on PATH"
        raise BackupError(
            f"{name} is not {where}",
            hint=f"install PostgreSQL's client programs (of the server's version or newer; "
            f"--pg-bin names their folder), or run it yourself: {command.shown()}",
        )
    return found


@dataclass(frozen=True, slots=True)
class Dumped:
    command: Command
    size_bytes: int
    seconds: float


def backup(url: str, target: Path, bin_dir: Path | None, replace: bool = False) -> Dumped:
    if target.exists() and not replace:
        raise BackupError(
            f"{target} already exists", hint="give another name, or --force to replace it"
        )
    staged = target.with_name(f".{target.name}.backup-{os.getpid()}")
    pg_dump = _needed("pg_dump", bin_dir, dump_command(url, target))
    shown = dump_command(url, target, pg_dump)
    began = time.perf_counter()
    try:
        _run(dump_command(url, staged, pg_dump), "pg_dump", shown)
        staged.chmod(0o600)
        staged.replace(target)
    finally:
        staged.unlink(missing_ok=True)
    return Dumped(shown, target.stat().st_size, time.perf_counter() - began)


def _database_state(url: str) -> tuple[bool, int]:
    """Whether officepulse's tables are in the database, and how many other sessions
    are connected to it (servers, a psql)."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT to_regclass('agents') IS NOT NULL, (SELECT count(*) FROM "
                "pg_stat_activity WHERE datname = current_database() AND "
                "pid <> pg_backend_pid())"
            ).fetchone()
    except psycopg.Error as exc:
        raise BackupError(f"cannot connect to the database to restore into: {exc}") from exc
    assert row is not None
    return bool(row[0]), int(row[1])


def restore(source: Path, url: str, bin_dir: Path | None, replace: bool) -> Command:
    """Load the dump ``source`` into the database ``url``; the command that did it."""
    if not source.is_file():
        raise BackupError(f"there is no backup at {source}")
    with source.open("rb") as file:
        if file.read(len(DUMP_HEADER)) != DUMP_HEADER:
            raise BackupError(
                f"{source} is not a pg_dump archive (officepulse backup of a PostgreSQL "
                "database makes one; a SQLite backup restores into a SQLite database)"
            )
    ours, others = _database_state(url)
    if ours and not replace:
        raise BackupError(
            "the database to restore into already holds officepulse's tables",
            hint="restore into a new, empty database (createdb), or stop every server "
            "and replace it with --force",
        )
    if others:
        raise BackupError(
            f"{others} other session(s) are connected to the database to restore into "
            "(running servers?)",
            hint="stop them first; nothing was changed",
        )
    pg_restore = _needed("pg_restore", bin_dir, restore_command(source, url, ours))
    command = restore_command(source, url, ours, pg_restore)
    _run(command, "pg_restore")
    return command
