"""The packaged agent the tests in tests/project/test_package.py run: the one file
`make package` builds (PyInstaller), once for each state of the sources. It is kept in
build/package-test/<hash of the sources, the spec, pyproject.toml and the Makefile>, so
a second run of the tests reuses it.

A run that will need the file and finds none starts the build as soon as its tests are
collected, in the background: the build takes most of a minute of one core, and the
tests that come before test_package.py run meanwhile. The ``packaged`` fixture waits for
it (or builds the file itself, if no build was started). A plugin: tests/conftest.py
names it in ``pytest_plugins``, so its hooks see the whole run.
"""

from __future__ import annotations

import contextlib
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
    folders of this process's own (two runs in one checkout may build at once), then
    moved in whole: an interrupted build leaves nothing to reuse."""

    def __init__(self) -> None:
        self.key = source_hash()
        self.target = CACHE / self.key / NAME
        self._aside = CACHE / f"{self.key}.partial-{os.getpid()}"
        self._log = CACHE / f"{self.key}.log-{os.getpid()}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    def start(self) -> None:
        """Start building, unless the file is kept already."""
        if self.target.is_file() or self._proc is not None:
            return
        CACHE.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self._aside, ignore_errors=True)
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    "make",
                    "package",
                    f"PACKAGE_DIST={self._aside / 'dist'}",
                    f"PACKAGE_WORK={self._aside / 'work'}",
                ],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env(),
                start_new_session=True,  # its own group: stopped whole (make, pyinstaller)
            )
        self._started = time.monotonic()

    def result(self) -> Path:
        """The file, once built (started now if it was not)."""
        self.start()
        if self._proc is None:
            return self.target  # kept from an earlier run
        try:
            code = self._proc.wait(max(1.0, BUILD_TIMEOUT - (time.monotonic() - self._started)))
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"make package took over {BUILD_TIMEOUT:g} s") from None
        log = self._log.read_text(errors="replace")
        assert code == 0, f"make package failed ({code}):\n{log[-8000:]}"
        self._proc = None
        built = self._aside / "dist" / NAME
        assert built.is_file(), f"make package made no {built}:\n{log[-8000:]}"
        for old in CACHE.iterdir():  # one kept build is enough (others' builds aside)
            if old.is_dir() and old.name != self.key and ".partial-" not in old.name:
                shutil.rmtree(old, ignore_errors=True)
        self.target.parent.mkdir(exist_ok=True)
        if not self.target.exists():  # else another run in this checkout was first
            built.rename(self.target)
        self.cleanup()
        return self.target

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
        build.stop()


@pytest.fixture(scope="session")
def packaged(request: pytest.FixtureRequest) -> Path:
    """The one file `make package` builds from these sources (built now if not kept)."""
    build = request.session.stash.get(BUILD, None) or Build()
    return build.result()
