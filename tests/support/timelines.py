"""Timelines for tests: made from a seed, and the totals they must give,
reckoned straight from the timeline (independently of the product's code)."""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from officepulse.agent.timeline import Timeline
from officepulse.core.spans import to_ms

APPS = [
    ("Code", "main.py — officepulse — Visual Studio Code"),
    ("Google-chrome", "YouTube — cat video - Google Chrome"),
    ("Slack", "Slack | #general"),
    ("xterm", "vim notes.txt"),
]


def random_day(path: Path, seed: int, hours: float, gaps: tuple[int, int] = (30, 900)) -> Timeline:
    """A day of switches every few minutes (``gaps``: seconds, at least and at most),
    with idle stretches, written to ``path``."""
    rng = random.Random(seed)
    lines = []
    offset = 0
    end = int(hours * 3600)
    while offset < end:
        app, title = rng.choice(APPS)
        idle = rng.random() < 0.1
        lines.append({"offset": offset, "app": app, "title": f"{title} {offset}", "idle": idle})
        offset += rng.randint(*gaps)
    lines.append({"offset": end, "end": True})
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return Timeline.load(path)


def expected(
    timeline: Timeline, start: datetime, lo: datetime, hi: datetime
) -> dict[str, tuple[float, float]]:
    """(active, idle) seconds per app within [lo, hi)."""
    totals: dict[str, list[float]] = {}
    for entry, following in zip(timeline.entries, timeline.entries[1:], strict=False):
        a = max(start + timedelta(seconds=entry.offset), lo)
        b = min(start + timedelta(seconds=following.offset), hi)
        if b > a:
            assert entry.app is not None
            slot = totals.setdefault(entry.app, [0.0, 0.0])
            slot[1 if entry.idle else 0] += (b - a).total_seconds()
    return {app: (v[0], v[1]) for app, v in totals.items()}


def travelling(
    path: Path, seed: int, hours: float, zones: list[tuple[int, str]], gaps: tuple[int, int]
) -> Timeline:
    """Round the clock, switching apps every ``gaps`` seconds (whole minutes), with the
    computer in zone ``tz`` from each ``(offset, tz)`` of ``zones`` on."""
    rng = random.Random(seed)
    lines: list[dict[str, object]] = []
    offset = 0
    end = int(hours * 3600)
    changes = sorted(zones)
    while offset < end:
        app, title = rng.choice(APPS)
        line: dict[str, object] = {"offset": offset, "app": app, "title": title}
        if rng.random() < 0.15:
            line["idle"] = True
        lines.append(line)
        nxt = offset + 60 * rng.randint(gaps[0] // 60, gaps[1] // 60)
        # A zone change starts a line of its own, the app in front unchanged.
        for at, tz in changes:
            if offset <= at < nxt:
                if at == offset:
                    line["tz"] = tz
                else:
                    lines.append({**line, "offset": at, "tz": tz})
        offset = nxt
    lines.append({"offset": end, "end": True})
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return Timeline.load(path)


PAGES = {
    "Google-chrome": [
        ("YouTube — cat video - Google Chrome", "https://www.youtube.com/watch?v=cat"),
        ("YouTube — cat video - Google Chrome", "https://www.youtube.com/watch?v=cat2"),
        ("Docs — Google Chrome", "https://docs.example.com/a"),
    ],
    "Code": [("main.py — officepulse", None), ("test_app.py — officepulse", None)],
    "Slack": [("Slack | #general", None)],
}


def browsing_day(path: Path, seed: int, hours: float) -> Timeline:
    """Switches every few minutes between a few apps, each with a few titles that come
    back (so per-title totals add up several stretches), browser pages with URLs
    (two of them under one title), and idle stretches."""
    rng = random.Random(seed)
    lines: list[dict[str, object]] = []
    offset, end = 0, int(hours * 3600)
    while offset < end:
        app = rng.choice(sorted(PAGES))
        title, url = rng.choice(PAGES[app])
        line: dict[str, object] = {"offset": offset, "app": app, "title": title}
        if url:
            line["url"] = url
        if rng.random() < 0.15:
            line["idle"] = True
        lines.append(line)
        offset += rng.randint(60, 2400)
    lines.append({"offset": end, "end": True})
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return Timeline.load(path)


def expected_days(
    timeline: Timeline, start: datetime, viewer: str | None
) -> dict[tuple[date, str], tuple[float, float]]:
    """(active, idle) seconds per (day, app): days in ``viewer``'s zone, or (None) in the
    zone the timeline had the computer in at each minute. Minute by minute, which is
    exact for timelines in whole minutes and zones whole minutes off UTC."""
    totals: dict[tuple[date, str], list[float]] = {}
    zone = "UTC"
    start = start.astimezone(UTC)  # offsets are elapsed time, not wall-clock time
    for entry, following in zip(timeline.entries, timeline.entries[1:], strict=False):
        zone = entry.tz or zone
        assert entry.app is not None
        here = ZoneInfo(viewer or zone)
        minute = start + timedelta(seconds=entry.offset)
        until = start + timedelta(seconds=following.offset)
        while minute < until:
            slot = totals.setdefault((minute.astimezone(here).date(), entry.app), [0.0, 0.0])
            slot[1 if entry.idle else 0] += 60
            minute += timedelta(minutes=1)
    return {key: (v[0], v[1]) for key, v in totals.items()}


Stretch = tuple[datetime, datetime, str, str, str | None, bool]


def stretches(timeline: Timeline, start: datetime, lo: datetime, hi: datetime) -> list[Stretch]:
    """(from, to, app, title, url, idle) within [lo, hi): each line until the next,
    lines equal to the one before joined (as the server stores them), clipped."""
    joined: list[Stretch] = []
    for entry, following in zip(timeline.entries, timeline.entries[1:], strict=False):
        assert entry.app is not None
        a = start + timedelta(seconds=entry.offset)
        b = start + timedelta(seconds=following.offset)
        what = (entry.app, entry.title, entry.url, entry.idle)
        if joined and joined[-1][2:] == what and joined[-1][1] == a:
            joined[-1] = (joined[-1][0], b, *what)
        else:
            joined.append((a, b, *what))
    out = []
    for a, b, *what in joined:
        a, b = max(a, lo), min(b, hi)
        if b > a:
            out.append((a, b, what[0], what[1], what[2], what[3]))
    return out


@dataclass(frozen=True)
class Person:
    """A scripted person: their timeline and when it starts."""

    timeline: Timeline
    start: datetime


def berlin_people(tmp: Path, seed: int) -> dict[str, Person]:
    """Round the clock, with the computer's zone in the timeline: "kenji" in Berlin from
    Monday 2026-11-23 and in Tokyo from Wednesday 12:00 UTC (13:00 in Berlin, 21:00 in
    Tokyo, so Wednesday is 16 hours long on his own clock) to Saturday 00:00 in
    Berlin; "spring" and "autumn" at home in Berlin across its daylight-saving changes
    (2026-03-29 has 23 hours, 2026-10-25 has 25). Seeds ``seed`` to ``seed + 2``."""
    berlin = ZoneInfo("Europe/Berlin")
    h = 3600
    return {
        "kenji": Person(
            travelling(
                tmp / "kenji.jsonl",
                seed,
                5 * 24,
                [(0, "Europe/Berlin"), (2 * 24 * h + 13 * h, "Asia/Tokyo")],
                (1200, 7200),
            ),
            datetime(2026, 11, 23, tzinfo=berlin),
        ),
        "spring": Person(
            travelling(
                tmp / "spring.jsonl", seed + 1, 3 * 24 - 1, [(0, "Europe/Berlin")], (1800, 9000)
            ),
            datetime(2026, 3, 28, tzinfo=berlin),
        ),
        "autumn": Person(
            travelling(
                tmp / "autumn.jsonl", seed + 2, 3 * 24 + 1, [(0, "Europe/Berlin")], (1800, 9000)
            ),
            datetime(2026, 10, 24, tzinfo=berlin),
        ),
    }


def recorded(journal: Path, start: datetime, timeline: Timeline) -> bool:
    """Whether an agent's journal holds ``timeline`` (replayed from ``start``) to its
    end: all of it has been recorded, and what is not acknowledged waits on disk."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
            (end_ms,) = db.execute("SELECT MAX(end_ms) FROM spans").fetchone()
    except sqlite3.OperationalError:
        return False  # not made yet, or made but without its tables yet
    return bool(end_ms == to_ms(start + timedelta(seconds=timeline.duration)))
