"""Shared fixtures: a real officepulse server process on a free port, and real
agent processes. Nothing here is mocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# The helpers in tests/support assert as the tests do: pytest rewrites their asserts too
# (the values in the message), if it is told before they are first imported, here.
pytest.register_assert_rewrite("tests.support")

from tests.support.servers import ServerProcess, start_server  # noqa: E402

pytest_plugins = ["tests.support.xserver", "tests.support.package_build"]


# Hypothesis's default 200 ms deadline per example fails tests on a loaded machine,
# where one example can wait that long for a core: time is not what they check.
settings.register_profile("officepulse", deadline=None)
settings.load_profile("officepulse")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test`'s workers take whole files, and heavy files together
    (tests/support/scheduling.py)."""
    if config.getoption("dist") != "loadfile":
        return None
    from tests.support.scheduling import FileScheduling

    return FileScheduling(config, log)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def aw_installed() -> None:
    """ActivityWatch's real server and client, which `make test` installs in .venv-aw."""
    aw = Path(__file__).parent.parent / ".venv-aw" / "bin" / "aw-server"
    assert aw.exists(), f"{aw} is missing: run `make test` (it installs ActivityWatch there)"
