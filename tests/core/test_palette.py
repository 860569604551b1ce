"""core/palette.py: colour-blind-safe colours by rank, distinct within a chart, the same
for an app across the page, greys for "other" and idle."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from officepulse.core.office import contrast
from officepulse.core.palette import (
    CHART_COLOURS,
    IDLE_COLOUR,
    OTHER_COLOUR,
    TOL_MUTED,
    Palette,
    team_palette,
)
from officepulse.core.reports import Total
from tests.support import paths


def test_the_most_used_apps_take_the_first_colours_in_order() -> None:
    paint = Palette([["Code", "Google-chrome", "Slack"]])
    assert [paint(a) for a in ("Code", "Google-chrome", "Slack")] == list(CHART_COLOURS[:3])


def test_other_and_idle_are_greys_never_palette_colours() -> None:
    paint = Palette([["Code", "other", "idle"]])
    assert paint("other") == OTHER_COLOUR
    assert paint("idle") == IDLE_COLOUR
    assert OTHER_COLOUR != IDLE_COLOUR
    assert {OTHER_COLOUR, IDLE_COLOUR}.isdisjoint(CHART_COLOURS)
    assert paint("never-charted") == OTHER_COLOUR


def test_the_palette_has_nine_distinct_colours() -> None:
    assert len(set(CHART_COLOURS)) == len(CHART_COLOURS) == len(TOL_MUTED) == 9


def test_more_apps_than_colours_in_one_chart_leaves_the_rest_grey() -> None:
    apps = [f"app{i}" for i in range(12)]
    paint = Palette([apps])
    assert [paint(a) for a in apps[:9]] == list(CHART_COLOURS)
    assert {paint(a) for a in apps[9:]} == {OTHER_COLOUR}


charts = st.lists(
    st.lists(st.sampled_from([f"app{i}" for i in range(15)]), max_size=9, unique=True),
    min_size=1,
    max_size=8,
)


@given(charts)
def test_each_chart_has_distinct_colours_and_each_app_one_colour(pages: list[list[str]]) -> None:
    paint = Palette(pages)
    coloured = paint.assigned()
    for chart in pages:
        colours = [paint(a) for a in chart if paint(a) != OTHER_COLOUR]
        assert len(set(colours)) == len(colours), (chart, colours)
    for app, colour in coloured.items():
        if colour == OTHER_COLOUR:  # grey only when its chart-mates took all nine
            mates = {m for chart in pages if app in chart for m in chart if m != app}
            assert {coloured[m] for m in mates} >= set(CHART_COLOURS), app
    # Stable: asking again, in any order, gives what the page was drawn with.
    for chart in reversed(pages):
        assert all(paint(a) == coloured[a] for a in chart)


def test_apps_sharing_a_chart_never_share_a_colour_even_across_many_charts() -> None:
    # Chosen to catch a palette that colours chart by chart: a and b get one colour each
    # in charts of their own, then meet.
    paint = Palette([["a"], ["b"], ["a", "b"]])
    assert paint("a") != paint("b")


def test_a_team_page_ranks_apps_over_everyone_then_keeps_them() -> None:
    alice = [Total("Code", 5000, 0), Total("Slack", 1000, 0), Total("Firefox", 500, 0)]
    bob = [Total("Firefox", 9000, 0), Total("Code", 100, 0)]
    paint = team_palette([alice, bob], top=5)
    # Over both: Firefox 9500, Code 5100, Slack 1000.
    assert [paint("Firefox"), paint("Code"), paint("Slack")] == list(CHART_COLOURS[:3])


def test_a_team_page_with_many_apps_keeps_each_chart_distinct() -> None:
    people = [[Total(f"app{(p * 3 + i) % 14}", 1000 - i, 0) for i in range(5)] for p in range(10)]
    paint = team_palette(people, top=5)
    for items in people:
        colours = [paint(t.label) for t in items]
        assert len(set(colours)) == 5
        assert OTHER_COLOUR not in colours


def test_the_teams_own_chart_chooses_first_and_never_repeats_a_colour() -> None:
    # Ten people with five apps each; the team's columns show its top five, of all.
    people = [[Total(f"app{(p * 3 + i) % 14}", 1000 - i, 0) for i in range(5)] for p in range(10)]
    main = ["app13", "app2", "app7", "app0", "app9"]
    paint = team_palette(people, top=5, main=main)
    assert [paint(label) for label in main] == list(CHART_COLOURS[:5])
    for items in people:  # each person's bar stays distinct too
        assert len({paint(t.label) for t in items}) == 5


def _app_colours(rules: str) -> dict[str, str]:
    return dict(re.findall(r"--app-([a-z]+): (#[0-9a-f]{6})", rules))


def test_the_stylesheet_gives_each_chart_colour_tols_muted_and_dark_mode_enough_contrast() -> None:
    css = (paths.ROOT / "src/officepulse/panel/static/officepulse.css").read_text()
    names = [c.removeprefix("var(--app-").removesuffix(")") for c in CHART_COLOURS]
    light_rules, dark_rules = re.findall(
        r"(?:@media \(prefers-color-scheme: dark\) \{ )?"
        r":root \{ --app-(?:rose|indigo)[^}]*\}",
        css,
    )
    light = _app_colours(light_rules)
    assert [light[n].upper() for n in names] == list(TOL_MUTED)
    # On dark, every colour keeps at least 3:1 (WCAG's for graphics) against Pico's dark
    # card, on which the charts are drawn (muted's indigo had 1.4:1, its wine 2.0:1).
    pico = (paths.ROOT / "node_modules/@picocss/pico/css/pico.min.css").read_text()
    dark_card = re.findall(r"--pico-card-background-color:(#[0-9a-f]{6})", pico)[0]
    dark = {**light, **_app_colours(dark_rules)}
    low = {n: round(contrast(dark[n], dark_card), 2) for n in names}
    assert {n: c for n, c in low.items() if c < 3} == {}
