"""The charts' templates (panel/templates/charts.html) rendered alone, for what the
browser tests' data never reaches: a heat map of a few minutes."""

from __future__ import annotations

import re
from datetime import date, timedelta

from officepulse.core.heatmap import heat_map
from officepulse.panel.views import Views

S = 1000
M = 60 * S
MONDAY = date(2026, 11, 23)


def legend(totals: dict[tuple[int, int], int]) -> list[str]:
    charts = Views(assets_ok=True).env.get_template("charts.html").make_module({})
    week = [MONDAY + timedelta(days=n) for n in range(7)]
    html = str(charts.heat_legend(heat_map(totals, week)))
    return re.findall(r"up to ([^<]+)</li>", html)


def test_a_heat_maps_scale_says_each_shade_apart_however_little_the_time() -> None:
    # Two minutes at the busiest: shades 24 s apart, no two written alike.
    assert legend({(0, 9): 2 * M, (1, 10): 30 * S}) == [
        "24 s",
        "48 s",
        "1 min 12 s",
        "1 min 36 s",
        "2 min 00 s",
    ]
    # Hours at the busiest: minutes, as everywhere else on the page.
    assert legend({(0, 9): 5 * 60 * M}) == [
        "1 h 00 min",
        "2 h 00 min",
        "3 h 00 min",
        "4 h 00 min",
        "5 h 00 min",
    ]
    assert legend({}) == []  # nothing: "nothing" alone
