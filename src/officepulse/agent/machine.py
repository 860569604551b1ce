"""What the agent tells of its computer, so the server can mark what it did not record
and why (docs/protocol.md, "Honest gaps"): when the computer booted, how long it slept,
and when its wall clock was set.

Suspended time is told by two of the system's clocks, one counting it and one not:

- Linux: ``CLOCK_BOOTTIME`` counts suspended time, ``CLOCK_MONOTONIC`` does not;
- macOS: ``CLOCK_MONOTONIC`` counts it, ``CLOCK_UPTIME_RAW`` does not;
- Windows: ``GetTickCount64`` counts it, ``QueryUnbiasedInterruptTime`` does not.

Their difference is the seconds the computer was suspended since it booted; when it grows
between two readings, the computer slept in between (woken: now). The wall clock moved by
the time that passed, awake or asleep; when it moved by more (or less) than that, it was
set: a clock jump. ``Watch`` compares readings (a pure core: readings are parameters);
``read_clocks`` is the only part that asks the system.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psutil

from officepulse.protocol.messages import ClockJump, Facts, Stretch

# A wall clock that moved this many seconds more or less than the time that passed
# was set (NTP's steady corrections are far smaller).
JUMP_SECONDS = 60.0
# A sleep this short is not told (the clocks' readings are not taken at one instant).
SLEEP_SECONDS = 5.0
# Sleeps and jumps kept to tell the server again on every new connection.
KEPT = 50


@dataclass(frozen=True, slots=True)
class Reading:
    """The system's clocks at one instant, in seconds: the wall clock, a clock that stops
    while the computer is suspended, and the seconds it was suspended since it booted."""

    wall: float
    awake: float
    asleep: float


def asleep_between(with_sleep: float, without_sleep: float) -> float:
    """Seconds suspended since boot, from a clock that counts them and one that does not
    (never below 0: the two are not read at one instant)."""
    return max(0.0, with_sleep - without_sleep)


def _windows_ticks() -> tuple[float, float]:
    import ctypes

    kernel = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
    unbiased = ctypes.c_ulonglong(0)
    kernel.QueryUnbiasedInterruptTime(ctypes.byref(unbiased))  # 100 ns units, no sleep
    with_sleep = float(kernel.GetTickCount64()) / 1000.0  # milliseconds, with sleep
    return with_sleep, unbiased.value / 10_000_000


def read_clocks(platform: str = sys.platform) -> Reading:
    """The clocks now, as this platform tells them (the module's docstring)."""
    wall = time.time()
    if platform.startswith("linux"):
        awake = time.clock_gettime(time.CLOCK_MONOTONIC)
        return Reading(wall, awake, asleep_between(time.clock_gettime(time.CLOCK_BOOTTIME), awake))
    if platform == "darwin":
        uptime = getattr(time, "CLOCK_UPTIME_RAW", None)
        if uptime is not None:
            awake = time.clock_gettime(uptime)
            with_sleep = time.clock_gettime(time.CLOCK_MONOTONIC)
            return Reading(wall, awake, asleep_between(with_sleep, awake))
    if platform == "win32":
        with_sleep, awake = _windows_ticks()
        return Reading(wall, awake, asleep_between(with_sleep, awake))
    return Reading(wall, time.monotonic(), 0.0)  # elsewhere: sleeps look like clock jumps


def boot_time() -> float | None:
    """When the computer booted (seconds since the epoch), as psutil tells it."""
    try:
        return psutil.boot_time()
    except (OSError, RuntimeError):
        return None


def instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class Watch:
    """Compares each reading with the one before: a sleep when the suspended time grew,
    a clock jump when the wall clock moved otherwise than the time that passed."""

    last: Reading
    jump_seconds: float = JUMP_SECONDS
    sleep_seconds: float = SLEEP_SECONDS
    sleeps: deque[Stretch] = field(default_factory=lambda: deque(maxlen=KEPT))
    jumps: deque[ClockJump] = field(default_factory=lambda: deque(maxlen=KEPT))

    def observe(self, now: Reading) -> bool:
        """Take a reading; True when it found a sleep or a jump."""
        before, self.last = self.last, now
        slept = now.asleep - before.asleep
        passed = (now.awake - before.awake) + max(0.0, slept)
        drift = (now.wall - before.wall) - passed
        found = False
        if slept >= self.sleep_seconds:
            # Woken now; it fell asleep that long before, on the clock as it was then.
            self.sleeps.append(
                Stretch(start=instant(now.wall - drift - slept), end=instant(now.wall))
            )
            found = True
        if abs(drift) >= self.jump_seconds:
            self.jumps.append(ClockJump(at=instant(now.wall), by=round(drift, 3)))
            found = True
        return found

    def facts(self) -> Facts:
        """Everything kept, to send (the server stores each once)."""
        return Facts(
            at=instant(self.last.wall),
            asleep=self.last.asleep,
            sleeps=list(self.sleeps),
            clock_jumps=list(self.jumps),
        )


async def watch_machine(
    tell: Callable[[Facts], None],
    read: Callable[[], Reading] = read_clocks,
    every: float = 2.0,
) -> None:
    """Read the clocks every ``every`` seconds, and ``tell`` the link what was found."""
    watch = Watch(read())
    while True:
        await asyncio.sleep(every)
        if watch.observe(read()):
            tell(watch.facts())
