"""Every page of the dashboard as one product, in real headless Chromium against a real
server process with real agents and people (tests/people_office.py): axe-core (npm,
pinned in package.json) finds no serious or critical violation on any page, signed in
as an admin, as a member and signed out; no page is wider than the screen at 400 px or
at a desktop's width, in light and in dark colour schemes; signed-out visitors see the
sign-in only; error pages are pages of the dashboard; and the office and the reports
work from the keyboard alone (Tab reaches every control, focus shows, Enter and Space
act)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.axe import check_every_variant
from tests.support.browser import CHROMIUM, browser
from tests.support.people_office import PASSWORDS, Office, running_office

__all__ = ["browser"]  # the fixture, used by name

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium")

# Each page a visitor can reach, with what shows that it has loaded (its heading).
TODAY = "range=today&tz=UTC"
PAGES: dict[str, list[tuple[str, str]]] = {
    "signed-out": [("/signin", "Sign in"), ("/no-such-page", "Page not found")],
    "ann": [  # an admin
        ("/", "Office"),
        (f"/time?{TODAY}", "Time spent"),
        (f"/people/a-ann?{TODAY}", "Ann"),
        ("/categories", "Categories"),
        ("/agents", "Agents"),
        ("/admin/people", "People"),
        ("/admin/audit", "Audit log"),
        ("/account", "My account"),
        ("/no-such-page", "Page not found"),
    ],
    "bob": [  # a member
        ("/", "Office"),
        (f"/time?{TODAY}", "Time spent"),
        (f"/people/a-bob?{TODAY}", "Bob"),
        ("/categories", "Categories"),
        ("/account", "My account"),
        ("/admin/people", "Not for you"),
        (f"/people/a-ann?{TODAY}", "Not for you"),
        ("/no-such-page", "Page not found"),
    ],
}


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    """One office for the module: these tests look, and change nothing another reads."""
    with running_office(tmp_path_factory.mktemp("office")) as opened:
        yield opened


@pytest.fixture
def page(browser: Browser, office: Office) -> Iterator[Page]:
    """A page in a browser context of its own, closed before the office's server stops;
    no uncaught script error and no console error on it."""
    context = browser.new_context(reduced_motion="reduce")
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda e: errors.append(f"{opened.url}: {e}"))
    opened.on(
        "console",
        lambda m: errors.append(f"{opened.url}: {m.text}") if m.type == "error" else None,
    )
    yield opened
    context.close()
    # A 403 or 404 page is logged by Chromium as a failed resource load: that is the page.
    assert [e for e in errors if "status of 40" not in e] == []


def sign_in(page: Page, office: Office, login: str) -> None:
    page.goto(office.url + "/signin")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(PASSWORDS[login])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(office.url + "/")


@pytest.mark.parametrize("who", PAGES)
def test_every_page_passes_axe_and_fits_400px_and_desktop_in_light_and_dark(
    page: Page, office: Office, who: str
) -> None:
    if who != "signed-out":
        sign_in(page, office, who)
    for path, heading in PAGES[who]:
        page.goto(office.url + path)
        expect(page.get_by_role("heading", level=1, name=heading)).to_be_attached()
        if path == "/":
            expect(page.locator("#live")).to_have_attribute("data-state", "open")
        check_every_variant(page, f"{path} ({who})")


def test_signed_out_visitors_see_the_sign_in_only(page: Page, office: Office) -> None:
    page.goto(office.url + "/")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_count(1)  # the name of the product, no more
    for link in ("Office", "Time", "Categories", "Agents"):
        expect(page.get_by_role("link", name=link, exact=True)).to_have_count(0)
    # An unknown page is the dashboard's page, saying so, with the way in.
    response = page.goto(office.url + "/no-such-page")
    assert response is not None
    assert response.status == 404
    expect(page.locator("main h1")).to_have_text("Page not found")
    expect(page.locator("main")).to_contain_text("There is no page at /no-such-page.")
    expect(page.get_by_role("link", name="Office", exact=True)).to_have_count(0)
    expect(page.locator("main").get_by_role("link", name="Sign in")).to_be_visible()


def test_error_pages_are_pages_of_the_dashboard(page: Page, office: Office) -> None:
    sign_in(page, office, "bob")
    response = page.goto(office.url + "/admin/people")
    assert response is not None
    assert response.status == 403
    expect(page.locator("main h1")).to_have_text("Not for you")
    expect(page.locator("main")).to_contain_text("Only an admin may do this.")
    # The member's own menu is there, to go on from.
    expect(page.get_by_role("link", name="My account")).to_be_visible()
    expect(page.get_by_role("link", name="People", exact=True)).to_have_count(0)
    # What a page did not find, it says.
    page.context.clear_cookies()
    sign_in(page, office, "ann")
    response = page.goto(office.url + "/people/nobody-has-this?" + TODAY)
    assert response is not None
    assert response.status == 404
    expect(page.locator("main h1")).to_have_text("Page not found")
    expect(page.locator("main")).to_contain_text("Nobody has the agent id 'nobody-has-this'.")
    # API clients keep their JSON answers.
    page.context.clear_cookies()
    sign_in(page, office, "bob")
    api = page.request.get(office.url + "/api/v1/spans?agent=a-ann")
    assert api.status == 403
    assert api.json() == {"error": "you may see your own detail only"}


def test_the_audit_log_reads_in_words_on_the_viewers_clock(
    browser: Browser, office: Office
) -> None:
    zone = "America/St_Johns"  # UTC-03:30: a wrong zone shows in the minutes too
    context = browser.new_context(timezone_id=zone)
    try:
        page = context.new_page()
        sign_in(page, office, "ann")
        page.goto(office.url + "/admin/audit")
        expect(page.locator("table.audit thead")).to_contain_text(f"When ({zone})")
        row = page.locator('tr[data-action="sign-in"]').first
        expect(row.locator("td.what")).to_have_text("Signed in")
        stamp = row.locator("time").get_attribute("datetime")
        assert stamp is not None
        there = datetime.fromisoformat(stamp).astimezone(ZoneInfo(zone))
        expect(row.locator("time")).to_have_text(there.strftime("%Y-%m-%d %H:%M"))
        words = page.locator("td.what").all_inner_texts()
        assert "Agent assigned" in words
        assert [w for w in words if re.fullmatch(r"[a-z-]+(\.[a-z-]+)?", w)] == []
    finally:
        context.close()


# -- the keyboard -------------------------------------------------------------------------

# Marks the focused element as reached and says whether its focus shows (an outline or
# a ring drawn with box-shadow).
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  el.dataset.tabbed = "1";
  const style = getComputedStyle(el);
  const ring = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
    || (style.boxShadow && style.boxShadow !== "none");
  return {what: el.tagName + " " + (el.textContent || el.name || el.id || "").trim().slice(0, 40),
          shows: ring};
}"""
# Every control a person could use with a mouse: visible, enabled, not taken out of
# the Tab order on purpose.
UNREACHED = """() => Array.from(document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]"))
  .filter(el => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== "hidden" && !el.dataset.tabbed)
  .map(el => el.tagName + " " + (el.textContent || el.name || "").trim().slice(0, 40))"""


def tab_through(page: Page, where: str, limit: int = 150) -> None:
    """Tab from the top of the page until focus leaves it: every control is reached,
    and each shows that it has the focus."""
    page.locator("body").focus()
    hidden: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            break
        if not focused["shows"]:
            hidden.append(focused["what"])
    else:
        pytest.fail(f"{where}: Tab never left the page after {limit} presses")
    assert hidden == [], f"{where}: focus does not show on {hidden}"
    assert page.evaluate(UNREACHED) == [], f"{where}: Tab does not reach these"


def tab_to(page: Page, selector: str, limit: int = 150) -> None:
    """Press Tab until ``selector`` has the focus (it must be in the Tab order)."""
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    pytest.fail(f"Tab never reached {selector}")


def test_the_office_and_the_reports_work_from_the_keyboard(page: Page, office: Office) -> None:
    sign_in(page, office, "ann")
    expect(page.locator("#live")).to_have_attribute("data-state", "open")
    tab_through(page, "the office")
    # The first Tab offers a way past the menu.
    page.locator("body").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the page")).to_be_focused()
    # A person's name opens their report with Enter.
    page.locator("body").focus()
    tab_to(page, "#agent-a-bob .name a")
    page.keyboard.press("Enter")
    expect(page.locator("#report[data-agent='a-bob']")).to_be_visible()
    tab_through(page, "a person's report")

    # The team report: a range chosen with Space, then a person opened with Enter.
    page.goto(office.url + "/time?" + TODAY)
    expect(page.locator("#report[data-range='today']")).to_be_visible()
    tab_through(page, "the team report")
    page.locator("body").focus()
    tab_to(page, "button[data-range='7d']")
    page.keyboard.press("Space")
    expect(page.locator("#report[data-range='7d']")).to_be_visible()
    page.locator("body").focus()
    tab_to(page, "#usage-a-ann h2 a")
    page.keyboard.press("Enter")
    expect(page.locator("#report[data-agent='a-ann'][data-range='7d']")).to_be_visible()
    # An app's titles with Enter; the categories open with Space; the day steps back.
    page.locator("body").focus()
    tab_to(page, "#report tr[data-app='Code'] a")
    page.keyboard.press("Enter")
    expect(page.locator("#titles[data-app='Code'] .title-row")).not_to_have_count(0)
    page.locator("body").focus()
    tab_to(page, "details.blocks > summary")
    page.keyboard.press("Space")
    expect(page.locator("details.blocks")).to_have_attribute("open", "")
    day = page.locator("#timeline").get_attribute("data-day")
    page.locator("body").focus()
    tab_to(page, "#timeline a[rel=prev]")
    page.keyboard.press("Enter")
    expect(page.locator("#timeline")).not_to_have_attribute("data-day", day or "")
