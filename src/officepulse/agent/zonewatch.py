"""The computer's time zone, looked up now and then rather than on every poll.

Finding the zone reads files (``/etc/localtime``, the registry), so the agent
asks once a minute of observed time, and at once when observed time jumps
(the laptop woke up somewhere else, the clock was set). Pure: time is a
parameter, the lookup is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

CHECK_EVERY_MS = 60_000


@dataclass
class ZoneWatch:
    lookup: Callable[[], str]
    every_ms: int = CHECK_EVERY_MS
    _zone: str | None = field(default=None, repr=False)
    _checked_ms: int = field(default=0, repr=False)

    def __call__(self, ts_ms: int) -> str:
        """The zone in effect at ``ts_ms`` (observations come in time order)."""
        elapsed = ts_ms - self._checked_ms
        if self._zone is None or not 0 <= elapsed < self.every_ms:
            self._zone = self.lookup()
            self._checked_ms = ts_ms
        return self._zone
