"""Drivers turn a source into a stream of heartbeats for the link.

``DesktopDriver`` polls the live desktop; ``ScriptedDriver`` replays a
timeline, in real time or faster. Both hand heartbeats to ``emit``.

Each look at the desktop goes window → idle → introspection (skipped for apps
on either privacy list) → privacy lists (``privacy.apply_privacy``) → fitted
to the protocol's lengths. Nothing seen leaves this module before the privacy
lists have been applied, and redaction sees whole texts, before any cut.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from officepulse.agent.heartbeats import HeartbeatPolicy
from officepulse.agent.pause import Pause, hold
from officepulse.agent.privacy import PrivacyRules, apply_privacy
from officepulse.agent.sources.base import IdleSource, SourceUnavailable, WindowSample, WindowSource
from officepulse.agent.timeline import Timeline
from officepulse.core.spans import to_ms
from officepulse.protocol.messages import Activity, Heartbeat, Media

if TYPE_CHECKING:
    from officepulse.agent.browser_tabs import Tabs
    from officepulse.agent.introspect import Introspector

log = logging.getLogger(__name__)
Emit = Callable[[Heartbeat], Awaitable[None]]
Clock = Callable[[], float]
# Adds what plugins can tell about the window in front (tab URL, terminal program,
# editor project, media) to the activity the window source gave: an
# ``introspect.Introspector``, or anything called the same way.
Introspect = Callable[[WindowSample, Activity], Activity]
# Told the instant the last activity was last seen, when a never-capture app whose
# entry says "nothing" comes to the front: a link that can end a span without starting
# another ends it there (see DesktopDriver).
Gap = Callable[[datetime], Awaitable[None]]
# Told that nothing of the desktop can be read from an instant on, and why: the office
# shows the reason on the person's card (the recorder's ``unseen``).
Unseen = Callable[[datetime, str], Awaitable[None]]

_SHORT = 256
_LONG = 4096


@dataclass(frozen=True, slots=True)
class Seen:
    """One look at the desktop, stage by stage (``officepulse agent probe`` shows each).

    ``observed`` is what was seen, introspection included; ``activity`` is what may
    leave this computer after the privacy lists, or None when nothing may (a
    never-capture app whose entry says "nothing")."""

    sample: WindowSample
    idle_for: float | None
    observed: Activity
    activity: Activity | None
    introspected: bool
    locked: bool = False


def look(
    window: WindowSource,
    idle: IdleSource | None,
    idle_threshold: float,
    rules: PrivacyRules,
    introspect: Introspect | None = None,
) -> Seen | None:
    """What is in front now, or None when nothing has focus."""
    sample = window.active_window()
    if sample is None:
        return None
    return judge(sample, idle, idle_threshold, rules, introspect)


def judge(
    sample: WindowSample,
    idle: IdleSource | None,
    idle_threshold: float,
    rules: PrivacyRules,
    introspect: Introspect | None = None,
) -> Seen:
    """``sample`` with the idle time, introspection and the privacy lists applied. A
    locked screen (or a screensaver) counts as away whatever the idle time says."""
    idle_for = idle.idle_seconds() if idle is not None else None
    locked = idle.locked() if idle is not None else False
    observed = Activity(
        app=sample.app,
        title=sample.title,
        process=sample.process,
        pid=sample.pid,
        idle=locked or (idle_for is not None and idle_for >= idle_threshold),
    )
    # Introspection reads more of the app (its tabs, its terminal, its files): it must
    # not even run for an app on either list.
    allowed = rules.introspects(sample.app, sample.process)
    if allowed and introspect is not None:
        observed = introspect(sample, observed)
    sent = apply_privacy(observed, rules)
    return Seen(sample, idle_for, observed, None if sent is None else fit(sent), allowed, locked)


def make_introspector(rules: PrivacyRules, tabs: Tabs | None = None) -> Introspector:
    """This platform's introspection. Players on either list by plain name are never
    even read; one matched by a glob is read, and its track dropped by the lists.
    ``tabs``: what the browser extensions report (``browser_tabs.Tabs``)."""
    from officepulse.agent.introspect import Introspector

    hidden = [
        p.glob
        for p in (*rules.never_capture, *rules.never_introspect)
        if not any(c in p.glob for c in "*?[")
    ]
    return Introspector(sys.platform, hidden_players=hidden, tabs=tabs)


def fit(activity: Activity) -> Activity:
    """Cut texts to the protocol's limits (after redaction, so that no cut can
    leave the start of a secret the redaction would have matched whole)."""
    media = activity.media
    if media is not None:
        media = Media(
            player=media.player[:_SHORT],
            title=media.title[:_LONG],
            artist=media.artist[:_SHORT],
            playing=media.playing,
        )
    return Activity(
        app=activity.app[:_SHORT],
        title=activity.title[:_LONG],
        url=_cut(activity.url, _LONG),
        process=_cut(activity.process, _SHORT),
        pid=activity.pid,
        idle=activity.idle,
        private=activity.private,
        program=_cut(activity.program, _SHORT),
        project=_cut(activity.project, _SHORT),
        file=_cut(activity.file, _LONG),
        media=media,
    )


def _cut(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


class DesktopDriver:
    """Polls the desktop every ``poll_interval`` seconds and emits a heartbeat at
    once on every change, else every ``interval`` (``HeartbeatPolicy``).

    ``privacy``: the person's lists; None reads them from the agent's config file
    (``config.load_config``, which raises ``ConfigError`` for a bad file), so a
    caller that forgets them cannot send what the person listed.
    ``introspect``: "auto" makes this platform's ``Introspector`` (closed when ``run``
    ends), with the browser extensions' ``tabs``; None turns introspection off. It is
    never called for an app on a list.

    While ``pause`` is active the desktop is not read at all: ``pause.hold`` emits the
    paused activity instead, and the first look after it is sent at once.

    While a never-capture app whose entry says "nothing" is in front, nothing at
    all is emitted, not even going idle or coming back. When it comes to the front,
    the last activity gets a final heartbeat dated when it was last seen (so its span
    ends there, not at its last periodic heartbeat), and ``gap`` is awaited with
    that instant. When it leaves, the next activity is sent at once as a fresh
    start, dated no earlier than that poll.
    """

    def __init__(
        self,
        window: WindowSource,
        idle: IdleSource | None,
        *,
        poll_interval: float,
        idle_threshold: float,
        clock: Clock = time.time,
        privacy: PrivacyRules | None = None,
        introspect: Introspect | Literal["auto"] | None = "auto",
        gap: Gap | None = None,
        on_close: Callable[[], None] | None = None,
        pause: Pause | None = None,
        tabs: Tabs | None = None,
        learn: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.on_close = on_close  # closes the desktop's connections when the driver ends
        self.pause = pause
        self.window = window
        self.idle = idle
        self.poll_interval = poll_interval
        self.idle_threshold = idle_threshold
        self.clock = clock
        if privacy is None:
            from officepulse.agent.config import load_config

            config = load_config()
            privacy = config.rules
            if config.found:
                log.info(
                    "privacy lists from %s: %d app(s) never captured, %d never introspected, "
                    "%d redaction pattern(s)",
                    config.path,
                    len(privacy.never_capture),
                    len(privacy.never_introspect),
                    len(privacy.redact),
                )
        self.privacy = privacy
        self._owned: Introspector | None = None
        if introspect == "auto":
            introspect = self._owned = make_introspector(privacy, tabs)
        self.introspect: Introspect | None = introspect
        self.gap = gap
        self._last_sample: WindowSample | None = None  # the window last seen in front
        # Told the name a source gives an app (Windows' FileDescription): agent/app_names.py.
        self.learn = learn

    def look(self) -> Seen | None:
        seen = look(self.window, self.idle, self.idle_threshold, self.privacy, self.introspect)
        if seen is not None:
            self._last_sample = seen.sample
            if self.learn is not None and seen.sample.name is not None:
                self.learn(seen.sample.app, seen.sample.name)
        elif self._last_sample is not None and self.idle is not None and self.idle.locked():
            # A screen locker that takes the focus (swaylock on sway) leaves no window in
            # front: the one that was goes on, away, rather than counting as active.
            seen = judge(
                self._last_sample, self.idle, self.idle_threshold, self.privacy, self.introspect
            )
        return seen

    async def run(self, emit: Emit, interval: float) -> None:
        try:
            await self._run(emit, interval)
        finally:
            self.close()

    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()
        self._close_introspection()

    def _close_introspection(self) -> None:
        """Close what this driver opened (introspection's D-Bus connection); a later
        ``run`` opens it again."""
        if self._owned is not None:
            self._owned.close()

    async def _run(self, emit: Emit, interval: float) -> None:
        policy = HeartbeatPolicy(interval)
        last_idle = False
        span_start: datetime | None = None
        seen_at: datetime | None = None  # when policy.last_activity was last seen
        hidden = False
        while True:
            if self.pause is not None and self.pause.active():
                last = policy.last_sent
                ended_ms = await hold(self.pause, emit, interval, to_ms(last) if last else 0)
                # Start afresh: what comes next is sent at once, never dated into the pause.
                policy, last_idle, seen_at, hidden = HeartbeatPolicy(interval), False, None, False
                span_start = datetime.fromtimestamp(ended_ms / 1000, UTC)
                continue
            now = datetime.fromtimestamp(self.clock(), UTC)
            seen = self.look()
            if seen is not None and seen.activity is None:
                if not hidden:
                    hidden = True
                    log.debug("a never-captured window is in front: nothing is sent meanwhile")
                    await self._hide(emit, policy, seen_at)
                    policy, last_idle, seen_at = HeartbeatPolicy(interval), False, None
            elif seen is not None:
                activity = seen.activity
                assert activity is not None
                if hidden:
                    hidden = False
                    span_start = now  # nothing may be dated into the hidden stretch
                ts = now
                if activity.idle != last_idle:
                    # Going away and coming back both happened at the last input, not
                    # when this poll noticed: an idle stretch starts when the person
                    # stopped, so the minutes before the threshold stay with the app.
                    ts = now - timedelta(seconds=seen.idle_for or 0.0)
                    if span_start is not None and ts < span_start:
                        # The last input came before what we last reported began
                        # (say, before the agent started): start from there.
                        ts = span_start
                last_idle = activity.idle
                switched = activity != policy.last_activity
                beat = policy.observe(ts, activity)
                seen_at = now
                if beat is not None:
                    if switched:
                        span_start = beat.ts
                    await emit(beat)
            await asyncio.sleep(self.poll_interval)

    async def _hide(self, emit: Emit, policy: HeartbeatPolicy, seen_at: datetime | None) -> None:
        last = policy.last_activity
        if last is None or seen_at is None:
            return
        if policy.last_sent is None or seen_at > policy.last_sent:
            await emit(Heartbeat(ts=seen_at, activity=last))
        if self.gap is not None:
            await self.gap(seen_at)


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
        self._run_start_ms: int | None = None

    def zone(self, ts_ms: int) -> str | None:
        """The zone the timeline puts the computer in at ``ts_ms`` (None: its own)."""
        if self._run_start_ms is None:
            return None
        return self.timeline.zone_at((ts_ms - self._run_start_ms) / 1000)

    async def run(self, emit: Emit, interval: float) -> None:
        origin = self.start or datetime.fromtimestamp(self.clock(), UTC)
        wall0 = self.clock()
        start = origin
        while True:
            self._run_start_ms = to_ms(start)
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
    """Stands in when the desktop cannot be read: says so once (in the log, and to the
    office through ``unseen``), then looks again quietly now and then, in case a display
    appears. A pause is sent all the same (then ``unseen``, or ``gap``, ends it, since
    there is no activity to go back to)."""

    def __init__(
        self,
        reason: str,
        retry: Callable[[], DesktopDriver],
        every: float = 60,
        *,
        pause: Pause | None = None,
        gap: Gap | None = None,
        unseen: Unseen | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.reason = reason
        self.retry = retry
        self.every = every
        self.pause = pause
        self.gap = gap
        self.unseen = unseen
        self.clock = clock
        self.reading = False  # the desktop could be read after all: a driver took over

    async def _say_why(self, ts: datetime) -> None:
        if self.unseen is not None:
            await self.unseen(ts, self.reason)
        elif self.gap is not None:
            await self.gap(ts)

    async def run(self, emit: Emit, interval: float) -> None:
        log.warning(
            "cannot read this desktop: %s. The agent stays connected, so you show as online "
            "without an activity.",
            self.reason,
        )
        if self.unseen is not None:
            await self.unseen(datetime.fromtimestamp(self.clock(), UTC), self.reason)
        loop = asyncio.get_running_loop()
        while True:
            retry_at = loop.time() + self.every
            while loop.time() < retry_at:
                if self.pause is None:
                    await asyncio.sleep(self.every)
                    break
                if self.pause.active():
                    ended_ms = await hold(self.pause, emit, interval)
                    await self._say_why(datetime.fromtimestamp(ended_ms / 1000, UTC))
                    continue
                left = retry_at - loop.time()
                await self.pause.changed(left if left != float("inf") else None)
            try:
                driver = self.retry()
            except SourceUnavailable:
                continue
            log.info("the desktop can be read now")
            self.reading = True
            await driver.run(emit, interval)
            return
