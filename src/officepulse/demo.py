"""``officepulse demo``: an office full of scripted people.

Each person gets a week of workdays replayed at full speed (so the time page
has something to show), then a live day in real time, looping. Their days are
made from a seeded random generator, so a demo looks the same every time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp

from officepulse import __version__
from officepulse.agent.drivers import ScriptedDriver
from officepulse.agent.journal import Journal
from officepulse.agent.link import Link
from officepulse.agent.main import local_zone
from officepulse.agent.recorder import HEARTBEAT_INTERVAL, Recorder
from officepulse.agent.timeline import Entry, Timeline
from officepulse.protocol.messages import PROTOCOL_VERSION, Hello

log = logging.getLogger("officepulse.demo")


@dataclass(frozen=True)
class Persona:
    name: str
    host: str
    habits: tuple[tuple[str, str, str | None, int], ...]  # app, title, url, weight
    # Where the person flies to half way through the week of history (IANA zone): their
    # own days follow them (GET /api/v1/usage/days?day=person).
    travels: str | None = None


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
    ),
    Persona(
        "Carol",
        "carol-mbp",
        (
            ("Figma", "Dashboard redesign – Figma", None, 5),
            ("Slack", "Slack | #design", None, 2),
            ("zoom", "Zoom Meeting", None, 2),
        ),
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
    ),
    Persona(
        "Eve",
        "eve-laptop",
        (
            ("libreoffice-writer", "Q4 report.odt — LibreOffice Writer", None, 4),
            ("thunderbird", "Inbox — Thunderbird", None, 2),
            ("Spotify", "Daft Punk — Digital Love", None, 1),
        ),
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


async def _has_history(http_url: str, agent_id: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{http_url}/api/v1/agents", timeout=aiohttp.ClientTimeout(total=5)
            ) as response,
        ):
            body = await response.json()
    except (aiohttp.ClientError, TimeoutError):
        return False
    return any(a["id"] == agent_id and a["current"] for a in body.get("agents", []))


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
    link = Link(server_url, hello, journal)
    driver: ScriptedDriver | None = None
    recorder = Recorder(
        journal,
        link,
        hold_ms=200_000,
        zone=lambda ts_ms: (driver.zone(ts_ms) if driver is not None else None) or zone,
    )
    task = asyncio.create_task(link.run())
    try:
        await link.connected.wait()
        http_url = "http" + server_url.removeprefix("ws").rsplit("/agent", 1)[0]
        if not await _has_history(http_url, hello.agent_id):
            today = datetime.now().astimezone().date()
            for back in range(days, 0, -1):
                day = today - timedelta(days=back)
                if day.weekday() >= 5:
                    continue
                where = persona.travels if persona.travels and back <= days // 2 else zone
                begin = datetime.combine(day, time(9, rng.randint(0, 50)), tzinfo=ZoneInfo(where))
                timeline = workday(persona, rng, rng.uniform(6.5, 9.5), where)
                driver = ScriptedDriver(timeline, start=begin, speed=0, loop=False)
                await driver.run(recorder.emit, HEARTBEAT_INTERVAL)
            await link.flush()
            log.info("%s: %d days of history sent", persona.name, days)
        live = workday(persona, rng, 8, persona.travels or zone)
        driver = ScriptedDriver(live, start=None, speed=1, loop=True)
        await driver.run(recorder.emit, HEARTBEAT_INTERVAL)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        journal.close()


async def run_demo(server_url: str, *, people: int, days: int) -> None:
    chosen = [PERSONAS[i % len(PERSONAS)] for i in range(max(1, people))]
    log.info("demo: %d people connecting to %s", len(chosen), server_url)
    await asyncio.gather(*(_person(server_url, p, i, days) for i, p in enumerate(chosen)))


__all__ = ["run_demo"]
