"""Timelines for tests: made from a seed, and the totals they must give,
reckoned straight from the timeline (independently of the product's code)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from officepulse.agent.timeline import Timeline

APPS = [
    ("Code", "main.py — officepulse — Visual Studio Code"),
    ("Google-chrome", "YouTube — cat video - Google Chrome"),
    ("Slack", "Slack | #general"),
    ("xterm", "vim notes.txt"),
]


def random_day(path: Path, seed: int, hours: float) -> Timeline:
    """A day of switches every few minutes, with idle stretches, written to ``path``."""
    rng = random.Random(seed)
    lines = []
    offset = 0
    end = int(hours * 3600)
    while offset < end:
        app, title = rng.choice(APPS)
        idle = rng.random() < 0.1
        lines.append({"offset": offset, "app": app, "title": f"{title} {offset}", "idle": idle})
        offset += rng.randint(30, 900)
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
