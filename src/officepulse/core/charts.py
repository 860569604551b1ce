"""Chart geometry for the server-rendered SVG: where each bar, block and tick goes,
as percentages of the chart's width (so the SVG stretches to any screen without
a viewBox distorting its text). Pure; the zone is a parameter.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from officepulse.core.reports import Block, Total, colour
from officepulse.core.zones import ZoneRun

HOUR_MS = 3_600_000


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 4) if whole > 0 else 0.0


def _span(lo: int, hi: int, whole: int) -> tuple[float, float]:
    """Where [lo, hi) starts and how wide it is, in percent of ``whole``. The width is
    taken between rounded ends, so neighbours meet without gaps or overlaps."""
    x = _pct(lo, whole)
    return x, round(_pct(hi, whole) - x, 4)


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of a horizontal bar: from ``x`` to ``x + width`` percent."""

    label: str
    ms: int
    x: float
    width: float
    colour: str
    idle: bool = False


def stacked_bar(
    items: Sequence[Total],
    scale_ms: int,
    idle_colour: str,
    paint: Callable[[str], str] = colour,
) -> list[Segment]:
    """The labels' active time side by side, then all their idle time as one piece,
    on a bar where ``scale_ms`` is the full width (so bars of several people compare);
    ``paint`` gives each label its colour."""
    segments, at = [], 0
    for item in items:
        if item.active_ms:
            x, width = _span(at, at + item.active_ms, scale_ms)
            at += item.active_ms
            segments.append(Segment(item.label, item.active_ms, x, width, paint(item.label)))
    idle = sum(item.idle_ms for item in items)
    if idle:
        x, width = _span(at, at + idle, scale_ms)
        segments.append(Segment("idle", idle, x, width, idle_colour, True))
    return segments


def bar_width(ms: int, scale_ms: int) -> float:
    """A single bar's width in percent, ``scale_ms`` being the longest bar."""
    return _pct(ms, scale_ms)


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str  # the wall-clock hour, "00" to "23"; "09:10" for a tick within the hour
    hour: int = 0
    minute: int = 0


@dataclass(frozen=True, slots=True)
class PlacedBlock:
    block: Block
    x: float
    width: float
    colour: str


@dataclass(frozen=True, slots=True)
class Join:
    """Where a day drawn in pieces goes on: in another zone (a flight), or after a gap
    (``gap``: the time between belongs to another day, as after a flight west)."""

    x: float
    start_ms: int
    tz: str
    gap: bool


@dataclass(frozen=True, slots=True)
class Timeline:
    """A day drawn as a band: active blocks on one row, idle blocks on another, and a
    tick at every wall-clock hour (23 of them on a spring-forward day, 25 in autumn).
    The band is the day's pieces side by side, each on its own zone's clock, so its
    length is the day's real length (16 hours on the day of a flight from Berlin to
    Tokyo)."""

    start_ms: int
    end_ms: int
    hours: int
    active: list[PlacedBlock]
    idle: list[PlacedBlock]
    ticks: list[Tick]
    pieces: list[ZoneRun]
    joins: list[Join]


def _wall_ticks(piece: ZoneRun, minutes: int = 60) -> list[tuple[int, int, int]]:
    """(instant, hour, minute) of every whole ``minutes`` (60: every whole hour; a
    divisor of 60) on the piece's wall clock within it. Read off the clock at each step
    rather than counted from the start, so a skipped or repeated hour shows as it
    happened and a zone 5:45 off UTC ticks on its own hours."""
    zone = ZoneInfo(piece.tz)
    step = minutes * 60_000
    out, at = [], piece.start_ms
    while at < piece.end_ms:
        local = datetime.fromtimestamp(at / 1000, UTC).astimezone(zone)
        into = ((local.minute % minutes) * 60 + local.second) * 1000 + local.microsecond // 1000
        if into == 0:
            out.append((at, local.hour, local.minute))
            at += step
        else:
            at += step - into
    return out


def timeline(
    blocks: Sequence[Block],
    pieces: Sequence[ZoneRun],
    paint: Callable[[str], str] = colour,
    tick_minutes: int = 60,
) -> Timeline:
    """``blocks`` (each within one of ``pieces``) on a band made of ``pieces`` (sorted,
    disjoint stretches of time, each in one zone); ``paint`` gives each app its colour;
    a tick every ``tick_minutes`` of the wall clock (an hour; less for a zoomed band)."""
    length = sum(p.end_ms - p.start_ms for p in pieces)
    before = list(itertools.accumulate((p.end_ms - p.start_ms for p in pieces), initial=0))
    starts = [p.start_ms for p in pieces]

    def offset(ms: int) -> int:
        i = max(bisect.bisect_right(starts, ms) - 1, 0)
        return before[i] + ms - starts[i]

    active: list[PlacedBlock] = []
    idle: list[PlacedBlock] = []
    for b in blocks:
        at = offset(b.start_ms)
        x, width = _span(at, at + b.duration_ms, length)
        placed = PlacedBlock(b, x, width, paint(b.app))
        (idle if b.idle else active).append(placed)
    ticks = [
        Tick(
            _pct(offset(at), length),
            f"{hour:02d}" if tick_minutes == 60 else f"{hour:02d}:{minute:02d}",
            hour,
            minute,
        )
        for p in pieces
        for at, hour, minute in _wall_ticks(p, tick_minutes)
    ]
    joins = [
        Join(_pct(before[i], length), p.start_ms, p.tz, pieces[i - 1].end_ms != p.start_ms)
        for i, p in enumerate(pieces)
        if i
    ]
    return Timeline(
        pieces[0].start_ms if pieces else 0,
        pieces[-1].end_ms if pieces else 0,
        -(-length // HOUR_MS),
        active,
        idle,
        ticks,
        list(pieces),
        joins,
    )
