"""The charts the reports lead with, in headless Chromium against a real server given
real spans through the agent websocket (tests/support/report_charts.py: ada in Berlin,
with a span of late work across midnight; kai, who flies to Tokyo in the middle of his
work): the per-day columns add up to the totals shown and to the stored spans, the heat
map's cells hold each hour's time on the viewer's clock or each person's own, the
change against the previous period, the day's timeline zoomed from the keyboard, and a
report opened on an empty today opening on the latest day with activity. What each
must show is reckoned minute by minute from the spans, not by the product's code."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import CHROMIUM, Pages
from tests.support.browser import browser as browser  # the fixture, shared
from tests.support.report_api import fetch
from tests.support.report_charts import (
    BERLIN,
    FLIGHT,
    LAST_DAY,
    TOKYO,
    all_time,
    by_day,
    by_hour,
    send,
)
from tests.support.servers import ServerProcess, assert_refused, start_server

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium")

FIRST, LAST = date(2026, 11, 23), date(2026, 11, 29)  # Monday to Sunday
M = 60_000
H = 60 * M
EVERYONE = ["ada", "kai"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start_server(tmp_path_factory.mktemp("charts"))
    try:
        for who in EVERYONE:
            send(started, who)
        yield started
    finally:
        started.stop()


@pytest.fixture
def pages(browser: Browser, server: ServerProcess) -> Iterator[Pages]:
    opened = Pages(browser, server.url)
    yield opened
    opened.close()
    opened.assert_no_errors()


def report_url(path: str, first: date = FIRST, last: date = LAST, **more: str) -> str:
    query = {"range": "custom", "from": first, "to": last, "tz": BERLIN.key, **more}
    return f"{path}?{urlencode(query)}"


COLUMNS = """gs => gs.map(g => [g.dataset.day, Number(g.dataset.ms),
  Array.from(g.querySelectorAll('rect.piece'), r => [r.dataset.label, Number(r.dataset.ms)])])"""
CELLS = (
    "rs => rs.map(r => [Number(r.dataset.weekday), Number(r.dataset.hour), Number(r.dataset.ms)])"
)
FILLS = "els => els.map(e => [e.dataset.label, getComputedStyle(e).fill])"


def columns(page: Page) -> dict[date, dict[str, int]]:
    """What each day's column draws: its pieces' ms per app (checked to add up to the
    column's own total)."""
    out = {}
    for day, total, pieces in page.locator("svg.columns g.day-column").evaluate_all(COLUMNS):
        assert sum(ms for _, ms in pieces) == total, (day, total, pieces)
        out[date.fromisoformat(day)] = dict(pieces)
    return out


def cells(page: Page) -> dict[tuple[int, int], int]:
    drawn = page.locator("svg.heatmap rect.cell").evaluate_all(CELLS)
    return {(weekday, hour): ms for weekday, hour, ms in drawn if ms}


def period_days(first: date = FIRST, last: date = LAST) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def test_day_columns_add_up_to_the_totals_and_to_the_stored_spans(
    server: ServerProcess, pages: Pages
) -> None:
    page = pages.open(report_url("/time"), timezone_id=BERLIN.key)
    expect(page.locator("#report[data-range='custom'] svg.columns")).to_be_visible()
    want = by_day(EVERYONE, BERLIN)
    assert columns(page) == {d: want.get(d, {}) for d in period_days()}
    # The total is the columns' sum, and the people's totals' below them.
    total = sum(sum(apps.values()) for d, apps in want.items() if FIRST <= d <= LAST)
    expect(page.locator(".figure-total")).to_have_attribute("data-ms", str(total))
    people_ms = page.locator("section.person-usage").evaluate_all(
        "ss => ss.map(s => Number(s.dataset.activeMs))"
    )
    assert sum(people_ms) == total
    expect(page.locator(".figure-average")).to_have_attribute("data-ms", str(total // 7))
    # The legend's totals are the columns' per app; each app has one colour on the page:
    # in the columns, in their legend and in each person's bar.
    legend = dict(page.locator(".overview .legend li[data-label]").evaluate_all(
        "lis => lis.map(li => [li.dataset.label, Number(li.dataset.ms)])"
    ))  # fmt: skip
    assert legend == {app: sum(d.get(app, 0) for d in columns(page).values()) for app in legend}
    pieces = dict(page.locator("svg.columns rect.piece").evaluate_all(FILLS))
    bars = page.locator("svg.stack rect.segment:not(.idle)").evaluate_all(FILLS)
    assert len(set(pieces.values())) == len(pieces)  # no two apps alike
    for app, fill in bars:
        assert pieces.get(app, fill) == fill, (app, pieces, bars)

    # Each person's own days: kai's days after the flight are Tokyo's.
    page.get_by_role("link", name="each person's own").click()
    expect(page.locator("#report[data-days='person'] svg.columns")).to_be_visible()
    own = by_day(EVERYONE, None)
    assert columns(page) == {d: own.get(d, {}) for d in period_days()}
    assert own != want
    # The days' table says the same, for whoever cannot see the picture.
    rows = page.locator(".days-table tr[data-day] td.num").evaluate_all(
        "tds => tds.map(td => Number(td.dataset.ms))"
    )
    assert rows == [sum(own.get(d, {}).values()) for d in period_days()]


def test_the_change_against_the_previous_period_of_equal_length(
    server: ServerProcess, pages: Pages
) -> None:
    page = pages.open(report_url("/people/ada"), timezone_id=BERLIN.key)
    change = page.locator(".figure-change")
    expect(change).to_be_visible()
    days = by_day(["ada"], BERLIN)
    now = sum(sum(days.get(d, {}).values()) for d in period_days())
    week_before = period_days(FIRST - timedelta(days=7), FIRST - timedelta(days=1))
    before = sum(sum(days.get(d, {}).values()) for d in week_before)
    assert (
        change.get_attribute("data-previous-from"),
        change.get_attribute("data-previous-to"),
    ) == (
        "2026-11-16",
        "2026-11-22",
    )
    assert int(change.get_attribute("data-previous-ms") or "") == before
    assert int(change.get_attribute("data-ms") or "") == now - before > 0
    percent = round(100 * (now - before) / before)
    hours, minutes = divmod((now - before) // M, 60)
    expect(change).to_have_text(f"+{hours} h {minutes:02d} min (+{percent}%)")
    expect(page.locator(".figure-change + dd")).to_contain_text("vs the previous 7 days")


def test_the_heat_map_holds_each_hour_on_the_viewers_clock_or_each_persons_own(
    server: ServerProcess, pages: Pages
) -> None:
    page = pages.open(report_url("/time"), timezone_id=BERLIN.key)
    expect(page.locator("svg.heatmap rect.cell")).to_have_count(7 * 24)
    want = by_hour(EVERYONE, BERLIN, FIRST, LAST)
    assert cells(page) == want
    # ada's one span of late work, 22:30 to 01:30, counts on both sides of midnight; kai,
    # in Tokyo from 07:00 there, starts at 23:00 in Berlin on the day before.
    ada = by_hour(["ada"], BERLIN, FIRST, LAST)
    late = [(2, 22), (2, 23), (3, 0), (3, 1)]
    assert [ada[k] for k in late] == [30 * M, H, H, 30 * M]
    assert [want[k] for k in late] == [30 * M, 2 * H, 2 * H, 30 * M + H]
    cell = page.locator("rect.cell[data-weekday='2'][data-hour='23']")
    expect(cell).to_have_attribute("aria-label", "Wednesday 23:00–24:00: 2 h 00 min")
    busiest = max(want.values())
    expect(page.locator(f"rect.cell.level-5[data-ms='{busiest}']").first).to_be_attached()
    expect(page.locator(".heat-legend li[data-level='5']")).to_have_attribute(
        "data-high-ms", str(busiest)
    )

    # kai's own days: his work across the flight is until 13:00 on Berlin's clock (Slack,
    # then Code from 11:30), then 21:00-22:30 on Tokyo's, all of it his Wednesday.
    page = pages.open(report_url("/people/kai", day="person"), timezone_id=BERLIN.key)
    expect(page.locator("#report[data-days='person'] svg.heatmap")).to_be_visible()
    own = by_hour(["kai"], None, FIRST, LAST)
    assert cells(page) == own
    flight_day = FLIGHT.date().weekday()
    assert {h: own.get((flight_day, h), 0) for h in (11, 12, 13, 20, 21, 22)} == {
        11: H, 12: H, 13: 0, 20: 0, 21: H, 22: 30 * M,
    }  # fmt: skip
    # On the viewer's clock the same stretch is 11:30 to 14:30 in Berlin.
    page.get_by_role("link", name=re.compile(r"^mine")).click()
    expect(page.locator("#report[data-days='viewer'] svg.heatmap")).to_be_visible()
    assert cells(page) == by_hour(["kai"], BERLIN, FIRST, LAST)
    assert cells(page)[(flight_day, 13)] == H


def test_the_api_gives_the_heat_maps_hours(server: ServerProcess) -> None:
    query = urlencode(
        {"from": FIRST, "to": LAST, "tz": BERLIN.key, "agent": "kai", "day": "person"}
    )
    got = server.get(f"/api/v1/usage/hours?{query}")
    assert (got["from"], got["to"], got["day"], got["tz"], got["agent"]) == (
        "2026-11-23", "2026-11-29", "person", None, "kai",
    )  # fmt: skip
    active = {(r["weekday"] - 1, r["hour"]): round(r["seconds"] * 1000) for r in got["rows"]}
    assert {k: v for k, v in active.items() if v} == by_hour(["kai"], None, FIRST, LAST)
    # Idle time too: every span of kai's is in his own days of the week.
    everything = sum(r["seconds"] + r["idle_seconds"] for r in got["rows"])
    assert round(everything * 1000) == all_time("kai")
    team = server.get(f"/api/v1/usage/hours?from={FIRST}&to={LAST}&tz=Europe/Berlin")
    team_active = {(r["weekday"] - 1, r["hour"]): round(r["seconds"] * 1000) for r in team["rows"]}
    assert {k: v for k, v in team_active.items() if v} == by_hour(EVERYONE, BERLIN, FIRST, LAST)
    status, text = fetch(server, f"/api/v1/usage/hours?{query}&format=csv")
    assert status == 200
    assert text.splitlines()[0] == "weekday,hour,seconds,idle_seconds,in_progress_seconds"
    assert_refused(
        server,
        "/api/v1/usage/hours",
        {
            "from=2026-11-23": "missing query parameter 'to'",
            "from=2026-11-23&to=2026-11-22": "'to' must not be before 'from'",
            "from=2026-11-23&to=2026-11-23&tz=Mars/Olympus": "not a known time zone",
            "from=2026-11-23&to=2026-11-23&day=mine": "'day' must be one of viewer, person",
            "from=2026-11-23&to=2026-11-23&agent=no/such": "'agent' must be an agent id",
        },
    )
    status, text = fetch(server, "/api/v1/usage/hours?from=2026-11-23&to=2026-11-23&agent=nobody")
    assert (status, "no agent has the id 'nobody'" in text) == (404, True)


def blocks(page: Page) -> list[tuple[int, int, str]]:
    drawn = page.locator("#timeline svg.timeline rect.block:not(.idle)").evaluate_all(
        "rs => rs.map(r => [Number(r.dataset.start), Number(r.dataset.end), r.dataset.app])"
    )
    return [(a, b, app) for a, b, app in drawn]


def berlin_ms(day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 11, day, hour, minute, tzinfo=BERLIN).timestamp() * 1000)


def test_the_days_timeline_zooms_from_the_keyboard(server: ServerProcess, pages: Pages) -> None:
    page = pages.open(report_url("/people/ada", date="2026-11-25"), timezone_id=BERLIN.key)
    timeline = page.locator("#timeline")
    expect(timeline).to_have_attribute("data-zoom", "day")
    assert timeline.locator("svg.timeline").get_attribute("data-hours") == "24"
    # Working hours: from the hour ada's Wednesday starts (09:15) to its end at midnight
    # (her late work goes on into Thursday).
    page.locator("#timeline .zoom a[data-zoom='work']").focus()
    page.keyboard.press("Enter")
    expect(timeline).to_have_attribute("data-zoom", "work")
    assert (timeline.get_attribute("data-start"), timeline.get_attribute("data-end")) == (
        str(berlin_ms(25, 9)),
        str(berlin_ms(26, 0)),
    )
    labels = timeline.locator("svg.timeline text.hour").all_text_contents()
    assert labels[:3] == ["09", "12", "15"]  # 15 hours: every third labelled
    # One hour: the one her day starts in, its blocks cut to it, ticks every 10 minutes.
    page.locator("#timeline .zoom a[data-zoom='hour']").focus()
    page.keyboard.press("Enter")
    expect(timeline).to_have_attribute("data-hour", "9")
    assert blocks(page) == [(berlin_ms(25, 9, 15), berlin_ms(25, 10), "Code")]
    labels = timeline.locator("svg.timeline text.hour").all_text_contents()
    assert labels == ["09:00", "09:10", "09:20", "09:30", "09:40", "09:50"]
    # The next hour, from the keyboard; then 23:00 from the list of hours.
    page.locator("#timeline a[rel=next][data-hour='10']").focus()
    page.keyboard.press("Enter")
    expect(timeline).to_have_attribute("data-hour", "10")
    assert blocks(page) == [
        (berlin_ms(25, 10), berlin_ms(25, 10, 30), "Code"),
        (berlin_ms(25, 10, 30), berlin_ms(25, 11), "Firefox"),
    ]
    page.get_by_label("Hour", exact=True).select_option(label="23:00–00:00")
    expect(timeline).to_have_attribute("data-hour", "23")
    assert blocks(page) == [(berlin_ms(25, 23), berlin_ms(26, 0), "Code")]
    # The URL says so: a reload shows the same hour.
    expect(page).to_have_url(re.compile(r"zoom=hour&hour=23"))
    page.reload()
    expect(page.locator("#timeline[data-zoom='hour'][data-hour='23']")).to_be_visible()
    # A zoom that is not one is said so.
    status, text = fetch(server, report_url("/people/ada", zoom="far"))
    assert status == 400
    assert "'zoom' must be one of day, work, hour, not 'far'" in html.unescape(text)
    status, text = fetch(server, report_url("/people/ada", zoom="hour", hour="9am"))
    assert status == 400
    assert "'hour' must be the hour's place in the day" in html.unescape(text)
    # Back to the whole day.
    page.locator("#timeline .zoom a[data-zoom='day']").focus()
    page.keyboard.press("Enter")
    expect(timeline).to_have_attribute("data-zoom", "day")
    assert len(blocks(page)) > 5


def test_a_day_stepped_to_outside_the_range_colours_its_own_apps(pages: Pages) -> None:
    # kai's Wednesday (Slack, Code) is the range; his Monday (Code, Firefox) is the day
    # shown: Firefox, which the range has not, still gets a colour of its own there.
    wednesday = date(2026, 11, 25)
    url = report_url("/people/kai", wednesday, wednesday, date="2026-11-23")
    page = pages.open(url, timezone_id=BERLIN.key)
    styles = "rs => rs.map(r => [r.dataset.app || r.dataset.label, r.getAttribute('style')])"
    band = page.locator("#timeline svg.timeline rect.block:not(.idle)").evaluate_all(styles)
    fills = dict(band)
    assert set(fills) == {"Code", "Firefox"}, band
    # Code keeps the colour the page's columns give it; Firefox has one of its own, not
    # Code's and not the grey of "other".
    column = dict(page.locator("svg.columns rect.piece").evaluate_all(styles))
    assert fills["Code"] == column["Code"]
    assert fills["Firefox"] != fills["Code"], band
    assert "--app-other" not in fills["Firefox"], band


def test_a_report_opens_on_the_latest_day_with_activity(
    server: ServerProcess, pages: Pages
) -> None:
    # Today (whenever the test runs: after the timelines) nobody did anything.
    page = pages.open("/time", timezone_id=BERLIN.key)
    notice = page.locator(".opened-on")
    expect(notice).to_have_text(
        f"No activity today — showing {LAST_DAY.strftime('%A')}, {LAST_DAY}, the latest day "
        "with activity."
    )
    report = page.locator("#report")
    expect(report).to_have_attribute("data-range", "custom")
    assert (report.get_attribute("data-first"), report.get_attribute("data-last")) == (
        str(LAST_DAY),
        str(LAST_DAY),
    )
    assert columns(page) == {LAST_DAY: by_day(EVERYONE, BERLIN)[LAST_DAY]}
    # A person's page, on their own days: kai's last day ends at midnight in Tokyo.
    page = pages.open("/people/kai?day=person", timezone_id=TOKYO.key)
    expect(page.locator(".opened-on")).to_have_attribute("data-day", str(LAST_DAY))
    expect(page.locator("#timeline")).to_have_attribute("data-day", str(LAST_DAY))
    # Today chosen on purpose stays today, and offers the latest day.
    page = pages.open("/time?range=today&tz=Europe/Berlin")
    expect(page.locator("#report[data-range='today'] .empty")).to_be_visible()
    page.locator(".latest a").click()
    expect(
        page.locator(f"#report[data-first='{LAST_DAY}'][data-last='{LAST_DAY}']")
    ).to_be_visible()
    expect(page).to_have_url(re.compile(f"from={LAST_DAY}"))


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# axe-core's serious and critical findings, each as "rule: where".
SERIOUS = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
  .filter(v => v.impact === "serious" || v.impact === "critical")
  .map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "))"""
WIDEST = """() => Math.max(document.scrollingElement.scrollWidth,
  ...Array.from(document.querySelectorAll('main *'), el => el.getBoundingClientRect().right))"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_charts_pass_axe_and_fit_a_phone(
    server: ServerProcess, browser: Browser, scheme: str
) -> None:
    """What the pages of tests/panel/test_pages_browser.py do not show there: a report
    opened on the latest day, a month of columns, a timeline zoomed to one hour."""
    context = browser.new_context(color_scheme=scheme, reduced_motion="reduce")
    try:
        page = context.new_page()
        for path in (
            "/time?tz=Europe/Berlin",
            report_url("/time", date(2026, 11, 1), date(2026, 11, 30)),
            report_url("/people/kai", zoom="hour", hour="9", date="2026-11-24"),
        ):
            page.goto(server.url + path)
            expect(page.locator("svg.heatmap")).to_be_visible()
            for width in (1400, 400):
                page.set_viewport_size({"width": width, "height": 900})
                assert page.evaluate(WIDEST) <= width, (path, width)
            page.add_script_tag(path=str(AXE))  # at 400 px: the page's narrowest layout
            assert page.evaluate(SERIOUS) == [], path
    finally:
        context.close()
