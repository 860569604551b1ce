"""Spans and the heartbeat merge rule: a pure function of the current span and
one heartbeat. Times are integer milliseconds since the Unix epoch (UTC), so
totals add up exactly.

The rule (ActivityWatch's pulsetime rule, plus one fix):
- the same activity within ``pulsetime`` of the span's end extends the span;
- a different activity within ``pulsetime`` ends the current span exactly where
  the new one starts, so no time is lost at a switch (ActivityWatch drops the
  time between the last heartbeat of one app and the first of the next). When
  the change is dated before the span's end (an agent that learns late that the
  person went idle at their last input), the span is cut back to the change;
- a heartbeat after a longer gap starts a new span and leaves the old one as it
  was: the agent was not there to see what happened in between;
- a heartbeat before the current span's start is stale and refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from officepulse.protocol.messages import Activity

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(ts: datetime) -> int:
    """An aware datetime as whole milliseconds since the epoch, exactly (a float
    timestamp would round microseconds at this magnitude)."""
    return (ts - _EPOCH) // _MS


def iso_utc(ms: int) -> str:
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Span:
    """One continuous stretch of one activity on one agent: [start_ms, end_ms).

    ``tz`` is the IANA time zone the computer was in (None: not known here; the
    server fills in the connection's zone), so a person who travels keeps their
    own days."""

    start_ms: int
    end_ms: int
    activity: Activity
    tz: str | None = None

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    def extended_to(self, end_ms: int) -> Span:
        """This span ending at ``end_ms`` instead: what nearly every heartbeat makes.

        As ``Span(self.start_ms, end_ms, self.activity, self.tz)``, at a third of the
        cost: the frozen dataclass's ``__init__`` sets each field through
        ``object.__setattr__`` (a lookup and a bound wrapper per field); the slots'
        own descriptors set them directly."""
        span: Span = _new_object(Span)
        _set_start(span, self.start_ms)
        _set_end(span, end_ms)
        _set_activity(span, self.activity)
        _set_tz(span, self.tz)
        return span


_new_object = object.__new__
_set_start, _set_end, _set_activity, _set_tz = (
    vars(Span)[name].__set__ for name in ("start_ms", "end_ms", "activity", "tz")
)


# Merged and Stale are made for every heartbeat: not frozen, since a frozen dataclass
# costs three times as much to make (treat them as read-only all the same).
@dataclass(slots=True)
class Merged:
    """What one heartbeat changed. ``closed`` is the final state of the span that
    ended (None if it did not change); ``current`` is the span now open;
    ``switched`` says whether what is in front changed."""

    closed: Span | None
    current: Span
    switched: bool
    changed: bool


@dataclass(slots=True)
class Stale:
    """The heartbeat is older than the current span: nothing changes."""

    current: Span


def continued(
    current: Span | None, ts_ms: int, activity: Activity, pulsetime_ms: int
) -> Span | None:
    """The span a heartbeat that continues ``current`` leaves (the same activity, from the
    span's start to ``pulsetime_ms`` past its end): ``current`` itself when the heartbeat
    lies within it, else ``current`` ended at the heartbeat. None for any other heartbeat,
    which ``merge`` then takes. What ``merge`` does with such a heartbeat, without making
    a ``Merged``: nearly every heartbeat is one (ingest's fast path)."""
    if (
        current is None
        or ts_ms < current.start_ms
        or ts_ms > current.end_ms + pulsetime_ms
        or activity != current.activity
    ):
        return None
    return current if ts_ms <= current.end_ms else current.extended_to(ts_ms)


def merge(
    current: Span | None, ts_ms: int, activity: Activity, pulsetime_ms: int
) -> Merged | Stale:
    # Merged(closed, current, switched, changed), positionally: keywords cost a third more,
    # and this runs for every heartbeat.
    if current is None:
        return Merged(None, Span(ts_ms, ts_ms, activity), True, True)
    if ts_ms < current.start_ms:
        return Stale(current)
    within = ts_ms <= current.end_ms + pulsetime_ms
    if activity == current.activity:
        if within:
            if ts_ms <= current.end_ms:
                return Merged(None, current, False, False)
            return Merged(None, current.extended_to(ts_ms), False, True)
        return Merged(None, Span(ts_ms, ts_ms, activity), False, True)
    if not within:
        return Merged(None, Span(ts_ms, ts_ms, activity), True, True)
    if ts_ms == current.start_ms:
        # Same instant, new activity: the old span had no length; it becomes the new one.
        return Merged(None, Span(ts_ms, ts_ms, activity), True, True)
    closed = replace(current, end_ms=ts_ms)
    return Merged(closed, Span(ts_ms, ts_ms, activity), True, True)


@dataclass(frozen=True, slots=True)
class Appended:
    """What storing one closed span from an agent's journal changed.

    ``upsert`` is the row to write (the new span, or the previous one extended),
    None when nothing is left to store; ``last`` is the agent's latest stored
    span afterwards; ``note`` says why the span was changed or dropped."""

    upsert: Span | None
    last: Span | None
    note: str | None = None


def append_span(last: Span | None, span: Span) -> Appended:
    """Add a closed span after ``last``. Spans arrive in the agent's order; one
    that starts where an equal one ended extends it (storage grows with changes,
    not with checkpoints); one that overlaps what is stored is clipped, so no
    instant is ever counted twice."""
    if span.end_ms < span.start_ms:
        return Appended(None, last, f"span at {iso_utc(span.start_ms)} ends before it starts")
    if span.end_ms == span.start_ms:
        return Appended(None, last)  # no time: nothing to count
    note = None
    if last is not None and span.start_ms < last.end_ms:
        overlap = last.end_ms - span.start_ms
        if span.end_ms <= last.end_ms:
            return Appended(
                None,
                last,
                f"span at {iso_utc(span.start_ms)} lies wholly before the last stored one",
            )
        note = (
            f"span at {iso_utc(span.start_ms)} overlapped the previous one by {overlap} ms; clipped"
        )
        span = replace(span, start_ms=last.end_ms)
    if (
        last is not None
        and last.activity == span.activity
        and last.tz == span.tz
        and last.end_ms == span.start_ms
    ):
        extended = replace(last, end_ms=span.end_ms)
        return Appended(extended, extended, note)
    return Appended(span, span, note)
