"""Retention: raw spans older than ``retention_days`` are deleted, once at start-up and
then every hour; rollups are kept, so totals never change (Pruning.prune)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from officepulse.store.base import DAY_MS
from officepulse.store.spans import Pruning

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # seconds; raw spans live at most this much longer than asked


def horizon_ms(now_ms: int, days: int) -> int:
    """The instant before which raw spans are no longer kept."""
    return now_ms - days * DAY_MS


class Retention:
    def __init__(
        self, store: Pruning, days: int, clock: Callable[[], float], every: float = PRUNE_EVERY
    ) -> None:
        self.store = store
        self.days = days
        self.clock = clock
        self.every = every
        self._also: list[Callable[[int], Awaitable[int]]] = []

    def horizon_ms(self) -> int:
        """The instant before which raw activity is no longer kept now."""
        return horizon_ms(int(self.clock() * 1000), self.days)

    def prune_also(self, prune: Callable[[int], Awaitable[int]]) -> None:
        """Others that keep raw activity (the ActivityWatch tables) prune with the spans:
        ``prune(before_ms)`` deletes what is older and says how many rows it deleted."""
        self._also.append(prune)

    async def prune_once(self) -> int:
        before = self.horizon_ms()
        deleted = await self.store.prune(before)
        for prune in self._also:
            deleted += await prune(before)
        if deleted:
            log.info(
                "retention: deleted %d raw spans older than %d days (totals are kept)",
                deleted,
                self.days,
            )
        return deleted

    async def run(self) -> None:
        while True:
            try:
                await self.prune_once()
            except Exception:
                # A store that cannot prune now (locked, restarting) can later; serving
                # goes on either way.
                log.exception("retention: pruning failed; trying again in an hour")
            await asyncio.sleep(self.every)
