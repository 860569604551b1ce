"""MPRIS against real players on a real, private D-Bus: a dbus-daemon of the test's own and
fake players served with dbus-fast from their own processes (TEST_RECIPES.md, section 3).
The reader under test is the agent's own (jeepney); nothing is mocked."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from officepulse.agent.introspect import Introspector
from officepulse.agent.sources.base import WindowSample
from officepulse.protocol.messages import Activity, Media
from tests.support.session_bus import Bus

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="needs dbus-daemon"),
]


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Bus]:
    bus = Bus(tmp_path)
    try:
        yield bus
    finally:
        bus.stop()


def front(app: str = "gimp", pid: int | None = None) -> WindowSample:
    return WindowSample(app=app, title="Untitled", process=app, pid=pid)


QUEEN = Media(player="Spotify", title="Bohemian Rhapsody", artist="Queen", playing=True)


def test_the_playing_player_wins(bus: Bus) -> None:
    bus.player("spotify", "Spotify", "Bohemian Rhapsody", "Queen", "Playing")
    bus.player("vlc", "VLC media player", "Lecture 4", "MIT OCW", "Paused")
    with Introspector("linux", bus=bus.address, media_interval=0) as intro:
        assert intro.describe(front()).media == QUEEN

        bus.play_pause("spotify")  # Spotify pauses, VLC still paused: Spotify first
        assert intro.describe(front()).media == Media(
            player="Spotify", title="Bohemian Rhapsody", artist="Queen", playing=False
        )
        bus.play_pause("vlc")  # now VLC plays: playing beats paused, Spotify or not
        assert intro.describe(front()).media == Media(
            player="VLC media player", title="Lecture 4", artist="MIT OCW", playing=True
        )


def test_the_player_in_front_wins_among_playing_ones(bus: Bus) -> None:
    bus.player("spotify", "Spotify", "Bohemian Rhapsody", "Queen", "Playing")
    vlc = bus.player("vlc", "VLC media player", "Lecture 4", "MIT OCW", "Playing")
    with Introspector("linux", bus=bus.address, media_interval=0) as intro:
        assert intro.describe(front()).media == QUEEN  # Spotify first among equals
        # GetConnectionUnixProcessID ties VLC's player to the window in front.
        in_front = intro.describe(front("vlc", pid=vlc.pid)).media
        assert in_front is not None
        assert in_front.player == "VLC media player"


def test_activity_gets_the_media_whatever_is_in_front(bus: Bus) -> None:
    bus.player("spotify", "Spotify", "Bohemian Rhapsody", "Queen", "Playing")
    title = "x.py - p - Visual Studio Code"
    with Introspector("linux", bus=bus.address, media_interval=0) as intro:
        sent = intro(WindowSample("code", title, "code"), Activity(app="code", title=title))
        assert sent.media == QUEEN
        assert sent.project == "p"
        # Never-introspect: nothing at all, media included.
        assert intro.describe(front("code"), introspect=False).media is None


def test_hidden_players_are_not_read(bus: Bus) -> None:
    bus.player("spotify", "Spotify", "Bohemian Rhapsody", "Queen", "Playing")
    with Introspector(
        "linux", bus=bus.address, media_interval=0, hidden_players={"Spotify"}
    ) as intro:
        assert intro.describe(front()).media is None


def test_one_connection_opened_on_first_use_and_closed(bus: Bus) -> None:
    bus.player("spotify", "Spotify", "Bohemian Rhapsody", "Queen", "Playing")
    intro = Introspector("linux", bus=bus.address, media_interval=0)
    assert os.getpid() not in bus.pids_of_connections()  # nothing opened yet
    for _ in range(5):
        assert intro.describe(front()).media == QUEEN
    assert bus.pids_of_connections().count(os.getpid()) == 1
    intro.close()
    assert os.getpid() not in bus.pids_of_connections()


def test_a_lost_bus_costs_no_poll_and_is_found_again(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    bus.player("spotify", "Spotify", "Bohemian Rhapsody", "Queen", "Playing")
    now = [0.0]
    intro = Introspector(
        "linux", bus=bus.address, media_interval=0, retry_after=10, clock=lambda: now[0]
    )
    sample = front("code")
    try:
        assert intro.describe(sample).media == QUEEN
        bus.stop()  # the session bus goes away under us
        with caplog.at_level(logging.WARNING, logger="officepulse.agent.introspect"):
            for _ in range(5):
                now[0] += 3
                assert intro.describe(sample).media is None
        failures = [r for r in caplog.records if "media introspection" in r.getMessage()]
        assert len(failures) == 1, [r.getMessage() for r in failures]
        bus.start()  # same address
        bus.player("spotify", "Spotify", "Bohemian Rhapsody", "Queen", "Playing")
        now[0] += 10
        assert intro.describe(sample).media == QUEEN
    finally:
        intro.close()


def test_no_bus_at_all(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="officepulse.agent.introspect"),
        Introspector("linux", bus=f"unix:path={tmp_path}/none", media_interval=0) as intro,
    ):
        started = time.monotonic()
        assert intro.describe(front()).media is None
        assert intro.describe(front()).media is None
        assert time.monotonic() - started < 1
    [record] = caplog.records
    assert "cannot connect to the D-Bus session bus" in record.getMessage()
