"""The reports by category, end to end: real agent processes replay days that hit
several categories (the default rules: programming and its terminals, chat, video,
uncategorised pages) into a real server; the team view's bars "by category" and a
person's category chart show what GET /api/v1/usage?group_by=agent,category gives,
added up per top-level category, over HTTP and in headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import Pages
from tests.support.browser import browser as browser  # the fixture, shared
from tests.support.processes import stop
from tests.support.report_api import fetch
from tests.support.report_days import Totals, as_bars, heads_of, summed, team_shown
from tests.support.servers import ServerProcess, start_agent, start_server
from tests.support.timelines import browsing_day, random_day

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
FIRST, LAST = "2026-11-02", "2026-11-03"
VIEWER = "Asia/Tokyo"  # the viewer's days cut the replayed days in two


@dataclass
class Office:
    server: ServerProcess


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    tmp = tmp_path_factory.mktemp("report-categories")
    # "coder": Code, xterm, Slack, YouTube by its title; "browser": pages by URL, some
    # of which no rule knows.
    random_day(tmp / "coder.jsonl", 3, 30)
    browsing_day(tmp / "browser.jsonl", 4, 30)
    server = start_server(tmp / "srv")
    agents = []
    try:
        for name in ("coder", "browser"):
            agents.append(
                start_agent(
                    server,
                    tmp / name,
                    *("--agent-id", name, "--name", name.title()),
                    *("--source", "scripted", "--timeline", str(tmp / f"{name}.jsonl")),
                    *("--speed", "0", "--start", START.isoformat()),
                    TZ="UTC",
                )
            )
        for agent in agents:
            agent.wait(120)
            out = stop(agent)
            assert agent.returncode == 0, out
            assert "every span was acknowledged by the server" in out, out
        yield Office(server)
    finally:
        for agent in agents:
            if agent.poll() is None:
                stop(agent)
        server.stop()


# -- what the API says ---------------------------------------------------------------------


def api_categories(server: ServerProcess, mode: str, agent: str | None = None) -> Totals:
    """Time per agent and category (exactly in it, not in its sub-categories), in ms:
    /api/v1/usage for the viewer's days, /api/v1/usage/days summed for a person's own."""
    if mode == "viewer":
        query = urlencode(
            {
                "start": f"{FIRST}T00:00:00+09:00",
                "end": "2026-11-04T00:00:00+09:00",
                "group_by": "agent,category",
            }
        )
        rows = server.get(f"/api/v1/usage?{query}")["rows"]
    else:
        query = urlencode(
            {"from": FIRST, "to": LAST, "day": "person", "group_by": "agent,category"}
        )
        rows = server.get(f"/api/v1/usage/days?{query}")["rows"]
    return summed(rows, "category", agent)


def under(totals: dict[str, tuple[int, int]], path: str) -> tuple[int, int]:
    """A category's time with its sub-categories'."""
    inside = [v for k, v in totals.items() if k == path or k.startswith(path + " > ")]
    return sum(a for a, _ in inside), sum(i for _, i in inside)


def top_level(totals: Totals) -> Totals:
    return {
        agent: {top: under(cats, top) for top in {c.split(" > ")[0] for c in cats}}
        for agent, cats in totals.items()
    }


def report_url(path: str, mode: str, **extra: str) -> str:
    query = {"range": "custom", "from": FIRST, "to": LAST, "tz": VIEWER, "day": mode, **extra}
    return f"{path}?{urlencode(query)}"


# -- what the pages show -------------------------------------------------------------------


CATEGORY_ROW = re.compile(
    r'<(?:details|div) class="category[^"]*" data-category="([^"]*)" data-depth="(\d)">\s*'
    r"(?:<summary[^>]*>)?.*?"
    r'<span class="num" data-ms="(\d+)">.*?<span class="num muted" data-ms="(\d+)">',
    re.S,
)


def person_categories(html: str) -> dict[str, tuple[int, int, int]]:
    """Every category row of a person's chart: (depth, active ms, idle ms)."""
    return {
        unescape(path): (int(d), int(a), int(i)) for path, d, a, i in CATEGORY_ROW.findall(html)
    }


@pytest.mark.parametrize("mode", ["viewer", "person"])
def test_the_team_by_category_adds_up_each_top_level_category(office: Office, mode: str) -> None:
    server = office.server
    want = top_level(api_categories(server, mode))
    # Several categories each, under fewer than six top-level ones (so no "other").
    assert {"Work", "Comms", "Entertainment"} <= set(want["coder"])
    assert {"Work", "Entertainment", "Uncategorized"} <= set(want["browser"])
    assert all(len(cats) < 6 for cats in want.values())
    status, html = fetch(server, report_url("/time", mode, by="category"))
    assert status == 200
    assert 'data-by="category"' in html
    bars, heads = team_shown(html)
    assert bars == as_bars(want)
    # The same people and the same totals as by app: only the bars' pieces differ.
    status, by_app = fetch(server, report_url("/time", mode))
    assert 'data-by="app"' in by_app
    assert team_shown(by_app)[1] == heads == heads_of(want)
    assert team_shown(by_app)[0] != bars
    # A category keeps its colour wherever it is drawn, and one of its own.
    fills = {
        label: set(re.findall(rf'style="fill: ([^"]+)" data-label="{label}"', html))
        for label in ("Work", "Comms", "Entertainment")
    }
    assert all(len(f) == 1 for f in fills.values()), fills
    assert len(set.union(*fills.values())) == 3


def test_the_choice_of_bars_is_kept_by_every_link_and_the_form(office: Office) -> None:
    status, html = fetch(office.server, report_url("/time", "person", by="category"))
    assert status == 200
    assert '<input type="hidden" name="by" value="category">' in html
    links = re.findall(r'<a href="([^"]+)" data-days="(\w+)"', html)
    assert {mode for _, mode in links} == {"viewer", "person"}
    assert all("by=category" in url for url, _ in links)
    charts = dict(
        (mode, url.replace("&amp;", "&"))
        for url, mode in re.findall(r'<a href="([^"]+)" data-by="(\w+)"', html)
    )
    assert "by=" not in charts["app"]  # the default, left out of the URL
    assert "day=person" in charts["app"]
    assert "by=category" in charts["category"]
    # By app, the form keeps nothing of it.
    status, html = fetch(office.server, report_url("/time", "viewer"))
    assert 'name="by"' not in html
    assert re.search(r'data-by="app"[^>]*aria-current="true"', html)


def test_a_wrong_choice_of_bars_says_what_is_wrong(office: Office) -> None:
    status, html = fetch(office.server, report_url("/time", "viewer", by="person"))
    assert status == 400
    assert "&#39;by&#39; must be one of app, category, not &#39;person&#39;" in html
    assert 'name="by"' not in html  # not kept: choosing again puts it right


@pytest.mark.parametrize("mode", ["viewer", "person"])
def test_a_persons_categories_are_the_tree_of_their_usage(office: Office, mode: str) -> None:
    server = office.server
    exact = api_categories(server, mode, "coder")["coder"]
    status, html = fetch(server, report_url("/people/coder", mode))
    assert status == 200
    shown = person_categories(html)
    # Every category and each of its ancestors, at its depth, with its sub-categories' time.
    paths = {" > ".join(c.split(" > ")[: n + 1]) for c in exact for n in range(c.count(" > ") + 1)}
    assert set(shown) == paths
    assert {p: (p.count(" > "), *under(exact, p)) for p in paths} == shown
    assert {"Work > Programming", "Work > Programming > Terminal"} <= paths
    # What is exactly "Work > Programming" (Code) is shown apart from its terminals.
    own = re.search(
        r'data-own="Work &gt; Programming">.*?data-ms="(\d+)">.*?data-ms="(\d+)"', html, re.S
    )
    assert own is not None
    assert (int(own[1]), int(own[2])) == exact["Work > Programming"]
    # The top-level categories add up to the person's time, as the apps do.
    total = re.search(r'class="person-total" data-ms="(\d+)"', html)
    assert total is not None
    assert sum(a for d, a, _ in shown.values() if d == 0) == int(total[1])


# -- in a real browser -----------------------------------------------------------------


def page_team(page: Page) -> Totals:
    sections = page.locator("#report section.person-usage").evaluate_all(
        "ss => ss.map(s => [s.id.slice(6), Array.from(s.querySelectorAll('rect.segment'),"
        " r => [r.dataset.label, Number(r.dataset.ms)])])"
    )
    return {agent: {label: (ms, 0) for label, ms in segs} for agent, segs in sections}


def test_bars_by_category_in_the_browser(browser: Browser, office: Office) -> None:
    server = office.server
    pages = Pages(browser, server.url)
    try:
        page = pages.open(report_url("/time", "viewer"), timezone_id=VIEWER)
        expect(page.locator("#report[data-by='app']")).to_be_visible()
        page.get_by_role("link", name="By category").click()
        expect(page.locator("#report[data-by='category'][data-days='viewer']")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/time\?.*by=category"))
        assert page_team(page) == as_bars(top_level(api_categories(server, "viewer")))

        # Each person's own days: still by category.
        page.get_by_role("link", name="each person's own").click()
        expect(page.locator("#report[data-by='category'][data-days='person']")).to_be_visible()
        assert page_team(page) == as_bars(top_level(api_categories(server, "person")))
        # Choosing a range again keeps it too, and so does a reload.
        page.get_by_role("button", name="Show these days").click()
        expect(page.locator("#report[data-by='category'][data-days='person']")).to_be_visible()
        page.reload()
        expect(page.locator("#report[data-by='category'][data-days='person']")).to_be_visible()
        assert page_team(page) == as_bars(top_level(api_categories(server, "person")))

        # Back to apps.
        page.get_by_role("link", name="By app").click()
        expect(page.locator("#report[data-by='app'][data-days='person']")).to_be_visible()
        expect(page).not_to_have_url(re.compile(r"by="))
        assert "Code" in page_team(page)["coder"]

        # A person's categories open to their sub-categories.
        page.get_by_role("link", name="Coder").click()
        expect(page.locator("#report[data-agent='coder']")).to_be_visible()
        programming = page.locator(".categories [data-category='Work > Programming']")
        expect(programming).to_be_hidden()
        page.locator(".categories [data-category='Work'] > summary").click()
        expect(programming).to_be_visible()
        exact = api_categories(server, "person", "coder")["coder"]
        terminal = page.locator(".categories [data-category='Work > Programming > Terminal']")
        expect(terminal).to_be_hidden()
        programming.locator(":scope > summary").click()
        expect(terminal.locator(".num").first).to_have_attribute(
            "data-ms", str(exact["Work > Programming > Terminal"][0])
        )
        shown = page.locator(".categories [data-depth='0']").evaluate_all(
            "rows => rows.map(r => [r.dataset.category,"
            " Number(r.querySelector('.num').dataset.ms)])"
        )
        assert dict(shown) == {top: a for top, (a, _) in top_level({"c": exact})["c"].items()}
        pages.assert_no_errors()
    finally:
        pages.close()
