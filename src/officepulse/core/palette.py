"""Colours that tell apps apart: a colour-blind-safe qualitative palette, given out by
rank, and the same colour for an app everywhere on one page.

The palette is Paul Tol's "muted" scheme (https://personal.sron.nl/~pault/, "Qualitative
colour schemes"): nine colours that stay distinct for the common forms of colour
blindness (on dark pages two of them lightened, ``CHART_COLOURS``). A page makes one
``Palette`` from its charts, most used first: each app takes the first colour no app
sharing a chart with it has, so neighbours in a bar never share one, the most used apps
get the first colours, and an app keeps its colour in every chart of the page. "other"
(the rest, summed) and idle time are neutral greys, never palette colours (CSS
variables, so dark mode has its own).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from officepulse.core.reports import OTHER, Total

# Paul Tol's "muted", in his order (the first colours are the most distinct).
TOL_MUTED = (
    "#CC6677",  # rose
    "#332288",  # indigo
    "#DDCC77",  # sand
    "#117733",  # green
    "#88CCEE",  # cyan
    "#882255",  # wine
    "#44AA99",  # teal
    "#999933",  # olive
    "#AA4499",  # purple
)
# What charts fill with: each colour by a CSS variable (panel/static/officepulse.css), so
# that dark mode can lighten the two whose contrast with a dark page is too low to see a
# bar by (indigo 1.4:1, wine 2.0:1; lightened to 3.8 and 3.1 with the same hue, keeping
# the scheme's distance between colours for each form of colour blindness). Avatars keep
# the colours themselves (their initials' ink is chosen against them).
CHART_COLOURS = tuple(
    f"var(--app-{name})"
    for name in ("rose", "indigo", "sand", "green", "cyan", "wine", "teal", "olive", "purple")
)
IDLE = "idle"
OTHER_COLOUR = "var(--app-other)"
IDLE_COLOUR = "var(--app-idle)"


class Palette:
    """Colours for the apps of one page. ``charts``: each chart's labels in the order it
    ranks them (most time first), the page's main chart first; ``order``: who chooses
    first (default: the order labels first appear in ``charts``).

    Each app gets one colour for the whole page: in ``order``, the first colour that no
    app sharing a chart with it has already (greedy graph colouring), so that the most
    used apps get the first colours and no chart shows two apps in one colour. An app
    whose chart-mates took all nine colours (a page of more than nine apps, crowded
    together) is grey, as "other" is, rather than a colour that would repeat beside it."""

    def __init__(
        self,
        charts: Iterable[Sequence[str]] = (),
        order: Sequence[str] = (),
        colours: Sequence[str] = CHART_COLOURS,
    ) -> None:
        self.colours = tuple(colours)
        mates: dict[str, set[str]] = {}
        for chart in charts:
            labels = [label for label in chart if label not in (OTHER, IDLE)]
            for label in labels:
                mates.setdefault(label, set()).update(labels)
        self._of: dict[str, str] = {}
        for label in [*(o for o in order if o in mates), *mates]:
            if label in self._of:
                continue
            near = {self._of[m] for m in mates[label] if m in self._of}
            self._of[label] = next((c for c in self.colours if c not in near), OTHER_COLOUR)

    def __call__(self, label: str) -> str:
        """The label's colour (grey for "other", idle and labels no chart had)."""
        if label == IDLE:
            return IDLE_COLOUR
        return self._of.get(label, OTHER_COLOUR)

    def assigned(self) -> dict[str, str]:
        return dict(self._of)


def team_palette(charts: Sequence[Sequence[Total]], top: int, main: Sequence[str] = ()) -> Palette:
    """The colours of a page of charts, one per person (each ``Total`` list sorted, most
    time first, of which a chart shows the ``top``): the page's most used apps over
    everyone get the first colours, then each chart's own top apps theirs. ``main``: the
    labels of a chart of the whole team (its per-day columns), most used first: they
    choose first and never share a colour with one another."""
    overall: dict[str, int] = {}
    for items in charts:
        for t in items[:top]:
            overall[t.label] = overall.get(t.label, 0) + t.active_ms
    ranked = sorted(overall, key=lambda label: (-overall[label], label))
    bars = [[t.label for t in items[:top]] for items in charts]
    return Palette([list(main), *bars], [*main, *ranked])
