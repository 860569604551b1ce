"""``officepulse backup PATH`` and ``officepulse restore PATH``, on the database named by
the same ``database`` setting as the server's (backup/ does the work).

A backup is taken while the server runs; a restore goes into a fresh location (or, with
``--force``, over a database no server has open), and the store opens the result once
before it is put in place, so that an older backup comes out upgraded and one newer than
this officepulse is refused before anything is replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from officepulse.backup import BackupError
from officepulse.cli.database import add_database_flag, chosen, with_store
from officepulse.errors import StoreUnavailable
from officepulse.store import is_postgres

PG_BIN_HELP = (
    "folder holding pg_dump and pg_restore, of the PostgreSQL server's version or newer "
    "(default: found on PATH); PostgreSQL databases only"
)


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    texts: tuple[str, str, str, str],
) -> argparse.ArgumentParser:
    """``name`` PATH [--force] [--pg-bin DIR] [--database DATABASE]; ``texts``: its help,
    description, PATH's help and --force's help."""
    summary, description, path_help, force_help = texts
    parser = sub.add_parser(name, help=summary, description=description)
    parser.add_argument("path", type=Path, metavar="PATH", help=path_help)
    parser.add_argument("--force", action="store_true", help=force_help)
    parser.add_argument("--pg-bin", type=Path, default=None, metavar="DIR", help=PG_BIN_HELP)
    add_database_flag(parser)
    return parser


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = _command(
        sub,
        "backup",
        (
            "copy the database to a file, while the server runs",
            "Copy the database to PATH while the server keeps running: SQLite's online "
            "backup (one consistent snapshot), or pg_dump for PostgreSQL.",
            "the backup file to write",
            "replace PATH if it exists",
        ),
    )
    backup.set_defaults(run=run_backup)
    restore = _command(
        sub,
        "restore",
        (
            "put a backup in place as the database (the server stopped)",
            "Restore the backup PATH as the database: into a fresh location, or with "
            "--force over a database that no server has open.",
            "a file `officepulse backup` made",
            "replace the database if there is one already",
        ),
    )
    restore.set_defaults(run=run_restore)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def run_backup(args: argparse.Namespace) -> int:
    database = chosen(args, "backup")
    if database is None:
        return 2
    try:
        if is_postgres(database):
            from officepulse.backup import postgres

            dumped = postgres.backup(database, args.path, args.pg_bin, args.force)
            print(
                f"backed up the PostgreSQL database to {args.path} with pg_dump: "
                f"{_megabytes(dumped.size_bytes)} in {dumped.seconds:.2f} s"
            )
            print(f"  ran: {dumped.command.shown()}")
            print(f"  restore it with: officepulse restore {args.path} --database URL")
            return 0
        from officepulse.backup import sqlite

        done = sqlite.backup(Path(database).expanduser(), args.path, args.force)
    except BackupError as exc:
        print(f"officepulse backup: {exc}", file=sys.stderr)
        return 1
    had = done.contents
    print(
        f"backed up {database} to {args.path}: {had.spans} spans of {had.agents} agents, "
        f"{_megabytes(had.size_bytes)} in {done.seconds:.2f} s (schema {had.schema})"
    )
    # Each agent resumes from here after a restore: its journal sends what came after.
    for agent_id, seq in had.acked.items():
        print(f"  agent {agent_id}: batches up to {seq}")
    return 0


async def _opened(database: str) -> None:
    """Open the store on ``database`` once: migrations run, a newer schema is refused."""

    async def nothing(_store: object) -> None:
        return None

    try:
        await with_store(database, nothing)
    except StoreUnavailable as exc:
        raise BackupError(f"the restored database cannot be used: {exc}") from exc


def run_restore(args: argparse.Namespace) -> int:
    database = chosen(args, "restore")
    if database is None:
        return 2
    try:
        if is_postgres(database):
            from officepulse.backup import postgres

            command = postgres.restore(args.path, database, args.pg_bin, args.force)
            asyncio.run(_opened(database))
            print(f"restored {args.path} with pg_restore\n  ran: {command.shown()}")
            return 0
        from officepulse.backup import sqlite

        target = Path(database).expanduser()
        sqlite.check_target(target, args.force)
        staged = sqlite.stage_restore(args.path, target)
        try:
            asyncio.run(_opened(str(staged)))
            had = sqlite.finish_restore(staged, target, args.force)
        finally:
            sqlite.discard(staged)
    except BackupError as exc:
        print(f"officepulse restore: {exc}", file=sys.stderr)
        return 1
    print(
        f"restored {args.path} into {target}: {had.spans} spans of {had.agents} agents "
        f"(schema {had.schema})"
    )
    print(f"  start the server on it: officepulse server --database {target}")
    return 0
