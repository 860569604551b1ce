"""The Categories page in a real browser (the system Chromium, Playwright), on a real
server with spans from a real websocket agent: rules edited, added, moved, saved, reset,
and the re-categorised totals read back through the API. Nothing is mocked."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from officepulse.core.categories import DEFAULT_RULES

# The browser and page fixtures of the dashboard's browser tests (the same Chromium).
from tests.support.browser import Pages, browser, needs_chromium, pages  # noqa: F401 - fixtures
from tests.support.categories import by_category, send_spans
from tests.support.servers import ServerProcess

pytestmark = needs_chromium

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
    # Both Code spans (active and idle) and the lecture.
    expect(page.locator("#rules-status")).to_have_text("Saved. 3 spans re-categorised.")
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
    expect(page.locator("#rules-status")).to_have_text("Saved. 3 spans re-categorised.")
    assert asked == ["Reset the rules to the defaults and re-categorise all history?"]
    expect(page.get_by_label("category of rule 1", exact=True)).to_have_value("Work > Programming")
    assert by_category(server) == DEFAULTS
    pages.assert_no_errors()
