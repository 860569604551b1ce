"""The dashboard in a real browser: a real server process, the system Chromium
driven by Playwright (sync API), and real agent connections (a small JSON
websocket client for precise live changes, the `officepulse agent` CLI for
replayed history). Nothing is mocked.

Run with ``-s`` to see the observed live-update latencies and screenshot paths.
Latencies are printed, never asserted: wall-clock time is not a test result.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import (
    Page,
    expect,
)

from tests.support.browser import (
    OFFLINE,
    Pages,
    assert_fits,
    assert_not_reloaded,
    needs_chromium,
    report,
)
from tests.support.browser import browser as browser
from tests.support.browser import pages as pages
from tests.support.fake_agent import fake_agent
from tests.support.servers import ServerProcess, run_agent

pytestmark = needs_chromium


ONLINE = re.compile(r"\bonline\b")
IDLE = re.compile(r"\bidle\b")


# -- browser and pages -----------------------------------------------------------------


def latency_ms(page: Page, sent: float, needle: str) -> float:
    """Milliseconds from ``sent`` (time.time()) to the first websocket message
    holding ``needle`` that the page swapped in afterwards."""
    times = page.evaluate(
        "([since, needle]) => window.__wsLog"
        ".filter(m => m.t >= since && m.msg.includes(needle)).map(m => m.t)",
        [sent * 1000 - 50, needle],
    )
    assert times, f"no websocket message with {needle!r} was swapped in"
    return float(times[0]) - sent * 1000


# -- a hand-driven agent -----------------------------------------------------------------


# -- 1. a person appears and changes live ------------------------------------------------


def test_person_appears_and_changes_live(pages: Pages, server: ServerProcess) -> None:
    page = pages.open_office()
    count = page.locator("#office-count")
    expect(page.locator("article.person")).to_have_count(0)
    expect(page.locator("#people-empty")).to_be_visible()
    expect(count).to_have_text("0 online · 0 people")

    card = page.locator("#agent-alice")
    with fake_agent(server, "alice", "Alice", host="alice-laptop") as agent:
        sent = agent.beat("Google-chrome", "YouTube — cat video")
        expect(card.locator(".app")).to_have_text("Google-chrome")
        report("appears", latency_ms(page, sent, "YouTube"))
        expect(card.locator(".title")).to_have_text("YouTube — cat video")
        expect(card.locator(".name")).to_have_text("Alice")
        expect(card.locator(".host")).to_have_text("alice-laptop")
        expect(card).to_have_class(ONLINE)
        expect(card).not_to_have_class(IDLE)
        expect(card.locator(".badge")).to_have_count(0)
        expect(count).to_have_text("1 online · 1 person")
        # Once somebody is there, "Nobody has connected yet" must not show. (It did: the
        # card is appended next to it; officepulse.css now hides it.)
        expect(page.locator("#people-empty")).to_be_hidden()

        sent = agent.beat("Code", "main.py")
        expect(card.locator(".app")).to_have_text("Code")
        report("app switch", latency_ms(page, sent, "main.py"))
        expect(card.locator(".title")).to_have_text("main.py")
        expect(card.locator(".badge")).to_have_count(0)

        sent = agent.beat("Code", "main.py", idle=True)
        expect(card.locator(".badge")).to_have_text("idle")
        report("goes idle", latency_ms(page, sent, "badge"))
        expect(card).to_have_class(IDLE)
        expect(card).to_have_class(ONLINE)
        expect(card.locator(".since")).to_contain_text("idle for")
        expect(count).to_have_text("1 online · 1 person")
        closed = time.time()

    expect(card).to_have_class(OFFLINE)
    report("goes offline", latency_ms(page, closed, "last seen"))
    expect(card).not_to_have_class(ONLINE)
    expect(card.locator(".app")).to_have_text("offline")
    expect(card.locator(".since")).to_contain_text("last seen")
    expect(card.locator(".badge")).to_have_count(0)
    expect(count).to_have_text("0 online · 1 person")
    expect(page.locator("article.person")).to_have_count(1)
    assert_not_reloaded(page)
    pages.assert_no_errors()


# -- 2. fan-out to every open dashboard ---------------------------------------------------


def test_every_open_dashboard_sees_the_same_change(pages: Pages, server: ServerProcess) -> None:
    first, second = pages.open_office(), pages.open_office()
    with fake_agent(server, "bob", "Bob") as agent:
        sent = agent.beat("Slack", "#general")
        for name, page in (("first", first), ("second", second)):
            expect(page.locator("#agent-bob .app")).to_have_text("Slack")
            expect(page.locator("#agent-bob .title")).to_have_text("#general")
            expect(page.locator("#office-count")).to_have_text("1 online · 1 person")
            report(f"fan-out, {name} page", latency_ms(page, sent, "#general"))

        sent = agent.beat("Firefox", "Release notes")
        for page in (first, second):
            expect(page.locator("#agent-bob .app")).to_have_text("Firefox")
            expect(page.locator("#agent-bob .title")).to_have_text("Release notes")

        # A dashboard opened now starts from the current state.
        late = pages.open_office()
        expect(late.locator("#agent-bob .app")).to_have_text("Firefox")
        expect(late.locator("#agent-bob")).to_have_class(ONLINE)

    for page in (first, second, late):
        expect(page.locator("#agent-bob")).to_have_class(OFFLINE)
        expect(page.locator("#office-count")).to_have_text("0 online · 1 person")
        assert_not_reloaded(page)
    pages.assert_no_errors()


# -- 3. the time page, per viewer time zone -----------------------------------------------

# Yesterday (UTC), from 03:00 to 17:00 UTC. It crosses 04:00 and 05:00 UTC (midnight
# in New York, with or without daylight saving time) and 15:00 UTC (midnight in
# Tokyo), so "yesterday" in those zones is a different part of it, whatever the
# time of day the test runs at.
TIMELINE_START = clock_time(3, 0)
TIMELINE = [
    {"offset": 0, "app": "Code", "title": "main.py"},
    {"offset": 9000, "app": "Code", "title": "main.py", "idle": True},
    {"offset": 10800, "app": "Google-chrome", "title": "YouTube — cat video"},
    {"offset": 18000, "app": "Slack", "title": "#general"},
    {"offset": 41400, "app": "Google-chrome", "title": "Docs"},
    {"offset": 45000, "app": "Code", "title": "test_app.py"},
    {"offset": 48600, "app": "Code", "title": "test_app.py", "idle": True},
    {"offset": 50400, "end": True},
]


def to_ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def expected_usage(start: datetime, lo_ms: int, hi_ms: int) -> dict[str, tuple[int, int]]:
    """{app: (active_ms, idle_ms)} of the timeline started at ``start``, clipped to
    [lo_ms, hi_ms): each line lasts until the next one."""
    totals: dict[str, list[int]] = {}
    for line, following in pairwise(TIMELINE):
        begin = to_ms(start + timedelta(seconds=line["offset"]))
        end = to_ms(start + timedelta(seconds=following["offset"]))
        overlap = min(end, hi_ms) - max(begin, lo_ms)
        if overlap > 0:
            slot = totals.setdefault(str(line["app"]), [0, 0])
            slot[1 if line.get("idle") else 0] += overlap
    return {app: (active, idle) for app, (active, idle) in totals.items()}


def midnight_ms(day: date, zone: ZoneInfo) -> int:
    return to_ms(datetime.combine(day, clock_time(0), tzinfo=zone))


def yesterday_in(zone: ZoneInfo) -> date:
    return datetime.now(zone).date() - timedelta(days=1)


def shown_usage(page: Page, agent_id: str) -> dict[str, tuple[int, int]]:
    """{app: (active_ms, 0)}, and ("idle", (0, idle_ms)), read off the person's
    stacked bar on the team view (every app is drawn when there are five or fewer)."""
    section = page.locator(f"#usage-{agent_id}")
    segments = section.locator("svg.stack rect.segment").evaluate_all(
        "rects => rects.map(r => [r.dataset.label, Number(r.dataset.ms),"
        " r.classList.contains('idle'), parseFloat(r.getAttribute('x'))])"
    )
    shown: dict[str, tuple[int, int]] = {}
    xs = []
    for label, ms, idle, x in segments:
        assert label not in shown, f"{label} drawn twice"
        shown[label] = (0, ms) if idle else (ms, 0)
        xs.append(x)
    assert xs == sorted(xs), "segments overlap"
    actives = [ms for label, ms, idle, _x in segments if not idle]
    assert actives == sorted(actives, reverse=True), "apps are not sorted by active time"
    active, idle = (int(section.get_attribute(f"data-{k}-ms") or "") for k in ("active", "idle"))
    assert active == sum(a for a, _i in shown.values())
    assert idle == sum(i for _a, i in shown.values())
    return shown


def choose_range(page: Page, button: str, range_name: str, zone_name: str) -> list[date]:
    """Clicks a range button; returns the days of the period the page shows."""
    page.get_by_role("button", name=button, exact=True).click()
    usage = page.locator(f"#report[data-range='{range_name}']")
    expect(usage).to_be_visible()
    period = usage.locator(".period")
    expect(period).to_contain_text(f"({zone_name})")
    # The chosen period is shown as pressed, and only it.
    expect(page.locator("button[aria-pressed='true']")).to_have_attribute("data-range", range_name)
    expect(page).to_have_url(re.compile(f"range={range_name}"))  # bookmarkable
    return [date.fromisoformat(d) for d in re.findall(r"\d{4}-\d{2}-\d{2}", period.inner_text())]


def check_usage(page: Page, expected: dict[str, tuple[int, int]]) -> None:
    if expected:
        drawn: dict[str, tuple[int, int]] = {}
        for app, (active, idle) in expected.items():
            if active:
                drawn[app] = (active, 0)
            if idle:
                drawn["idle"] = (0, drawn.get("idle", (0, 0))[1] + idle)
        assert shown_usage(page, "alice") == drawn
        total = sum(active for active, _idle in expected.values())
        expect(page.locator("#usage-alice h2 .total")).to_contain_text(hm(total))
    else:
        expect(page.locator("#usage-alice")).to_have_count(0)
        expect(page.locator("#report .empty")).to_have_text("No activity recorded in this period.")


def hm(ms: int) -> str:
    """How the page writes a duration of a minute or more: "40 min", "2 h 05 min"."""
    minutes = ms // 60_000
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def test_time_page_splits_days_in_the_viewers_time_zone(
    pages: Pages, server: ServerProcess, tmp_path: Path
) -> None:
    timeline = tmp_path / "timeline.jsonl"
    timeline.write_text("".join(json.dumps(line) + "\n" for line in TIMELINE))
    start = datetime.combine(yesterday_in(ZoneInfo("UTC")), TIMELINE_START, tzinfo=UTC)
    done = run_agent(
        server,
        tmp_path,
        *("--source", "scripted", "--timeline", str(timeline), "--speed", "0"),
        *("--start", start.isoformat(), "--agent-id", "alice", "--name", "Alice"),
    )
    assert done.returncode == 0, done.stdout + done.stderr

    whole_day = expected_usage(start, to_ms(start), to_ms(start + timedelta(days=1)))
    answers, days = {}, {}
    for zone_name in ("UTC", "Asia/Tokyo", "America/New_York"):
        zone = ZoneInfo(zone_name)
        page = pages.open("/time", timezone_id=zone_name)
        # The page loads by itself, in the browser's zone (today, or the latest day with
        # activity if today has none).
        expect(page.locator("#report .period")).to_contain_text(f"({zone_name})")

        before = yesterday_in(zone)
        (day,) = choose_range(page, "Yesterday", "yesterday", zone_name)
        # Either side of a midnight passing during the test is right.
        assert day in {before, yesterday_in(zone)}
        expected = expected_usage(
            start, midnight_ms(day, zone), midnight_ms(day + timedelta(days=1), zone)
        )
        check_usage(page, expected)
        answers[zone_name], days[zone_name] = expected, day

        first, last = choose_range(page, "Last 7 days", "7d", zone_name)
        assert (last - first).days == 6
        assert last - timedelta(days=1) in {before, yesterday_in(zone)}
        week = expected_usage(
            start, midnight_ms(first, zone), midnight_ms(last + timedelta(days=1), zone)
        )
        assert week == whole_day  # the whole timeline lies in the last seven days
        check_usage(page, week)
        page.context.close()

    # The timeline was chosen so that the viewer's zone changes the answer.
    if days["UTC"] == start.date():  # (not if UTC midnight passed during the test)
        assert answers["UTC"] == whole_day
    assert answers["Asia/Tokyo"] != answers["UTC"]
    assert answers["America/New_York"] != answers["UTC"]
    pages.assert_no_errors()


# -- 4. phone and laptop sizes --------------------------------------------------------------

LONG_TITLE = "https://example.com/" + "a-very-long-path-segment-without-spaces/" * 6 + "?q=1"
VIEWPORTS = {"phone": (390, 844), "laptop": (1366, 768)}


@pytest.fixture
def busy_office(server: ServerProcess, tmp_path: Path) -> Iterator[date]:
    """Three people online (one idle, one with very long texts), one gone, and
    three hours of Dora's history that ended an hour ago; yields the UTC date of
    her Chrome half hour (yesterday when the suite runs just after midnight)."""
    timeline = tmp_path / "timeline.jsonl"
    history = [
        {"offset": 0, "app": "Code", "title": "main.py"},
        {"offset": 3600, "app": "Google-chrome", "title": LONG_TITLE, "url": LONG_TITLE},
        {"offset": 5400, "app": "org.gnome.Nautilus.FileManagerWindow", "title": "Files"},
        {"offset": 7200, "app": "Slack", "title": "#general", "idle": True},
        {"offset": 10800, "end": True},
    ]
    timeline.write_text("".join(json.dumps(line) + "\n" for line in history))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=4)
    done = run_agent(
        server,
        tmp_path,
        *("--source", "scripted", "--timeline", str(timeline), "--speed", "0"),
        *("--start", start.isoformat(), "--agent-id", "dora", "--name", "Dora"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with ExitStack() as stack:
        alice = stack.enter_context(fake_agent(server, "alice", "Alice", "alice-laptop"))
        alice.beat("Google-chrome", "YouTube — cat video")
        long = stack.enter_context(
            fake_agent(
                server,
                "max",
                "Maximilian Alexander Featherstonehaugh-Worthington",
                "workstation-0042.engineering.example.com",
            )
        )
        long.beat("jetbrains-idea-ultimate-edition-2024.3", LONG_TITLE)
        carol = stack.enter_context(fake_agent(server, "carol", "Carol", "carol-desktop"))
        carol.beat("Code", "officepulse — hub.py", idle=True)
        yield (start + timedelta(hours=1, minutes=15)).date()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_office_and_time_page_fit_the_screen(
    pages: Pages, busy_office: date, size: str, tmp_path: Path
) -> None:
    width, height = VIEWPORTS[size]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = pages.open_office(viewport={"width": width, "height": height})
    expect(page.locator("article.person")).to_have_count(4)
    expect(page.locator("#office-count")).to_have_text("3 online · 4 people")
    expect(page.locator("#agent-max .title")).to_have_text(LONG_TITLE)
    page.screenshot(path=shots / f"office-{size}.png", full_page=True)
    assert_fits(page, f"the office on a {size}")

    page.get_by_role("link", name="Time", exact=True).click()
    page.get_by_role("button", name="Last 7 days").click()
    expect(page.locator("#report[data-range='7d'] #usage-dora")).to_be_visible()
    page.screenshot(path=shots / f"time-{size}.png", full_page=True)
    assert_fits(page, f"the time page on a {size}")

    page.get_by_role("link", name="Dora").click()
    page.get_by_role("link", name="Google-chrome").click()
    expect(page.locator("#titles .title-row")).to_have_count(1)
    day = busy_office.isoformat()
    if page.locator("#timeline").get_attribute("data-day") != day:
        # Dora's Chrome was before midnight (UTC, the browser's zone) and the timeline
        # opened on today: step back with the timeline's own link.
        page.locator("#timeline form.day-picker > a[rel=prev]").first.click()
    expect(page.locator(f"#timeline[data-day='{day}']")).to_be_visible()
    expect(page.locator("#timeline rect.block")).not_to_have_count(0)
    page.screenshot(path=shots / f"person-{size}.png", full_page=True)
    print(f"\n  screenshots: {shots}", end="")
    assert_fits(page, f"a person's page on a {size}")
    pages.assert_no_errors()


# -- 5. no JS errors ------------------------------------------------------------------------


def test_no_js_errors_on_either_page(pages: Pages, server: ServerProcess) -> None:
    with fake_agent(server, "erin", "Erin") as agent:
        page = pages.open_office()
        agent.beat("Code", "main.py")
        expect(page.locator("#agent-erin .app")).to_have_text("Code")
        time.sleep(0.01)
        agent.beat("Code", "main.py")  # the span has a length now: Erin has time today
        page.get_by_role("link", name="Time", exact=True).click()
        for button, range_name in (
            ("Today", "today"),
            ("Yesterday", "yesterday"),
            ("This week", "week"),
            ("Last 7 days", "7d"),
            ("This month", "month"),
            ("Last 30 days", "30d"),
        ):
            page.get_by_role("button", name=button, exact=True).click()
            expect(page.locator(f"#report[data-range='{range_name}']")).to_be_visible()
        page.get_by_role("link", name="Erin").click()
        expect(page.locator("#report[data-agent='erin'] #timeline svg.timeline")).to_be_visible()
        page.get_by_role("link", name="Office", exact=True).click()
        expect(page.locator("#live")).to_have_attribute("data-state", "open")
        agent.beat("Slack", "#random")
        expect(page.locator("#agent-erin .app")).to_have_text("Slack")
    expect(page.locator("#agent-erin")).to_have_class(OFFLINE)
    # A card's name leads to the person's report, in the browser's zone.
    page.locator("#agent-erin .name a").click()
    expect(page.locator("#report[data-agent='erin'][data-range='today']")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/people/erin\?.*tz=UTC"))
    pages.assert_no_errors()


# -- 6. reports: a range, a person, their day, an app's titles ------------------------------


def iso_ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text))


def api_usage(server: ServerProcess, report: Any) -> dict[str, dict[str, tuple[int, int]]]:
    """The usage API's answer for the range the page says it shows."""
    start, end = report.get_attribute("data-start"), report.get_attribute("data-end")
    rows = server.get(f"/api/v1/usage?start={start}&end={end}&group_by=agent,app")["rows"]
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for r in rows:
        ms = (round(r["seconds"] * 1000), round(r["idle_seconds"] * 1000))
        out.setdefault(r["agent"], {})[r["app"]] = ms
    return out


def test_reports_drill_down_from_the_team_to_a_title(
    pages: Pages, server: ServerProcess, tmp_path: Path
) -> None:
    zone_name = "Europe/Paris"
    zone = ZoneInfo(zone_name)
    start = datetime.combine(yesterday_in(ZoneInfo("UTC")), TIMELINE_START, tzinfo=UTC)
    people = {"alice": TIMELINE, "bob": [*TIMELINE[3:6], {"offset": 46000, "end": True}]}
    for agent_id, lines in people.items():
        path = tmp_path / f"{agent_id}.jsonl"
        with_urls = [
            {**line, "url": f"https://example.com/{line['title']}"}
            if line.get("app") == "Google-chrome"
            else line
            for line in lines
        ]
        path.write_text("".join(json.dumps(line) + "\n" for line in with_urls))
        done = run_agent(
            server,
            tmp_path / agent_id,
            *("--source", "scripted", "--timeline", str(path), "--speed", "0"),
            *("--start", start.isoformat(), "--agent-id", agent_id, "--name", agent_id.title()),
        )
        assert done.returncode == 0, done.stdout + done.stderr

    page = pages.open("/time", timezone_id=zone_name)
    expect(page.locator("#report .period")).to_be_visible()  # loaded, in the browser's zone

    # A custom range: the last three days, in the viewer's zone.
    today = datetime.now(zone).date()
    first = today - timedelta(days=2)
    page.get_by_label("From", exact=True).fill(first.isoformat())
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_role("button", name="Show these days").click()
    report = page.locator("#report[data-range='custom']")
    expect(report).to_be_visible()
    expect(report.locator(".period")).to_contain_text(f"{first.isoformat()} – ")
    expect(page).to_have_url(re.compile(r"range=custom.*"))
    assert report.get_attribute("data-start") == datetime.combine(
        first, clock_time(0), tzinfo=zone
    ).astimezone(UTC).isoformat().replace("+00:00", "Z")

    # The team: a stacked bar per person, most active first, the numbers the API gives.
    api = api_usage(server, report)
    assert set(api) == {"alice", "bob"}
    order = report.locator("section.person-usage").evaluate_all("s => s.map(e => e.id)")
    actives = {a: sum(ms for ms, _ in apps.values()) for a, apps in api.items()}
    assert order == [f"usage-{a}" for a in sorted(actives, key=lambda a: -actives[a])]
    for agent_id, apps in api.items():
        drawn = shown_usage(page, agent_id)
        want = {app: (ms, 0) for app, (ms, _) in apps.items() if ms}
        idle = sum(i for _, i in apps.values())
        assert drawn == {**want, **({"idle": (0, idle)} if idle else {})}

    # A person: per-app bars equal to the API, each with its bar drawn.
    page.get_by_role("link", name="Alice").click()
    person = page.locator("#report[data-agent='alice'][data-range='custom']")
    expect(person).to_be_visible()
    rows = person.locator(".apps tr[data-app]").evaluate_all(
        "rows => rows.map(r => [r.dataset.app,"
        " ...Array.from(r.querySelectorAll('td[data-ms]'), td => Number(td.dataset.ms))])"
    )
    assert {app: (active, idle) for app, active, idle in rows} == api["alice"]
    assert [active for _app, active, _idle in rows] == sorted(
        (active for _app, active, _idle in rows), reverse=True
    )
    # Each bar is as long as its number says, the longest full width.
    widths = person.locator(".apps tr[data-app]").evaluate_all(
        "rows => rows.map(r => { const b = r.querySelector('svg.hbar rect');"
        " return b ? parseFloat(b.getAttribute('width')) : 0; })"
    )
    longest = max(active for _app, active, _idle in rows)
    assert widths == [round(100 * active / longest, 4) for _app, active, _idle in rows]

    # Their day: the timeline equals the timeline API, block for block.
    day = start.astimezone(zone).date()
    page.locator("#timeline").get_by_label("Day").fill(day.isoformat())
    page.locator("#timeline").get_by_role("button", name="Show").click()
    expect(page.locator(f"#timeline[data-day='{day.isoformat()}']")).to_be_visible()
    check_timeline(page, server, day, zone_name)
    tooltip = page.locator("#timeline rect.block[data-app='Slack'] title").first.text_content()
    assert tooltip is not None
    assert "Slack — #general" in tooltip
    assert re.search(r"\d{2}:\d{2}–\d{2}:\d{2} · \d+ h \d{2} min", tooltip), tooltip
    # The day before, one click away.
    page.locator("#timeline a[rel='prev']").click()
    expect(page.locator(f"#timeline[data-day='{day - timedelta(days=1)}']")).to_be_visible()
    check_timeline(page, server, day - timedelta(days=1), zone_name)

    # Drill down: an app's titles (and URLs) for the range, as the titles API has them.
    page.get_by_role("link", name="Google-chrome").click()
    titles = page.locator("#titles[data-app='Google-chrome']")
    expect(titles).to_be_visible()
    expect(page).to_have_url(re.compile(r"app=Google-chrome"))
    start_iso, end_iso = person.get_attribute("data-start"), person.get_attribute("data-end")
    want_titles = server.get(
        f"/api/v1/titles?agent=alice&app=Google-chrome&start={start_iso}&end={end_iso}"
    )["rows"]
    assert len(want_titles) == 2
    shown_titles = titles.locator("tr.title-row").evaluate_all(
        "rows => rows.map(r => [r.dataset.title, r.dataset.url || null,"
        " ...Array.from(r.querySelectorAll('td[data-ms]'), td => Number(td.dataset.ms))])"
    )
    assert shown_titles == [
        [t["title"], t.get("url"), round(t["seconds"] * 1000), round(t["idle_seconds"] * 1000)]
        for t in want_titles
    ]
    expect(titles.locator("a.url").first).to_have_attribute(
        "href", re.compile(r"^https://example.com/")
    )
    # What the page showed, a reload shows again (the URL holds it all).
    page.reload()
    expect(page.locator("#titles[data-app='Google-chrome'] tr.title-row")).to_have_count(2)
    pages.assert_no_errors()


def check_timeline(page: Page, server: ServerProcess, day: date, zone_name: str) -> None:
    want = server.get(f"/api/v1/timeline?agent=alice&date={day}&tz={zone_name}")
    band = page.locator("#timeline svg.timeline")
    assert band.get_attribute("data-hours") == str(want["hours"])
    assert int(band.get_attribute("data-start") or "") == iso_ms(want["start"])
    drawn = band.locator("rect.block").evaluate_all(
        "rects => rects.map(r => [r.dataset.app, Number(r.dataset.start), Number(r.dataset.end),"
        " r.classList.contains('idle')])"
    )
    expected = [
        [b["app"], iso_ms(b["start"]), iso_ms(b["end"]), b.get("idle", False)]
        for b in want["blocks"]
    ]
    assert sorted(drawn, key=lambda d: d[1]) == expected
    if expected:
        expect(page.locator("#timeline .day-summary")).to_contain_text(
            hm(round(want["seconds"] * 1000))
        )
    else:
        expect(page.locator("#timeline .empty")).to_have_text("Nothing recorded on this day.")
