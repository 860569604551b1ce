"""Whose days the reports count, end to end: real agent processes replay a traveller
(Berlin, then Tokyo from Wednesday afternoon), a person who stays at home in New York
and two people at home in Berlin across its daylight-saving changes into a real
server (SQLite and a real PostgreSQL); the team and person pages, over HTTP and in
headless Chromium, show with ``day=viewer`` and ``day=person`` the numbers
GET /api/v1/usage/days gives summed over the dates, and a person's own day drawn on
their own wall clock."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import Pages
from tests.support.browser import browser as browser  # the fixture, shared
from tests.support.processes import stop
from tests.support.report_api import fetch
from tests.support.report_days import Totals, as_bars, heads_of, ms, summed, team_shown
from tests.support.servers import ServerProcess, assert_refused, start_agent, start_server
from tests.support.timelines import Person, berlin_people, stretches, travelling

pytest_plugins = ["tests.support.postgres"]

BERLIN = ZoneInfo("Europe/Berlin")
H = 3600
HOUR_MS = 3_600_000
VIEWER = "Asia/Kolkata"  # the viewer's days are nobody's own
FIRST, LAST = date(2026, 11, 23), date(2026, 11, 27)  # Monday to Friday


def _people(tmp: Path) -> dict[str, Person]:
    return {
        # Kenji flies from Berlin to Tokyo on Wednesday 2026-11-25 at 13:00 in Berlin;
        # spring and autumn stay in Berlin across its daylight-saving changes.
        **berlin_people(tmp, 11),
        # At home in New York, Monday to Friday round the clock.
        "hana": Person(
            travelling(tmp / "hana.jsonl", 14, 5 * 24, [(0, "America/New_York")], (900, 5400)),
            datetime(2026, 11, 23, tzinfo=ZoneInfo("America/New_York")),
        ),
    }


@dataclass
class Office:
    server: ServerProcess
    people: dict[str, Person]


@contextlib.contextmanager
def _office(tmp: Path, *database: str) -> Iterator[Office]:
    people = _people(tmp)
    server = start_server(tmp / "srv", *database)
    agents = []
    try:
        for name, person in people.items():
            agents.append(
                start_agent(
                    server,
                    tmp / name,
                    *("--agent-id", name, "--name", name.title()),
                    *("--source", "scripted", "--timeline", str(tmp / f"{name}.jsonl")),
                    *("--speed", "0", "--start", person.start.isoformat()),
                    TZ="UTC",  # the computer's own zone; the timelines say where it is
                )
            )
        for agent in agents:
            agent.wait(120)
            out = stop(agent)
            assert agent.returncode == 0, out
            assert "every span was acknowledged by the server" in out, out
        yield Office(server, people)
    finally:
        for agent in agents:
            with contextlib.suppress(Exception):
                stop(agent)
        server.stop()


@pytest.fixture(scope="module")
def sqlite_office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    with _office(tmp_path_factory.mktemp("report-days")) as office:
        yield office


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def office(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_office")
        return
    url = request.getfixturevalue("postgres_cluster").create_database()
    with _office(tmp_path_factory.mktemp("report-days-pg"), "--database", url) as office:
        yield office


# -- what the API says -------------------------------------------------------------------


def api_totals(
    server: ServerProcess, first: date, last: date, mode: str, agent: str | None = None
) -> Totals:
    """GET /api/v1/usage/days summed over the dates, per agent and app, in ms."""
    query = urlencode({"from": first, "to": last, "day": mode, "tz": VIEWER})
    return summed(server.get(f"/api/v1/usage/days?{query}")["rows"], "app", agent)


def report_url(path: str, mode: str, first: date = FIRST, last: date = LAST, **extra: str) -> str:
    query = {"range": "custom", "from": first, "to": last, "tz": VIEWER, "day": mode, **extra}
    return f"{path}?{urlencode(query)}"


# -- what the pages show -------------------------------------------------------------------

APP_ROW = re.compile(
    r'<tr data-app="([^"]*)".*?<td class="num" data-ms="(\d+)">.*?'
    r'<td class="num muted" data-ms="(\d+)">',
    re.S,
)


@pytest.mark.parametrize("mode", ["viewer", "person"])
def test_the_team_page_counts_whose_days_were_asked(office: Office, mode: str) -> None:
    status, html = fetch(office.server, report_url("/time", mode))
    assert status == 200
    want = api_totals(office.server, FIRST, LAST, mode)
    assert set(want) == {"kenji", "hana"}
    bars, heads = team_shown(html)
    assert bars == as_bars(want)
    assert heads == heads_of(want)
    assert f'data-days="{mode}"' in html
    kenji = sum(heads["kenji"])
    if mode == "person":
        # Monday to Friday on Kenji's own clock: Wednesday is 16 hours, Friday ends at
        # midnight in Tokyo (08:00 on Saturday there is not in the range).
        assert kenji == (4 * 24 + 16) * HOUR_MS
        assert sum(heads["hana"]) == 5 * 24 * HOUR_MS  # her own week, whole
        assert re.search(r'data-tz="Asia/Tokyo"[^>]*>Tokyo, UTC\+9</span>', html)
        assert re.search(r'data-tz="America/New_York"[^>]*>New York, UTC-5</span>', html)
        assert "each person&#39;s own days" in html
    else:
        # Monday to Friday in Kolkata: 04:30 on Monday in Berlin to 19:30 on Friday.
        assert kenji == (5 * 24 - 4.5) * HOUR_MS
        assert 'class="zone' not in html
    assert f'aria-current="true">{"mine (Asia/Kolkata)" if mode == "viewer" else "each"}' in html


@pytest.mark.parametrize("mode", ["viewer", "person"])
def test_a_person_page_counts_their_days_and_titles_alike(office: Office, mode: str) -> None:
    status, html = fetch(office.server, report_url("/people/kenji", mode, app="Code"))
    assert status == 200
    want = api_totals(office.server, FIRST, LAST, mode, "kenji")["kenji"]
    rows = {app: (int(a), int(i)) for app, a, i in APP_ROW.findall(html.split('id="titles"')[0])}
    assert rows == want
    # The titles of an app add up to its time over the same days.
    titles = re.findall(
        r'<tr class="title-row".*?<td class="num" data-ms="(\d+)">.*?data-ms="(\d+)"', html, re.S
    )
    assert (sum(int(a) for a, _ in titles), sum(int(i) for _, i in titles)) == want["Code"]
    if mode == "person":
        assert "Kenji's own days:" in html
        assert re.search(r'data-tz="Europe/Berlin">Berlin, UTC\+1</span> → <span', html)
        assert 'data-tz="Asia/Tokyo">Tokyo, UTC+9</span>' in html


def test_the_day_of_the_flight_on_the_travellers_own_clock(office: Office) -> None:
    server, kenji = office.server, office.people["kenji"]
    day = date(2026, 11, 25)
    got = server.get(f"/api/v1/timeline?agent=kenji&date={day}&day=person")
    lo, hi = (
        datetime(2026, 11, 25, tzinfo=BERLIN),
        datetime(2026, 11, 26, tzinfo=ZoneInfo("Asia/Tokyo")),
    )
    flight = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert (got["day"], got["tz"], got["hours"]) == ("person", None, 16)
    assert (datetime.fromisoformat(got["start"]), datetime.fromisoformat(got["end"])) == (lo, hi)
    assert [
        (datetime.fromisoformat(z["start"]), datetime.fromisoformat(z["end"]), z["tz"])
        for z in got["zones"]
    ] == [(lo, flight, "Europe/Berlin"), (flight, hi, "Asia/Tokyo")]
    blocks = [
        (datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"]), b["app"])
        for b in got["blocks"]
    ]
    # Each piece of the day is its own stretch of blocks, cut where the zone changed.
    want = [
        *stretches(kenji.timeline, kenji.start, lo, flight),
        *stretches(kenji.timeline, kenji.start, flight, hi),
    ]
    assert blocks == [(a, b, app) for a, b, app, *_ in want]
    assert got["seconds"] + got["idle_seconds"] == 16 * H
    # The same date in the viewer's zone is as it always was.
    viewer = server.get(f"/api/v1/timeline?agent=kenji&date={day}&tz={VIEWER}")
    assert (viewer["day"], viewer["tz"], viewer["hours"]) == ("viewer", VIEWER, 24)
    assert [z["tz"] for z in viewer["zones"]] == [VIEWER]

    # The page draws that day, and says which zones it is in.
    status, html = fetch(server, report_url("/people/kenji", "person", date=day.isoformat()))
    assert status == 200
    assert 'data-days="person" data-hours="16"' in html
    assert "Berlin, UTC+1 00:00–13:00</span>, then <span" in html
    assert "Tokyo, UTC+9 21:00–24:00</span>" in html
    starts = [int(m) for m in re.findall(r'<rect class="block[^"]*"[^>]*data-start="(\d+)"', html)]
    assert sorted(starts) == [int(a.timestamp() * 1000) for a, *_ in blocks]
    labels = re.findall(r'<text class="hour"[^>]*>(\d\d)</text>', html)
    assert labels == ["00", "03", "06", "09", "12", "21"]  # every third hour is written
    # Times in the day's table are on the wall clock of where Kenji was: the block
    # before the flight ends at 13:00 in Berlin, the next starts at 21:00 in Tokyo.
    assert re.search(r"<td>\d\d:\d\d</td><td>13:00</td>", html)
    assert re.search(r"<tr[^>]*><td>21:00</td>", html)


@pytest.mark.parametrize(("person", "day", "hours"), [("spring", 29, 23), ("autumn", 25, 25)])
def test_daylight_saving_days_on_the_persons_own_clock(
    office: Office, person: str, day: int, hours: int
) -> None:
    server = office.server
    start = office.people[person].start.date()
    the_day = date(2026, start.month, day)
    got = server.get(f"/api/v1/timeline?agent={person}&date={the_day}&day=person")
    assert (got["hours"], [z["tz"] for z in got["zones"]]) == (hours, ["Europe/Berlin"])
    assert got["seconds"] + got["idle_seconds"] == hours * H
    first, last = the_day - timedelta(days=1), the_day + timedelta(days=1)
    url = report_url(f"/people/{person}", "person", first, last, date=the_day.isoformat())
    status, html = fetch(server, url)
    assert status == 200
    assert f'data-days="person" data-hours="{hours}"' in html
    want = api_totals(server, first, last, "person", person)[person]
    rows = {app: (int(a), int(i)) for app, a, i in APP_ROW.findall(html.split('id="titles"')[0])}
    assert rows == want
    assert sum(a + i for a, i in rows.values()) == (24 + hours + 24) * HOUR_MS
    # In the viewer's zone the same date has 24 hours: Kolkata keeps no summer time.
    status, html = fetch(server, url.replace("day=person", "day=viewer"))
    assert 'data-days="viewer" data-hours="24"' in html


def test_bad_day_requests_say_what_is_wrong(office: Office) -> None:
    cases = {
        "agent=kenji&date=2026-11-25&day=mine": "'day' must be one of viewer, person",
        "agent=kenji&date=2026-11-25&day=person&tz=Mars/Olympus": "not a known time zone",
        "agent=kenji&date=2026-11-25": "missing query parameter 'tz'",
        "agent=kenji&date=2026-11-25&day=viewer": "missing query parameter 'tz'",
    }
    assert_refused(office.server, "/api/v1/timeline", cases)


# -- in a real browser -----------------------------------------------------------------


def page_apps(page: Page) -> dict[str, tuple[int, int]]:
    rows = page.locator("#report .apps tr[data-app]").evaluate_all(
        "rows => rows.map(r => [r.dataset.app,"
        " ...Array.from(r.querySelectorAll('td[data-ms]'), td => Number(td.dataset.ms))])"
    )
    return {app: (active, idle) for app, active, idle in rows}


def page_team(page: Page) -> tuple[Totals, dict[str, tuple[int, int]]]:
    sections = page.locator("#report section.person-usage").evaluate_all(
        "ss => ss.map(s => [s.id.slice(6), Number(s.dataset.activeMs), Number(s.dataset.idleMs),"
        " Array.from(s.querySelectorAll('rect.segment'),"
        " r => [r.dataset.label, Number(r.dataset.ms)])])"
    )
    bars = {agent: {label: (ms, 0) for label, ms in segs} for agent, _, _, segs in sections}
    return bars, {agent: (a, i) for agent, a, i, _ in sections}


def test_whose_days_in_the_browser(browser: Browser, sqlite_office: Office) -> None:
    server = sqlite_office.server
    pages = Pages(browser, server.url)
    try:
        page = pages.open("/time", timezone_id=VIEWER)
        # Nothing today (the timelines are of November 2026): the latest day's, loaded.
        expect(page.locator("#report .opened-on")).to_be_visible()
        page.get_by_label("From", exact=True).fill(FIRST.isoformat())
        page.get_by_label("To", exact=True).fill(LAST.isoformat())
        page.get_by_role("button", name="Show these days").click()
        # The asked dates: the latest day it opened on is a custom range of the viewer's too.
        expect(
            page.locator(
                f"#report[data-range='custom'][data-days='viewer'][data-first='{FIRST}']"
                f"[data-last='{LAST}']"
            )
        ).to_be_visible()
        viewer = api_totals(server, FIRST, LAST, "viewer")
        assert page_team(page) == (as_bars(viewer), heads_of(viewer))

        # Each person's own days: swapped in place, kept in the URL.
        page.get_by_role("link", name="each person's own").click()
        expect(
            page.locator(f"#report[data-range='custom'][data-days='person'][data-first='{FIRST}']")
        ).to_be_visible()
        expect(page).to_have_url(re.compile(r"/time\?.*day=person"))
        own = api_totals(server, FIRST, LAST, "person")
        assert page_team(page) == (as_bars(own), heads_of(own))
        assert page_team(page)[1] != heads_of(viewer)
        expect(page.locator("#usage-kenji .zone")).to_have_text("Tokyo, UTC+9")
        expect(page.locator("#usage-hana .zone")).to_have_text("New York, UTC-5")
        # Choosing dates again keeps whose days they are.
        page.get_by_label("From", exact=True).fill((FIRST + timedelta(days=1)).isoformat())
        page.get_by_role("button", name="Show these days").click()
        expect(page.locator(f"#report[data-first='{FIRST + timedelta(days=1)}']")).to_be_visible()
        expect(page.locator("#report")).to_have_attribute("data-days", "person")
        own = api_totals(server, FIRST + timedelta(days=1), LAST, "person")
        assert page_team(page) == (as_bars(own), heads_of(own))

        # Kenji, in his own days; the day of his flight on his own clock.
        page.get_by_role("link", name="Kenji").click()
        person = page.locator("#report[data-agent='kenji'][data-days='person']")
        expect(person).to_be_visible()
        assert page_apps(page) == own["kenji"]
        page.locator("#timeline").get_by_label("Day").fill("2026-11-25")
        page.locator("#timeline").get_by_role("button", name="Show").click()
        day = page.locator("#timeline[data-day='2026-11-25'][data-days='person']")
        expect(day).to_be_visible()
        want = server.get("/api/v1/timeline?agent=kenji&date=2026-11-25&day=person")
        band = day.locator("svg.timeline")
        assert band.get_attribute("data-hours") == str(want["hours"]) == "16"
        drawn = band.locator("rect.block").evaluate_all(
            "rects => rects.map(r =>"
            " [r.dataset.app, Number(r.dataset.start), Number(r.dataset.end)])"
        )
        assert sorted(drawn, key=lambda d: d[1]) == [
            [b["app"], ms(b["start"]), ms(b["end"])] for b in want["blocks"]
        ]
        expect(day.locator(".day-zones .zone")).to_have_text(
            ["Berlin, UTC+1 00:00–13:00", "Tokyo, UTC+9 21:00–24:00"]
        )
        expect(band.locator("line.join")).to_have_count(1)
        # The next day, one click away, is a whole Tokyo day.
        page.locator("#timeline a[rel='next']").click()
        expect(page.locator("#timeline[data-day='2026-11-26'][data-hours='24']")).to_be_visible()
        expect(page).to_have_url(
            re.compile(r"day=person.*date=2026-11-26|date=2026-11-26.*day=person")
        )
        expect(page.locator("#timeline .day-zones .zone")).to_have_text(
            ["Tokyo, UTC+9 00:00–24:00"]
        )

        # Back to the viewer's days: the same dates, the same day of the timeline.
        # (Chromium names Kolkata's zone by its older name, Asia/Calcutta: the same zone.)
        mine_link = page.locator("#report .days a[data-days='viewer']")
        expect(mine_link).to_have_text(re.compile(r"^mine \(Asia.(Kolkata|Calcutta)\)$"))
        mine_link.click()
        expect(page.locator("#report[data-agent='kenji'][data-days='viewer']")).to_be_visible()
        expect(page).not_to_have_url(re.compile(r"day=person"))
        mine = api_totals(server, FIRST + timedelta(days=1), LAST, "viewer", "kenji")
        assert page_apps(page) == mine["kenji"]
        assert page_apps(page) != own["kenji"]
        expect(page.locator("#timeline[data-day='2026-11-26'][data-days='viewer']")).to_be_visible()
        expect(page.locator("#timeline")).to_have_attribute("data-hours", "24")
        expect(page.locator("#timeline .day-zones")).to_have_count(0)
        page.reload()
        expect(page.locator("#report[data-agent='kenji'][data-days='viewer']")).to_be_visible()
        assert page_apps(page) == mine["kenji"]
        pages.assert_no_errors()
    finally:
        pages.close()
