"""How far the day's timeline is zoomed in: the whole day, its working hours, or one
hour of it (ActivityWatch's timeline zooms the same way). Pure: the day's pieces and
its active stretches in, the stretch of time to draw out.

Each level is a stretch of the day's own band, so everything the whole day has (a
traveller's pieces in two zones, a 25-hour autumn day) holds zoomed in too. An hour is
one of the day's wall-clock hours (core/heatmap.py's slots), named by its place in the
day: 0 is the first; on most days the place is the hour of the clock, and on a
daylight-saving day or a traveller's its clock time is shown beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from officepulse.core.heatmap import Slot, hour_slots
from officepulse.core.reports import Block
from officepulse.core.zones import ZoneRun

Zoom = Literal["day", "work", "hour"]
ZOOMS: tuple[Zoom, ...] = ("day", "work", "hour")
ZOOM_LABELS: dict[Zoom, str] = {"day": "Whole day", "work": "Working hours", "hour": "One hour"}
# Working hours on a day without activity, on its wall clock: [09:00, 17:00).
OFFICE_HOURS = (9, 17)
# A tick every this many minutes of the clock, per level.
TICK_MINUTES: dict[Zoom, int] = {"day": 60, "work": 60, "hour": 10}


@dataclass(frozen=True, slots=True)
class Window:
    zoom: Zoom
    start_ms: int
    end_ms: int
    hour: int  # the hour shown ("hour"), else the hour "One hour" opens on
    hours: tuple[Slot, ...]  # every hour of the day, for choosing one
    pieces: tuple[ZoneRun, ...]  # the day's pieces cut to the window

    @property
    def tick_minutes(self) -> int:
        return TICK_MINUTES[self.zoom]


def _slot_at(slots: Sequence[Slot], ms: int) -> int:
    """The index of the slot holding ``ms`` (the last one for an instant past them all,
    the first for one before or in a gap before it)."""
    for i, slot in enumerate(slots):
        if ms < slot.end_ms:
            return i
    return len(slots) - 1


def cut(pieces: Sequence[ZoneRun], lo: int, hi: int) -> tuple[ZoneRun, ...]:
    """The parts of ``pieces`` within [lo, hi)."""
    return tuple(
        ZoneRun(max(p.start_ms, lo), min(p.end_ms, hi), p.tz)
        for p in pieces
        if p.start_ms < hi and p.end_ms > lo
    )


def clip(blocks: Sequence[Block], lo: int, hi: int) -> list[Block]:
    """The blocks' parts within [lo, hi)."""
    return [
        Block(max(b.start_ms, lo), min(b.end_ms, hi), b.app, b.title, b.url, b.idle)
        for b in blocks
        if b.start_ms < hi and b.end_ms > lo
    ]


def _work(slots: Sequence[Slot], active: Sequence[Block]) -> tuple[int, int]:
    """The hours from the one the first activity starts in to the one the last ends in;
    without activity, the office hours (or the whole day, if it has none of them)."""
    if active:
        first = _slot_at(slots, min(b.start_ms for b in active))
        last = _slot_at(slots, max(b.end_ms for b in active) - 1)
        return first, last
    office = [i for i, s in enumerate(slots) if OFFICE_HOURS[0] <= s.hour < OFFICE_HOURS[1]]
    return (office[0], office[-1]) if office else (0, len(slots) - 1)


def zoom_window(
    pieces: Sequence[ZoneRun], blocks: Sequence[Block], zoom: Zoom, hour: int | None
) -> Window:
    """The stretch of the day (``pieces``; ``blocks`` its activity) to draw at ``zoom``;
    ``hour`` is the place of the hour asked for (kept within the day), None for the one
    the day's activity starts in."""
    slots = tuple(hour_slots(pieces))
    if not slots:  # a day of no length (a date a zone skipped)
        lo = pieces[0].start_ms if pieces else 0
        return Window(zoom, lo, lo, 0, (), tuple(pieces))
    active = [b for b in blocks if not b.idle]
    first, last = _work(slots, active)
    at = first if hour is None else min(max(hour, 0), len(slots) - 1)
    if zoom == "hour":
        lo, hi = slots[at].start_ms, slots[at].end_ms
    elif zoom == "work":
        lo, hi = slots[first].start_ms, slots[last].end_ms
    else:
        lo, hi = pieces[0].start_ms, pieces[-1].end_ms
    return Window(zoom, lo, hi, at, slots, cut(pieces, lo, hi))
