"""Drivers turn a source into a stream of heartbeats for the link.

``DesktopDriver`` polls the live desktop; ``ScriptedDriver`` replays a
timeline, in real time or faster. Both hand heartbeats to ``emit``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from officepulse.agent.heartbeats import HeartbeatPolicy
from officepulse.agent.sources.base import IdleSource, SourceUnavailable, WindowSource
from officepulse.agent.timeline import Timeline
from officepulse.protocol.messages import Activity, Heartbeat

log = logging.getLogger(__name__)
Emit = Callable[[Heartbeat], Awaitable[None]]
Clock = Callable[[], float]


def sample_activity(
    window: WindowSource, idle: IdleSource | None, idle_threshold: float
) -> tuple[Activity, float] | None:
    """What is in front now, and the seconds since the last input."""
    sample = window.active_window()
    if sample is None:
        return None
    idle_for = idle.idle_seconds() if idle is not None else 0.0
    activity = Activity(
        app=sample.app[:256],
        title=sample.title[:4096],
        process=sample.process[:256] if sample.process else None,
        pid=sample.pid,
        idle=idle_for >= idle_threshold,
    )
    return activity, idle_for


class DesktopDriver:
    def __init__(
        self,
        window: WindowSource,
        idle: IdleSource | None,
        *,
        poll_interval: float,
        idle_threshold: float,
        clock: Clock = time.time,
    ) -> None:
        self.window = window
        self.idle = idle
        self.poll_interval = poll_interval
        self.idle_threshold = idle_threshold
        self.clock = clock

    async def run(self, emit: Emit, interval: float) -> None:
        policy = HeartbeatPolicy(interval)
        last_idle = False
        span_start: datetime | None = None
        while True:
            now = datetime.fromtimestamp(self.clock(), UTC)
            seen = sample_activity(self.window, self.idle, self.idle_threshold)
            if seen is not None:
                activity, idle_for = seen
                ts = now
                if activity.idle != last_idle:
                    # Going away and coming back both happened at the last input, not
                    # when this poll noticed: an idle stretch starts when the person
                    # stopped, so the minutes before the threshold stay with the app.
                    ts = now - timedelta(seconds=idle_for)
                    if span_start is not None and ts < span_start:
                        # The last input came before what we last reported began
                        # (say, before the agent started): start from there.
                        ts = span_start
                last_idle = activity.idle
                switched = activity != policy.last_activity
                beat = policy.observe(ts, activity)
                if beat is not None:
                    if switched:
                        span_start = beat.ts
                    await emit(beat)
            await asyncio.sleep(self.poll_interval)


class ScriptedDriver:
    def __init__(
        self,
        timeline: Timeline,
        *,
        start: datetime | None,
        speed: float,
        loop: bool,
        clock: Clock = time.time,
    ) -> None:
        self.timeline = timeline
        self.start = start
        self.speed = speed
        self.loop = loop
        self.clock = clock

    async def run(self, emit: Emit, interval: float) -> None:
        origin = self.start or datetime.fromtimestamp(self.clock(), UTC)
        wall0 = self.clock()
        start = origin
        while True:
            for beat in self.timeline.heartbeats(start, interval):
                if self.speed > 0:
                    due = wall0 + (beat.ts - origin).total_seconds() / self.speed
                    delay = due - self.clock()
                    if delay > 0:
                        await asyncio.sleep(delay)
                else:
                    await asyncio.sleep(0)  # let the link send while we produce
                await emit(beat)
            if not self.loop:
                return
            start += timedelta(seconds=self.timeline.duration)


class NoDesktop:
    """Stands in when the desktop cannot be read: says so once, then looks again
    quietly now and then, in case a display appears."""

    def __init__(self, reason: str, retry: Callable[[], DesktopDriver], every: float = 60) -> None:
        self.reason = reason
        self.retry = retry
        self.every = every

    async def run(self, emit: Emit, interval: float) -> None:
        log.warning(
            "cannot read this desktop: %s. The agent stays connected, so you show as online "
            "without an activity.",
            self.reason,
        )
        while True:
            await asyncio.sleep(self.every)
            try:
                driver = self.retry()
            except SourceUnavailable:
                continue
            log.info("the desktop can be read now")
            await driver.run(emit, interval)
            return
