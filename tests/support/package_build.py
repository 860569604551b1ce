"""The packaged agent the tests in tests/project/test_package.py run: the one file
`make package` builds (PyInstaller), once for each state of the sources. It is kept in
build/package-test/<hash of the sources, the spec, pyproject.toml and the Makefile>, so
a second run of the tests reuses it.

A run that will need the file and finds none starts the build as soon as its tests are
collected, in the background: the build takes most of a minute of one core, and the
tests that come before test_package.py run meanwhile. The ``packaged`` fixture waits for
it (or builds the file itself, if no build was started). A plugin: tests/conftest.py
names it in ``pytest_plugins``, so its hooks see the whole run.

One build at a time, whoever asks: each of `make test`'s worker processes (pytest-xdist)
collects every test, and another run may share the checkout. The build holds a lock
(CACHE/build.lock, the OS's: gone with the build, however it ends) from its start until
the file is in place; a process that finds it held waits for the lock, then takes the
file, or builds it itself if that build failed or was stopped (or was of other sources).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import paths
from tests.support.processes import clean_env

ROOT = paths.ROOT
CACHE = ROOT / "build" / "package-test"
NAME = "officepulse-agent"
BUILD_TIMEOUT = 1200.0  # seconds: a loaded machine, and a fresh clone's first build
# The build, then the file moved into place by the same process: the lock it holds is
# released only once the file is there (or the build has failed).
BUILD_SCRIPT = """set -e
make package PACKAGE_DIST="$1/dist" PACKAGE_WORK="$1/work"
mkdir -p "$(dirname "$2")"
mv "$1/dist/$(basename "$2")" "$2"
rm -rf "$1"
"""


def source_hash() -> str:
    """What the file is built from: when none of it changed, the file is the same."""
    digest = hashlib.sha256()
    files = [ROOT / "pyproject.toml", ROOT / "Makefile"]
    files += sorted((ROOT / "packaging").rglob("*")) + sorted(
        (ROOT / "src" / "officepulse").rglob("*")
    )
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


class Build:
    """`make package` for the sources as they are, into CACHE/<hash>. Built aside, in
    folders of this process's own, then moved in whole: an interrupted build leaves
    nothing to reuse."""

    def __init__(self) -> None:
        self.key = source_hash()
        self.target = CACHE / self.key / NAME
        self._lock = CACHE / "build.lock"  # one build at a time, of any sources
        self._aside = CACHE / f"{self.key}.partial-{os.getpid()}"
        self._log = CACHE / f"{self.key}.log-{os.getpid()}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start building, unless the file is kept already or another process is
        building it (it holds the lock)."""
        if self.target.is_file() or self._proc is not None:
            return
        CACHE.mkdir(parents=True, exist_ok=True)
        lock = os.open(self._lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # being built elsewhere: result() waits for it
            if self.target.is_file():
                return  # built while we looked
            shutil.rmtree(self._aside, ignore_errors=True)
            with self._log.open("wb") as log:
                self._proc = subprocess.Popen(
                    ["sh", "-c", BUILD_SCRIPT, "build", str(self._aside), str(self.target)],
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=clean_env(),
                    start_new_session=True,  # its own group: stopped whole (make, pyinstaller)
                    pass_fds=[lock],  # the build holds the lock (a flock: until it ends)
                )
        finally:
            os.close(lock)  # ours; the build's copy keeps the lock

    def result(self) -> Path:
        """The file, once built: by this process's build, by another's (waited for), or
        by a build started now."""
        deadline = time.monotonic() + BUILD_TIMEOUT
        while not self.target.is_file():
            self.start()
            if self._proc is not None:
                self._finish(deadline)
            elif not self._wait_for_lock(deadline):
                raise AssertionError(
                    f"another process's make package held {self._lock} for over {BUILD_TIMEOUT:g} s"
                )
        for old in CACHE.iterdir():  # one kept build is enough (others' builds aside)
            if old.is_dir() and old.name != self.key and ".partial-" not in old.name:
                shutil.rmtree(old, ignore_errors=True)
        return self.target

    def _finish(self, deadline: float) -> None:
        """Wait for this process's build; fail with its log if it failed."""
        assert self._proc is not None
        try:
            code = self._proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"make package took over {BUILD_TIMEOUT:g} s") from None
        self._proc = None
        log = self._log.read_text(errors="replace")
        assert code == 0, f"make package failed ({code}):\n{log[-8000:]}"
        assert self.target.is_file(), f"make package made no {self.target}:\n{log[-8000:]}"
        self.cleanup()

    def _wait_for_lock(self, deadline: float) -> bool:
        """Wait until no build holds the lock; False if one still does at ``deadline``."""
        lock = os.open(self._lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        return False
                    time.sleep(0.2)
                else:
                    return True  # released as the fd closes
        finally:
            os.close(lock)

    def wait_or_stop(self, session: pytest.Session) -> None:
        """At the end of this process's tests: a build still running is another worker's
        to take (it waits for the lock), unless the run was interrupted; run alone, no
        test of this run needs it any more."""
        if self._proc is None:
            return
        interrupted = session.shouldstop or session.shouldfail
        if os.environ.get("PYTEST_XDIST_WORKER") and not interrupted:
            with contextlib.suppress(AssertionError):  # the waiting worker says why
                self._finish(time.monotonic() + BUILD_TIMEOUT)
        self.stop()

    def stop(self) -> None:
        """Stop a build still running (the run ended before it needed the file)."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._proc = None
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self._aside, ignore_errors=True)
        self._log.unlink(missing_ok=True)


BUILD = pytest.StashKey[Build]()


def pytest_collection_finish(session: pytest.Session) -> None:
    if any("packaged" in getattr(item, "fixturenames", ()) for item in session.items):
        build = Build()
        session.stash[BUILD] = build
        build.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    build = session.stash.get(BUILD, None)
    if build is not None:
        build.wait_or_stop(session)


@pytest.fixture(scope="session")
def packaged(request: pytest.FixtureRequest) -> Path:
    """The one file `make package` builds from these sources (built now if not kept)."""
    build = request.session.stash.get(BUILD, None) or Build()
    return build.result()
