"""Between the driver and the link: observations become spans (spanner), closed
spans go to the journal before anything is sent, and every change is passed on
at once as live presence."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import msgspec

from officepulse.agent.journal import Journal
from officepulse.agent.link import Link
from officepulse.agent.spanner import Spanner
from officepulse.core.spans import to_ms
from officepulse.protocol.messages import Heartbeat

# The drivers observe at least every 10 s; further apart means the agent was
# not looking (a sleeping laptop, a stopped agent).
HEARTBEAT_INTERVAL = 10.0
MAX_GAP_MS = 25_000


class Recorder:
    def __init__(
        self,
        journal: Journal,
        link: Link,
        *,
        hold_ms: int,
        checkpoint_ms: int = 60_000,
        save_every: float = 5.0,
        clock: Callable[[], float] = time.time,
        zone: Callable[[int], str | None] = lambda ts_ms: None,
    ) -> None:
        """``zone`` says which time zone the computer is in at an instant (a
        ``ZoneWatch``, or the timeline's zone); every span is stamped with it."""
        self.journal = journal
        self.link = link
        self.save_every = save_every
        self.clock = clock
        self.zone = zone
        # Carry on from where the last run stopped, crashed or was killed.
        self.spanner = Spanner(
            max_gap_ms=MAX_GAP_MS,
            checkpoint_ms=checkpoint_ms,
            hold_ms=hold_ms,
            open=journal.open_span(),
            floor_ms=journal.high_water_ms,
        )
        self._saved_at = clock()
        self._presented = False

    async def emit(self, beat: Heartbeat) -> None:
        ts_ms = to_ms(beat.ts)
        tz = self.zone(ts_ms)
        if tz is not None and tz != self.link.hello.tz:
            # The next connection's hello names the zone the computer is in now.
            self.link.hello = msgspec.structs.replace(self.link.hello, tz=tz)
        observed = self.spanner.observe(ts_ms, beat.activity, tz)
        now = self.clock()
        if observed.closed:
            self.journal.append(observed.closed, self.spanner.open)
            self._saved_at = now
            self.link.notify()
        elif now - self._saved_at >= self.save_every:
            self.journal.save_open(self.spanner.open)
            self._saved_at = now
        current = self.spanner.open
        if current is not None and (observed.switched or not self._presented):
            self._presented = True
            self.link.presence(current.start_ms, current.activity)

    async def gap(self, ts: datetime) -> None:
        """The person's never-capture app ("nothing") came to the front at ``ts``:
        what was open ends where it was last seen, and the office shows nothing."""
        self.journal.append(self.spanner.close(), None)
        self.link.notify()
        self.link.presence(to_ms(ts), None)

    async def unseen(self, ts: datetime, reason: str) -> None:
        """Nothing of the desktop can be read from ``ts`` on (``reason`` says why): what
        was open ends where it was last seen, and the office shows why it sees nothing."""
        self.journal.append(self.spanner.close(), None)
        self.link.notify()
        self.link.presence(to_ms(ts), None, reason)

    def stop(self) -> None:
        """The person stops (a timeline ended): close the open span."""
        self.journal.append(self.spanner.close(), None)
        self.link.notify()

    def save(self) -> None:
        """The agent is stopped: keep the open span for the next run."""
        self.journal.save_open(self.spanner.open)
