"""The office as a place, in the system Chromium against a real server process with real
agent connections (protocol v3 presence and spans, their timestamps chosen by the test:
time is driven by what agents say, never by waiting) and a real agent process that
cannot read its desktop: cards grouped by state with counts, moving group live; time
today as the Time page counts it; why nothing is shown; "in a meeting" and "focused for
…"."""

from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Page, expect

from tests.support.axe import check_every_variant
from tests.support.browser import Pages, assert_fits, assert_not_reloaded, needs_chromium
from tests.support.browser import browser as browser
from tests.support.browser import pages as pages
from tests.support.people_office import PASSWORDS, cli_ok, create_admin
from tests.support.presence_agent import PresenceAgent, ago, app, presence_agent
from tests.support.processes import stop
from tests.support.servers import ServerProcess, start_agent

pytestmark = needs_chromium

CODE = app("Code", "main.py")
SLACK = app("Slack", "Slack | #dev")


def idle(activity: dict[str, object]) -> dict[str, object]:
    return {**activity, "idle": True}


PAUSED = {"app": "paused", "paused": True}


def in_group(page: Page, group: str) -> list[str]:
    """The ids of the agents whose cards are in ``group``, in the order shown."""
    return page.locator(f"#cards-{group} > article.person").evaluate_all(
        "cards => cards.map(c => c.id.replace('agent-', ''))"
    )


def expect_group(page: Page, group: str, agents: list[str]) -> None:
    cards = page.locator(f"#cards-{group} > article.person")
    expect(cards).to_have_count(len(agents))
    assert in_group(page, group) == agents
    if agents:
        expect(page.locator(f"#count-{group}")).to_have_text(str(len(agents)))
        expect(page.locator(f"#group-{group}")).to_be_visible()
    else:
        expect(page.locator(f"#group-{group}")).to_be_hidden()  # an empty group is not shown


def test_cards_are_grouped_with_counts_and_move_group_live(
    pages: Pages, server: ServerProcess
) -> None:
    with ExitStack() as stack:
        with presence_agent(server, "fay", "Fay") as fay:
            fay.presence(ago(30), CODE)  # then her computer goes off: offline
        agents: dict[str, PresenceAgent] = {}
        for agent_id in ("ann", "bob", "cat", "dan", "eve"):
            agents[agent_id] = stack.enter_context(
                presence_agent(server, agent_id, agent_id.title())
            )
        agents["dan"].presence(ago(5), CODE)
        agents["ann"].presence(ago(2), SLACK)
        agents["bob"].presence(ago(1), idle(CODE))
        agents["cat"].presence(ago(10), PAUSED)
        agents["eve"].presence(ago(20), idle(CODE))  # idle for 15 minutes or more: away

        page = pages.open_office()
        expect(page.locator("#office-count")).to_have_text("5 online · 6 people")
        expect_group(page, "active", ["ann", "dan"])  # by name
        expect_group(page, "idle", ["bob"])
        expect_group(page, "paused", ["cat"])
        expect_group(page, "away", ["eve"])
        expect_group(page, "offline", ["fay"])
        expect_group(page, "unseen", [])
        headings = page.locator(".office-group:visible h2").all_inner_texts()
        assert [re.sub(r"\s+", " ", h) for h in headings] == [
            "Active 2",
            "Idle 1",
            "Paused 1",
            "Away 1",
            "Offline 1",
        ]
        expect(page.locator("#agent-cat .badge.paused")).to_have_text("paused")
        expect(page.locator("#agent-fay .since")).to_contain_text("last seen")

        # Live: each change moves the card to its group, in its place by name there.
        agents["ann"].presence(ago(0), idle(SLACK))
        expect_group(page, "idle", ["ann", "bob"])
        expect_group(page, "active", ["dan"])
        agents["bob"].presence(ago(0), PAUSED)
        expect_group(page, "paused", ["bob", "cat"])
        expect_group(page, "idle", ["ann"])
        agents["cat"].presence(ago(0), CODE)
        expect_group(page, "active", ["cat", "dan"])
        expect(page.locator("#agent-cat .app")).to_have_text("Code")
        agents["eve"].presence(ago(0), SLACK)
        expect_group(page, "active", ["cat", "dan", "eve"])
        expect_group(page, "away", [])
        agents["dan"].ws.close()
        expect_group(page, "offline", ["dan", "fay"])
        expect_group(page, "active", ["cat", "eve"])
        expect(page.locator("#office-count")).to_have_text("4 online · 6 people")
        # A dashboard opened now has every card where the first one has it.
        late = pages.open_office()
        for group in ("active", "idle", "paused", "away", "offline"):
            assert in_group(late, group) == in_group(page, group), group
        assert_not_reloaded(page)
    pages.assert_no_errors()


def midday_zone() -> str:
    """A zone where it is about noon now: the last hours are today there, whenever the
    test runs."""
    offset = 12 - datetime.now(UTC).hour  # -11 to +12 hours from UTC
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-3 is UTC+3


def test_time_today_on_a_card_is_the_time_pages(pages: Pages, server: ServerProcess) -> None:
    zone = midday_zone()
    with presence_agent(server, "gil", "Gil", tz=zone) as gil:
        gil.spans(
            (ago(90), ago(30), CODE),  # an hour of Code,
            (ago(30), ago(20), idle(CODE)),  # ten minutes idle,
            (ago(20), ago(10), SLACK),  # ten of Slack,
        )
        gil.presence(ago(10), idle(SLACK))  # and idle since: not counting
        page = pages.open_office()
        today = page.locator("#agent-gil .today-time")
        expect(today).to_have_text("1 h 10 min")
        expect(page.locator("#agent-gil .today")).to_have_text("1 h 10 min today")
        card_ms = int(today.get_attribute("data-today") or 0)
        assert today.get_attribute("data-counting") is None

        # Quoted: the zone may be Etc/GMT+1, whose "+" a query would read as a space.
        time_page = pages.open(f"/time?range=today&day=person&tz={quote(zone, safe='')}")
        person = time_page.locator("#usage-gil")
        expect(person).to_be_visible()
        assert int(person.get_attribute("data-active-ms") or -1) == card_ms

        # Back at work: the card counts on from now (the browser does, between
        # changes), never from the figure's read, ten minutes into the idle stretch.
        back = ago(0)
        gil.presence(back, CODE)
        expect(today).to_have_attribute("data-counting", re.compile(r"^\d+$"))
        since = int(today.get_attribute("data-counting") or 0)
        assert abs(since - back.timestamp() * 1000) <= 1
        expect(today).to_have_text("1 h 10 min")
    pages.assert_no_errors()


def test_a_card_says_why_nothing_is_shown(
    pages: Pages, server: ServerProcess, tmp_path: Path
) -> None:
    """A real agent in a Wayland session whose compositor it cannot read (no portal,
    none of the compositors it knows): it stays online, and its card says why."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    page = pages.open_office()
    agent = start_agent(
        server,
        tmp_path,
        "--agent-id",
        "wendy",
        "--name",
        "Wendy",
        DISPLAY=None,
        WAYLAND_DISPLAY="wayland-0",
        XDG_SESSION_TYPE="wayland",
        XDG_RUNTIME_DIR=str(runtime),
        XDG_CURRENT_DESKTOP=None,
        DBUS_SESSION_BUS_ADDRESS=None,
        SWAYSOCK=None,
        HYPRLAND_INSTANCE_SIGNATURE=None,
    )
    try:
        card = page.locator("#agent-wendy")
        expect(card.locator(".reason")).to_contain_text(
            "can't read this desktop: this is a Wayland session whose compositor this agent "
            "cannot read",
            timeout=30_000,
        )
        expect_group(page, "unseen", ["wendy"])
        expect(page.locator("#head-unseen")).to_have_text(re.compile(r"Online, not seen\s+1"))
        # The whole reason is at hand, however long.
        assert "XWayland" in (card.locator(".reason").get_attribute("title") or "")
    finally:
        stop(agent)
    expect_group(page, "offline", ["wendy"])
    expect(page.locator("#agent-wendy .reason")).to_have_count(0)
    # Once something can be shown, the reason is gone.
    with presence_agent(server, "rex", "Rex") as rex:
        rex.presence(ago(0), None, "no display")
        expect(page.locator("#agent-rex .reason")).to_have_text(
            "can't read this desktop: no display"
        )
        rex.presence(ago(0), CODE)
        expect_group(page, "active", ["rex"])
        expect(page.locator("#agent-rex .reason")).to_have_count(0)
    pages.assert_no_errors()


def test_in_a_meeting_and_focused_for_a_stretch(pages: Pages, server: ServerProcess) -> None:
    page = pages.open_office()
    with ExitStack() as stack:
        meg, fox, ned, pia = (
            stack.enter_context(presence_agent(server, a, a.title()))
            for a in ("meg", "fox", "ned", "pia")
        )
        meg.presence(ago(5), app("zoom", "Zoom Meeting"))
        expect(page.locator("#agent-meg .glance")).to_have_text("in a meeting")
        meg.presence(ago(0), app("firefox", "Meet", url="https://meet.google.com/abc-defg-hij"))
        expect(page.locator("#agent-meg .glance")).to_have_text("in a meeting")
        meg.presence(ago(0), SLACK)
        expect(page.locator("#agent-meg .glance")).to_have_count(0)

        # Code for 20 minutes, a minute of Slack, then a terminal (programming too):
        # one unbroken stretch of 50 minutes.
        fox.presence(ago(50), CODE)
        fox.presence(ago(30), SLACK)
        fox.presence(ago(29), app("xterm", "vim hub.py"))
        glance = page.locator("#agent-fox .glance")
        expect(glance).to_have_text(re.compile(r"^focused for 50 min$"))
        fox.presence(ago(0), SLACK)  # a glance at the chat: no focus in front now
        expect(glance).to_have_count(0)
        fox.presence(ago(0), CODE)  # back within two minutes: the stretch goes on
        expect(glance).to_have_text("focused for 50 min")

        # Five minutes away from work break the stretch: it starts again after them.
        ned.presence(ago(50), CODE)
        ned.presence(ago(30), SLACK)
        ned.presence(ago(25), CODE)
        expect(page.locator("#agent-ned .glance")).to_have_text("focused for 25 min")

        # Ten minutes are not focus yet: said once it has lasted twenty.
        pia.presence(ago(10), CODE)
        expect(page.locator("#agent-pia .app")).to_have_text("Code")
        expect(page.locator("#agent-pia .glance")).to_be_hidden()
        assert page.locator("#agent-pia .glance").get_attribute("data-from")
    pages.assert_no_errors()


def test_every_kind_of_card_passes_axe_and_fits_in_light_and_dark(
    pages: Pages, server: ServerProcess, tmp_path: Path
) -> None:
    """Each group and status at once, at 400 px and a desktop's width, light and dark:
    no serious or critical axe violation, nothing wider than the window. Screenshots
    of each are kept in the test's folder (printed with -s)."""
    with ExitStack() as stack:
        with presence_agent(server, "olga", "Olga Offline") as olga:
            olga.presence(ago(80), CODE)
        cards = {
            "amy": (ago(3), app("firefox", "Pull request #42 · officepulse — Mozilla Firefox")),
            "meg": (ago(12), app("zoom", "Zoom Meeting")),
            "fox": (ago(45), app("xterm", "vim server/hub.py")),
            "ida": (ago(4), idle(SLACK)),
            "pat": (ago(9), PAUSED),
            "abe": (ago(40), idle(CODE)),
        }
        for agent_id, (since, activity) in cards.items():
            agent = stack.enter_context(presence_agent(server, agent_id, agent_id.title()))
            agent.presence(since, activity)
        unseen = stack.enter_context(presence_agent(server, "wes", "Wes Wayland"))
        unseen.presence(
            ago(1),
            None,
            "this is a Wayland session whose compositor this agent cannot read (it reads "
            "sway, Hyprland, KDE Plasma and GNOME); windows of X11 apps can be read with "
            "--source x11 (XWayland) when DISPLAY is set",
        )
        page = pages.open_office()
        for group in ("active", "idle", "paused", "unseen", "away", "offline"):
            expect(page.locator(f"#group-{group}")).to_be_visible()
        expect(page.locator("#agent-meg .pill.meeting")).to_be_visible()
        expect(page.locator("#agent-fox .pill.focus")).to_be_visible()
        check_every_variant(page, "the office")
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
            for width in (1400, 400):
                page.set_viewport_size({"width": width, "height": 900})
                assert_fits(page, f"the office at {width} px, {scheme}")
                shot = tmp_path / f"office-{width}-{scheme}.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"\n  screenshot: {shot}", end="")
    pages.assert_no_errors()


def sign_in(pages: Pages, login: str) -> Page:
    page = pages.open("/signin")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(PASSWORDS[login])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#live")).to_have_attribute("data-state", "open")
    return page


def test_status_at_a_glance_tells_nobody_what_a_person_keeps_from_them(
    pages: Pages, server: ServerProcess
) -> None:
    """Ann (admin) and Bob (member) show others the app only: a Meet tab is a browser to
    the other, a stretch on GitHub is not focus to the other; Zoom, an app, is a meeting
    to everyone. Each sees their own in full."""
    meet = app("firefox", "Meet - abc-defg-hij", url="https://meet.google.com/abc-defg-hij")
    github = app("firefox", "officepulse · GitHub", url="https://github.com/o/officepulse")
    with ExitStack() as stack:
        ann, bob, cy = (
            stack.enter_context(presence_agent(server, a, a.removeprefix("a-").title()))
            for a in ("a-ann", "a-bob", "a-cy")  # a-cy: nobody's, shown at the default
        )
        ann.presence(ago(5), meet)
        bob.presence(ago(30), github)
        cy.presence(ago(5), app("zoom", "Zoom Meeting"))
        create_admin(server.database)  # Ann
        add = ("people", "add", "--login", "bob", "--name", "Bob", "--password-stdin")
        cli_ok(server.database, *add, stdin=PASSWORDS["bob"])
        cli_ok(server.database, "people", "assign-agent", "a-ann", "ann")
        cli_ok(server.database, "people", "assign-agent", "a-bob", "bob")

        as_bob = sign_in(pages, "bob")
        expect(as_bob.locator("#agent-a-bob .glance")).to_have_text("focused for 30 min")
        expect(as_bob.locator("#agent-a-cy .glance")).to_have_text("in a meeting")
        expect(as_bob.locator("#agent-a-ann .app")).to_have_text("firefox")
        expect(as_bob.locator("#agent-a-ann .glance")).to_have_count(0)

        as_ann = sign_in(pages, "ann")
        expect(as_ann.locator("#agent-a-ann .glance")).to_have_text("in a meeting")
        expect(as_ann.locator("#agent-a-cy .glance")).to_have_text("in a meeting")
        expect(as_ann.locator("#agent-a-bob .app")).to_have_text("firefox")
        expect(as_ann.locator("#agent-a-bob .glance")).to_have_count(0)
        assert "officepulse · GitHub" not in as_ann.content()
        assert "Meet - abc" not in as_bob.content()

        # Live too: Bob joins a Meet; Ann is told no more than "firefox".
        bob.presence(ago(0), app("firefox", "Meet - bob-call", url="https://meet.google.com/b"))
        expect(as_bob.locator("#agent-a-bob .glance")).to_have_text("in a meeting")
        expect(as_ann.locator("#agent-a-bob .app")).to_have_text("firefox")
        expect(as_ann.locator("#agent-a-bob .glance")).to_have_count(0)
        assert "Meet - bob-call" not in as_ann.content()
    pages.assert_no_errors()
