"""The GNOME, KDE and freedesktop sources over a real private D-Bus session bus.

Each test starts its own ``dbus-daemon --session`` (TEST_RECIPES.md section 3). Fake desktop
services, written with dbus-fast (a different D-Bus implementation from the jeepney the
sources use), own the real bus names and export the real object paths, interfaces and method
signatures (Mutter's IdleMonitor XML, the Focused Window extension's ``Get``, KWin's
``/Scripting``), and answer with values recorded from real desktops where a recording exists
(tests/data/recorded/sources, README): the Focused Window extension's reply, KWin's window
properties. Numbers that no public recording gives (an idle time in ms, a pid) are chosen
here and say so.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import psutil
import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.annotations import (
    DBusBool,
    DBusInt32,
    DBusSignature,
    DBusStr,
    DBusUInt32,
    DBusUInt64,
)
from dbus_fast.errors import DBusError as FastDBusError
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method

from officepulse.agent.sources._dbus import DBusError, SessionBus
from officepulse.agent.sources.base import SourceUnavailable
from officepulse.agent.sources.gnome import (
    GnomeFocusedWindow,
    GnomeScreenSaverLock,
    GnomeShellEval,
    MutterIdle,
    OfficepulseExtensionWindow,
    parse_focused_window,
)
from officepulse.agent.sources.kde import INTERFACE, OBJECT_PATH, KWinScriptWindow
from officepulse.agent.sources.screensaver import ScreenSaverIdle, ScreenSaverLock
from officepulse.agent.sources.select import open_desktop, survey
from tests.support.dbus_services import ServiceThread
from tests.support.source_fakes import recorded

pytestmark = pytest.mark.timeout(30)

FOCUSED_WINDOW = recorded("gnome/focused-window-get.json").decode()
# kdotool issue #55 (Plasma 6.6.4 Wayland): queryWindowInfo of two real windows.
FIREFOX = ("firefox", "firefox-bin", "Mozilla Firefox Private Browsing")
CHROME = ("google-chrome", "chrome", "Untitled - Google Chrome")
BoolStr = Annotated[list[Any], DBusSignature("bs")]
PID = os.getpid()  # chosen: the recording elides the pid; this one is a real local process


# -- the bus and the services ---------------------------------------------------------------


class Daemon:
    """A private ``dbus-daemon --session``, stopped by its own pid."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [
                "dbus-daemon",
                "--session",
                "--nofork",
                "--nopidfile",
                "--print-address=1",
                "--address=unix:tmpdir=/tmp",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()
        assert self.address.startswith("unix:"), self.address

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    bus = Daemon()
    try:
        yield bus
    finally:
        bus.stop()


@pytest.fixture
def bus_address(daemon: Daemon) -> str:
    return daemon.address


class Desktop(ServiceThread):
    """One fake desktop process: its services on one connection, in a thread."""


@pytest.fixture
def desktop(bus_address: str) -> Iterator[Desktop]:
    fake = Desktop(bus_address)
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def session(bus_address: str) -> Iterator[SessionBus]:
    bus = SessionBus({"DBUS_SESSION_BUS_ADDRESS": bus_address})
    try:
        yield bus
    finally:
        bus.close()


# GNOME Shell ---------------------------------------------------------------------------


class FocusedWindow(ServiceInterface):
    """The Focused Window D-Bus extension's interface (extension.js: ``Get`` -> ``s``)."""

    def __init__(self, name: str, reply: str) -> None:
        super().__init__(name)
        self.reply = reply

    @method()
    def Get(self) -> DBusStr:
        return self.reply


class ShellEval(ServiceInterface):
    """``org.gnome.Shell.Eval(s) -> (bs)``; refuses ([false, '']) unless in unsafe mode."""

    def __init__(self, unsafe: bool, window: dict[str, Any]) -> None:
        super().__init__("org.gnome.Shell")
        self.unsafe = unsafe
        self.window = window
        self.codes: list[str] = []

    @method()
    def Eval(self, code: DBusStr) -> BoolStr:
        self.codes.append(code)
        if not self.unsafe:
            return [False, ""]
        return [True, json.dumps(self.window if "focus_window" in code else 0)]


class ShellExtensions(ServiceInterface):
    """org.gnome.Shell.Extensions' ``GetExtensionInfo(s) -> a{sv}`` (the numbers are doubles,
    as GNOME Shell 43 sends them in test_wayland_gnome.py) and ``UserExtensionsEnabled``; the
    states and errors are chosen by each test."""

    def __init__(self) -> None:
        super().__init__("org.gnome.Shell.Extensions")
        self.info: dict[str, Variant] = {}
        self.user_extensions = True

    @method()
    def GetExtensionInfo(self, uuid: DBusStr) -> Annotated[dict[str, Any], DBusSignature("a{sv}")]:
        return self.info if uuid == "focused-window@officepulse" else {}

    @dbus_property(access=PropertyAccess.READ)
    def UserExtensionsEnabled(self) -> DBusBool:
        return self.user_extensions


class IdleMonitor(ServiceInterface):
    """org.gnome.Mutter.IdleMonitor as Mutter's XML declares it (GetIdletime -> t)."""

    def __init__(self) -> None:
        super().__init__("org.gnome.Mutter.IdleMonitor")
        self.ms = 0
        self.delay = 0.0  # seconds before it answers: a busy shell
        self.answered = 0

    @method()
    async def GetIdletime(self) -> DBusUInt64:
        await asyncio.sleep(self.delay)
        self.answered += 1
        return self.ms


class ScreenSaver(ServiceInterface):
    def __init__(self, name: str, idle_error: str | None = None) -> None:
        super().__init__(name)
        self.active = False
        self.idle_error = idle_error
        self.delay = 0.0  # seconds before it answers: a busy shell
        self.answered = 0

    @method()
    async def GetActive(self) -> DBusBool:
        await asyncio.sleep(self.delay)
        self.answered += 1
        return self.active

    @method()
    def GetSessionIdleTime(self) -> DBusUInt32:
        if self.idle_error is not None:
            raise FastDBusError("org.freedesktop.DBus.Error.NotSupported", self.idle_error)
        return 42


# KWin ----------------------------------------------------------------------------------


class Script(ServiceInterface):
    """org.kde.kwin.Script: ``run`` does what the loaded script does in KWin, read from the
    script itself: it calls the agent back (callDBus) with the active window."""

    def __init__(self, kwin: KWin, path: str) -> None:
        super().__init__("org.kde.kwin.Script")
        self.kwin = kwin
        self.path = path

    @method()
    def run(self):  # type: ignore[no-untyped-def]  # unannotated: returns nothing on D-Bus
        self.kwin.running = self.path
        self.kwin.report(self.kwin.active)

    @method()
    def stop(self):  # type: ignore[no-untyped-def]
        self.kwin.running = None


class KWin(ServiceInterface):
    """org.kde.kwin.Scripting on /Scripting: loadScript(ss) -> i, unloadScript(s) -> b."""

    def __init__(self, desktop: Desktop, *, kde5: bool = False) -> None:
        super().__init__("org.kde.kwin.Scripting")
        self.desktop = desktop
        self.kde5 = kde5
        self.loaded: dict[str, str] = {}  # plugin name -> file
        self.texts: dict[str, str] = {}
        self.unloaded: list[str] = []
        self.running: str | None = None
        self.active: tuple[str, str, str] | None = FIREFOX
        self._ids = iter(range(7, 100))

    @method()
    def loadScript(self, path: DBusStr, plugin: DBusStr) -> DBusInt32:
        script_id = next(self._ids)
        self.loaded[plugin] = path
        self.texts[plugin] = Path(path).read_text()
        where = f"/{script_id}" if self.kde5 else f"/Scripting/Script{script_id}"
        self.desktop.bus.export(where, Script(self, path))
        return script_id

    @method()
    def unloadScript(self, plugin: DBusStr) -> DBusBool:
        self.unloaded.append(plugin)
        return self.loaded.pop(plugin, None) is not None

    def target(self) -> str:
        (text,) = self.texts.values()
        match = re.search(r"^const SERVICE = (.+);$", text, re.M)
        assert match is not None
        return str(json.loads(match.group(1)))

    def report(self, window: tuple[str, str, str] | None) -> None:
        """What the script's ``callDBus(SERVICE, PATH, IFACE, "Focus", ...)`` sends."""
        body = [*window, str(PID)] if window is not None else ["", "", "", "0"]
        self.desktop.bus.send(
            Message(
                destination=self.target(),
                path=OBJECT_PATH,
                interface=INTERFACE,
                member="Focus",
                signature="ssss",
                body=body,
            )
        )


def _kwin(desktop: Desktop, *, kde5: bool = False) -> KWin:
    kwin = KWin(desktop, kde5=kde5)
    desktop.serve("/Scripting", kwin, "org.kde.KWin")
    return kwin


def _wait_for(pred: Callable[[], Any], timeout: float = 15.0) -> Any:  # < the 30 s timeout
    import time

    end = time.monotonic() + timeout
    while not (value := pred()):
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)
    return value


# -- GNOME --------------------------------------------------------------------------------


def test_the_focused_window_extension(desktop: Desktop, session: SessionBus) -> None:
    """Recorded: the extension's README reply for GNOME Calculator."""
    desktop.serve(
        "/org/gnome/shell/extensions/FocusedWindow",
        FocusedWindow("org.gnome.shell.extensions.FocusedWindow", FOCUSED_WINDOW),
        "org.gnome.Shell",
    )
    sample = GnomeFocusedWindow(session).active_window()
    assert sample is not None
    assert (sample.app, sample.title, sample.pid) == ("org.gnome.Calculator", "Calculator", 56643)


def test_the_extensions_older_object_path(desktop: Desktop, session: SessionBus) -> None:
    """Releases whose README documents /org/gnome/Shell/Extensions/FocusedWindow."""
    desktop.serve(
        "/org/gnome/Shell/Extensions/FocusedWindow",
        FocusedWindow("org.gnome.Shell.Extensions.FocusedWindow", FOCUSED_WINDOW),
        "org.gnome.Shell",
    )
    sample = GnomeFocusedWindow(session).active_window()
    assert sample is not None
    assert sample.app == "org.gnome.Calculator"


def test_nothing_focused(desktop: Desktop, session: SessionBus) -> None:
    """extension.js returns "{}" when no window has the focus."""
    desktop.serve(
        "/org/gnome/shell/extensions/FocusedWindow",
        FocusedWindow("org.gnome.shell.extensions.FocusedWindow", "{}"),
        "org.gnome.Shell",
    )
    assert GnomeFocusedWindow(session).active_window() is None


def test_without_the_extension_says_how_to_get_it(desktop: Desktop, session: SessionBus) -> None:
    desktop.serve("/org/gnome/Shell", ShellEval(False, {}), "org.gnome.Shell")
    with pytest.raises(SourceUnavailable, match="Focused Window D-Bus"):
        GnomeFocusedWindow(session)


@pytest.mark.parametrize(
    ("state", "error", "says"),
    [
        (None, "", "is not installed: run `officepulse agent install-gnome-extension`"),
        (2.0, "", "is installed but disabled: run `officepulse agent install-gnome-extension`"),
        (3.0, "SyntaxError: unexpected token", "failed in GNOME Shell: SyntaxError: unexpected"),
        (4.0, "", "is made for another GNOME Shell version: run `officepulse agent install"),
        (1.0, "", "runs but does not answer as this agent expects: run `officepulse agent"),
    ],
)
def test_why_our_extension_does_not_answer(
    desktop: Desktop,
    session: SessionBus,
    tmp_path: Path,
    state: float | None,
    error: str,
    says: str,
) -> None:
    extensions = ShellExtensions()
    if state is not None:
        extensions.info = {"state": Variant("d", state), "error": Variant("s", error)}
    desktop.serve("/org/gnome/Shell", extensions, "org.gnome.Shell")
    with pytest.raises(SourceUnavailable) as caught:
        OfficepulseExtensionWindow(session, {"XDG_DATA_HOME": str(tmp_path)})
    assert says in str(caught.value)
    assert "the officepulse GNOME Shell extension (focused-window@officepulse)" in str(caught.value)


def test_installed_after_login_or_user_extensions_off(
    desktop: Desktop, session: SessionBus, tmp_path: Path
) -> None:
    extensions = ShellExtensions()
    desktop.serve("/org/gnome/Shell", extensions, "org.gnome.Shell")
    folder = tmp_path / "gnome-shell" / "extensions" / "focused-window@officepulse"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text("{}")
    env = {"XDG_DATA_HOME": str(tmp_path)}
    with pytest.raises(SourceUnavailable, match="GNOME Shell has not loaded it yet: log out"):
        OfficepulseExtensionWindow(session, env)
    extensions.user_extensions = False
    with pytest.raises(SourceUnavailable, match="GNOME's user extensions are turned off"):
        OfficepulseExtensionWindow(session, env)


def test_without_gnome_shell(session: SessionBus) -> None:
    with pytest.raises(SourceUnavailable, match="GNOME Shell is not running"):
        GnomeFocusedWindow(session)


def test_shell_eval_refused_outside_unsafe_mode(desktop: Desktop, session: SessionBus) -> None:
    desktop.serve("/org/gnome/Shell", ShellEval(False, {}), "org.gnome.Shell")
    with pytest.raises(SourceUnavailable, match="only in unsafe mode"):
        GnomeShellEval(session)


def test_shell_eval_in_unsafe_mode(desktop: Desktop, session: SessionBus) -> None:
    """The fields of the recorded reply, as our expression asks Mutter's MetaWindow."""
    fields = json.loads(FOCUSED_WINDOW)
    window = {k: fields[k] for k in ("title", "wm_class", "wm_class_instance", "pid")}
    shell = ShellEval(True, window)
    desktop.serve("/org/gnome/Shell", shell, "org.gnome.Shell")
    sample = GnomeShellEval(session).active_window()
    assert sample is not None
    assert (sample.app, sample.title, sample.pid) == ("org.gnome.Calculator", "Calculator", 56643)
    assert "global.display.focus_window" in shell.codes[-1]


def test_mutter_idle_time(desktop: Desktop, session: SessionBus) -> None:
    """GetIdletime's milliseconds (values chosen: no public recording of one was found)."""
    monitor = IdleMonitor()
    desktop.serve("/org/gnome/Mutter/IdleMonitor/Core", monitor, "org.gnome.Mutter.IdleMonitor")
    idle = MutterIdle(session)
    assert idle.idle_seconds() == 0.0
    monitor.ms = 184_250
    assert idle.idle_seconds() == 184.25
    assert idle.locked() is False  # an IdleSource that cannot tell says no


def test_gnome_lock_screen(desktop: Desktop, session: SessionBus) -> None:
    saver = ScreenSaver("org.gnome.ScreenSaver")
    desktop.serve("/org/gnome/ScreenSaver", saver, "org.gnome.ScreenSaver")
    lock = GnomeScreenSaverLock(session)
    assert lock.locked() is False
    saver.active = True
    assert lock.locked() is True


@pytest.mark.parametrize(
    ("name", "path", "lock_source"),
    [
        ("org.gnome.ScreenSaver", "/org/gnome/ScreenSaver", GnomeScreenSaverLock),
        ("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver", ScreenSaverLock),
    ],
)
def test_a_late_answer_is_the_last_one_again(
    desktop: Desktop, session: SessionBus, name: str, path: str, lock_source: Any
) -> None:
    """GNOME Shell, drawing its lock screen on a loaded machine, was seen to answer
    GetActive after the call's second (test_wayland_gnome.py): then the lock and idle
    sources give their last answer, instead of failing (which costs the agent the desktop
    for a minute). The next answer in time counts again; a service that is gone fails."""
    saver = ScreenSaver(name)
    monitor = IdleMonitor()
    desktop.serve(path, saver, name)
    desktop.serve("/org/gnome/Mutter/IdleMonitor/Core", monitor, "org.gnome.Mutter.IdleMonitor")
    lock, idle = lock_source(session), MutterIdle(session)
    saver.active, monitor.ms = True, 5_000
    assert (lock.locked(), idle.idle_seconds()) == (True, 5.0)
    saver.active, monitor.ms = False, 9_000
    saver.delay = monitor.delay = 1.5  # past the 1 s a poll waits
    assert (lock.locked(), idle.idle_seconds()) == (True, 5.0)
    saver.delay = monitor.delay = 0.0
    assert (lock.locked(), idle.idle_seconds()) == (False, 9.0)
    _wait_for(lambda: saver.answered == monitor.answered == 4)  # the late ones too
    desktop.run(desktop.bus.release_name(name))
    with pytest.raises(SourceUnavailable, match="cannot tell whether the screen is locked"):
        lock.locked()


def test_the_first_call_may_start_the_service(desktop: Desktop, session: SessionBus) -> None:
    """GNOME starts org.gnome.ScreenSaver (gjs) on the first call: the constructor waits
    longer than a poll for that answer."""
    saver = ScreenSaver("org.gnome.ScreenSaver")
    saver.active, saver.delay = True, 1.5
    desktop.serve("/org/gnome/ScreenSaver", saver, "org.gnome.ScreenSaver")
    lock = GnomeScreenSaverLock(session)  # answered after 1.5 s, and taken
    saver.delay = 0.0
    assert lock.locked() is True


def test_a_parse_of_garbage_is_an_error() -> None:
    with pytest.raises(SourceUnavailable, match="not JSON"):
        parse_focused_window("{")
    with pytest.raises(SourceUnavailable, match="not an object"):
        parse_focused_window("[1]")


# -- freedesktop screensaver (KDE) ---------------------------------------------------------


def test_freedesktop_screensaver(desktop: Desktop, session: SessionBus) -> None:
    """KDE's lock state; its GetSessionIdleTime refuses on Wayland (text constructed)."""
    saver = ScreenSaver("org.freedesktop.ScreenSaver", idle_error="Not supported on Wayland")
    desktop.serve("/org/freedesktop/ScreenSaver", saver, "org.freedesktop.ScreenSaver")
    lock = ScreenSaverLock(session)
    assert lock.locked() is False
    saver.active = True
    assert lock.locked() is True
    with pytest.raises(SourceUnavailable, match="NotSupported: Not supported on Wayland"):
        ScreenSaverIdle(session)
    saver.idle_error = None
    assert ScreenSaverIdle(session).idle_seconds() == 42.0


# -- KDE: the KWin script ---------------------------------------------------------------


def test_kwin_script_reports_the_active_window(
    desktop: Desktop, session: SessionBus, bus_address: str, tmp_path: Path
) -> None:
    kwin = _kwin(desktop)
    source = KWinScriptWindow(session, {"XDG_RUNTIME_DIR": str(tmp_path)})
    try:
        (plugin,) = kwin.loaded
        script = kwin.loaded[plugin]
        assert Path(script).parent == tmp_path
        assert kwin.running == script
        assert kwin.target() == session.unique_name
        first = source.active_window()
        assert first is not None
        assert (first.app, first.title, first.pid) == ("firefox", FIREFOX[2], PID)
        assert first.process == psutil.Process(PID).name()

        desktop.call_soon(lambda: kwin.report(CHROME))
        _wait_for(lambda: (s := source.active_window()) is not None and s.app == "google-chrome")

        # A call from anyone but KWin is answered and ignored.
        stranger = Desktop(bus_address)
        try:
            spoof = Message(
                destination=session.unique_name,
                path=OBJECT_PATH,
                interface=INTERFACE,
                member="Focus",
                signature="ssss",
                body=["evil", "evil", "spoofed", "1"],
            )
            reply = asyncio.run_coroutine_threadsafe(stranger.bus.call(spoof), stranger.loop)
            _wait_for(lambda: source.active_window() is not None and reply.done())
            assert reply.result().message_type == MessageType.METHOD_RETURN
        finally:
            stranger.close()
        sample = source.active_window()
        assert sample is not None
        assert sample.app == "google-chrome"

        desktop.call_soon(lambda: kwin.report(None))
        _wait_for(lambda: source.active_window() is None)
    finally:
        source.close()
    assert kwin.unloaded == [plugin]
    assert not Path(script).exists()


def test_kwin_5_script_object(desktop: Desktop, session: SessionBus, tmp_path: Path) -> None:
    kwin = _kwin(desktop, kde5=True)
    env = {"XDG_RUNTIME_DIR": str(tmp_path), "KDE_SESSION_VERSION": "5"}
    source = KWinScriptWindow(session, env)
    try:
        assert kwin.running is not None
        assert source.active_window() is not None
    finally:
        source.close()


def test_no_place_for_the_script(desktop: Desktop, session: SessionBus, tmp_path: Path) -> None:
    kwin = _kwin(desktop)
    with pytest.raises(SourceUnavailable, match="cannot write the KWin script file"):
        KWinScriptWindow(session, {"XDG_RUNTIME_DIR": str(tmp_path / "missing")})
    assert kwin.loaded == {}


def test_no_kwin(session: SessionBus, tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match=r"KWin .* is not running"):
        KWinScriptWindow(session, {"XDG_RUNTIME_DIR": str(tmp_path)})
    assert list(tmp_path.iterdir()) == []


# -- the bus itself ---------------------------------------------------------------------


def test_no_session_bus() -> None:
    with pytest.raises(SourceUnavailable, match="DBUS_SESSION_BUS_ADDRESS is not set"):
        SessionBus({})
    with pytest.raises(SourceUnavailable, match="cannot connect to the D-Bus session bus"):
        SessionBus({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"})


def test_a_call_that_is_not_answered_in_time(desktop: Desktop, session: SessionBus) -> None:
    class Slow(ServiceInterface):
        def __init__(self) -> None:
            super().__init__("org.gnome.shell.extensions.FocusedWindow")
            self.slow = False

        @method()
        async def Get(self) -> DBusStr:
            if self.slow:
                await asyncio.sleep(1.5)
            return FOCUSED_WINDOW

    slow = Slow()
    desktop.serve("/org/gnome/shell/extensions/FocusedWindow", slow, "org.gnome.Shell")
    source = GnomeFocusedWindow(session)
    slow.slow = True
    assert source.active_window() is None  # a busy shell: no reading this time
    with pytest.raises(DBusError, match="did not answer"):
        session.call(
            "org.gnome.Shell",
            "/org/gnome/shell/extensions/FocusedWindow",
            "org.gnome.shell.extensions.FocusedWindow",
            "Get",
            timeout=0.2,
        )


def test_the_bus_going_away(daemon: Daemon) -> None:
    bus = SessionBus({"DBUS_SESSION_BUS_ADDRESS": daemon.address})
    try:
        daemon.stop()
        with pytest.raises(SourceUnavailable, match="lost the D-Bus session bus"):
            bus.name_owner("org.gnome.Shell")
        with pytest.raises(SourceUnavailable, match="was closed"):
            bus.name_owner("org.gnome.Shell")
    finally:
        bus.close()


# -- open_desktop and survey on D-Bus desktops --------------------------------------------


def _gnome_shell(desktop: Desktop) -> tuple[IdleMonitor, ScreenSaver]:
    """One gnome-shell: the extension, Mutter's idle monitor and the screensaver."""
    monitor = IdleMonitor()
    saver = ScreenSaver("org.gnome.ScreenSaver")
    desktop.serve(
        "/org/gnome/shell/extensions/FocusedWindow",
        FocusedWindow("org.gnome.shell.extensions.FocusedWindow", FOCUSED_WINDOW),
        "org.gnome.Shell",
    )
    desktop.serve("/org/gnome/Mutter/IdleMonitor/Core", monitor, "org.gnome.Mutter.IdleMonitor")
    desktop.serve("/org/gnome/ScreenSaver", saver, "org.gnome.ScreenSaver")
    return monitor, saver


def _wayland_env(bus_address: str, runtime: Path, desktop: str) -> dict[str, str]:
    return {
        "XDG_SESSION_TYPE": "wayland",
        "XDG_CURRENT_DESKTOP": desktop,
        "WAYLAND_DISPLAY": "wayland-test",  # no compositor listens there
        "XDG_RUNTIME_DIR": str(runtime),
        "DBUS_SESSION_BUS_ADDRESS": bus_address,
    }


def test_open_desktop_on_gnome_wayland(desktop: Desktop, bus_address: str, tmp_path: Path) -> None:
    monitor, saver = _gnome_shell(desktop)
    env = _wayland_env(bus_address, tmp_path, "ubuntu:GNOME")
    opened = open_desktop("auto", "linux", env)
    try:
        # officepulse's own extension is not there: the third-party one is read instead.
        names = (opened.name, opened.idle_name, opened.lock_names)
        assert names == ("focused-window", "gnome", ("gnome",))
        assert opened.notes == ()
        sample = opened.window.active_window()
        assert sample is not None
        assert sample.title == "Calculator"
        assert opened.idle is not None
        monitor.ms = 5000
        assert opened.idle.idle_seconds() == 5.0
        assert opened.idle.locked() is False
        saver.active = True
        assert opened.idle.locked() is True
    finally:
        opened.close()


def test_open_desktop_on_kde_wayland_without_idle(
    desktop: Desktop, bus_address: str, tmp_path: Path
) -> None:
    """KWin and its screensaver are there, but no compositor answers on WAYLAND_DISPLAY and
    GetSessionIdleTime is refused: windows and the lock work, and the missing idle time is
    one note that says why."""
    kwin = _kwin(desktop)
    saver = ScreenSaver("org.freedesktop.ScreenSaver", idle_error="Not supported on Wayland")
    desktop.serve("/org/freedesktop/ScreenSaver", saver, "org.freedesktop.ScreenSaver")
    opened = open_desktop("auto", "linux", _wayland_env(bus_address, tmp_path, "KDE"))
    try:
        assert (opened.name, opened.idle_name, opened.lock_names) == ("kde", None, ("screensaver",))
        (note,) = opened.notes
        assert note.startswith("idle time cannot be read: ext-idle-notify: cannot talk to the")
        assert "screensaver: cannot read idle time" in note
        sample = opened.window.active_window()
        assert sample is not None
        assert sample.app == "firefox"
        assert opened.idle is not None
        assert opened.idle.idle_seconds() == 0.0
        saver.active = True
        assert opened.idle.locked() is True
    finally:
        opened.close()
    assert kwin.unloaded  # the script is unloaded when the desktop is closed


def test_survey_lists_every_backend(desktop: Desktop, bus_address: str, tmp_path: Path) -> None:
    _gnome_shell(desktop)
    reports = survey("linux", _wayland_env(bus_address, tmp_path, "GNOME"))
    table = {(r.capability, r.name): r for r in reports}
    assert {r.capability for r in reports} == {"window", "idle", "lock"}
    ours = table["window", "gnome"]
    assert (ours.applies, ours.available, ours.chosen) == (True, False, False)
    assert ours.reason is not None
    assert "is not installed: run `officepulse agent install-gnome-extension`" in ours.reason
    third_party = table["window", "focused-window"]
    assert (third_party.applies, third_party.available, third_party.chosen) == (True, True, True)
    kde = table["window", "kde"]
    assert (kde.applies, kde.available) == (False, False)
    assert kde.reason is not None
    assert "not a KDE Plasma session" in kde.reason
    evaluated = table["window", "gnome-eval"]
    assert (evaluated.applies, evaluated.available, evaluated.chosen) == (True, False, False)
    assert table["idle", "gnome"].chosen
    ext = table["idle", "ext-idle-notify"]
    assert (ext.applies, ext.available, ext.chosen) == (True, False, False)
    assert table["lock", "gnome"].chosen
    assert not table["lock", "screensaver"].available
    assert table["window", "macos"].reason == "only on macOS"
