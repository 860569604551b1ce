"""Chart geometry for the server-rendered SVG: where each bar, block and tick goes,
as percentages of the chart's width (so the SVG stretches to any screen without
a viewBox distorting its text). Pure; the zone is a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from officepulse.core.reports import Block, Total, colour

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


def stacked_bar(items: Sequence[Total], scale_ms: int, idle_colour: str) -> list[Segment]:
    """The labels' active time side by side, then all their idle time as one piece,
    on a bar where ``scale_ms`` is the full width (so bars of several people compare)."""
    segments, at = [], 0
    for item in items:
        if item.active_ms:
            x, width = _span(at, at + item.active_ms, scale_ms)
            at += item.active_ms
            segments.append(Segment(item.label, item.active_ms, x, width, colour(item.label)))
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
    label: str  # the wall-clock hour, "00" to "23"


@dataclass(frozen=True, slots=True)
class PlacedBlock:
    block: Block
    x: float
    width: float
    colour: str


@dataclass(frozen=True, slots=True)
class Timeline:
    """A day drawn as a band: active blocks on one row, idle blocks on another, and a
    tick at every wall-clock hour (23 of them on a spring-forward day, 25 in autumn)."""

    start_ms: int
    end_ms: int
    hours: int
    active: list[PlacedBlock]
    idle: list[PlacedBlock]
    ticks: list[Tick]


def timeline(blocks: Sequence[Block], start_ms: int, end_ms: int, zone: ZoneInfo) -> Timeline:
    length = end_ms - start_ms
    active: list[PlacedBlock] = []
    idle: list[PlacedBlock] = []
    for b in blocks:
        x, width = _span(b.start_ms - start_ms, b.end_ms - start_ms, length)
        placed = PlacedBlock(b, x, width, colour(b.app))
        (idle if b.idle else active).append(placed)
    ticks = []
    # Offsets change by whole hours in all but a few zones, so the wall clock's hours
    # begin every 3,600,000 ms of real time from midnight; the label is read off the
    # wall clock, so a repeated or skipped hour shows as it happened.
    for at in range(start_ms, end_ms, HOUR_MS):
        hour = datetime.fromtimestamp(at / 1000, UTC).astimezone(zone).hour
        ticks.append(Tick(_pct(at - start_ms, length), f"{hour:02d}"))
    return Timeline(start_ms, end_ms, -(-length // HOUR_MS), active, idle, ticks)
