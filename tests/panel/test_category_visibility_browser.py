"""What a person keeps from others stays theirs on the Categories page, in a real browser
(the system Chromium) on a real server with real agent connections and people made with
the real CLI. Bob shows others the app only, and watches YouTube in Firefox (live, and a
rule on the URL calls it "Entertainment > Video"): Ann sees his Firefox time in no
category, and none of his sites; Bob sees his own as the rules say."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import CHROMIUM, browser
from tests.support.fake_agent import fake_agent
from tests.support.people_office import PASSWORDS, add_people, heartbeat
from tests.support.servers import ServerProcess, start_server

__all__ = ["browser"]  # a fixture, used by name

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium")

TUBE = "https://www.youtube.com/watch?v=cats"


@pytest.fixture
def office(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_server(tmp_path)
    with ExitStack() as stack:
        ann = stack.enter_context(fake_agent(server, "a-ann", "Ann"))
        bob = stack.enter_context(fake_agent(server, "a-bob", "Bob"))
        for ago in range(300, -1, -20):  # five minutes each, going on now
            ann.send(heartbeat("Code", "main.py", ago))
            bob.send(heartbeat("Firefox", "cats - YouTube", ago, url=TUBE))
        ann.sync()
        bob.sync()
        add_people(server.database)
        yield server
    server.stop()


def categories_of(browser: Browser, server: ServerProcess, login: str) -> Page:
    """The Categories page as ``login`` sees it, signed in through the form."""
    page = browser.new_context().new_page()
    page.goto(server.url + "/signin?next=/categories")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(PASSWORDS[login])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + "/categories")
    return page


def test_an_app_level_persons_time_is_categorised_by_the_app_alone_for_others(
    browser: Browser, office: ServerProcess
) -> None:
    ann = categories_of(browser, office, "ann")
    tree = ann.locator(".category-tree")
    expect(tree).to_contain_text("Programming")
    expect(tree).to_contain_text("Uncategorized")
    expect(tree).not_to_contain_text("Entertainment")
    expect(ann.locator("#uncategorized li[data-app]")).to_have_count(1)
    expect(ann.locator('#uncategorized li[data-app="Firefox"]')).to_contain_text("min")
    expect(ann.locator("#uncategorized li[data-domain]")).to_have_count(0)
    ann.context.close()

    bob = categories_of(browser, office, "bob")
    expect(bob.locator(".category-tree")).to_contain_text("Entertainment")
    expect(bob.locator(".category-tree")).to_contain_text("Video")
    expect(bob.locator("#uncategorized li[data-app]")).to_have_count(0)
    # A member reads the list without the choice, which is an admin's.
    expect(bob.get_by_text("Every app is in a category.")).to_be_visible()
    bob.context.close()
