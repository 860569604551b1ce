"""Blocking and removing agents as the team sees it: a real server process, real agent
connections, the real CLI, and dashboards in the system Chromium (Playwright). The one
timing assertion is the issue's protocol requirement: a blocked agent is gone from every
dashboard within one second of the block, measured with the browser's own clock against
the instant the block was stored."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import CHROMIUM, OFFLINE, Pages, assert_not_reloaded, browser, report
from tests.support.fake_agent import fake_agent
from tests.support.processes import WAIT
from tests.support.servers import ServerProcess, admin

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with the dashboard tests

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium")

# What the hub sends to take a card off a dashboard (panel/hub.py, removal()).
REMOVAL = 'id="agent-{}" hx-swap-oob="delete"'


@pytest.fixture
def pages(browser: Browser, server: ServerProcess) -> Iterator[Pages]:
    opened = Pages(browser, server.url)
    yield opened
    opened.close()


def blocked_at_ms(server: ServerProcess, agent_id: str) -> int:
    with sqlite3.connect(server.database) as conn:
        ((at,),) = conn.execute("SELECT blocked_ms FROM agents WHERE id = ?", (agent_id,))
    conn.close()
    assert isinstance(at, int)
    return at


def gone_after_ms(page: Page, agent_id: str, since_ms: int) -> float:
    """Milliseconds from ``since_ms`` until the page swapped in the card's removal."""
    times = page.evaluate(
        "(needle) => window.__wsLog.filter(m => m.msg.includes(needle)).map(m => m.t)",
        REMOVAL.format(agent_id),
    )
    assert times, f"no removal of {agent_id} reached the page"
    return float(times[0]) - since_ms


def cli(server: ServerProcess, *args: str) -> None:
    result = admin(server.database, *args)
    assert result.returncode == 0, result.stderr


def test_an_agent_blocked_from_the_cli_is_gone_from_every_dashboard(
    pages: Pages, server: ServerProcess
) -> None:
    first, second = pages.open_office(), pages.open_office()
    with fake_agent(server, "alice", "Alice") as alice, fake_agent(server, "bob", "Bob") as bob:
        alice.beat("Code", "main.py")
        bob.beat("Slack", "#general")
        for page in (first, second):
            expect(page.locator("#agent-alice .app")).to_have_text("Code")
            expect(page.locator("#office-count")).to_have_text("2 online · 2 people")
        cli(server, "agents", "block", "alice", "--reason", "left the team")
        # Alice's connection is closed with the reason.
        error = json.loads(alice.ws.recv(timeout=WAIT))
        assert (error["code"], error["message"]) == (
            "agent-blocked",
            "this agent was blocked by the team lead: left the team",
        )
        at = blocked_at_ms(server, "alice")
        for name, page in (("first", first), ("second", second)):
            expect(page.locator("#agent-alice")).to_have_count(0)
            expect(page.locator("#office-count")).to_have_text("1 online · 1 person")
            expect(page.locator("#agent-bob .app")).to_have_text("Slack")
            ms = gone_after_ms(page, "alice", at)
            report(f"blocked (CLI) to gone, {name} page", ms)
            assert_not_reloaded(page)
        # A dashboard opened now does not list it; the unblocked agent comes back.
        late = pages.open_office()
        expect(late.locator("#agent-alice")).to_have_count(0)
        cli(server, "agents", "unblock", "alice")
        for page in (first, second, late):
            expect(page.locator("#agent-alice")).to_have_class(OFFLINE)
    pages.assert_no_errors()


def test_the_agents_page_blocks_removes_and_makes_tokens(
    pages: Pages, server: ServerProcess
) -> None:
    first, second = pages.open_office(), pages.open_office()
    admin = pages.open("/agents")
    admin.on("dialog", lambda dialog: dialog.accept())  # "Remove ...?" confirmations
    with fake_agent(server, "bob", "Bob") as bob, fake_agent(server, "carol", "Carol") as carol:
        bob.beat("Slack", "#general")
        carol.beat("Code", "notes.md")
        for page in (first, second):
            expect(page.locator("#agent-carol .app")).to_have_text("Code")
        admin.reload()
        row = admin.locator("#admin-agent-bob")
        expect(row.locator(".state")).to_contain_text("online")
        row.locator("input[name=reason]").fill("lost laptop")
        row.locator("button[data-action=block]").click()
        expect(row.locator(".state")).to_contain_text("blocked")
        expect(row.locator(".state")).to_contain_text("lost laptop")
        at = blocked_at_ms(server, "bob")
        for name, page in (("first", first), ("second", second)):
            expect(page.locator("#agent-bob")).to_have_count(0)
            ms = gone_after_ms(page, "bob", at)
            report(f"blocked (dashboard) to gone, {name} page", ms)
        error = json.loads(bob.ws.recv(timeout=WAIT))
        assert error["code"] == "agent-blocked"

        row.locator("button[data-action=unblock]").click()
        expect(row.locator(".state")).not_to_contain_text("blocked")
        for page in (first, second):
            expect(page.locator("#agent-bob")).to_have_class(OFFLINE)

        # Remove Carol and her history: gone from the dashboards, the list and the API.
        admin.locator("#admin-agent-carol button[data-action=erase]").click()
        expect(admin.locator("#admin-agent-carol")).to_have_count(0)
        for page in (first, second):
            expect(page.locator("#agent-carol")).to_have_count(0)
        error = json.loads(carol.ws.recv(timeout=WAIT))
        assert error["code"] == "agent-removed"
    assert [a["id"] for a in server.get("/api/v1/agents")["agents"]] == ["bob"]

    # A token is shown once.
    admin.locator("input[name=label]").fill("dave's desktop")
    admin.locator(".token-form button[type=submit]").click()
    secret = admin.locator("#new-token").inner_text()
    assert secret.startswith("opet_")
    expect(admin.locator(".admin-tokens")).to_contain_text("dave's desktop")
    admin.reload()
    expect(admin.locator("#new-token")).to_have_count(0)
    assert secret not in admin.content()
    # A bad value is refused with words, on the page.
    admin.locator("input[name=expires_in_hours]").fill("0")
    admin.locator(".token-form button[type=submit]").click()
    expect(admin.locator("#admin-error")).to_have_text(
        "expires_in_hours is 0; give more than 0 and at most a year (8784)"
    )
    # That refusal is the one error the console may show (htmx and Chromium log it).
    expected = ("Response Status Error Code 400 from /tokens", "400 (Bad Request)")
    pages.errors = [e for e in pages.errors if not any(x in e for x in expected)]
    pages.assert_no_errors()


def test_changes_without_the_pages_header_are_refused(server: ServerProcess) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(server.url + "/agents/x/block", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert "Agents page" in json.loads(refused.value.read())["error"]
    refused.value.close()
