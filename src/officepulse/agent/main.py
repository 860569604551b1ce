"""The agent process: identity, hello, a driver and the link."""

from __future__ import annotations

import asyncio
import logging
import platform
import socket

import tzlocal

from officepulse import __version__
from officepulse.agent.drivers import DesktopDriver, NoDesktop, ScriptedDriver
from officepulse.agent.identity import agent_id
from officepulse.agent.link import Link
from officepulse.agent.sources.base import SourceUnavailable
from officepulse.agent.sources.select import open_desktop
from officepulse.agent.timeline import Timeline
from officepulse.protocol.messages import PROTOCOL_VERSION, Heartbeat, Hello
from officepulse.settings import AgentSettings

log = logging.getLogger("officepulse.agent")
Driver = DesktopDriver | ScriptedDriver | NoDesktop


def local_zone() -> str:
    """The IANA name of this computer's time zone, or UTC when it cannot be told."""
    try:
        return tzlocal.get_localzone_name() or "UTC"
    except Exception:  # tzlocal raises several kinds on odd set-ups; UTC is a safe answer
        return "UTC"


def make_hello(settings: AgentSettings) -> Hello:
    return Hello(
        v=PROTOCOL_VERSION,
        agent_id=settings.agent_id or agent_id(settings.state_dir),
        name=settings.name,
        host=socket.gethostname(),
        platform=f"{platform.system()} {platform.release()}".strip() or "unknown",
        agent_version=__version__,
        tz=local_zone(),
    )


def make_desktop_driver(settings: AgentSettings) -> DesktopDriver:
    d = open_desktop("x11" if settings.source == "x11" else "auto")
    for note in d.notes:
        log.warning("%s", note)
    log.info("reading the %s desktop", d.name)
    return DesktopDriver(
        d.window,
        d.idle,
        poll_interval=settings.poll_interval,
        idle_threshold=settings.idle_threshold,
    )


def make_driver(settings: AgentSettings) -> Driver:
    if settings.source == "scripted":
        if settings.timeline is None:
            raise SystemExit("the scripted source needs --timeline FILE")
        return ScriptedDriver(
            Timeline.load(settings.timeline),
            start=settings.start,
            speed=settings.speed,
            loop=settings.loop,
        )

    def desktop() -> DesktopDriver:
        return make_desktop_driver(settings)

    if settings.source == "none":
        return NoDesktop("the source is set to 'none'", desktop, every=float("inf"))
    try:
        return desktop()
    except SourceUnavailable as exc:
        return NoDesktop(str(exc), desktop)


async def run_agent(settings: AgentSettings) -> None:
    """Run until cancelled, or until a scripted timeline without --loop ends."""
    hello = make_hello(settings)
    driver = make_driver(settings)
    link = Link(settings.server_url, hello, encoding=settings.encoding)
    log.info("agent %s for %s on %s; server %s", hello.agent_id, hello.name, hello.host, link.url)
    link_task = asyncio.create_task(link.run(), name="link")
    try:
        # The server sets the heartbeat interval, so production starts once welcomed.
        await link.connected.wait()
        assert link.welcome is not None

        async def emit(beat: Heartbeat) -> None:
            link.push(beat)
            if isinstance(driver, ScriptedDriver):
                # A fast replay must not outrun the socket by more than a bounded amount;
                # the live desktop keeps sampling and the outbox drops its oldest instead.
                await link.room(1000)

        interval = link.welcome.heartbeat_interval
        while True:
            try:
                await driver.run(emit, interval)
                break
            except SourceUnavailable as exc:
                # The display went away under us (logged out, X server restarted).
                driver = NoDesktop(str(exc), lambda: make_desktop_driver(settings))
        await link.flush()
        log.info("timeline finished; every heartbeat was received by the server")
    finally:
        link_task.cancel()
        await asyncio.gather(link_task, return_exceptions=True)
