"""An agent's Link driven in-process: its hello, closed spans in its journal, the link
running as a task, and waiting for what it does (tests/agent/test_link.py and the
reconnect tests)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from officepulse.agent.journal import Journal
from officepulse.agent.link import Link
from officepulse.core.spans import Span
from officepulse.protocol.messages import PROTOCOL_VERSION, Activity, Hello


def hello(agent_id: str) -> Hello:
    return Hello(
        v=PROTOCOL_VERSION,
        agent_id=agent_id,
        name=agent_id.title(),
        host="test-host",
        platform="Linux",
        agent_version="test",
        tz="UTC",
    )


# Spans are a second each from an hour ago, one after another by sequence number.
BASE_MS = int(time.time() * 1000) - 3_600_000


def record(journal: Journal, count: int) -> int:
    """``count`` more closed spans into the journal; returns the last seq."""
    first = journal.next_seq
    spans = [
        Span(BASE_MS + seq * 1000, BASE_MS + seq * 1000 + 1000, Activity(app=f"a{seq % 3}"), "UTC")
        for seq in range(first, first + count)
    ]
    return journal.append(spans, None)


async def until(predicate: Callable[[], object], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(link: Link) -> AsyncIterator[Link]:
    task = asyncio.create_task(link.run())
    try:
        yield link
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
