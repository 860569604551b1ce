"""Per-day stacked columns (WakaTime's and RescueTime's lead chart): a column per date of
the period, as tall as the day's active time, stacked by the period's most used labels
(apps or categories) and "other". Pure: rows in, geometry out.

Across the chart, columns sit at percentages of its width (so the SVG stretches to any
screen, as the other charts do); up the chart, heights are pixels of a plot of fixed
height, on a scale of round steps ("2 h", "30 min") that the axis labels. A column's
pieces meet exactly: each edge is the rounded running total, not a sum of rounded
heights, so the top of a column is where its total is on the scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from officepulse.core.reports import OTHER

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
# Steps of the scale, smallest first: beyond a day, days in 1-2-5 steps.
STEPS_MS = (
    *(m * MINUTE_MS for m in (1, 2, 5, 10, 15, 30)),
    *(h * HOUR_MS for h in (1, 2, 3, 4, 6, 8, 12, 24, 48)),
    *(d * 24 * HOUR_MS for d in (5, 10, 20, 50, 100, 200, 500)),
)
# Lines drawn above zero at most: the scale is the first step that needs no more.
MAX_LINES = 4
# The share of its slot a column fills; the rest is the gap between columns.
FILL = 0.72
# Slots the width is cut into at least: a period of fewer days has narrower columns.
MIN_SLOTS = 7
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class Piece:
    """One label's part of a column: ``y`` (its top) and ``height`` in pixels."""

    label: str
    ms: int
    y: float
    height: float
    colour: str


@dataclass(frozen=True, slots=True)
class Column:
    day: date
    total_ms: int
    x: float  # percent of the width
    width: float
    pieces: tuple[Piece, ...]  # bottom first
    text: str  # the label under it ("" for none)
    major: bool  # kept when a narrow screen shows fewer labels
    weekend: bool


@dataclass(frozen=True, slots=True)
class Line:
    """A line of the scale across the plot, ``y`` pixels from its top."""

    ms: int
    y: float
    text: str


@dataclass(frozen=True, slots=True)
class DayColumns:
    columns: tuple[Column, ...]
    labels: tuple[str, ...]  # stacked, bottom first: the top labels, then "other"
    totals: dict[str, int]  # each stacked label's active ms over the period
    lines: tuple[Line, ...]  # zero first
    scale_ms: int  # the top of the plot
    height: int  # the plot's height in pixels


def scale(max_ms: int) -> tuple[int, int]:
    """(step, top) for a chart whose tallest column is ``max_ms``: the smallest round
    step that reaches it in at most MAX_LINES steps, and the top at a whole step. A
    chart with nothing in it goes up to an hour, rather than to a minute of nothing."""
    if max_ms <= 0:
        return HOUR_MS, HOUR_MS
    for step in STEPS_MS:
        if max_ms <= step * MAX_LINES:
            return step, max(step, math.ceil(max_ms / step) * step)
    step = STEPS_MS[-1]
    return step, math.ceil(max_ms / step) * step


def short(ms: int) -> str:
    """A round step as the axis writes it: "0", "30 min", "2 h", "1 h 30"."""
    if ms == 0:
        return "0"
    minutes = ms // MINUTE_MS
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest:02d}" if rest else "")


def ranked(rows: Iterable[tuple[date, str, int]]) -> dict[str, int]:
    """Each label's active ms over all rows, most first (then by name)."""
    sums: dict[str, int] = {}
    for _, label, ms in rows:
        sums[label] = sums.get(label, 0) + ms
    return dict(sorted(sums.items(), key=lambda item: (-item[1], item[0])))


def day_text(day: date, count: int) -> tuple[str, bool]:
    """The label under a day's column and whether it is major (kept on a narrow screen),
    by how many columns there are: "Mon 7" for a week, the day of the month for a month
    (Mondays major), the month's name on its first day for longer."""
    if count <= 7:
        return f"{WEEKDAYS[day.weekday()]} {day.day}", True
    if count <= 62:
        return str(day.day), day.weekday() == 0
    return (MONTHS[day.month - 1], True) if day.day == 1 else ("", False)


def day_columns(
    days: Sequence[date],
    rows: Iterable[tuple[date, str, int]],
    top: int,
    paint: Callable[[str], str],
    height: int = 160,
) -> DayColumns:
    """A column per date of ``days`` from ``rows`` (date, label, active ms; dates and
    labels may repeat, and are summed), stacked by the ``top`` labels most used over
    the period and the rest as "other"; ``paint`` gives each label its colour."""
    rows = [r for r in rows if r[2] > 0]
    order = ranked(rows)
    kept = list(order)[:top]
    per_day: dict[date, dict[str, int]] = {}
    for day, label, ms in rows:
        key = label if label in kept else OTHER
        slot = per_day.setdefault(day, {})
        slot[key] = slot.get(key, 0) + ms
    labels = (*kept, *([OTHER] if len(order) > top else []))
    totals = {label: sum(d.get(label, 0) for d in per_day.values()) for label in labels}
    day_totals = {d: sum(v.values()) for d, v in per_day.items()}
    step, top_ms = scale(max(day_totals.values(), default=0))

    def y(ms: int) -> float:
        return round(height * (1 - ms / top_ms), 2)

    columns = []
    # Never wider than a week's columns: a day or three stand in the middle, not as slabs.
    slot_width = 100 / max(len(days), MIN_SLOTS)
    first_x = (100 - slot_width * len(days)) / 2
    for i, day in enumerate(days):
        parts = per_day.get(day, {})
        pieces, below = [], 0
        for label in labels:
            ms = parts.get(label, 0)
            if ms:
                top_y, bottom_y = y(below + ms), y(below)
                pieces.append(Piece(label, ms, top_y, round(bottom_y - top_y, 2), paint(label)))
                below += ms
        text, major = day_text(day, len(days))
        columns.append(
            Column(
                day,
                below,
                round(first_x + slot_width * (i + (1 - FILL) / 2), 4),
                round(slot_width * FILL, 4),
                tuple(pieces),
                text,
                major,
                day.weekday() >= 5,
            )
        )
    lines = tuple(Line(ms, y(ms), short(ms)) for ms in range(0, top_ms + 1, step))
    return DayColumns(tuple(columns), labels, totals, lines, top_ms, height)
