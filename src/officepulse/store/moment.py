"""One moment for the reads of one figure.

A read sees every write queued before it (``fresh``): it writes what is queued first. A
figure made of several reads (the office's time today: the agents, their zones, then the
totals) would write what was queued again before each of them, a batch of a few hundred
heartbeats' spans every few tens of milliseconds at a busy gateway, and each of its reads
would see another moment. Inside ``one_moment`` what was queued is written once, on
entry, and the reads inside see the store as of then: one write, one moment, the same
figure as reading at once.

The moment belongs to the task that entered it (a context variable): other callers'
reads meanwhile are fresh as ever."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Protocol

_SETTLED: ContextVar[bool] = ContextVar("officepulse_store_settled", default=False)


class Written(Protocol):
    async def written(self) -> None:
        """What a fresh read waits for: everything queued so far written (nothing is
        waited for while the store is failing: its writer keeps trying)."""
        ...


def settled() -> bool:
    """Whether the reads here are inside ``one_moment``: what was queued before it is
    written already, so they need not write it."""
    return _SETTLED.get()


@contextlib.asynccontextmanager
async def one_moment(store: Written) -> AsyncIterator[None]:
    """Reads inside see ``store`` as written on entry (module docstring)."""
    if _SETTLED.get():
        yield  # inside one already: its moment holds
        return
    await store.written()
    token = _SETTLED.set(True)
    try:
        yield
    finally:
        _SETTLED.reset(token)
