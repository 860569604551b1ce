"""``officepulse demo``: an office full of scripted people.

Each person gets days of history replayed at full speed (so the Time page has
something to show): workdays of switches every few minutes, with breaks. Then the
live office: the last hour or so before now (replayed at once, so the office has
been busy today and what is in front began a while ago), and from now on real time,
where people move every few seconds to a minute, as an office watched for a
minute should: they switch apps, tabs and titles, go idle and come back; Bob is
away at lunch when it starts and back a few minutes later, Carol is in a meeting
most of the time, Dan stays in one stretch of programming (focused), Eve pauses her
agent now and then. Everything comes from a random generator seeded
per person, so a demo looks the same every time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time as clock
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp

from officepulse import __version__
from officepulse.agent.drivers import ScriptedDriver
from officepulse.agent.journal import Journal
from officepulse.agent.link import Link
from officepulse.agent.main import local_zone
from officepulse.agent.pause import PAUSED
from officepulse.agent.recorder import HEARTBEAT_INTERVAL, Recorder
from officepulse.agent.timeline import Entry, Timeline
from officepulse.protocol.messages import PROTOCOL_VERSION, Activity, AppName, Heartbeat, Hello

log = logging.getLogger("officepulse.demo")

# The live office begins this long before now (each person's own, in minutes): replayed
# at once when the demo starts.
LEAD_IN = (80, 120)


@dataclass(frozen=True)
class Move:
    """Something a person has in front in the live office, for ``stay`` seconds."""

    app: str
    title: str
    url: str | None = None
    weight: int = 1
    stay: tuple[int, int] = (4, 30)
    idle: bool = False

    @property
    def activity(self) -> Activity:
        return Activity(app=self.app, title=self.title, url=self.url, idle=self.idle)


@dataclass(frozen=True)
class Persona:
    name: str
    host: str
    habits: tuple[tuple[str, str, str | None, int], ...]  # app, title, url, weight
    # The live office: what they move between, and how often they go idle or pause.
    moves: tuple[Move, ...]
    idle: float = 0.08  # the chance that the next step is idle
    idle_for: tuple[int, int] = (20, 80)
    pause: float = 0.0  # the chance that the next step is a pause of the agent
    pause_for: tuple[int, int] = (30, 75)
    # What the last minutes before now were, most recent last (minutes, the move).
    lately: tuple[tuple[int, Move], ...] = ()
    # Where the person flies to half way through the week of history (IANA zone): their
    # own days follow them (GET /api/v1/usage/days?day=person).
    travels: str | None = None


# What each desktop calls the demo's apps (a real agent reads it from the desktop's own
# metadata: agent/app_names.py), so the demo office shows names people recognise.
APP_NAMES = {
    "Code": "Visual Studio Code",
    "Google-chrome": "Google Chrome",
    "firefox": "Firefox",
    "libreoffice-calc": "LibreOffice Calc",
    "libreoffice-writer": "LibreOffice Writer",
    "thunderbird": "Thunderbird",
    "xterm": "XTerm",
    "zoom": "Zoom",
}


def app_name(app: str) -> AppName | None:
    name = APP_NAMES.get(app)
    return AppName(app=app, name=name) if name is not None else None


ZOOM = Move("zoom", "Zoom Meeting", weight=6, stay=(40, 150))
VIM = Move("xterm", "vim server/hub.py", weight=5, stay=(6, 30))
# Bob is at lunch when the demo starts (idle long enough to be away: core/office.py) and
# comes back a few minutes later, so the office shows that group too, and a card moving
# out of it.
LUNCH = Move(
    "Google-chrome",
    "YouTube — cat video - Google Chrome",
    "https://www.youtube.com/watch?v=cats",
    stay=(150, 240),
    idle=True,
)

PERSONAS = (
    Persona(
        "Alice",
        "alice-laptop",
        (
            ("Code", "main.py — officepulse — Visual Studio Code", None, 6),
            ("Code", "test_store.py — officepulse — Visual Studio Code", None, 3),
            ("firefox", "Pull request #42 · officepulse — Mozilla Firefox", None, 2),
            ("Slack", "Slack | #dev", None, 1),
        ),
        moves=(
            Move("Code", "main.py — officepulse — Visual Studio Code", weight=3, stay=(4, 15)),
            Move("Code", "test_store.py — officepulse — Visual Studio Code", stay=(3, 12)),
            Move(
                "firefox",
                "Pull request #42 · officepulse — Mozilla Firefox",
                "https://github.com/officepulse/officepulse/pull/42",
                weight=2,
                stay=(3, 15),
            ),
            Move(
                "firefox",
                "Issues · officepulse — Mozilla Firefox",
                "https://github.com/officepulse/officepulse/issues",
                stay=(3, 12),
            ),
            Move("Slack", "Slack | #dev", weight=2, stay=(3, 15)),
        ),
        idle=0.1,
    ),
    Persona(
        "Bob",
        "bob-desktop",
        (
            ("Google-chrome", "YouTube — cat video - Google Chrome", "https://www.youtube.com/", 5),
            ("Google-chrome", "Inbox (3) - Gmail - Google Chrome", "https://mail.google.com/", 2),
            ("Spotify", "Queen — Bohemian Rhapsody", None, 1),
            ("libreoffice-calc", "budget-2026.ods — LibreOffice Calc", None, 2),
        ),
        moves=(
            Move(
                "Google-chrome",
                "Inbox (3) - Gmail - Google Chrome",
                "https://mail.google.com/mail/u/0/#inbox",
                weight=2,
                stay=(4, 18),
            ),
            Move(
                "Google-chrome",
                "YouTube — cat video - Google Chrome",
                "https://www.youtube.com/watch?v=cats",
                stay=(6, 25),
            ),
            Move("libreoffice-calc", "budget-2026.ods — LibreOffice Calc", weight=3, stay=(5, 25)),
            Move("Spotify", "Queen — Bohemian Rhapsody", stay=(4, 12)),
        ),
        idle=0.25,
        idle_for=(30, 120),
        lately=((17, LUNCH),),
    ),
    Persona(
        "Carol",
        "carol-mbp",
        (
            ("Figma", "Dashboard redesign – Figma", None, 5),
            ("Slack", "Slack | #design", None, 2),
            ("zoom", "Zoom Meeting", None, 2),
        ),
        moves=(
            ZOOM,
            Move("Slack", "Slack | #design", weight=2, stay=(5, 25)),
            Move("Figma", "Dashboard redesign – Figma", weight=2, stay=(6, 30)),
        ),
        idle=0.03,
        lately=((12, ZOOM),),
        travels="Asia/Tokyo",
    ),
    Persona(
        "Dan",
        "dan-thinkpad",
        (
            ("xterm", "vim server/hub.py", None, 5),
            ("xterm", "tmux: pytest -x", None, 3),
            ("firefox", "asyncio — Python 3.11 documentation — Mozilla Firefox", None, 2),
        ),
        moves=(
            VIM,
            Move("xterm", "vim panel/live.py", weight=3, stay=(6, 30)),
            Move("xterm", "tmux: pytest -x", weight=3, stay=(4, 15)),
            Move(
                "firefox",
                "asyncio — Python 3.11 documentation — Mozilla Firefox",
                "https://docs.python.org/3.11/library/asyncio.html",
                stay=(4, 15),
            ),
            # A glance at the chat, never long enough to break his focus (core/focus.py).
            Move("Slack", "Slack | #dev", stay=(4, 15)),
        ),
        idle=0.0,
        lately=((35, VIM),),
    ),
    Persona(
        "Eve",
        "eve-laptop",
        (
            ("libreoffice-writer", "Q4 report.odt — LibreOffice Writer", None, 4),
            ("thunderbird", "Inbox — Thunderbird", None, 2),
            ("Spotify", "Daft Punk — Digital Love", None, 1),
        ),
        moves=(
            Move(
                "libreoffice-writer", "Q4 report.odt — LibreOffice Writer", weight=4, stay=(5, 25)
            ),
            Move("thunderbird", "Inbox — Thunderbird", weight=2, stay=(4, 15)),
            Move("thunderbird", "Re: Q4 numbers — Thunderbird", stay=(4, 12)),
            Move("Spotify", "Daft Punk — Digital Love", stay=(3, 10)),
        ),
        idle=0.05,
        pause=0.15,
    ),
)


def workday(persona: Persona, rng: random.Random, hours: float, tz: str | None = None) -> Timeline:
    """A day of switches every few minutes, with a few idle breaks, in zone ``tz``."""
    entries: list[Entry] = []
    offset = 0.0
    apps = [h[:3] for h in persona.habits]
    weights = [h[3] for h in persona.habits]
    end = hours * 3600
    while offset < end:
        app, title, url = rng.choices(apps, weights)[0]
        idle = rng.random() < 0.08
        entries.append(
            Entry(
                offset=offset,
                app=app,
                title=title,
                url=url,
                idle=idle,
                tz=tz if not entries else None,
            )
        )
        offset += rng.randint(5, 25) * 60 if idle else rng.randint(2, 40) * 60
    entries.append(Entry(offset=end, end=True))
    return Timeline(tuple(entries), end)


Step = tuple[float, Activity]  # seconds, and what is in front for them


def lately(persona: Persona, rng: random.Random, seconds: float) -> list[Step]:
    """The ``seconds`` before now, as a workday goes (a switch every 2 to 15 minutes),
    ending with the persona's ``lately`` (cut to fit)."""
    tail = [(minutes * 60.0, move.activity) for minutes, move in persona.lately]
    left = seconds - sum(s for s, _ in tail)
    steps: list[Step] = []
    apps = [Activity(app=a, title=t, url=u) for a, t, u, _ in persona.habits]
    weights = [h[3] for h in persona.habits]
    while left > 0:
        stay = min(left, rng.randint(2, 15) * 60.0)
        steps.append((stay, rng.choices(apps, weights)[0]))
        left -= stay
    steps += tail
    cut = sum(s for s, _ in steps) - seconds
    while cut > 0 and steps:  # the tail is longer than the lead-in: its start is cut
        first, activity = steps[0]
        if first > cut:
            steps[0] = (first - cut, activity)
            break
        cut -= first
        steps.pop(0)
    return steps


def live(persona: Persona, rng: random.Random) -> Iterator[Step]:
    """The live office, for ever: a move, an idle stretch or a pause at a time, each a
    few seconds to a minute or two; never the same move twice in a row. It goes on from
    the persona's ``lately``: the first move continues it."""
    last = persona.lately[-1][1] if persona.lately else None
    if last is not None:
        yield rng.uniform(*last.stay), last.activity
    while True:
        draw = rng.random()
        if last is not None and draw < persona.pause:
            yield rng.uniform(*persona.pause_for), PAUSED
        elif last is not None and draw < persona.pause + persona.idle:
            activity = Activity(app=last.app, title=last.title, url=last.url, idle=True)
            yield rng.uniform(*persona.idle_for), activity
        others = [m for m in persona.moves if m != last] or list(persona.moves)
        last = rng.choices(others, [m.weight for m in others])[0]
        yield rng.uniform(*last.stay), last.activity


async def play(
    recorder: Recorder, steps: Iterator[Step] | list[Step], start: float, realtime: bool
) -> None:
    """Each step from ``start`` (seconds since the epoch) on, heartbeats at its start and
    every HEARTBEAT_INTERVAL within it, as an agent sends them: at once (``realtime``
    False: the past), or each when it is due (the live office)."""
    at = start
    for seconds, activity in steps:
        end = at + seconds
        while at < end:
            if realtime and (wait := at - clock.time()) > 0:
                await asyncio.sleep(wait)
            await recorder.emit(Heartbeat(ts=datetime.fromtimestamp(at, UTC), activity=activity))
            at = min(end, at + HEARTBEAT_INTERVAL)
        if not realtime:
            await asyncio.sleep(0)  # let the link send while we produce


class DemoLink(Link):
    """The demo's link: while history is replayed (``quiet``) it tells no presence,
    which says what is in front now."""

    quiet = False

    def presence(self, since_ms: int, activity: Activity | None, reason: str | None = None) -> None:
        if not self.quiet:
            super().presence(since_ms, activity, reason)


async def _latest(http_url: str, agent_id: str) -> datetime | None:
    """Where the agent's stored activity ends (None: it has none, or the server did not
    say)."""
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{http_url}/api/v1/agents", timeout=aiohttp.ClientTimeout(total=5)
            ) as response,
        ):
            body = await response.json()
    except (aiohttp.ClientError, TimeoutError):
        return None
    for agent in body.get("agents", []):
        if agent["id"] == agent_id and agent["current"]:
            return datetime.fromisoformat(agent["current"]["last_heartbeat"])
    return None


async def _history(
    persona: Persona, rng: random.Random, recorder: Recorder, days: int, zone: str
) -> None:
    """The workdays of the ``days`` before today."""
    today = datetime.now().astimezone().date()
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        if day.weekday() >= 5:
            continue
        where = persona.travels if persona.travels and back <= days // 2 else zone
        begin = datetime.combine(day, time(9, rng.randint(0, 50)), tzinfo=ZoneInfo(where))
        timeline = workday(persona, rng, rng.uniform(6.5, 9.5), where)
        driver = ScriptedDriver(timeline, start=begin, speed=0, loop=False)
        recorder.zone = _zone_of(driver, zone)
        await driver.run(recorder.emit, HEARTBEAT_INTERVAL)


def _zone_of(driver: ScriptedDriver, zone: str) -> Callable[[int], str | None]:
    return lambda ts_ms: driver.zone(ts_ms) or zone


async def _person(server_url: str, persona: Persona, index: int, days: int) -> None:
    rng = random.Random(index)
    zone = local_zone()
    hello = Hello(
        v=PROTOCOL_VERSION,
        agent_id=f"demo-{persona.name.lower()}" + (f"-{index}" if index >= len(PERSONAS) else ""),
        name=persona.name,
        host=persona.host,
        platform="demo",
        agent_version=__version__,
        tz=zone,
    )
    # Demo people keep their journal in memory: nothing of theirs on disk.
    journal = Journal(":memory:")
    link = DemoLink(server_url, hello, journal, namer=app_name)
    recorder = Recorder(journal, link, hold_ms=200_000)
    task = asyncio.create_task(link.run())
    try:
        await link.connected.wait()
        http_url = "http" + server_url.removeprefix("ws").rsplit("/agent", 1)[0]
        latest = await _latest(http_url, hello.agent_id)
        if latest is None:
            link.quiet = True
            await _history(persona, rng, recorder, days, zone)
            link.quiet = False
            await link.flush()
            log.info("%s: %d days of history sent", persona.name, days)
        here = persona.travels or zone
        recorder.zone = lambda ts_ms: here
        now = clock.time()
        # The hour before now, after what is stored (a demo run again soon starts there).
        lead_in = rng.uniform(*LEAD_IN) * 60
        begin = max(now - lead_in, latest.timestamp() if latest else 0.0)
        await play(recorder, lately(persona, rng, now - begin), begin, realtime=False)
        await play(recorder, live(persona, rng), clock.time(), realtime=True)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        journal.close()


async def run_demo(server_url: str, *, people: int, days: int) -> None:
    chosen = [PERSONAS[i % len(PERSONAS)] for i in range(max(1, people))]
    log.info("demo: %d people connecting to %s", len(chosen), server_url)
    await asyncio.gather(*(_person(server_url, p, i, days) for i, p in enumerate(chosen)))


__all__ = ["run_demo"]
