"""What the report pages and API say about whose days count: totals, bars and headings read back."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tests.support.browser import browser as browser  # the fixture, shared

Totals = dict[str, dict[str, tuple[int, int]]]  # agent -> app -> (active ms, idle ms)


def summed(rows: list[dict[str, Any]], key: str, agent: str | None = None) -> Totals:
    """Usage rows of the API summed per agent and ``key`` (app or category), in ms."""
    out: Totals = {}
    for r in rows:
        if agent is not None and r["agent"] != agent:
            continue
        labels = out.setdefault(r["agent"], {})
        active, idle = labels.get(r[key], (0, 0))
        labels[r[key]] = (
            active + round(r["seconds"] * 1000),
            idle + round(r["idle_seconds"] * 1000),
        )
    return out


SECTION = re.compile(
    r'<section class="person-usage" id="usage-(\w+)" data-active-ms="(\d+)" data-idle-ms="(\d+)">'
    r"(.*?)</section>",
    re.S,
)


SEGMENT = re.compile(r'<rect class="segment( idle)?"[^>]*data-label="([^"]*)" data-ms="(\d+)"')


def team_shown(html: str) -> tuple[Totals, dict[str, tuple[int, int]]]:
    """Per person: active time per app as the stacked bar draws it (idle as one piece
    under "idle"), and the totals in the section's heading."""
    bars: Totals = {}
    heads = {}
    for agent, active, idle, body in SECTION.findall(html):
        heads[agent] = (int(active), int(idle))
        bars[agent] = {label: (int(ms), 0) for _, label, ms in SEGMENT.findall(body)}
    return bars, heads


def as_bars(totals: Totals) -> Totals:
    """The API's totals as the team's bars draw them (fewer than six apps: no "other")."""
    out: Totals = {}
    for agent, apps in totals.items():
        bar = {app: (active, 0) for app, (active, _) in apps.items() if active}
        idle = sum(i for _, i in apps.values())
        out[agent] = {**bar, **({"idle": (idle, 0)} if idle else {})}
    return out


def heads_of(totals: Totals) -> dict[str, tuple[int, int]]:
    return {
        agent: (sum(a for a, _ in apps.values()), sum(i for _, i in apps.values()))
        for agent, apps in totals.items()
    }


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)
