"""The data behind the reports: a person's day as blocks, time per window title,
totals per person and label. Pure: spans and ranges in, values out; the range is
a parameter, never the clock.

Labels are generic (an app today; a category is the same shape), so one chart
renderer serves every breakdown.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from officepulse.core.spans import Span

OTHER = "other"


@dataclass(frozen=True, slots=True)
class Block:
    """One span as the timeline draws it: clipped to the day."""

    start_ms: int
    end_ms: int
    app: str
    title: str
    url: str | None
    idle: bool

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def day_blocks(spans: Iterable[Span], start_ms: int, end_ms: int) -> list[Block]:
    """The spans that overlap [start_ms, end_ms), clipped to it, in time order.
    Spans left with no length are dropped: they hold no time to draw."""
    blocks = []
    for span in spans:
        lo, hi = max(span.start_ms, start_ms), min(span.end_ms, end_ms)
        if hi > lo:
            a = span.activity
            blocks.append(Block(lo, hi, a.app, a.title, a.url, a.idle))
    blocks.sort(key=lambda b: b.start_ms)
    return blocks


@dataclass(frozen=True, slots=True)
class Total:
    """Active and idle milliseconds under one label."""

    label: str
    active_ms: int
    idle_ms: int


@dataclass(frozen=True, slots=True)
class TitleTotal:
    title: str
    url: str | None
    active_ms: int
    idle_ms: int


def title_totals(spans: Iterable[Span], app: str, start_ms: int, end_ms: int) -> list[TitleTotal]:
    """Time per (title, URL) of ``app`` within [start_ms, end_ms), spans clipped to
    it, most active first. A browser's tab is told apart by its URL as well as its
    title (two pages may share a title)."""
    sums: dict[tuple[str, str | None], list[int]] = {}
    for span in spans:
        a = span.activity
        if a.app != app:
            continue
        ms = min(span.end_ms, end_ms) - max(span.start_ms, start_ms)
        if ms > 0:
            slot = sums.setdefault((a.title, a.url), [0, 0])
            slot[1 if a.idle else 0] += ms
    return _title_rows(sums)


def merge_title_totals(parts: Iterable[Iterable[TitleTotal]]) -> list[TitleTotal]:
    """Title totals of several ranges (a traveller's days in pieces) as one list."""
    sums: dict[tuple[str, str | None], list[int]] = {}
    for part in parts:
        for row in part:
            slot = sums.setdefault((row.title, row.url), [0, 0])
            slot[0] += row.active_ms
            slot[1] += row.idle_ms
    return _title_rows(sums)


def _title_rows(sums: dict[tuple[str, str | None], list[int]]) -> list[TitleTotal]:
    """Most active first."""
    rows = [TitleTotal(t, u, active, idle) for (t, u), (active, idle) in sums.items()]
    rows.sort(key=lambda r: (-r.active_ms, -r.idle_ms, r.title, r.url or ""))
    return rows


@dataclass
class PersonTotals:
    """One person's time in a range: in all, and per label, most active first."""

    id: str
    name: str
    host: str
    active_ms: int = 0
    idle_ms: int = 0
    items: list[Total] = field(default_factory=list)


def totals_by_person(
    rows: Iterable[tuple[str, str, int, int]], names: dict[str, tuple[str, str]]
) -> list[PersonTotals]:
    """(agent id, label, active ms, idle ms) rows, as people sorted by active time
    (then name); ``names`` gives each agent's (name, host)."""
    people: dict[str, PersonTotals] = {}
    for agent_id, label, active_ms, idle_ms in rows:
        person = people.get(agent_id)
        if person is None:
            name, host = names.get(agent_id, (agent_id, ""))
            person = people[agent_id] = PersonTotals(agent_id, name, host)
        person.items.append(Total(label, active_ms, idle_ms))
        person.active_ms += active_ms
        person.idle_ms += idle_ms
    for person in people.values():
        person.items = sort_totals(person.items)
    return sorted(people.values(), key=lambda p: (-p.active_ms, p.name.lower(), p.id))


def sort_totals(items: Iterable[Total]) -> list[Total]:
    return sorted(items, key=lambda t: (-t.active_ms, -t.idle_ms, t.label))


def top_and_other(items: Sequence[Total], top: int) -> list[Total]:
    """The ``top`` most active labels, and the rest summed as "other" (if any time
    is left there). ``items`` must be sorted, as ``sort_totals`` does."""
    head, rest = list(items[:top]), items[top:]
    active, idle = sum(t.active_ms for t in rest), sum(t.idle_ms for t in rest)
    if active or idle:
        head.append(Total(OTHER, active, idle))
    return head


def is_web_url(url: str | None) -> bool:
    """Whether a URL may be a link on the page. Any agent may send any text as a
    URL, so a ``javascript:`` or ``data:`` one is shown as text, never followed."""
    return url is not None and url.lower().startswith(("http://", "https://"))


def colour(label: str) -> str:
    """A colour of its own for each label, the same on every page and every day:
    a hue from a stable hash of the name (Python's hash() changes per process)."""
    if label == OTHER:
        return "hsl(220 9% 62%)"
    return hue_colour(zlib.crc32(label.encode()) % 360)


def hue_colour(hue: int) -> str:
    return f"hsl({hue} 62% 48%)"
