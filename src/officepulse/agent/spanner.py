"""Spans at the source: the agent merges what it observes into spans itself,
so it sends changes, not polls. Pure: time is a parameter (milliseconds).

- The same activity extends the open span; a different one closes it exactly
  where the new one starts, so no time is lost at a switch.
- Observations further apart than ``max_gap_ms`` mean the agent was not
  looking (the computer slept, the agent was stopped): the open span ends where
  it was last seen.
- A change dated before the open span's end (going idle is dated at the last
  input) cuts the open span back to it. To leave room for that, the open span
  is only ever handed on as a closed chunk up to ``hold_ms`` before its end,
  every ``checkpoint_ms``; equal chunks are joined again by the server.
- Each span is stamped with the time zone the computer was in (``tz``); a new
  zone (the person travelled) closes the open span as a new activity does, so
  every span lies in one zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity


@dataclass(frozen=True, slots=True)
class Observed:
    closed: tuple[Span, ...] = ()
    switched: bool = False


@dataclass
class Spanner:
    max_gap_ms: int
    checkpoint_ms: int = 60_000
    hold_ms: int = 200_000
    open: Span | None = field(default=None)
    # Time before ``floor_ms`` is already accounted for (a restart after a clean
    # stop): observations before it are only remembered, not counted.
    floor_ms: int = 0
    _before_floor: tuple[Activity, str | None] | None = field(default=None, repr=False)

    def observe(self, ts_ms: int, activity: Activity, tz: str | None = None) -> Observed:
        current = self.open
        if current is None and ts_ms < self.floor_ms:
            self._before_floor = (activity, tz)
            return Observed()
        if current is None and self._before_floor is not None:
            # What was in front at the floor is what was seen last before it.
            (before, before_tz), self._before_floor = self._before_floor, None
            if ts_ms - self.floor_ms <= self.max_gap_ms:
                self.open = Span(self.floor_ms, self.floor_ms, before, before_tz)
                return self.observe(ts_ms, activity, tz)
        if current is None:
            self.open = Span(ts_ms, ts_ms, activity, tz)
            return Observed(switched=True)
        same = activity == current.activity and tz == current.tz
        if ts_ms < current.end_ms:
            if same or ts_ms < current.start_ms:
                return Observed()  # already covered, or older than what is open
            closed = replace(current, end_ms=ts_ms)
            self.open = Span(ts_ms, ts_ms, activity, tz)
            return Observed(_nonempty(closed), switched=activity != current.activity)
        if ts_ms - current.end_ms > self.max_gap_ms:
            self.open = Span(ts_ms, ts_ms, activity, tz)
            return Observed(_nonempty(current), switched=True)
        if not same:
            closed = replace(current, end_ms=ts_ms)
            self.open = Span(ts_ms, ts_ms, activity, tz)
            return Observed(_nonempty(closed), switched=activity != current.activity)
        extended = replace(current, end_ms=ts_ms)
        cut = ts_ms - self.hold_ms
        if cut - extended.start_ms >= self.checkpoint_ms:
            self.open = replace(extended, start_ms=cut)
            return Observed((replace(extended, end_ms=cut),))
        self.open = extended
        return Observed()

    def close(self) -> tuple[Span, ...]:
        """End the open span where it was last seen (the agent stops)."""
        current, self.open = self.open, None
        return _nonempty(current) if current is not None else ()


def _nonempty(span: Span) -> tuple[Span, ...]:
    return (span,) if span.end_ms > span.start_ms else ()
