"""One moment for the reads of one figure (store/moment.py): what was queued is written
once, on entry; reads inside do not write what was queued since, and other tasks' reads
stay fresh. Both stores, their writers idle for an hour so that only reads write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.store.base import AgentInfo, Store
from officepulse.store.moment import one_moment, settled
from tests.support.stores import make_store

pytest_plugins = ["tests.support.postgres"]

CODE = Activity(app="Code", title="main.py")


@pytest.fixture(params=["sqlite", "postgres"])
async def idle_writer(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    store = make_store(request.param, request, tmp_path, flush_interval=3600)
    await store.open()
    yield store
    await store.close()


async def active_ms(store: Store) -> int:
    return sum(r.active_ms for r in await store.usage(0, 3_600_000, []))


async def test_reads_in_one_moment_see_what_was_queued_before_it_and_write_nothing(
    idle_writer: Store,
) -> None:
    store = idle_writer
    store.save_agent(AgentInfo("a1", "Alice", "host", "Linux", "0.1", "UTC", True, 0))
    store.save_span("a1", Span(0, 10_000, CODE, "UTC"))
    elsewhere = asyncio.Event()

    async def read_elsewhere() -> int:
        await elsewhere.wait()
        assert not settled()  # a task started before the moment is not in it
        return await active_ms(store)

    other = asyncio.create_task(read_elsewhere())
    async with one_moment(store):
        assert settled()
        store.save_span("a1", Span(0, 20_000, CODE, "UTC"))  # a heartbeat meanwhile
        # Written on entry; the heartbeat since is not written by the reads inside.
        assert await active_ms(store) == 10_000
        (status,) = await store.agents()
        assert status.current is not None
        assert status.current.end_ms == 10_000
        async with one_moment(store):  # nested: the outer moment holds
            assert await active_ms(store) == 10_000
        # Another task's read is fresh as ever: it writes the heartbeat first.
        elsewhere.set()
        assert await other == 20_000
    assert not settled()
    store.save_span("a1", Span(0, 30_000, CODE, "UTC"))
    assert await active_ms(store) == 30_000  # after the moment, reads are fresh again
