"""How a store's writer lives through failing writes.

A write fails for one of two kinds of reason. A *transient* one (the disk is full, the
database is locked, the PostgreSQL connection was lost) goes away by itself: the writer
keeps everything and tries again, waiting longer each time (``backoff``), and the episode
is logged as one (``FailureLog``): once when it starts, a count now and then while it
lasts, once when it ends; never a traceback per attempt. A *lasting* one (a constraint, a
value the database cannot hold, a bug that one write's data sets off) would fail the same
way for ever: the writer then writes each part of what it had on its own, so that the one
bad write is found, refused (``StoreRefused``) and reported, and everything else lands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from officepulse.errors import StoreError

# Back-off between attempts while a store fails: 0.1 s doubling up to this.
MAX_BACKOFF_S = 5.0
# How often a count is logged while a store keeps failing.
REPORT_EVERY_S = 60.0


class StoreRefused(StoreError):
    """A write that the store can never make (its data breaks a constraint, or cannot be
    stored at all). What it would have stored is dropped; it is not tried again, and the
    sequence number of a refused ``commit_spans`` batch counts as taken, so that the
    agent's journal moves on past it."""


def backoff(attempts: int) -> float:
    """Seconds to wait before the next attempt after ``attempts`` failed ones in a row."""
    return min(0.1 * (1 << min(attempts, 16)), MAX_BACKOFF_S)


def reason(exc: BaseException) -> str:
    """An error in one line, for a log line or a refusal."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@dataclass
class FailureLog:
    """Logs a store's failing writes once per episode (pure: ``now`` is a parameter, in
    seconds): "failing: <reason>; retrying" at the first failure, "still failing" with a
    count at most every ``every_s`` while it lasts, and "recovered after N failed attempts
    over S s" at the first success after it."""

    name: str
    logger: logging.Logger
    every_s: float = REPORT_EVERY_S
    attempts: int = 0
    since: float = 0.0
    said: float = 0.0
    last_reason: str = field(default="")

    @property
    def failing(self) -> bool:
        return self.attempts > 0

    def failed(self, why: str, now: float) -> None:
        if self.attempts == 0:
            self.since = self.said = now
            self.logger.error("%s failing: %s; retrying", self.name, why)
        elif now - self.said >= self.every_s:
            self.said = now
            self.logger.error(
                "%s still failing: %d failed attempts over %.0f s; the last: %s",
                self.name,
                self.attempts + 1,
                now - self.since,
                why,
            )
        self.attempts += 1
        self.last_reason = why

    def succeeded(self, now: float) -> None:
        if self.attempts == 0:
            return
        self.logger.warning(
            "%s recovered after %d failed attempts over %.1f s",
            self.name,
            self.attempts,
            now - self.since,
        )
        self.attempts = 0

    async def attempt(self, work: Callable[[], Awaitable[object]]) -> None:
        """Run ``work`` once, as a loop that reads the store now and then does: a failure
        counts in the episode (and is not raised), a success ends it."""
        loop = asyncio.get_running_loop()
        try:
            await work()
        except Exception as exc:
            self.failed(reason(exc), loop.time())
        else:
            self.succeeded(loop.time())
