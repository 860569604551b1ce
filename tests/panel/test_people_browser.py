"""Signing in and the office at each person's level, in real headless Chromium against
a real server process (Playwright, as tests/panel/test_dashboard_browser.py does)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import CHROMIUM, browser
from tests.support.people_office import ANN_TITLE, BOB_TITLE, PASSWORDS, Office, cli_ok, office

__all__ = ["browser", "office"]  # fixtures, used by name

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium")


@pytest.fixture
def page(browser: Browser, office: Office) -> Iterator[Page]:
    """A page in a browser context of its own, closed before the office's server stops;
    no uncaught script error on it."""
    context = browser.new_context()
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert errors == []


def sign_in(page: Page, office: Office, login: str) -> None:
    page.goto(office.url + "/")
    expect(page).to_have_url(re.compile(r"/signin\?next=(%2F|/)$"))
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(PASSWORDS[login])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(office.url + "/")
    expect(page.locator("#live")).to_have_attribute("data-state", "open")


def test_member_signs_in_and_sees_others_at_their_level_live(page: Page, office: Office) -> None:
    sign_in(page, office, "bob")
    ann, bob = page.locator("#agent-a-ann"), page.locator("#agent-a-bob")
    expect(ann.locator(".app")).to_have_text("Code")
    expect(ann.locator(".title")).to_have_count(0)
    expect(bob.locator(".title")).to_have_text(BOB_TITLE)
    expect(page.locator(".open-mode")).to_have_count(0)
    # A live change reaches Bob at Ann's level: the app, never the title.
    office.agents["a-ann"].beat("Terminal", "Ann-live-secret")
    expect(ann.locator(".app")).to_have_text("Terminal")
    expect(ann.locator(".title")).to_have_count(0)
    assert "Ann-live-secret" not in page.content()
    assert ANN_TITLE not in page.content()
    # The time page: apps per person, at each one's level.
    page.get_by_role("link", name="Time").click()
    expect(page.locator("#usage-a-ann")).to_contain_text("Code")

    # My account: Bob shows everything from now on (the form carries its CSRF token).
    page.get_by_role("link", name="My account").click()
    page.get_by_label("Everything: app and window title").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_have_text("Saved: others now see full")
    assert "bob\tBob\tmember\tfull" in cli_ok(office.database, "people", "list")
    # Another person's page is not Bob's to see (their name is a link on the office).
    page.goto(office.url + "/people/a-ann?range=today&tz=UTC")
    expect(page.locator("body")).to_contain_text("You may see your own detail only.")
    assert ANN_TITLE not in page.content()
    page.goto(office.url + "/account")
    # No People or Audit pages for a member.
    expect(page.get_by_role("link", name="People")).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(office.url + "/signin")
    page.goto(office.url + "/")
    expect(page).to_have_url(re.compile(r"/signin"))


def test_a_cross_site_form_post_is_refused_in_the_browser(page: Page, office: Office) -> None:
    sign_in(page, office, "bob")
    page.goto(office.url + "/account")
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    assert token
    # Another site's page (here: a blank page of no origin) posts a form at the office,
    # even with the right token. Chromium keeps the SameSite=Lax cookie off a
    # cross-site POST, so it arrives signed out (the Origin check behind it is
    # tested over HTTP in test_people.py); either way it is refused.
    attacker = page.context.new_page()
    attacker.set_content(
        f'<form method="post" action="{office.url}/account/visibility">'
        f'<input name="visibility" value="full"><input name="csrf" value="{token}">'
        "<button>go</button></form>"
    )
    with attacker.expect_navigation():
        attacker.get_by_role("button", name="go").click()
    refusal = attacker.content()
    assert "sign in first" in refusal or "cross-site request refused" in refusal
    assert "bob\tBob\tmember\tapp" in cli_ok(office.database, "people", "list")


def test_admin_sees_people_and_audit_pages(page: Page, office: Office) -> None:
    sign_in(page, office, "ann")
    expect(page.locator("#agent-a-ann .title")).to_have_text(ANN_TITLE)  # her own
    expect(page.locator("#agent-a-bob .title")).to_have_count(0)  # Bob shows the app
    page.get_by_role("link", name="People").click()
    page.get_by_label("owner of a-bob").select_option("ann")
    page.locator("#owner-a-bob").get_by_role("button", name="Assign").click()
    expect(page.locator(".notice")).to_have_text("Agent a-bob now belongs to ann.")
    page.get_by_role("link", name="Audit").click()
    expect(page.locator('tr[data-action="agent.assign"]').first).to_contain_text("a-bob")
    expect(page.locator('tr[data-action="sign-in"]').first).to_contain_text("ann")


def test_a_person_added_with_the_forms_defaults_is_a_member(page: Page, office: Office) -> None:
    sign_in(page, office, "ann")
    page.get_by_role("link", name="People").click()
    form = page.locator('form[action="/admin/people"]')
    role = form.get_by_label("Role")
    expect(role).to_have_value("member")  # an admin is made on purpose, never by default
    form.get_by_label("Login").fill("dan")
    form.get_by_label("Password").fill("dan-password-4")
    form.get_by_role("button", name="Add").click()
    expect(page.locator(".notice")).to_contain_text("Added dan")
    assert "dan\tdan\tmember\t" in cli_ok(office.database, "people", "list")
