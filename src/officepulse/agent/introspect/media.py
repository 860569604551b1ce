"""Media: the track and artist a player is playing, whichever window is in front.

Linux: MPRIS on the session D-Bus (any player; ``org.mpris.MediaPlayer2.*``), read with
jeepney over one connection that is opened on first use and kept. macOS: AppleScript to
Spotify and Music, asked only while they run (a ``tell`` would start them). Windows: from
Spotify's window title while it is in front ("Artist - Song" while playing, "Spotify
Premium" or "Spotify Free" while paused); a player playing behind other windows is not seen
there.

When several players are known, a playing one beats a paused one; among equals, the player
whose process owns the window in front, then Spotify, then the others by name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from officepulse.agent.introspect.applescript import NOT_RUNNING, AppleScriptError, Runner
from officepulse.agent.introspect.base import NOTHING, Details, IntrospectionError
from officepulse.agent.sources._dbus import NO_SESSION_BUS, session_address, unreachable
from officepulse.agent.sources.base import WindowSample
from officepulse.protocol.messages import Media

MPRIS_PREFIX = "org.mpris.MediaPlayer2."
MPRIS_PATH = "/org/mpris/MediaPlayer2"
CALL_TIMEOUT = 0.5  # per D-Bus call: a hung player must not hold up the poll


@dataclass(frozen=True, slots=True)
class Player:
    """One player's state. ``key`` is what it is known by (the MPRIS bus name's last part,
    the macOS app name), ``name`` how it calls itself."""

    key: str
    name: str
    playing: bool
    title: str
    artist: str
    pid: int | None = None

    def media(self) -> Media:
        return Media(player=self.name, title=self.title, artist=self.artist, playing=self.playing)


def choose(players: Sequence[Player], front_pid: int | None) -> Player | None:
    """The player to report: playing over paused, then the one owning the window in
    front, then Spotify, then by name."""

    def rank(player: Player) -> tuple[int, int, int, str]:
        return (
            0 if player.playing else 1,
            0 if front_pid is not None and _owns(player.pid, front_pid) else 1,
            0 if "spotify" in player.key.lower() else 1,
            player.key,
        )

    return min(players, key=rank, default=None)


def _owns(player_pid: int | None, window_pid: int) -> bool:
    if player_pid is None:
        return False
    if player_pid == window_pid:
        return True
    try:  # browsers answer MPRIS from a child of the process that owns the window
        return any(p.pid == window_pid for p in psutil.Process(player_pid).parents())
    except psutil.Error:
        return False


class MediaPlugin:
    """Reads the players every ``interval`` seconds (reading costs a round trip per player,
    or an osascript on macOS) and picks one on every call."""

    name = "media"

    def __init__(
        self,
        players: Callable[[], list[Player]],
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        hidden: Collection[str] = (),
        closer: Callable[[], None] | None = None,
    ) -> None:
        self._read = players
        self.interval = interval
        self.clock = clock
        self.hidden = {name.lower() for name in hidden}
        self._closer = closer
        self._players: list[Player] = []
        self._read_at: float | None = None

    def describe(self, sample: WindowSample) -> Details:
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.interval:
            self._read_at = now  # also on failure: the next try waits its turn
            self._players = []  # and what was read before is no longer true
            self._players = [
                p for p in self._read() if not {p.key.lower(), p.name.lower()} & self.hidden
            ]
        player = choose(self._players, sample.pid)
        return NOTHING if player is None else Details(media=player.media())

    def close(self) -> None:
        if self._closer is not None:
            self._closer()


class Mpris:
    """MPRIS players on a D-Bus bus ("SESSION" or an address), through jeepney."""

    def __init__(self, bus: str = "SESSION", timeout: float = CALL_TIMEOUT) -> None:
        self.bus = bus
        self.timeout = timeout
        self._conn: Any = None

    def players(self) -> list[Player]:
        conn = self._connection()
        try:
            return self._players(conn)
        except (OSError, EOFError) as exc:  # the bus went away: reconnect next time
            self.close()
            raise IntrospectionError(f"lost the D-Bus session bus: {exc}") from exc

    def _players(self, conn: Any) -> list[Player]:
        from jeepney import DBusAddress, Properties  # type: ignore[import-untyped]
        from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
        from jeepney.wrappers import (  # type: ignore[import-untyped]
            DBusErrorResponse,
            unwrap_msg,
        )

        def call(msg: Any) -> Any:
            return unwrap_msg(conn.send_and_get_reply(msg, timeout=self.timeout))

        names = sorted(n for n in call(message_bus.ListNames())[0] if n.startswith(MPRIS_PREFIX))
        players = []
        for bus_name in names:
            player = DBusAddress(MPRIS_PATH, bus_name, "org.mpris.MediaPlayer2.Player")
            root = DBusAddress(MPRIS_PATH, bus_name, "org.mpris.MediaPlayer2")
            try:
                props = _unvariant(call(Properties(player).get_all())[0])
                status = props.get("PlaybackStatus")
                if status not in ("Playing", "Paused"):
                    continue  # stopped, or not a player after all
                meta = _unvariant(props.get("Metadata") or {})
                identity = _unvariant_one(call(Properties(root).get("Identity"))[0])
                pid = call(message_bus.GetConnectionUnixProcessID(bus_name))[0]
            except (DBusErrorResponse, TimeoutError):
                continue  # it left the bus, or does not answer: skip it this time
            key = bus_name.removeprefix(MPRIS_PREFIX)
            players.append(
                Player(
                    key=key,
                    name=str(identity or key),
                    playing=status == "Playing",
                    title=str(meta.get("xesam:title") or ""),
                    artist=", ".join(_artists(meta.get("xesam:artist"))),
                    pid=int(pid),
                )
            )
        return players

    def _connection(self) -> Any:
        if self._conn is None:
            try:
                from jeepney.io.blocking import (  # type: ignore[import-untyped]
                    open_dbus_connection,
                )
            except ImportError as exc:
                raise IntrospectionError(
                    "reading MPRIS players needs jeepney: pip install jeepney"
                ) from exc
            address = session_address(os.environ) if self.bus == "SESSION" else self.bus
            if address is None:
                raise IntrospectionError(NO_SESSION_BUS)
            try:
                self._conn = open_dbus_connection(bus=address)
            except (OSError, KeyError, ValueError, RuntimeError) as exc:
                raise IntrospectionError(unreachable(address, exc)) from exc
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


def _unvariant(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _unvariant_one(value) for key, value in values.items()}


def _unvariant_one(value: Any) -> Any:
    # jeepney gives variants as (signature, value) pairs
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return value[1]
    return value


def _artists(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]  # the spec says a list; some players send one string
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v]
    return []


MAC_PLAYERS = ("Spotify", "Music")

MAC_SCRIPT = """\
tell application "{app}"
  set s to player state as text
  if s is "stopped" then return s
  return s & linefeed & (name of current track) & linefeed & (artist of current track)
end tell"""


def parse_mac_player(app: str, output: str) -> Player | None:
    """The answer of ``MAC_SCRIPT``: state, then track and artist while there is one."""
    state, _, rest = output.partition("\n")
    state = state.strip()
    if state not in ("playing", "paused"):
        return None
    title, _, artist = rest.partition("\n")
    return Player(app, app, state == "playing", title, artist)


def running_names() -> set[str]:
    names = set()
    for proc in psutil.process_iter(["name"]):
        name = proc.info.get("name")
        if name:
            names.add(name)
    return names


class MacPlayers:
    """Spotify and Music on macOS, through AppleScript, asked only while running."""

    def __init__(self, runner: Runner, running: Callable[[], set[str]] = running_names) -> None:
        self.runner = runner
        self.running = running

    def __call__(self) -> list[Player]:
        running = self.running()
        players = []
        for app in MAC_PLAYERS:
            if app not in running:
                continue  # "tell" would launch it
            try:
                output = self.runner(MAC_SCRIPT.format(app=app))
            except AppleScriptError as exc:
                if exc.number == NOT_RUNNING:
                    continue  # it quit in between
                raise
            player = parse_mac_player(app, output)
            if player is not None:
                players.append(player)
        return players


SPOTIFY_IDLE = frozenset({"Spotify", "Spotify Premium", "Spotify Free"})


def parse_spotify_title(title: str) -> Media | None:
    """Spotify's window title on Windows: "Artist - Song" while playing, its own name
    while paused or stopped (then the track is not known: None)."""
    text = title.strip()
    if text in SPOTIFY_IDLE or " - " not in text:
        return None
    # Songs have " - " in their names ("Song - Remastered 2011"), artists rarely do.
    artist, _, song = text.partition(" - ")
    return Media(player="Spotify", title=song.strip(), artist=artist.strip(), playing=True)


class PlayerTitle:
    """Windows: the media of a player window in front, from its title."""

    name = "media"

    def describe(self, sample: WindowSample) -> Details:
        media = parse_spotify_title(sample.title)
        return NOTHING if media is None else Details(media=media)

    def close(self) -> None:
        pass
