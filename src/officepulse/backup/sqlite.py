"""Backing up and restoring a SQLite database with SQLite's online backup API.

A backup is one ``Connection.backup`` call copying every page in one step: it reads one
snapshot (in WAL mode the server's writer goes on meanwhile, and what it commits after
the snapshot is simply not in the copy), so the copy is consistent whatever the load. The
copy is written beside its destination under a temporary name, checked, switched to a
single-file journal and renamed into place: a backup that fails leaves no half file with
the destination's name.

A restore goes the other way into a database location: the file is checked (SQLite, not
damaged, officepulse's), copied under a temporary name, opened once by the store (which
upgrades an older schema and refuses a newer one) and renamed into place. It replaces a
database that is there only when asked to (``replace``) and never one that a program has
open (a running server).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from officepulse.backup import BackupError

SQLITE_HEADER = b"SQLite format 3\x00"
# The tables every officepulse database has had since its first schema.
OUR_TABLES = ("agents", "spans")


@dataclass(frozen=True, slots=True)
class Contents:
    """What a database file holds, as the commands report it."""

    agents: int
    spans: int
    # Each agent's highest stored batch sequence number: the backup's moment, per agent.
    acked: dict[str, int]
    schema: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Done:
    contents: Contents
    seconds: float


def _uri(path: Path, mode: str) -> str:
    return f"file:{quote(str(path.absolute()))}?mode={mode}"


@contextlib.contextmanager
def _connect(path: Path, mode: str = "rw", timeout: float = 5.0) -> Iterator[sqlite3.Connection]:
    """A connection to the existing file ``path`` (never makes one, unlike connect())."""
    conn = sqlite3.connect(_uri(path, mode), uri=True, timeout=timeout, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def check_source(path: Path, noun: str) -> None:
    """Fails, naming ``noun`` ("database", "backup"), unless ``path`` is a SQLite file
    holding officepulse's tables."""
    if not path.exists():
        raise BackupError(f"there is no {noun} at {path}")
    what = f"the {noun}"
    if not path.is_file():
        raise BackupError(f"{what} {path} is not a file")
    try:
        sqlite = _is_sqlite(path)
    except OSError as exc:
        raise BackupError(f"{what} {path} cannot be read: {exc.strerror}") from exc
    if not sqlite:
        raise BackupError(f"{what} {path} is not a SQLite database")
    try:
        with _connect(path, "ro") as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{what} {path} cannot be read: {exc}") from exc
    missing = [t for t in OUR_TABLES if t not in tables]
    if missing:
        raise BackupError(
            f"{what} {path} is a SQLite database but not officepulse's "
            f"(it has no {' or '.join(missing)} table)"
        )


def contents(path: Path) -> Contents:
    # Read-write: a read-only connection to a WAL database leaves its -wal and -shm behind.
    with _connect(path) as conn:
        (agents,) = conn.execute("SELECT count(*) FROM agents").fetchone()
        (spans,) = conn.execute("SELECT count(*) FROM spans").fetchone()
        (schema,) = conn.execute("PRAGMA user_version").fetchone()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(agents)")}
        acked: dict[str, int] = {}
        if "acked_seq" in columns:  # schema 3 and later
            acked = dict(conn.execute("SELECT id, acked_seq FROM agents ORDER BY id"))
    return Contents(agents, spans, acked, schema, path.stat().st_size)


def _check_copy(path: Path) -> None:
    with _connect(path) as conn:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise BackupError(f"the copy in {path} is damaged: {'; '.join(problems[:3])}")


def _copy(source: Path, target: Path) -> None:
    """Every page of ``source`` into the new file ``target`` (0600: it holds people's
    activity and credentials' hashes), as one self-contained file."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with _connect(source) as src, _connect(target) as dst:
        # pages=-1 (all in one step): one read snapshot of the source, so the copy is
        # consistent; copying in steps would start over at each write the server makes.
        src.backup(dst, pages=-1)
        # The source is in WAL mode and the copy took its header: one file instead.
        dst.execute("PRAGMA journal_mode=DELETE")
    _check_copy(target)
    with target.open("rb") as file:
        os.fsync(file.fileno())


def _temporary(final: Path, purpose: str) -> Path:
    return final.with_name(f".{final.name}.{purpose}-{os.getpid()}")


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + "-journal")):
        leftover.unlink(missing_ok=True)


def backup(database: Path, target: Path, replace: bool = False) -> Done:
    """Copy the live database ``database`` to ``target``."""
    began = time.perf_counter()
    check_source(database, "database")
    if target.is_dir():
        raise BackupError(f"{target} is a folder: give the backup file's name")
    if target.exists() and not replace:
        raise BackupError(
            f"{target} already exists", hint="give another name, or --force to replace it"
        )
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    staged = _temporary(target, "backup")
    try:
        _copy(database, staged)
        staged.replace(target)
    except sqlite3.Error as exc:
        raise BackupError(f"the backup of {database} failed: {exc}") from exc
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        _remove(staged)
    return Done(contents(target), time.perf_counter() - began)


def in_use(path: Path) -> bool:
    """Whether another connection has ``path`` open (a running server): every connection
    to a WAL database holds a shared lock on the file for as long as it is open, so an
    exclusive lock is granted only to a lone one."""
    with _connect(path, timeout=0) as conn:
        try:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return True
            raise
        conn.execute("ROLLBACK")
    return False


def stage_restore(source: Path, database: Path) -> Path:
    """The backup ``source`` copied beside ``database`` under a temporary name, for
    ``finish_restore`` once the store has opened (upgraded) it."""
    check_source(source, "backup")
    database.parent.mkdir(parents=True, exist_ok=True)
    staged = _temporary(database, "restore")
    try:
        _copy(source, staged)
    except (sqlite3.Error, OSError) as exc:
        _remove(staged)
        raise BackupError(f"cannot restore {source} into {database}: {exc}") from exc
    return staged


def check_target(database: Path, replace: bool) -> None:
    """Fails unless ``database`` may be restored into: a fresh location, or (with
    ``replace``) a database nobody has open."""
    if database.is_dir():
        raise BackupError(f"{database} is a folder, not a database file")
    if not database.exists():
        return
    if not replace:
        raise BackupError(
            f"there is already a database at {database}",
            hint="restore into a fresh location (--database NEW), or stop the server "
            "and replace it with --force",
        )
    try:
        busy = in_use(database)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{database} cannot be checked: {exc}") from exc
    if busy:
        raise BackupError(
            f"the database {database} is open in another program (a running server?)",
            hint="stop it first; nothing was changed",
        )


def finish_restore(staged: Path, database: Path, replace: bool) -> Contents:
    """Put the staged copy in place of ``database``."""
    check_target(database, replace)  # again: a server may have started meanwhile
    # A replaced database's write-ahead log must not be replayed into the restored one.
    for side in ("-wal", "-shm", "-journal"):
        database.with_name(database.name + side).unlink(missing_ok=True)
    staged.replace(database)
    return contents(database)


def discard(staged: Path) -> None:
    _remove(staged)
    for side in ("-wal", "-shm"):
        staged.with_name(staged.name + side).unlink(missing_ok=True)
