"""The Categories page in a real browser (the system Chromium, Playwright), on a real
server with spans from a real websocket agent: rules edited, added, moved, saved, reset,
and the re-categorised totals read back through the API. Nothing is mocked."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from officepulse.core.categories import DEFAULT_RULES

# The browser and page fixtures of the dashboard's browser tests (the same Chromium).
from tests.support.browser import Pages, browser, needs_chromium, pages  # noqa: F401 - fixtures
from tests.support.categories import (
    by_category,
    choose_category,
    finished_job,
    recent,
    recent_by,
    send_spans,
)
from tests.support.servers import ServerProcess

pytestmark = needs_chromium

SAVED = "Saved. History is being re-categorised in the background."
DEFAULTS = {"Work > Programming": [300.0, 30.0], "Entertainment > Video": [90.0, 0.0]}


def rows(page: Page) -> int:
    return page.locator("#rules-editor tbody tr").count()


def test_editing_rules_in_the_page_re_categorises_history(
    pages: Pages,  # noqa: F811 - the fixture imported above
    server: ServerProcess,
) -> None:
    send_spans(server)
    assert by_category(server) == DEFAULTS
    page = pages.open("/categories")
    expect(page.get_by_role("link", name="Categories")).to_have_attribute("aria-current", "page")
    n = len(DEFAULT_RULES)
    assert rows(page) == n
    # Rename the first rule's category, then add a rule (the edit survives the draft).
    page.get_by_label("category of rule 1", exact=True).fill("Work > Coding")
    page.get_by_role("button", name="Add a rule").click()
    expect(page.locator("#rules-editor tbody tr")).to_have_count(n + 1)
    expect(page.get_by_label("category of rule 1", exact=True)).to_have_value("Work > Coding")
    page.get_by_label(f"category of rule {n + 1}", exact=True).fill("Work > Learning")
    page.get_by_label(f"pattern of rule {n + 1}", exact=True).fill("lecture")
    page.get_by_label(f"rule {n + 1} looks at the app", exact=True).uncheck()
    page.get_by_label(f"rule {n + 1} looks at the url", exact=True).uncheck()
    # Move it to the top: above the URL rule that would call the lecture a video.
    for position in range(n + 1, 1, -1):
        page.get_by_label(f"move rule {position} up", exact=True).click()
        expect(page.get_by_label(f"category of rule {position - 1}", exact=True)).to_have_value(
            "Work > Learning"
        )
    expect(page.get_by_text("Not saved yet.")).to_be_visible()
    page.get_by_role("button", name="Save and re-categorise").click()
    expect(page.locator("#rules-status")).to_have_text(SAVED)
    # History in the background; the page shows it done (it polls while the job runs):
    # both Code spans (active and idle) and the lecture.
    expect(page.locator("#category-job")).to_contain_text("3 of 4 spans changed category")
    assert by_category(server) == {
        "Work > Coding": [300.0, 30.0],
        "Entertainment > Video": [60.0, 0.0],
        "Work > Learning": [30.0, 0.0],
    }
    rules = server.get("/api/v1/categories")["rules"]
    assert rules[0] == {
        "category": "Work > Learning",
        "pattern": "lecture",
        "fields": ["title"],
        "ignore_case": True,
    }
    assert rules[1]["category"] == "Work > Coding"
    # A bad rule is refused in the page, its row marked; nothing changes.
    page.get_by_label("pattern of rule 2", exact=True).fill("(")
    page.get_by_role("button", name="Save and re-categorise").click()
    expect(page.locator("#rules-error")).to_contain_text(
        "Not saved: rule 2: bad regular expression '('"
    )
    expect(page.locator('tr[data-rule="1"]')).to_have_class("bad")
    assert server.get("/api/v1/categories")["rules"] == rules
    # Delete the lecture rule and reset to the defaults.
    page.get_by_label("delete rule 1", exact=True).click()
    expect(page.locator("#rules-editor tbody tr")).to_have_count(n)
    asked: list[str] = []  # resetting loses the rules written: the page asks first
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Reset to defaults").click()
    expect(page.locator("#rules-status")).to_have_text(SAVED)
    assert finished_job(server, server.get("/api/v1/categories")["job"]["id"])["changed"] == 3
    assert asked == ["Reset the rules to the defaults and re-categorise all history?"]
    expect(page.get_by_label("category of rule 1", exact=True)).to_have_value("Work > Programming")
    assert by_category(server) == DEFAULTS
    pages.assert_no_errors()


TOOL = {"app": "obscure-tool", "title": "drawing"}
SITE = {"app": "firefox", "title": "Example", "url": "https://www.example.com/a"}
TUBE = {"app": "firefox", "title": "cats - YouTube", "url": "https://www.youtube.com/w"}


def listed(page: Page, kind: str) -> list[str]:
    return page.locator(f"#uncategorized li[data-{kind}]").evaluate_all(
        f"items => items.map(li => li.dataset.{kind} + ' ' + li.querySelector('.num').textContent)"
    )


def test_uncategorized_apps_and_sites_get_a_category_in_two_clicks(
    pages: Pages,  # noqa: F811 - the fixture imported above
    server: ServerProcess,
) -> None:
    send_spans(
        server,
        recent(
            [
                (30, TOOL),
                (20, {"app": "Code", "title": "main.py"}),  # in a category by the defaults
                (15, SITE),
                (5, TUBE),  # in a category by its URL
                (10, {"app": "xeyes", "title": "eyes"}),
            ]
        ),
    )
    page = pages.open("/categories")
    # Most time first; a site's time is its browser's too.
    assert listed(page, "app") == ["obscure-tool 30 min", "firefox 15 min", "xeyes 10 min"]
    assert listed(page, "domain") == ["example.com 15 min"]
    # Two clicks: "Choose a category", then the category. The app's rule is made, the row
    # leaves.
    choose_category(page, "obscure-tool", "Work > Design")
    expect(page.locator("#uncategorized-status")).to_have_text(
        "obscure-tool is now in Work > Design. History is being re-categorised in the background."
    )
    expect(page.locator("#uncategorized li[data-app]")).to_have_count(2)
    assert server.get("/api/v1/categories")["rules"][-1] == {
        "category": "Work > Design",
        "pattern": "^obscure\\-tool$",
        "fields": ["app"],
        "ignore_case": False,
    }
    # A site: its rule takes its URLs; once its job is done, the browser's hour in no
    # category is gone too (the lists are read again when a job ends).
    choose_category(page, "example.com", "Work > Docs")
    expect(page.locator("#uncategorized li[data-domain]")).to_have_count(0)
    expect(page.locator("#category-job")).to_contain_text("History re-categorised")
    expect(page.locator("#uncategorized li[data-app]")).to_have_count(1)
    assert listed(page, "app") == ["xeyes 10 min"]
    by = recent_by(server, "app,category")
    assert by[("obscure-tool", "Work > Design")] == 30 * 60.0
    assert by[("firefox", "Work > Docs")] == 15 * 60.0
    assert by[("firefox", "Entertainment > Video")] == 5 * 60.0
    assert ("obscure-tool", "Uncategorized") not in by
    pages.assert_no_errors()
