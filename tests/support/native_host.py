"""The browser's side of the native messaging host: running it, framing its messages, and
the agent's tab listener it talks to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from officepulse.agent.browser_tabs import Tabs
from officepulse.agent.tab_channel import TabListener
from tests.support.processes import WAIT

HELLO = b'{"type": "hello", "extension": "0.1.0"}'


def tab(title: str, url: str = "", *, focused: bool = True, audible: bool = False) -> bytes:
    message = {"type": "tab", "focused": focused, "title": title, "url": url, "audible": audible}
    return json.dumps(message).encode()


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A runtime folder with a short path (a socket's path may not pass 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="op-rt-", dir="/tmp"))
    folder.chmod(0o700)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def address(runtime: Path) -> str:
    return str(runtime / "officepulse" / "tabs.sock")


@contextlib.asynccontextmanager
async def listening(runtime: Path, tabs: Tabs, retry: float = 10.0) -> AsyncIterator[TabListener]:
    listener = TabListener(tabs, address(runtime), retry=retry)
    await listener.start()
    try:
        yield listener
    finally:
        await listener.close()


async def until(predicate: Callable[[], object], what: str) -> None:
    """Poll ``predicate`` on the event loop until it holds; fail naming ``what``."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {WAIT:g} s waiting for {what}")


def titles(tabs: Tabs) -> list[str | None]:
    return [b.tab.title if b.tab else None for b in tabs.browsers.values()]
