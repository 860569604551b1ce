"""Names and colours in Chromium, end to end: a real `officepulse agent` reads windows of a
real X server (Xvfb + openbox, WM_CLASS set by xterm's -class) and the desktop entries of
a temporary XDG_DATA_DIRS; the real server stores the names; the office's live card and
the reports show "LibreOffice Writer" where the window class is `libreoffice-writer`; an
admin's name, set through the API or the Apps page, changes what every page shows. And
the charts' colours: distinct side by side, one per app across the page, greys for
"other" and idle. Screenshots go to /tmp/shots-names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from officepulse.core.palette import TOL_MUTED
from tests.support.app_names import desktop_entries, put_json
from tests.support.browser import Pages, needs_chromium
from tests.support.browser import browser as browser
from tests.support.browser import pages as pages
from tests.support.processes import stop, wait_until
from tests.support.servers import ServerProcess, run_agent, start_agent
from tests.support.usage_query import TODAY

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = [needs_chromium, pytest.mark.timeout(150)]

SHOTS = Path("/tmp/shots-names")


def rgb(hex_colour: str) -> str:
    """A #RRGGBB colour as getComputedStyle gives it."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


PALETTE = [rgb(c) for c in TOL_MUTED]
FILL = "els => els.map(e => [e.dataset.label || e.dataset.app, getComputedStyle(e).fill])"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def apps_table(page: Page) -> dict[str, tuple[str, str]]:
    """{raw app: (name shown, its swatch's fill)} off a person's Apps table."""
    rows = page.locator("#report .apps tr[data-app]").evaluate_all(
        "rows => rows.map(r => [r.dataset.app, r.querySelector('a').textContent.trim(),"
        " getComputedStyle(r.querySelector('svg.swatch rect')).fill])"
    )
    return {app: (name, fill) for app, name, fill in rows}


def test_desktop_names_reach_the_office_and_the_reports(
    xserver: XServer, server: ServerProcess, pages: Pages, tmp_path: Path
) -> None:
    writer = xserver.xterm("libreoffice-writer", "report.odt - LibreOffice Writer")
    code = xserver.xterm("Code", "main.py - Visual Studio Code")
    term = xserver.xterm("XTerm", "bash")
    xserver.activate(writer)
    agent = start_agent(
        server,
        tmp_path,
        *("--agent-id", "desk", "--name", "Dana", "--source", "x11", "--poll-interval", "0.2"),
        DISPLAY=xserver.display,
        **desktop_entries(tmp_path),
    )
    try:
        office = pages.open_office()
        card = office.locator("#agent-desk p.app")
        expect(card).to_have_text("LibreOffice Writer")
        expect(card).to_have_attribute("data-app", "libreoffice-writer")
        # Its launcher's icon (hicolor, 48 px) came with the name, and the card shows it.
        icon = office.locator("#agent-desk img.app-icon")
        expect(icon).to_have_attribute("src", "/app-icon?app=libreoffice-writer")
        wait_until(
            lambda: icon.evaluate("i => i.complete && i.naturalWidth") == 48,
            what="the icon loaded in the card",
        )
        shot(office, "office-writer")
        xserver.activate(code)
        expect(card).to_have_text("Visual Studio Code")  # by StartupWMClass=Code
        xserver.activate(term)
        expect(card).to_have_text("XTerm")  # its entry is Hidden: the class it is
        # An admin's name: the open office follows without a reload.
        status, body = put_json(server, "/api/v1/app-names", {"app": "XTerm", "name": "Terminal"})
        assert status == 200, body
        expect(card).to_have_text("Terminal")
        shot(office, "office-override")
        xserver.activate(writer)  # closes the XTerm span: all three are stored
        wait_until(
            lambda: len(server.get(f"/api/v1/usage?{TODAY}&group_by=app")["rows"]) == 3,
            what="the three apps' spans stored",
        )
    finally:
        out = stop(agent)
    assert "Traceback" not in out
    rows = server.get(f"/api/v1/usage?{TODAY}&group_by=app")["rows"]
    assert {r["app"]: r["app_name"] for r in rows} == {
        "libreoffice-writer": "LibreOffice Writer",
        "Code": "Visual Studio Code",
        "XTerm": "Terminal",
    }

    person = pages.open("/people/desk")
    expect(person.locator("#report[data-agent='desk']")).to_be_visible()
    shown = apps_table(person)
    assert {app: name for app, (name, _) in shown.items()} == {
        "libreoffice-writer": "LibreOffice Writer",
        "Code": "Visual Studio Code",
        "XTerm": "Terminal",
    }
    # Colours: the palette's first three, one per app, and the day's blocks in the same.
    fills = {app: fill for app, (_, fill) in shown.items()}
    assert sorted(fills.values()) == sorted(PALETTE[:3])
    blocks = person.locator("#timeline svg.timeline rect.block:not(.idle)").evaluate_all(FILL)
    assert blocks
    assert all(fills[app] == fill for app, fill in blocks), (blocks, fills)
    titles = person.locator("#timeline svg.timeline rect.block title").all_text_contents()
    assert any(t.startswith("LibreOffice Writer — report.odt") for t in titles), titles
    shot(person, "person-report")

    # The Apps page: the admin names Code "VS Code" with the form.
    apps = pages.open("/apps")
    row = apps.locator("tr[data-app='Code']")
    expect(row.locator("td.shown")).to_have_text("Visual Studio Code")
    expect(apps.locator("tr[data-app='libreoffice-writer'] td").nth(2)).to_have_text(
        "LibreOffice Writer"
    )
    row.get_by_label("name to show Code by").fill("VS Code")
    row.get_by_role("button", name="Save").click()
    expect(apps.locator("p.notice[role='status']")).to_have_text("Saved: Code is shown as VS Code.")
    expect(apps.locator("tr[data-app='Code'] td.shown")).to_have_text("VS Code")
    shot(apps, "apps-page")
    team = pages.open("/time")
    legend = team.locator("#usage-desk .legend li")
    expect(legend.filter(has_text="VS Code")).to_have_count(1)
    expect(legend.filter(has_text="LibreOffice Writer")).to_have_count(1)
    shot(team, "team-report")
    pages.assert_no_errors()


# Seven apps and an idle stretch for Ann; three of the same apps for Ben, in another order.
ANN = [
    *(
        {"offset": 600 * i, "app": app, "title": f"{app} work"}
        for i, app in enumerate(["Code", "Google-chrome", "Slack", "Zoom", "Gimp", "Inkscape"])
    ),
    {"offset": 3600, "app": "Code", "title": "more code"},
    {"offset": 5400, "app": "Evince", "title": "paper.pdf"},
    {"offset": 5460, "app": "Evince", "title": "paper.pdf", "idle": True},
    {"offset": 6000, "end": True},
]
BEN = [
    {"offset": 0, "app": "Slack", "title": "#general"},
    {"offset": 2400, "app": "Google-chrome", "title": "docs"},
    {"offset": 2700, "app": "Code", "title": "fix.py"},
    {"offset": 3000, "end": True},
]


def test_chart_colours_tell_apps_apart_and_stay_the_same_across_the_page(
    server: ServerProcess, pages: Pages, tmp_path: Path
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    for agent_id, lines in {"ann": ANN, "ben": BEN}.items():
        timeline = tmp_path / f"{agent_id}.jsonl"
        timeline.write_text("".join(json.dumps(line) + "\n" for line in lines))
        done = run_agent(
            server,
            tmp_path / agent_id,
            *("--source", "scripted", "--timeline", str(timeline), "--speed", "0"),
            *("--start", start.isoformat(), "--agent-id", agent_id, "--name", agent_id.title()),
        )
        assert done.returncode == 0, done.stdout + done.stderr
    page = pages.open("/time")
    # The last seven days: the timelines ended in the last two hours, which just after
    # midnight (UTC, the browser's zone) began yesterday.
    page.get_by_role("button", name="Last 7 days").click()
    expect(page.locator("#report[data-range='7d'] #usage-ann")).to_be_visible()
    shot(page, "team-colours")
    charts: dict[str, list[Any]] = {}
    for who in ("ann", "ben"):
        section = page.locator(f"#usage-{who}")
        charts[who] = section.locator("svg.stack rect.segment").evaluate_all(FILL)
        legend = dict(
            section.locator(".legend li").evaluate_all(
                "lis => lis.map(li => [li.dataset.label,"
                " getComputedStyle(li.querySelector('svg.swatch rect')).fill])"
            )
        )
        # Each segment's colour is its legend's, and side by side no two are alike.
        assert {label: fill for label, fill in charts[who]} == legend
        fills = [fill for _, fill in charts[who]]
        assert len(set(fills)) == len(fills), charts[who]
    ann = dict(charts["ann"])
    # Ann's top five apps get palette colours; the rest is "other", and idle is apart.
    labels = [label for label, _ in charts["ann"]]
    assert labels[-2:] == ["other", "idle"]
    assert len(labels) == 7
    assert {"other", "idle"} <= ann.keys()
    for label, fill in ann.items():
        if label in ("other", "idle"):
            assert fill not in PALETTE
            r, g, b = (int(x) for x in fill[4:-1].split(", "))
            assert max(r, g, b) - min(r, g, b) <= 4, f"{label} is not a neutral grey: {fill}"
        else:
            assert fill in PALETTE, (label, fill)
    assert ann["other"] != ann["idle"]
    # The same app is the same colour in both people's bars.
    ben = dict(charts["ben"])
    for app in ben.keys() & ann.keys():
        assert ben[app] == ann[app], app
    # Labelled: the legend says "other" and "idle" in words.
    legend_text = page.locator("#usage-ann .legend").inner_text()
    assert "other" in legend_text
    assert "idle" in legend_text
    pages.assert_no_errors()
