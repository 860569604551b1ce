"""A desktop replayed from a script of samples, for the agent's driver without a real desktop."""

from __future__ import annotations

from collections.abc import Iterator

from officepulse.agent.sources.base import SourceUnavailable, WindowSample


class ReplayedDesktop:
    """One window (or None) per poll, then SourceUnavailable; idle time per poll too."""

    def __init__(self, windows: list[WindowSample | None], idle: list[float] | None = None):
        self.windows: Iterator[WindowSample | None] = iter(windows)
        self.idle = list(idle or [0.0] * len(windows))
        self.polls = 0

    def active_window(self) -> WindowSample | None:
        try:
            window = next(self.windows)
        except StopIteration:
            raise SourceUnavailable("the replay is over") from None
        self.polls += 1
        return window

    def idle_seconds(self) -> float:
        return self.idle[self.polls - 1]

    def locked(self) -> bool:
        return False

    def close(self) -> None:
        pass
