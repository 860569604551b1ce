"""axe-core (npm, pinned in package.json) in a page of the dashboard: no serious or
critical violation, and nothing wider than the window, at a phone's and a desktop's
width, in light and dark colour schemes."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.support.paths import ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (1400, 400)
SCHEMES = ("light", "dark")
# What axe found, each violation as "impact rule: where".
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.impact + " " + v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "));
}"""
WIDTH = "() => [document.scrollingElement.scrollWidth, window.innerWidth]"


def check_every_variant(page: Page, where: str) -> None:
    """At each width and colour scheme: not wider than the window, and no serious or
    critical axe violation."""
    page.add_script_tag(path=str(AXE))
    for scheme in SCHEMES:
        # Pico eases colours from one scheme to the other, unless the viewer asks for
        # less motion: then the colours axe reads are the scheme's own at once.
        page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            what = f"{where} at {width} px, {scheme}"
            scroll, inner = page.evaluate(WIDTH)
            assert scroll <= inner, f"{what} is {scroll} px wide: it scrolls sideways"
            assert page.evaluate(AXE_RUN) == [], what
