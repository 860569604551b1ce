"""The report API end to end: real agent processes replay timelines across the
days daylight saving time begins and ends in Paris, into a real server; the
timeline and titles reports answer exactly what the timelines say."""

from __future__ import annotations

import csv
import io
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape

from officepulse.agent.timeline import Timeline
from tests.support.processes import stop
from tests.support.report_api import fetch
from tests.support.servers import ServerProcess, start_agent, start_server
from tests.support.timelines import browsing_day, stretches

PARIS = ZoneInfo("Europe/Paris")
# Each starts the evening before the change in Paris and runs 30 hours, so both the
# day before and the day itself are only partly covered.
PEOPLE = {
    "spring": datetime(2026, 3, 28, 19, 0, tzinfo=UTC),  # 29 March: 23 hours in Paris
    "autumn": datetime(2026, 10, 24, 19, 0, tzinfo=UTC),  # 25 October: 25 hours
}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict]]:
    tmp = tmp_path_factory.mktemp("reports")
    server = start_server(tmp)
    timelines, procs = {}, []
    for seed, (person, start) in enumerate(PEOPLE.items()):
        timelines[person] = browsing_day(tmp / f"{person}.jsonl", seed, 30)
        procs.append(
            start_agent(
                server,
                tmp / person,
                *("--agent-id", person, "--name", person.title()),
                *("--source", "scripted", "--timeline", str(tmp / f"{person}.jsonl")),
                *("--speed", "0", "--start", start.isoformat()),
            )
        )
    for proc in procs:
        proc.wait(120)
        out = stop(proc)
        assert proc.returncode == 0, out
        assert "every span was acknowledged by the server" in out
    yield server, timelines
    server.stop()


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return datetime(day.year, day.month, day.day, tzinfo=zone), datetime.combine(
        day + timedelta(days=1), datetime.min.time(), tzinfo=zone
    )


@pytest.mark.parametrize(("person", "day", "hours"), [("spring", 29, 23), ("autumn", 25, 25)])
def test_a_daylight_saving_day_in_paris(
    replayed: tuple[ServerProcess, dict[str, Timeline]], person: str, day: int, hours: int
) -> None:
    server, timelines = replayed
    start = PEOPLE[person]
    the_day = date(2026, start.month, day)
    got = server.get(f"/api/v1/timeline?agent={person}&date={the_day}&tz=Europe/Paris")
    lo, hi = day_bounds(the_day, PARIS)
    assert (instant(got["start"]), instant(got["end"])) == (lo, hi)
    assert got["hours"] == hours
    assert (got["agent"], got["name"], got["date"], got["tz"]) == (
        person,
        person.title(),
        the_day.isoformat(),
        "Europe/Paris",
    )
    want = stretches(timelines[person], start, lo, hi)
    shown = [
        (
            instant(b["start"]),
            instant(b["end"]),
            b["app"],
            b["title"],
            b.get("url"),
            b.get("idle", False),
        )
        for b in got["blocks"]
    ]
    assert shown == want
    assert all(
        b["seconds"] == (b_end - b_start).total_seconds()
        for b, (b_start, b_end, *_) in zip(got["blocks"], shown, strict=True)
    )
    assert got["seconds"] == sum((b - a).total_seconds() for a, b, *_, idle in want if not idle)
    assert got["idle_seconds"] == sum((b - a).total_seconds() for a, b, *_, idle in want if idle)
    assert not got["truncated"]


def test_the_same_date_in_another_zone_is_another_stretch_of_time(
    replayed: tuple[ServerProcess, dict[str, Timeline]],
) -> None:
    server, timelines = replayed
    for tz in ("UTC", "Asia/Tokyo"):
        got = server.get(f"/api/v1/timeline?agent=spring&date=2026-03-29&tz={tz}")
        lo, hi = day_bounds(date(2026, 3, 29), ZoneInfo(tz))
        assert got["hours"] == 24
        assert [(instant(b["start"]), instant(b["end"])) for b in got["blocks"]] == [
            (a, b) for a, b, *_ in stretches(timelines["spring"], PEOPLE["spring"], lo, hi)
        ]
    empty = server.get("/api/v1/timeline?agent=spring&date=2026-01-01&tz=UTC")
    assert (empty["blocks"], empty["seconds"], empty["idle_seconds"]) == ([], 0, 0)


def titles(server: ServerProcess, person: str, app: str, lo: datetime, hi: datetime) -> dict:
    query = urlencode({"agent": person, "app": app, "start": lo.isoformat(), "end": hi.isoformat()})
    return server.get(f"/api/v1/titles?{query}")


@pytest.mark.parametrize("app", ["Google-chrome", "Code", "Slack"])
def test_titles_of_an_app_add_up_to_its_usage(
    replayed: tuple[ServerProcess, dict[str, Timeline]], app: str
) -> None:
    server, timelines = replayed
    start = PEOPLE["autumn"]
    # A range that cuts through the middle of stretches at both ends.
    lo, hi = (
        start + timedelta(hours=3, minutes=7, seconds=13),
        start + timedelta(hours=26, seconds=1),
    )
    want: dict[tuple[str, str | None], list[float]] = {}
    for a, b, got_app, title, url, idle in stretches(timelines["autumn"], start, lo, hi):
        if got_app == app:
            slot = want.setdefault((title, url), [0.0, 0.0])
            slot[1 if idle else 0] += (b - a).total_seconds()
    got = titles(server, "autumn", app, lo, hi)
    rows = {(r["title"], r.get("url")): [r["seconds"], r["idle_seconds"]] for r in got["rows"]}
    assert rows == want
    assert len(rows) == len(got["rows"])
    assert [r["seconds"] for r in got["rows"]] == sorted(
        (r["seconds"] for r in got["rows"]), reverse=True
    )
    # The same time as the usage report gives the app.
    query = urlencode({"start": lo.isoformat(), "end": hi.isoformat(), "group_by": "agent,app"})
    usage = server.get(f"/api/v1/usage?{query}")["rows"]
    (row,) = [r for r in usage if r["agent"] == "autumn" and r["app"] == app]
    assert sum(r["seconds"] for r in got["rows"]) == pytest.approx(row["seconds"], abs=1e-6)
    assert sum(r["idle_seconds"] for r in got["rows"]) == pytest.approx(
        row["idle_seconds"], abs=1e-6
    )


def test_one_title_under_two_urls_is_two_rows(
    replayed: tuple[ServerProcess, dict[str, Timeline]],
) -> None:
    server, _ = replayed
    start = PEOPLE["spring"]
    got = titles(server, "spring", "Google-chrome", start, start + timedelta(hours=30))
    cat = [r["url"] for r in got["rows"] if r["title"].startswith("YouTube") and "url" in r]
    assert sorted(cat) == [
        "https://www.youtube.com/watch?v=cat",
        "https://www.youtube.com/watch?v=cat2",
    ]


def test_reports_as_csv(replayed: tuple[ServerProcess, dict[str, Timeline]]) -> None:
    server, _ = replayed
    day = "agent=autumn&date=2026-10-25&tz=Europe/Paris"
    with urllib.request.urlopen(f"{server.url}/api/v1/timeline?{day}&format=csv") as r:
        assert r.headers["Content-Type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(r.read().decode())))
    blocks = server.get(f"/api/v1/timeline?{day}")["blocks"]
    assert [(t["start"], t["app"], float(t["seconds"])) for t in table] == [
        (b["start"], b["app"], b["seconds"]) for b in blocks
    ]
    lo, hi = PEOPLE["autumn"], PEOPLE["autumn"] + timedelta(days=1)
    query = urlencode(
        {"agent": "autumn", "app": "Code", "start": lo.isoformat(), "end": hi.isoformat()}
    )
    with urllib.request.urlopen(f"{server.url}/api/v1/titles?{query}&format=csv") as r:
        rows = list(csv.DictReader(io.StringIO(r.read().decode())))
    assert [(t["title"], float(t["seconds"])) for t in rows] == [
        (t["title"], t["seconds"]) for t in server.get(f"/api/v1/titles?{query}")["rows"]
    ]


def test_bad_report_requests_are_told_what_is_wrong(server: ServerProcess) -> None:
    day = "start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"
    cases = {
        "/api/v1/timeline?date=2026-01-01&tz=UTC": (400, "missing query parameter 'agent'"),
        "/api/v1/timeline?agent=a&tz=UTC": (400, "missing query parameter 'date'"),
        "/api/v1/timeline?agent=a&date=1/2/2026&tz=UTC": (400, "'date' is not a date"),
        "/api/v1/timeline?agent=a&date=2026-01-01": (400, "missing query parameter 'tz'"),
        "/api/v1/timeline?agent=a&date=2026-01-01&tz=Mars/Olympus": (400, "not a known time zone"),
        "/api/v1/timeline?agent=a&date=2026-01-01&tz=UTC&format=xml": (400, "'format' must be"),
        "/api/v1/timeline?agent=nobody&date=2026-01-01&tz=UTC": (404, "no agent has the id"),
        f"/api/v1/titles?app=Code&{day}": (400, "missing query parameter 'agent'"),
        f"/api/v1/titles?agent=a&{day}": (400, "missing query parameter 'app'"),
        "/api/v1/titles?agent=a&app=Code&start=2026-01-01T00:00:00Z": (400, "'end'"),
        "/api/v1/titles?agent=a&app=Code&start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z": (
            400,
            "'end' must be after",
        ),
        f"/api/v1/titles?agent=nobody&app=Code&{day}": (404, "no agent has the id 'nobody'"),
    }
    for path, (status, message) in cases.items():
        got_status, body = server.get_status(path)
        assert got_status == status, path
        assert message in body["error"], (path, body)


def test_the_openapi_document_describes_the_reports(server: ServerProcess) -> None:
    doc = server.get("/api/v1/openapi.json")
    timeline = doc["paths"]["/api/v1/timeline"]["get"]
    params = {p["name"]: p for p in timeline["parameters"]}
    assert set(params) == {"agent", "date", "day", "tz", "format"}
    # Old requests (agent, date, tz) mean what they did; day=person makes tz unneeded.
    assert params["day"]["schema"]["enum"] == ["viewer", "person"]
    assert (params["day"]["required"], params["tz"]["required"]) == (False, False)
    assert set(timeline["responses"]) == {"200", "400", "401", "403", "404"}
    titles = doc["paths"]["/api/v1/titles"]["get"]
    assert {p["name"] for p in titles["parameters"]} == {"agent", "app", "start", "end", "format"}
    schemas = doc["components"]["schemas"]
    assert {"TimelineOut", "BlockOut", "TitlesOut", "TitleRowOut"} <= set(schemas)
    assert {"hours", "blocks", "seconds", "idle_seconds"} <= set(
        schemas["TimelineOut"]["properties"]
    )


def test_a_person_page_without_js_shows_the_dst_day_as_the_api_does(
    replayed: tuple[ServerProcess, dict[str, Timeline]],
) -> None:
    server, _ = replayed
    query = urlencode(
        {
            "range": "custom",
            "from": "2026-03-28",
            "to": "2026-03-30",
            "tz": "Europe/Paris",
            "date": "2026-03-29",
            "app": "Google-chrome",
        }
    )
    status, html = fetch(server, f"/people/spring?{query}")
    assert status == 200
    # A link from before whose-days was a choice named the date "day": it still shows it.
    old = query.replace("date=2026-03-29", "day=2026-03-29")
    assert fetch(server, f"/people/spring?{old}") == (200, html)
    assert "<html" in html  # a whole page, not a fragment
    day = server.get("/api/v1/timeline?agent=spring&date=2026-03-29&tz=Europe/Paris")
    assert 'data-hours="23"' in html
    starts = [int(m) for m in re.findall(r'<rect class="block[^"]*"[^>]*data-start="(\d+)"', html)]
    assert sorted(starts) == [
        int(datetime.fromisoformat(b["start"]).timestamp() * 1000) for b in day["blocks"]
    ]
    chrome = titles(
        server,
        "spring",
        "Google-chrome",
        datetime(2026, 3, 28, tzinfo=PARIS),
        datetime(2026, 3, 31, tzinfo=PARIS),
    )
    assert re.findall(r'<tr class="title-row" data-title="([^"]*)"', html) == [
        escape(r["title"]) for r in chrome["rows"]
    ]


def test_pages_say_what_is_wrong(server: ServerProcess) -> None:
    status, html = fetch(server, "/time?range=custom&from=2026-01-02&to=2026-01-01&tz=UTC")
    assert status == 400
    assert "the range ends (2026-01-01) before it starts (2026-01-02)" in html
    assert 'name="from" value="2026-01-02"' in html  # the picker, to put it right
    status, html = fetch(server, "/time?range=today&tz=Nowhere/Atlantis")
    assert (status, "not a known time zone" in html) == (400, True)
    status, text = fetch(server, "/people/nobody?tz=UTC")
    assert (status, "nobody has the agent id 'nobody'" in text) == (404, True)
    for day in ("person", "viewer"):  # the days around such dates would not be dates
        status, html = fetch(
            server, f"/time?range=custom&from=9999-12-31&to=9999-12-31&tz=UTC&day={day}"
        )
        assert status == 400
        assert "&#39;from&#39; must be a date from 1000-01-01 to 9998-12-31" in html
    status, body = server.get_status("/api/v1/usage/days?from=0001-01-01&to=0001-01-02&day=person")
    assert (status, body["error"]) == (
        400,
        "'from' must be a date from 1000-01-01 to 9998-12-31: '0001-01-01'",
    )
    status, html = fetch(server, "/time?range=today&tz=UTC&day=mine")
    assert status == 400
    assert "&#39;day&#39; must be one of viewer, person, not &#39;mine&#39;" in html
    assert 'href="/time?range=today&amp;tz=UTC&amp;day=person"' in html  # to put it right
