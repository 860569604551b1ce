"""Real system trays for tests, on a test X server (tests/support/xserver.py), and
``officepulse agent --tray`` in them:

- ``Tray``: trayer, an XEmbed tray from Debian; the agent's icon read from the screen and
  its menu clicked with xdotool (the agent's own XEmbed icon, and pystray's GTK and
  AppIndicator backends, which show an XEmbed icon there too);
- ``SniHost``: xfce4-panel, whose Status Tray plugin is a StatusNotifierWatcher and host,
  on a private session bus; the test reads the agent's StatusNotifierItem (its icon
  pixmap, its tooltip) and chooses rows of its menu with dbusmenu's ``Event`` over D-Bus, as
  a host does when a person clicks; and reads the icon the panel drew from the screen.

Recipe and gotchas: /work/shared/TEST_RECIPES.md, section 10 (pystray's GTK backend needs a
session bus; its menu is a new top-level window, found mapped; GTK menus want pointer
motion before a click).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from Xlib import X
from Xlib import display as xdisplay
from Xlib.error import BadDrawable, BadWindow

from officepulse.agent.controls import State
from officepulse.agent.tray import COLOURS, MENU
from tests.support.processes import OFFICEPULSE, WAIT, Process, clean_env, stop, wait_until
from tests.support.servers import ServerProcess

if TYPE_CHECKING:
    from tests.support.xserver import XServer

TOOLS = ("trayer", "dbus-daemon")
# The agent's own icons, and pystray's Linux backends (GTK 3 through PyGObject).
OWN_BACKENDS = ("xembed", "sni")
PYSTRAY_BACKENDS = ("gtk", "appindicator")


def require_tray_tools(backend: str = "xembed") -> None:
    tools = (*TOOLS, "xfce4-panel") if backend == "sni" else TOOLS
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if backend in PYSTRAY_BACKENDS:
        try:
            import gi  # noqa: F401  - the GTK backends of pystray
        except ImportError:
            missing.append("PyGObject (pip install -e '.[tray-gtk]')")
    if missing:
        pytest.fail(
            f"the tray tests need {', '.join(missing)}: run `make system-deps` and "
            "`make .venv/.tray-installed` (make test does both)"
        )


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + self.w // 2, self.y + self.h // 2


class Tray:
    """trayer on ``x``, and the means to read and click an icon in it."""

    def __init__(self, x: XServer) -> None:
        self.x = x
        self.conn = xdisplay.Display(x.display)
        self.root = self.conn.screen().root
        x.spawn(
            "trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
            "--height", "32", "--SetDockType", "true", "--transparent", "false",
            "--tint", "0xdddddd", name="trayer",
        )  # fmt: skip
        selection = self.conn.intern_atom(f"_NET_SYSTEM_TRAY_S{self.conn.get_default_screen()}")
        wait_until(
            lambda: self.conn.get_selection_owner(selection) != X.NONE,
            what="trayer to own the system tray selection",
            context=x.logs,
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    # -- windows -------------------------------------------------------------------

    def _windows(self) -> Iterator[Any]:
        pending = [self.root]
        while pending:
            win = pending.pop()
            try:
                children = win.query_tree().children
            except (BadWindow, BadDrawable):
                continue
            pending.extend(children)
            yield win

    def _box(self, win: Any) -> Box | None:
        try:
            geometry = win.get_geometry()
            at = win.translate_coords(self.root, 0, 0)
        except (BadWindow, BadDrawable):
            return None
        return Box(-at.x, -at.y, geometry.width, geometry.height)

    def _name(self, win: Any) -> str:
        try:
            name = win.get_wm_name()
        except (BadWindow, BadDrawable):
            return ""
        return name.decode() if isinstance(name, bytes) else str(name or "")

    def icon_window(self) -> tuple[Any, Box] | None:
        """The agent's icon inside the tray: GTK names its window after the tooltip."""
        for win in self._windows():
            if self._name(win).startswith("officepulse:"):
                box = self._box(win)
                if box is not None and box.w <= 64 and box.h <= 64 and box.y >= 0:
                    return win, box
        return None

    def icon(self) -> Box:
        found = wait_until(self.icon_window, what="the officepulse icon in the tray")
        return found[1]

    def title(self) -> str:
        found = self.icon_window()
        return self._name(found[0]) if found is not None else ""

    def wait_for_title(self, pattern: str, timeout: float = WAIT) -> str:
        """The icon's tooltip once it matches ``pattern`` (a regular expression, from its
        start)."""
        return _wait_for_title(self.title, pattern, timeout)

    def state(self) -> State | None:
        """The state whose colour most of the icon's pixels are nearest to."""
        from PIL import ImageGrab

        found = self.icon_window()
        if found is None:
            return None
        box = found[1]
        shot = ImageGrab.grab(
            bbox=(box.x, box.y, box.x + box.w, box.y + box.h), xdisplay=self.x.display
        ).convert("RGB")
        data = shot.tobytes()
        return _vote(zip(data[0::3], data[1::3], data[2::3], strict=True))

    def wait_for_state(self, state: State, timeout: float = WAIT) -> None:
        _wait_for_state(self.state, self.title, state, timeout)

    # -- the menu ------------------------------------------------------------------

    def menu(self) -> Box | None:
        """The open menu: a mapped top-level window of the agent that is not its icon."""
        for win in self.root.query_tree().children:
            try:
                cls = win.get_wm_class()
                mapped = win.get_attributes().map_state == X.IsViewable
            except (BadWindow, BadDrawable):
                continue
            if mapped and cls is not None and cls[1] == "Officepulse":
                box = self._box(win)
                if box is not None and box.h > 64:
                    return box
        return None

    def _move(self, x: int, y: int) -> None:
        # GTK highlights a menu row on pointer motion: move onto it, then a pixel more.
        self.x.mousemove(x, y)
        self.x.mousemove(x + 1, y)

    def left_click(self) -> None:
        cx, cy = self.icon().centre
        self._move(cx, cy)
        self.x.xdotool("click", "1")

    def choose(self, label: str, rows: Sequence[str] = MENU) -> None:
        """Open the menu with a right click on the icon and click the row ``label``;
        ``rows``: the menu as shown (``tray.menu_rows``)."""
        row = rows.index(label)
        for _ in range(5):
            if self.menu() is None:
                cx, cy = self.icon().centre
                self._move(cx, cy)
                self.x.xdotool("click", "3")
            menu = wait_until(self.menu, what="the tray menu to open")
            # Rows are all as tall (no separators): the middle of row ``row`` of len(rows).
            y = menu.y + (2 * row + 1) * menu.h // (2 * len(rows))
            self._move(menu.x + menu.w // 2, y)
            self.x.xdotool("click", "1")
            with contextlib.suppress(AssertionError):
                wait_until(lambda: self.menu() is None, 5, "the menu to close")
                return
        raise AssertionError(f"the menu row {label!r} could not be clicked")


# xfce4-panel with one panel along the top of the screen and its Status Tray plugin alone
# (read by xfconfd, which the session bus starts, from XDG_CONFIG_HOME).
PANEL_CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="icon-size" type="uint" value="24"/>
      <property name="size" type="uint" value="32"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray">
      <property name="square-icons" type="bool" value="true"/>
    </property>
  </property>
</channel>
"""
WATCHER = "org.kde.StatusNotifierWatcher"
ITEM = "org.kde.StatusNotifierItem"
DBUSMENU = "com.canonical.dbusmenu"


class SniHost:
    """xfce4-panel on ``x``, on a session bus of its own (``address``, for the agent), and
    a connection of the test's to that bus to read the agent's item as a host does."""

    def __init__(self, x: XServer, tmp: Path, panel: bool = True) -> None:
        """``panel=False``: the bus only; ``start_panel()`` later."""
        from jeepney.io.blocking import open_dbus_connection

        self.x = x
        config = tmp / "panel-config"
        channel = config / "xfce4" / "xfconf" / "xfce-perchannel-xml"
        channel.mkdir(parents=True)
        (channel / "xfce4-panel.xml").write_text(PANEL_CONFIG)
        (tmp / "panel-run").mkdir(mode=0o700)
        self.env = {
            "XDG_CONFIG_HOME": str(config),
            "XDG_RUNTIME_DIR": str(tmp / "panel-run"),
            "HOME": str(tmp),
            "DISPLAY": x.display,
            "NO_AT_BRIDGE": "1",
        }
        self.bus, self.address = session_bus(tmp, **self.env)
        self.conn = open_dbus_connection(bus=self.address)
        self.panel: Process | None = None
        if panel:
            self.start_panel()

    def start_panel(self) -> None:
        self.panel = Process(
            ["xfce4-panel", "--disable-wm-check"],
            name="xfce4-panel",
            env=clean_env(DBUS_SESSION_BUS_ADDRESS=self.address, **self.env),
        )
        wait_until(
            lambda: self._owner(WATCHER),
            what="xfce4-panel's StatusNotifierWatcher on the session bus",
            context=self.panel.tail,
        )

    def stop_panel(self) -> None:
        if self.panel is not None:
            stop(self.panel)
            self.panel = None
        wait_until(lambda: not self._owner(WATCHER), what="the watcher gone with the panel")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        if self.panel is not None:
            stop(self.panel)
        stop(self.bus)  # xfconfd, started by the bus, leaves with it

    # -- talking to the bus, as a host --------------------------------------------

    def _call(self, dest: str, path: str, interface: str, member: str, sig: str = "",
              *body: Any) -> tuple[Any, ...]:  # fmt: skip
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import unwrap_msg

        address = DBusAddress(path, bus_name=dest, interface=interface)
        message = new_method_call(address, member, sig or None, body)
        return tuple(unwrap_msg(self.conn.send_and_get_reply(message, timeout=10)))

    def _owner(self, name: str) -> bool:
        from jeepney.bus_messages import message_bus
        from jeepney.wrappers import unwrap_msg

        reply = self.conn.send_and_get_reply(message_bus.NameHasOwner(name), timeout=10)
        return bool(unwrap_msg(reply)[0])

    def _get(self, dest: str, path: str, interface: str, name: str) -> Any:
        props = "org.freedesktop.DBus.Properties"
        (value,) = self._call(dest, path, props, "Get", "ss", interface, name)
        return value[1]  # (signature, value)

    def item(self) -> tuple[str, str] | None:
        """The agent's item the watcher knows of: its bus name and object path."""
        if not self._owner(WATCHER):
            return None
        for entry in self._get(WATCHER, "/StatusNotifierWatcher", WATCHER,
                               "RegisteredStatusNotifierItems"):  # fmt: skip
            name, _, path = str(entry).partition("/")
            return name, "/" + path if path else "/StatusNotifierItem"
        return None

    def _item(self) -> tuple[str, str]:
        found = wait_until(self.item, what="the agent's item registered with the watcher")
        return tuple(found)  # type: ignore[return-value]

    # -- what a person sees ----------------------------------------------------------

    def state(self) -> State | None:
        """The state whose colour most of the icon's opaque pixels are nearest to, in the
        largest pixmap the item offers."""
        found = self.item()
        if found is None:
            return None
        pixmaps = self._get(*found, ITEM, "IconPixmap")
        width, height, data = max(pixmaps, key=lambda p: p[0] * p[1])
        assert len(data) == 4 * width * height, "IconPixmap is not ARGB32"
        argb = zip(data[0::4], data[1::4], data[2::4], data[3::4], strict=True)
        return _vote((r, g, b) for a, r, g, b in argb if a >= 128)

    def drawn_state(self) -> State | None:
        """The state the panel drew (its pixels on the screen, along the top)."""
        from PIL import ImageGrab

        shot = ImageGrab.grab(bbox=(0, 0, 160, 32), xdisplay=self.x.display).convert("RGB")
        data = shot.tobytes()
        return _vote(zip(data[0::3], data[1::3], data[2::3], strict=True))

    def title(self) -> str:
        found = self.item()
        return str(self._get(*found, ITEM, "ToolTip")[2]) if found else ""

    def wait_for_title(self, pattern: str, timeout: float = WAIT) -> str:
        return _wait_for_title(self.title, pattern, timeout)

    def wait_for_state(self, state: State, timeout: float = WAIT) -> None:
        _wait_for_state(self.state, self.title, state, timeout)

    def rows(self) -> list[tuple[int, dict[str, Any]]]:
        """The menu's rows as the host gets them: (id, properties) of the root's children."""
        name, path = self._item()
        menu = self._get(name, path, ITEM, "Menu")
        _revision, (_root, _props, children) = self._call(
            name, menu, DBUSMENU, "GetLayout", "iias", 0, -1, []
        )
        return [(int(n), {k: v[1] for k, v in props.items()}) for _s, (n, props, _c) in children]

    def choose(self, label: str) -> None:
        """Click the row ``label``, as a host does: dbusmenu's Event "clicked". A greyed
        row cannot be clicked."""
        name, path = self._item()
        menu = self._get(name, path, ITEM, "Menu")
        for n, props in self.rows():
            if props.get("label", "").replace("__", "_") == label:
                assert props.get("enabled", True), f"the menu row {label!r} is greyed out"
                self._call(name, menu, DBUSMENU, "Event", "isvu", n, "clicked", ("i", 0),
                           int(time.time()))  # fmt: skip
                return
        raise AssertionError(f"no menu row {label!r} in {self.rows()}")

    def left_click(self) -> None:
        """A click on the icon: the item's Activate."""
        name, path = self._item()
        self._call(name, path, ITEM, "Activate", "ii", 0, 0)

    def menu(self) -> Box | None:  # the host's own menu is the panel's: not looked at
        return None


def _vote(pixels: Iterator[tuple[int, int, int]] | Any) -> State | None:
    votes: dict[State, int] = {}
    for pixel in pixels:
        # The tray's own grey (0xdddddd), the panel's and the marks' white: nobody's vote.
        if min(pixel) > 200:
            continue
        nearest = min(COLOURS, key=lambda s: _distance(COLOURS[s], pixel))
        votes[nearest] = votes.get(nearest, 0) + 1
    return max(votes, key=lambda s: votes[s]) if votes else None


def _wait_for_title(title: Any, pattern: str, timeout: float) -> str:
    """The tooltip once it matches ``pattern`` (a regular expression, from its start)."""
    return str(
        wait_until(
            lambda: re.match(pattern, t := title()) and t,
            timeout,
            f"the icon's tooltip to match {pattern!r}",
            lambda: f"it is {title()!r}",
        )
    )


def _wait_for_state(state: Any, title: Any, wanted: State, timeout: float) -> None:
    wait_until(
        lambda: state() == wanted,
        timeout,
        f"the icon to show {wanted!r}",
        lambda: f"it shows {state()!r}, tooltip {title()!r}",
    )


@contextlib.contextmanager
def tray_host(x: XServer, tmp: Path, backend: str) -> Iterator[Tray | SniHost]:
    """The tray an agent with ``backend`` shows its icon in: xfce4-panel for a
    StatusNotifierItem, trayer for the others."""
    require_tray_tools(backend)
    host = SniHost(x, tmp) if backend == "sni" else Tray(x)
    try:
        yield host
    finally:
        host.close()


def _distance(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=False))


@dataclass
class TrayAgent:
    proc: Process
    opened: Path  # the URLs the agent asked the browser to open, a line each
    bus: subprocess.Popen[str] | None  # its own session bus (None: the tray host's)

    def urls(self) -> list[str]:
        try:
            return self.opened.read_text().split()
        except FileNotFoundError:
            return []

    def wait_for_url(self, count: int) -> str:
        return str(
            wait_until(
                lambda: len(u := self.urls()) >= count and u[count - 1],
                what=f"the browser to be asked to open {count} page(s)",
                context=self.proc.tail,
            )
        )

    def stop(self) -> str:
        """SIGTERM, as systemd stops it; what it printed."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        out = self.proc.output()
        if self.bus is not None:
            stop(self.bus)
        return out


def session_bus(tmp: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    """A private session bus (pystray's GTK backend talks to it); its address. ``env``:
    for the services it starts (xfconfd reads the panel's settings from XDG_CONFIG_HOME)."""
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(**env),
    )
    assert bus.stdout is not None
    address = bus.stdout.readline().strip()
    assert address, "dbus-daemon printed no address"
    return bus, address


def start_tray_agent(
    x: XServer,
    server: ServerProcess | str | None,
    tmp: Path,
    *args: str,
    backend: str = "xembed",
    bus: str | None = None,
    **env: str | None,
) -> TrayAgent:
    """``officepulse agent --tray`` on ``x``'s display, against ``server`` (or a URL; None:
    the one its config file names, in ``tmp``/home/.config/officepulse/agent.toml). With
    ``backend`` one of pystray's, PYSTRAY_BACKEND asks for it; else the agent chooses its
    own icon: a StatusNotifierItem where the session bus (``bus``, the tray host's; by
    default a bus of its own, with no watcher) has a StatusNotifierWatcher, else XEmbed."""
    opened = tmp / "opened.txt"
    browser = tmp / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    own_bus, address = session_bus(tmp) if bus is None else (None, bus)
    url = server if isinstance(server, str) or server is None else server.ws_url
    proc = Process(
        [
            OFFICEPULSE, "--env-file", "/dev/null", "agent",
            *(["--server-url", url] if url else []), "--state-dir", str(tmp / "agent-state"),
            "--credential-store", "file", "--tray", *args,
        ],
        name="the tray agent",
        env=clean_env(**{
            "DISPLAY": x.display,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_SESSION_TYPE": "x11",
            "WAYLAND_DISPLAY": None,
            "DBUS_SESSION_BUS_ADDRESS": address,
            "NO_AT_BRIDGE": "1",  # no accessibility daemons outliving the test
            "PYSTRAY_BACKEND": backend if backend in PYSTRAY_BACKENDS else None,
            "BROWSER": str(browser),
            "TMPDIR": str(tmp),
            **env,  # the test's own, over these (DISPLAY=None: no display)
        }),
    )  # fmt: skip
    return TrayAgent(proc, opened, own_bus)


@contextlib.contextmanager
def tray_agent(
    x: XServer, server: ServerProcess | str | None, tmp: Path, *args: str, **env: str | None
) -> Iterator[TrayAgent]:
    agent = start_tray_agent(x, server, tmp, *args, **env)
    try:
        yield agent
    finally:
        if agent.proc.poll() is None:
            agent.stop()
        if agent.bus is not None:
            stop(agent.bus)
