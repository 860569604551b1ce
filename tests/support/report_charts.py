"""Two people's spans for the report charts' tests, sent to a real server as an agent
sends them (protocol v2 ``spans`` batches over the agent websocket), and what the charts
must show for them, reckoned minute by minute from the spans (not by the product's code).

- ada works in Berlin from Monday 2026-11-16 to Friday 2026-11-27: office hours on
  workdays (a light first week: Friday 20 off), nothing at night or at weekends, and on
  Wednesday 25 one span of Code from 22:30 to 01:30, across midnight.
- kai works in Berlin from Monday 2026-11-23 and flies to Tokyo on Wednesday 25 in the
  middle of his work: Code from 11:30 to 13:00 in Berlin (10:30-12:00 UTC), on from
  21:00 to 22:30 in Tokyo (12:00-13:30 UTC), two spans as his agent records a zone
  change; then he works in Tokyo from 07:00 (still the day before in Berlin) to Friday 27.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from websockets.sync.client import connect

from tests.support.processes import WAIT
from tests.support.servers import ServerProcess

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
FLIGHT = datetime(2026, 11, 25, 12, tzinfo=UTC)
LAST_DAY = date(2026, 11, 27)  # the latest day with activity, in Berlin and in Tokyo
M = 60_000


@dataclass(frozen=True)
class Stretch:
    start: datetime
    end: datetime
    app: str
    idle: bool
    tz: ZoneInfo


def _day(on: date, zone: ZoneInfo, *parts: tuple[int, int, str, bool]) -> list[Stretch]:
    """Stretches of one day, each from its (hour, minute) to the next one's; the last
    part only ends the one before."""
    at = [datetime.combine(on, time(h, m), tzinfo=zone) for h, m, _, _ in parts]
    return [
        Stretch(at[i], at[i + 1], app, idle, zone) for i, (_, _, app, idle) in enumerate(parts[:-1])
    ]


def ada() -> list[Stretch]:
    out = []
    for n in range(12):
        day = date(2026, 11, 16) + timedelta(days=n)
        if day.weekday() >= 5 or day == date(2026, 11, 20):
            continue
        out += _day(
            day,
            BERLIN,
            (9, n * 5 % 30, "Code", False),
            (10, 30, "Firefox", False),
            (12, 0, "Firefox", True),
            (13, 0, "Slack", False),
            (14, 0, "Code", False),
            (17, 30, "Zoom", False),
            (18, 15, "Zoom", True),
            (18, 30, "", False),
        )
        if day == date(2026, 11, 25):  # late work, across midnight
            late = datetime.combine(day, time(22, 30), tzinfo=BERLIN)
            out.append(Stretch(late, late + timedelta(hours=3), "Code", False, BERLIN))
    return out


def kai() -> list[Stretch]:
    out = []
    for n in range(5):
        day = date(2026, 11, 23) + timedelta(days=n)
        if day == FLIGHT.date():
            out += _day(day, BERLIN, (8, 0, "Slack", False), (11, 30, "", False))
            out += [
                Stretch(FLIGHT - timedelta(minutes=90), FLIGHT, "Code", False, BERLIN),
                Stretch(FLIGHT, FLIGHT + timedelta(minutes=90), "Code", False, TOKYO),
            ]
            continue
        zone, begin = (BERLIN, 9) if day < FLIGHT.date() else (TOKYO, 7)
        out += _day(
            day,
            zone,
            (begin, 0, "Code", False),
            (12, 0, "Firefox", False),
            (13, 0, "Firefox", True),
            (14, 0, "Code", False),
            (18, 0, "", False),
        )
    return out


PEOPLE = {"ada": (ada, BERLIN), "kai": (kai, TOKYO)}


def stretches(who: str) -> list[Stretch]:
    return PEOPLE[who][0]()


def send(server: ServerProcess, who: str) -> None:
    """``who``'s spans, sent over the agent websocket as a v2 agent does; returns once
    the server has stored them all (acknowledged)."""
    made, now_in = PEOPLE[who]
    rows = [
        [
            s.start.astimezone(UTC).isoformat(),
            s.end.astimezone(UTC).isoformat(),
            {"app": s.app, "title": f"{s.app} window", "idle": s.idle},
            s.tz.key,
        ]
        for s in made()
    ]
    hello = {
        "type": "hello",
        "v": 2,
        "agent_id": who,
        "name": who.title(),
        "host": f"{who}-laptop",
        "platform": "Linux",
        "agent_version": "test",
        "tz": now_in.key,
    }
    with connect(server.ws_url, open_timeout=WAIT, proxy=None) as ws:
        ws.send(json.dumps(hello))
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "welcome"
        ws.send(json.dumps({"type": "spans", "first_seq": 1, "spans": rows}))
        assert json.loads(ws.recv(timeout=WAIT)) == {"type": "ack", "seq": len(rows)}


def active_minutes(who: str, viewer: ZoneInfo | None) -> Iterator[tuple[datetime, str]]:
    """Each active minute of ``who``'s, on the viewer's wall clock, or (None) on the
    clock of the zone the span was recorded in."""
    for s in stretches(who):
        minute = s.start
        while minute < s.end:
            if not s.idle:
                yield minute.astimezone(viewer or s.tz), s.app
            minute += timedelta(minutes=1)


def by_day(people: list[str], viewer: ZoneInfo | None) -> dict[date, dict[str, int]]:
    """Active ms per date and app, everyone's together."""
    out: dict[date, dict[str, int]] = {}
    for who in people:
        for local, app in active_minutes(who, viewer):
            apps = out.setdefault(local.date(), {})
            apps[app] = apps.get(app, 0) + M
    return out


def by_hour(
    people: list[str], viewer: ZoneInfo | None, first: date, last: date
) -> dict[tuple[int, int], int]:
    """Active ms per (weekday, hour) of the dates ``first`` to ``last``."""
    out: dict[tuple[int, int], int] = {}
    for who in people:
        for local, _ in active_minutes(who, viewer):
            if first <= local.date() <= last:
                key = (local.weekday(), local.hour)
                out[key] = out.get(key, 0) + M
    return out


def all_time(who: str) -> int:
    """Active and idle ms, all of ``who``'s spans."""
    return sum(int((s.end - s.start).total_seconds() * 1000) for s in stretches(who))
