"""A private D-Bus session bus (a real dbus-daemon) for tests that talk D-Bus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PLAYER = """\
import asyncio, sys
from dbus_fast import PropertyAccess, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.constants import NameFlag, RequestNameReply
from dbus_fast.service import ServiceInterface, dbus_property, method

address, name, identity, title, artist, status = sys.argv[1:]

class Root(ServiceInterface):
    def __init__(self):
        super().__init__("org.mpris.MediaPlayer2")
    @dbus_property(access=PropertyAccess.READ)
    def Identity(self) -> "s":
        return identity

class Player(ServiceInterface):
    def __init__(self):
        super().__init__("org.mpris.MediaPlayer2.Player")
        self.status = status
    @dbus_property(access=PropertyAccess.READ)
    def PlaybackStatus(self) -> "s":
        return self.status
    @dbus_property(access=PropertyAccess.READ)
    def Metadata(self) -> "a{sv}":
        return {"mpris:trackid": Variant("o", "/org/mpris/track/1"),
                "xesam:title": Variant("s", title),
                "xesam:artist": Variant("as", [artist]),   # a list, as the spec says
                "mpris:length": Variant("x", 215_000_000)}
    @method()
    def PlayPause(self):
        self.status = "Paused" if self.status == "Playing" else "Playing"
        self.emit_properties_changed({"PlaybackStatus": self.status})

async def main():
    bus = await MessageBus(bus_address=address).connect()
    bus.export("/org/mpris/MediaPlayer2", Root())
    bus.export("/org/mpris/MediaPlayer2", Player())
    reply = await bus.request_name("org.mpris.MediaPlayer2." + name, NameFlag.DO_NOT_QUEUE)
    assert reply == RequestNameReply.PRIMARY_OWNER, reply
    print("ready", flush=True)
    await bus.wait_for_disconnect()

asyncio.run(main())
"""


class Bus:
    """A private session bus, and the fake players on it."""

    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "bus"
        self.address = f"unix:path={self.path}"
        self.daemon: subprocess.Popen[str] | None = None
        self.players: list[subprocess.Popen[str]] = []
        self.start()

    def start(self) -> None:
        self.daemon = subprocess.Popen(
            [
                "dbus-daemon",
                "--session",
                "--nofork",
                "--nopidfile",
                "--print-address=1",
                f"--address={self.address}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.daemon.stdout is not None
        printed = self.daemon.stdout.readline().strip()  # printed once it listens
        assert printed.startswith(self.address), printed

    def stop(self) -> None:
        for proc in self.players:
            _stop(proc)
        self.players.clear()
        if self.daemon is not None:
            _stop(self.daemon)
            self.daemon = None

    def player(
        self, name: str, identity: str, title: str, artist: str, status: str
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", PLAYER, self.address, name, identity, title, artist, status],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.players.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        return proc

    def play_pause(self, name: str) -> None:
        subprocess.run(
            [
                "dbus-send",
                f"--bus={self.address}",
                "--print-reply",
                f"--dest=org.mpris.MediaPlayer2.{name}",
                "/org/mpris/MediaPlayer2",
                "org.mpris.MediaPlayer2.Player.PlayPause",
            ],
            check=True,
            capture_output=True,
            timeout=30,  # a loaded machine starts a process slowly
        )

    def pids_of_connections(self) -> list[int]:
        """The pid behind every unique connection on the bus (dbus-send's own excluded)."""
        names = self._call("ListNames")
        pids = []
        for name in (n for n in names if n.startswith(":")):
            out = self._call("GetConnectionUnixProcessID", f"string:{name}")
            if out:
                pids.append(int(out[0]))
        return pids

    def _call(self, member: str, *args: str) -> list[str]:
        done = subprocess.run(
            [
                "dbus-send",
                f"--bus={self.address}",
                "--print-reply=literal",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                f"org.freedesktop.DBus.{member}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        words = done.stdout.replace("array [", " ").replace("]", " ").split()
        return [w for w in words if w not in ("uint32",)]


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
