"""The agent process: identity, hello, a driver and the link."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import signal
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import tzlocal

from officepulse import __version__
from officepulse.agent.app_names import AppNamer, DesktopEntries, Learn
from officepulse.agent.browser_tabs import Tabs
from officepulse.agent.config import load_config
from officepulse.agent.controls import Controls, status_of
from officepulse.agent.credential import CredentialStore, CredentialStoreError
from officepulse.agent.drivers import DesktopDriver, Gap, NoDesktop, ScriptedDriver, Unseen
from officepulse.agent.identity import agent_id
from officepulse.agent.instance import Instance
from officepulse.agent.journal import Journal
from officepulse.agent.link import Link
from officepulse.agent.machine import boot_time, instant, read_clocks, watch_machine
from officepulse.agent.pause import Pause
from officepulse.agent.privacy import PrivacyRules
from officepulse.agent.recorder import HEARTBEAT_INTERVAL, Recorder
from officepulse.agent.sources.base import SourceUnavailable
from officepulse.agent.sources.select import WINDOW_BACKENDS, open_desktop
from officepulse.agent.tab_channel import TabListener
from officepulse.agent.timeline import Timeline, TimelineError
from officepulse.agent.transport import client_ssl, with_agent_url
from officepulse.agent.zonewatch import ZoneWatch
from officepulse.builds import build_hash
from officepulse.protocol.messages import PROTOCOL_VERSION, AppName, Hello
from officepulse.settings import AgentSettings, SettingsError, flag_and_env, unreadable

log = logging.getLogger("officepulse.agent")
Driver = DesktopDriver | ScriptedDriver | NoDesktop


def local_zone(*, reload: bool = False) -> str:
    """The IANA name of this computer's time zone, or UTC when it cannot be told.
    tzlocal caches it: ``reload`` looks again (the computer may have moved)."""
    try:
        if reload:
            tzlocal.reload_localzone()
        return tzlocal.get_localzone_name() or "UTC"
    except Exception:  # tzlocal raises several kinds on odd set-ups; UTC is a safe answer
        return "UTC"


def make_hello(settings: AgentSettings) -> Hello:
    boot = boot_time()
    return Hello(
        v=PROTOCOL_VERSION,
        agent_id=settings.agent_id or agent_id(settings.state_dir),
        name=settings.name,
        host=socket.gethostname(),
        platform=f"{platform.system()} {platform.release()}".strip() or "unknown",
        agent_version=__version__,
        tz=local_zone(),
        # For the server's honest gaps (docs/protocol.md): when this process and the
        # computer started, how long it slept since, and which build this is.
        # Started: now, as the agent begins to record (the process's creation time is
        # known only to the second, as Linux counts it from a boot time in seconds).
        started=instant(time.time()),
        boot=None if boot is None else instant(boot),
        asleep=read_clocks().asleep,
        build=build_hash(),
    )


def with_journal(hello: Hello, journal: Journal) -> Hello:
    """The hello telling when the journal was begun (when it knows)."""
    begun = journal.begun_ms
    return (
        hello
        if begun is None
        else msgspec.structs.replace(hello, journal_begun=instant(begun / 1000))
    )


def make_desktop_driver(
    settings: AgentSettings,
    privacy: PrivacyRules,
    gap: Gap | None = None,
    pause: Pause | None = None,
    tabs: Tabs | None = None,
    learn: Learn | None = None,
) -> DesktopDriver:
    d = open_desktop(settings.source if settings.source in WINDOW_BACKENDS else "auto")
    for note in d.notes:
        log.warning("%s", note)
    log.info("reading the %s desktop", d.name)
    return DesktopDriver(
        d.window,
        d.idle,
        poll_interval=settings.poll_interval,
        idle_threshold=settings.idle_threshold,
        privacy=privacy,
        gap=gap,
        on_close=d.close,
        pause=pause,
        tabs=tabs,
        learn=learn,
    )


def make_driver(
    settings: AgentSettings,
    privacy: PrivacyRules,
    gap: Gap | None = None,
    pause: Pause | None = None,
    tabs: Tabs | None = None,
    learn: Learn | None = None,
    unseen: Unseen | None = None,
) -> Driver:
    if settings.source == "scripted":
        if settings.timeline is None:
            raise SystemExit("the scripted source needs --timeline FILE")
        try:
            timeline = Timeline.load(settings.timeline)
        except OSError as exc:
            raise unreadable("timeline", settings.timeline, exc) from exc
        except TimelineError as exc:
            raise SettingsError(f"{flag_and_env('timeline')}: {exc}") from exc
        return ScriptedDriver(
            timeline,
            start=settings.start,
            speed=settings.speed,
            loop=settings.loop,
        )

    def desktop() -> DesktopDriver:
        return make_desktop_driver(settings, privacy, gap, pause, tabs, learn)

    if settings.source == "none":
        return NoDesktop(
            "the source is set to 'none'",
            desktop,
            every=float("inf"),
            pause=pause,
            gap=gap,
            unseen=unseen,
        )
    try:
        return desktop()
    except SourceUnavailable as exc:
        return NoDesktop(str(exc), desktop, pause=pause, gap=gap, unseen=unseen)


def open_journal(settings: AgentSettings) -> Journal:
    return Journal(
        Path(settings.state_dir) / "journal.sqlite3",
        budget_bytes=int(settings.journal_budget_mb * 1024 * 1024),
    )


def make_link(
    settings: AgentSettings,
    hello: Hello,
    journal: Journal,
    tls: ssl.SSLContext | None,
    on_credential: Callable[[str], None] | None = None,
    namer: Callable[[str], AppName | None] | None = None,
) -> Link:
    return Link(
        settings.server_url,
        hello,
        journal,
        encoding=settings.encoding,
        compress=settings.compress,
        backfill_rate=settings.backfill_rate,
        ack_timeout=settings.ack_timeout,
        ssl_context=tls,
        refused_retry=settings.refused_retry,
        on_credential=on_credential,
        namer=namer,
    )


def with_credentials(settings: AgentSettings, hello: Hello) -> tuple[Hello, Callable[[str], None]]:
    """The Hello with this agent's credential, or with the enrollment token when it has
    not been exchanged yet; and what keeps the credential the server sends back."""
    store = CredentialStore(
        settings.state_dir, hello.agent_id, settings.credential_store, settings.keyring_timeout
    )
    try:
        credential = store.load()
    except CredentialStoreError as exc:
        raise SystemExit(f"officepulse agent: {exc}") from exc
    token = settings.enroll_token
    enroll = token if token and not store.enrolled_with(token) else None
    if token and enroll is None:
        log.info("this agent was enrolled with that token already; using its credential")

    def keep(secret: str) -> None:
        try:
            where = store.save(secret)
        except CredentialStoreError as exc:
            # Without a credential kept, the next start could not connect: stop now.
            raise SystemExit(f"officepulse agent: enrolled, but {exc}") from exc
        if token:
            store.mark_enrolled(token)
        log.info("enrolled with the server; this agent's credential is kept in %s", where)

    return msgspec.structs.replace(hello, token=credential, enroll=enroll), keep


async def _compact_now_and_then(journal: Journal, every: float = 60.0) -> None:
    while True:
        await asyncio.sleep(every)
        if journal.stats().bytes > journal.budget_bytes:
            removed = journal.compact()
            log.info("journal over its disk budget: compacted %d old spans", removed)


async def _publish_status(
    controls: Controls,
    pause: Pause,
    link: Link,
    journal: Journal,
    problem: Callable[[], str | None],
    every: float = 1.0,
) -> None:
    """Tell the tray how the agent is, once a second (it shows changes only)."""
    while True:
        offline = link.offline_since
        controls.publish(
            status_of(
                pause=pause.describe() if pause.active() else None,
                desktop_problem=problem(),
                connected=link.connected.is_set(),
                waiting=journal.stats().waiting,
                offline_since_ms=None if offline is None else int(offline * 1000),
                server_url=link.url,
                update=link.update,
                outdated=link.outdated,
            )
        )
        await asyncio.sleep(every)


async def run_agent(settings: AgentSettings, controls: Controls | None = None) -> None:
    """Run until cancelled (Ctrl-C, SIGTERM, ``controls.quit``), or until a scripted
    timeline without --loop ends and the server has acknowledged all of it. Refused
    (``AgentRunning``) while another agent runs with the same state folder."""
    settings = with_agent_url(settings)
    with Instance(settings.state_dir):
        await _run_agent(settings, controls)


async def _run_agent(settings: AgentSettings, controls: Controls | None) -> None:
    hello = make_hello(settings)
    link_ssl = client_ssl(settings)  # a refused server_url or bad ca_file stops it here
    # A bad config file stops the agent here, before anything is read or sent.
    config = load_config(settings.agent_config)
    if config.found:
        log.info("privacy lists from %s", config.path)
    hello, keep_credential = with_credentials(settings, hello)
    journal = open_journal(settings)
    hello = with_journal(hello, journal)
    # The names people know the apps by: what the source saw (Windows' FileDescription),
    # else the desktop's launchers (read on first use).
    namer = AppNamer(DesktopEntries.from_environ())
    link = make_link(settings, hello, journal, link_ssl, keep_credential, namer.describe)
    # Going idle is dated at the last input, up to the idle threshold back:
    # the open span keeps that much in hand so it can still be cut back.
    recorder = Recorder(journal, link, hold_ms=int((settings.idle_threshold + 20) * 1000))
    # A pause the person started before a restart still holds (pause.json in state_dir).
    pause = Pause(settings.state_dir)
    if pause.active():
        log.info("%s (kept from before this start)", pause)
    # What officepulse's browser extension reports, for the desktop's browser windows.
    tabs = Tabs()
    driver = make_driver(
        settings, config.rules, recorder.gap, pause, tabs, namer.learn, recorder.unseen
    )
    listener = TabListener(tabs) if settings.source not in ("scripted", "none") else None
    # Every span carries the zone it was recorded in: a scripted timeline's own, else
    # the computer's, looked up again once a minute and after a sleep.
    desktop_zone = ZoneWatch(lambda: local_zone(reload=True))
    if isinstance(driver, ScriptedDriver):
        scripted = driver
        recorder.zone = lambda ts_ms: scripted.zone(ts_ms) or hello.tz
    else:
        recorder.zone = desktop_zone
    log.info(
        "agent %s for %s on %s; server %s; journal %s (%s)",
        hello.agent_id,
        hello.name,
        hello.host,
        link.url,
        journal.path,
        link.status(),
    )
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    # Not on Windows, nor off the main thread (the tray's agent: the tray handles SIGTERM),
    # where asyncio raises RuntimeError and uvloop ValueError.
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        if main_task is not None:
            loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    tasks = [
        asyncio.create_task(link.run(), name="link"),
        asyncio.create_task(_compact_now_and_then(journal), name="compact"),
        asyncio.create_task(watch_machine(link.tell), name="machine"),
    ]
    if controls is not None and main_task is not None:
        replay = isinstance(driver, ScriptedDriver)  # a timeline replay is not paused
        controls.attach(loop, None if replay else pause, main_task.cancel)

        def problem() -> str | None:
            return driver.reason if isinstance(driver, NoDesktop) and not driver.reading else None

        status = _publish_status(controls, pause, link, journal, problem)
        tasks.append(asyncio.create_task(status, name="status"))
    if listener is not None:
        await listener.start()
    try:
        while True:
            try:
                await driver.run(recorder.emit, HEARTBEAT_INTERVAL)
                break
            except SourceUnavailable as exc:
                # The display went away under us (logged out, X server restarted).
                driver = NoDesktop(
                    str(exc),
                    lambda: make_desktop_driver(
                        settings, config.rules, recorder.gap, pause, tabs, namer.learn
                    ),
                    pause=pause,
                    gap=recorder.gap,
                    unseen=recorder.unseen,
                )
        recorder.stop()
        await link.flush()
        log.info("timeline finished; every span was acknowledged by the server")
    except asyncio.CancelledError:
        # A clean stop (Ctrl-C, SIGTERM): the open span ends where it was last
        # seen, and gets a moment to reach the server. A crash or kill -9 keeps
        # it open in the journal instead, and the next run carries on from it.
        recorder.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3):
                await link.flush()
        log.info("stopped (%s)", link.status())
        raise
    finally:
        if controls is not None:
            controls.detach()
        recorder.save()
        if listener is not None:
            await listener.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        journal.close()
