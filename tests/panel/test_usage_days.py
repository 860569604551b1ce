"""Per-day totals end to end, on SQLite and on a real PostgreSQL: real agent processes
replay timelines that travel and cross daylight-saving changes into a real server,
one of them from a journal filled while no server was there; GET /api/v1/usage/days
answers what the timelines say, day by day, in the viewer's zone and in each
person's own."""

from __future__ import annotations

import contextlib
import csv
import io
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from tests.support.ports import free_port
from tests.support.processes import stop, wait_until
from tests.support.servers import ServerProcess, assert_refused, start_agent, start_server
from tests.support.timelines import Person, berlin_people, expected_days, recorded, travelling

pytest_plugins = ["tests.support.postgres"]

BERLIN = ZoneInfo("Europe/Berlin")
H = 3600


def _people(tmp: Path) -> dict[str, Person]:
    return {
        # Kenji flies from Berlin to Tokyo on Wednesday; spring and autumn stay in
        # Berlin across its daylight-saving changes.
        **berlin_people(tmp, 1),
        # Recorded while the server is away, sent when it comes: Tokyo, then a flight
        # west to Los Angeles (a long day) and Kathmandu (+5:45) to end.
        "nomad": Person(
            travelling(
                tmp / "nomad.jsonl",
                4,
                3 * 24,
                [(0, "Asia/Tokyo"), (30 * H, "America/Los_Angeles"), (60 * H, "Asia/Kathmandu")],
                (600, 5400),
            ),
            datetime(2026, 11, 24, tzinfo=ZoneInfo("Asia/Tokyo")),
        ),
    }


def _replay(server: ServerProcess, tmp: Path, name: str, person: Person, path: Path):  # type: ignore[no-untyped-def]
    return start_agent(
        server,
        tmp / name,
        "--agent-id",
        name,
        "--name",
        name.title(),
        "--source",
        "scripted",
        "--timeline",
        str(path),
        "--speed",
        "0",
        "--start",
        person.start.isoformat(),
        TZ="UTC",  # the computer's own zone; the timelines say where it really is
    )


@dataclass
class Office:
    server: ServerProcess
    people: dict[str, Person]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def office(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Office]:
    tmp = tmp_path_factory.mktemp(f"days-{request.param}")
    database: list[str] = []
    if request.param == "postgres":
        database = ["--database", request.getfixturevalue("postgres_cluster").create_database()]
    people = _people(tmp)
    port = free_port()
    placeholder = ServerProcess.__new__(ServerProcess)  # only its URL is used
    placeholder.url = f"http://127.0.0.1:{port}"
    nomad = _replay(placeholder, tmp, "nomad", people["nomad"], tmp / "nomad.jsonl")
    agents = [nomad]
    try:
        # The nomad's days wait in its journal until there is a server to send them to.
        journal = tmp / "nomad" / "agent-state" / "journal.sqlite3"
        wait_until(
            lambda: recorded(journal, people["nomad"].start, people["nomad"].timeline),
            what="the nomad's days in its journal",
        )
        assert nomad.poll() is None
        server = start_server(tmp / "srv", "--port", str(port), *database)
        for name in ("kenji", "spring", "autumn"):
            agents.append(_replay(server, tmp, name, people[name], tmp / f"{name}.jsonl"))
        for agent in agents:
            agent.wait(120)
            out = stop(agent)
            assert agent.returncode == 0, out
            assert "every span was acknowledged by the server" in out, out
            assert "adjusted" not in out, out
        yield Office(server, people)
        server.stop()
    finally:
        for agent in agents:
            with contextlib.suppress(Exception):
                stop(agent)


def days(
    office: Office, first: date, last: date, **params: str
) -> dict[tuple[date, str, str], tuple[float, float]]:
    query = urlencode({"from": first.isoformat(), "to": last.isoformat(), **params})
    rows = office.server.get(f"/api/v1/usage/days?{query}")["rows"]
    return {
        (date.fromisoformat(r["day"]), r["agent"], r["app"]): (r["seconds"], r["idle_seconds"])
        for r in rows
    }


def want(office: Office, names: list[str], viewer: str | None) -> dict[Any, Any]:
    out = {}
    for name in names:
        person = office.people[name]
        for (day, app), seconds in expected_days(person.timeline, person.start, viewer).items():
            out[(day, name, app)] = seconds
    return out


def only(got: dict[Any, Any], names: list[str]) -> dict[Any, Any]:
    return {k: v for k, v in got.items() if k[1] in names}


def per_day(got: dict[Any, Any], name: str) -> dict[date, float]:
    out: dict[date, float] = {}
    for (day, agent, _), (active, idle) in got.items():
        if agent == name:
            out[day] = out.get(day, 0) + active + idle
    return out


def test_a_traveller_keeps_their_own_days(office: Office) -> None:
    got = days(office, date(2026, 11, 20), date(2026, 11, 30), day="person")
    travellers = ["kenji", "nomad"]
    assert only(got, travellers) == want(office, travellers, None)
    kenji = per_day(got, "kenji")
    # Monday and Tuesday in Berlin, Wednesday cut short by the flight east, then Tokyo
    # days; Friday ends at midnight in Berlin, 08:00 in Tokyo.
    assert kenji == {
        date(2026, 11, 23): 24 * H,
        date(2026, 11, 24): 24 * H,
        date(2026, 11, 25): 16 * H,
        date(2026, 11, 26): 24 * H,
        date(2026, 11, 27): 24 * H,
        date(2026, 11, 28): 8 * H,
    }
    assert sum(kenji.values()) == 5 * 24 * H  # every instant counted once


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Asia/Tokyo", "Asia/Kolkata"])
def test_the_viewers_days_are_the_same_for_everyone(office: Office, zone: str) -> None:
    got = days(office, date(2026, 11, 20), date(2026, 11, 30), day="viewer", tz=zone)
    travellers = ["kenji", "nomad"]
    assert only(got, travellers) == want(office, travellers, zone)
    assert sum(per_day(got, "kenji").values()) == 5 * 24 * H


@pytest.mark.parametrize("mode", ["viewer", "person"])
def test_daylight_saving_days_have_23_and_25_hours(office: Office, mode: str) -> None:
    spring = days(office, date(2026, 3, 27), date(2026, 3, 31), day=mode, tz="Europe/Berlin")
    assert per_day(spring, "spring") == {
        date(2026, 3, 28): 24 * H,
        date(2026, 3, 29): 23 * H,
        date(2026, 3, 30): 24 * H,
    }
    autumn = days(office, date(2026, 10, 23), date(2026, 10, 27), day=mode, tz="Europe/Berlin")
    assert per_day(autumn, "autumn") == {
        date(2026, 10, 24): 24 * H,
        date(2026, 10, 25): 25 * H,
        date(2026, 10, 26): 24 * H,
    }
    assert only(spring, ["spring"]) == want(office, ["spring"], "Europe/Berlin")


def test_the_agent_list_shows_where_each_computer_is_now(office: Office) -> None:
    zones = {a["id"]: a["tz"] for a in office.server.get("/api/v1/agents")["agents"]}
    assert zones == {
        "kenji": "Asia/Tokyo",
        "nomad": "Asia/Kathmandu",
        "spring": "Europe/Berlin",
        "autumn": "Europe/Berlin",
    }


def test_csv_and_grouping_say_the_same(office: Office) -> None:
    first, last = date(2026, 11, 22), date(2026, 11, 29)
    full = days(office, first, last, day="person")
    query = urlencode({"from": first.isoformat(), "to": last.isoformat(), "day": "person"})
    with urllib.request.urlopen(f"{office.server.url}/api/v1/usage/days?{query}&format=csv") as r:
        assert r.headers["Content-Type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(r.read().decode())))
    assert {
        (date.fromisoformat(row["day"]), row["agent"], row["app"]): (
            float(row["seconds"]),
            float(row["idle_seconds"]),
        )
        for row in table
    } == full
    # Grouped by app alone: the same sums.
    body = office.server.get(f"/api/v1/usage/days?{query}&group_by=app")
    by_app: dict[tuple[date, str], float] = {}
    for (day, _, app), (active, idle) in full.items():
        by_app[(day, app)] = by_app.get((day, app), 0) + active + idle
    assert {
        (date.fromisoformat(r["day"]), r["app"]): r["seconds"] + r["idle_seconds"]
        for r in body["rows"]
    } == pytest.approx(by_app)
    assert body["tz"] is None
    assert body["from"] == first.isoformat()


def test_bad_requests_say_what_is_wrong(office: Office) -> None:
    cases = {
        "to=2026-11-01": "missing query parameter 'from'",
        "from=2026-11-01": "missing query parameter 'to'",
        "from=2026-11-01&to=2026-11-31": "'to' is not a date",
        "from=yesterday&to=2026-11-02": "'from' is not a date",
        "from=2026-11-02&to=2026-11-01": "'to' must not be before 'from'",
        "from=2025-01-01&to=2026-01-02": "longer than 366 days",
        "from=2026-11-01&to=2026-11-02&tz=Mars/Olympus": "not a known time zone",
        "from=2026-11-01&to=2026-11-02&day=mine": "'day' must be one of viewer, person",
        "from=2026-11-01&to=2026-11-02&group_by=title": "'group_by' cannot contain 'title'",
        "from=2026-11-01&to=2026-11-02&format=xml": "'format' must be one of",
    }
    assert_refused(office.server, "/api/v1/usage/days", cases)
    ok = days(office, date(2025, 1, 1), date(2025, 12, 31))  # 365 days: allowed
    assert ok == {}
