"""The hour-of-day × weekday heat map: when in the week the time was spent. Pure: the
days' pieces in, their hours out (panel/hour_usage.py reads each one's time); each
cell's total in, the grid and its shades out.

A day's hours are read off its own wall clock, piece by piece (core/days.py: the
viewer's day is one piece in their zone; a traveller's own day may be pieces in several
zones): each stretch between two whole hours of the clock is one *slot*, counted in the
cell of its weekday and its hour. So a span across midnight counts in two days' cells,
the hour repeated when daylight saving time ends counts twice in its cell (it happened
twice), the hour skipped in spring in none, and a zone 5:30 off UTC has its hours at
half past on UTC's clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from officepulse.core.zones import ZoneRun

HOUR_MS = 3_600_000
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Shades of the scale besides "none": each a fifth of the busiest cell's time.
LEVELS = 5


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    """[start_ms, end_ms) of one wall-clock hour (or the part of one a piece holds)."""

    start_ms: int
    end_ms: int
    weekday: int  # 0 = Monday, as date.weekday()
    hour: int  # 0-23 on the piece's wall clock
    tz: str


def _local(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone)


def hour_slots(pieces: Iterable[ZoneRun]) -> list[Slot]:
    """The pieces (sorted, disjoint) cut at every whole hour of their own wall clock.
    Read off the clock at each cut rather than counted, so that a zone change within
    an hour (Lord Howe's half-hour one) still cuts where the clock says."""
    out = []
    for piece in pieces:
        zone = ZoneInfo(piece.tz)
        at = piece.start_ms
        while at < piece.end_ms:
            local = _local(at, zone)
            into = (local.minute * 60 + local.second) * 1000 + local.microsecond // 1000
            end = min(at + HOUR_MS - into, piece.end_ms)
            out.append(Slot(at, end, local.weekday(), local.hour, piece.tz))
            at = end
    return out


def weekday_counts(days: Iterable[date]) -> dict[int, int]:
    """How many of each weekday ``days`` hold (0 = Monday): "over 4 Mondays"."""
    counts: dict[int, int] = {}
    for day in days:
        counts[day.weekday()] = counts.get(day.weekday(), 0) + 1
    return counts


@dataclass(frozen=True, slots=True)
class Cell:
    weekday: int
    hour: int
    ms: int
    level: int  # 0 (nothing) to LEVELS (the busiest)
    x: float  # percent of the width
    width: float


@dataclass(frozen=True, slots=True)
class Shade:
    """One step of the legend: cells with more than ``low_ms``, up to ``high_ms``."""

    level: int
    low_ms: int
    high_ms: int


@dataclass(frozen=True, slots=True)
class Row:
    """A weekday's 24 cells, 00 to 23; ``days``: how many of that weekday the period has."""

    weekday: int
    name: str
    days: int
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class HeatMap:
    rows: tuple[Row, ...]  # Monday first; only the weekdays the period has
    max_ms: int
    shades: tuple[Shade, ...]  # empty when there is no time at all

    @property
    def total_ms(self) -> int:
        return sum(c.ms for row in self.rows for c in row.cells)


def level(ms: int, max_ms: int) -> int:
    """The shade of a cell: 0 for none, else 1 to LEVELS by its share of the busiest
    (every cell with time is at least 1, however little)."""
    if ms <= 0 or max_ms <= 0:
        return 0
    return max(1, min(LEVELS, math.ceil(LEVELS * ms / max_ms)))


def _cells(weekday: int, totals: dict[tuple[int, int], int], max_ms: int) -> tuple[Cell, ...]:
    width = 100 / 24
    out = []
    for hour in range(24):
        ms = totals.get((weekday, hour), 0)
        x, right = round(hour * width, 4), round((hour + 1) * width, 4)
        out.append(Cell(weekday, hour, ms, level(ms, max_ms), x, round(right - x, 4)))
    return tuple(out)


def heat_map(totals: dict[tuple[int, int], int], days: Sequence[date]) -> HeatMap:
    """The grid of ``totals`` (ms per (weekday, hour)) over the period of ``days``: a
    row per weekday it has (a day's report has one row, a week's seven)."""
    max_ms = max(totals.values(), default=0)
    counts = weekday_counts(days)
    rows = tuple(
        Row(weekday, WEEKDAY_NAMES[weekday], counts[weekday], _cells(weekday, totals, max_ms))
        for weekday in range(7)
        if weekday in counts
    )
    # Each shade's range: above the one before's top, up to its own share of the busiest.
    tops = [math.floor(max_ms * k / LEVELS) for k in range(LEVELS + 1)]
    shades = tuple(Shade(k, tops[k - 1], tops[k]) for k in range(1, LEVELS + 1)) if max_ms else ()
    return HeatMap(rows, max_ms, shades)
