"""A real system tray for tests: trayer (an XEmbed tray from Debian) on a test X server
(tests/xserver.py), a private session bus, and ``officepulse agent --tray`` in it, its icon
read from the screen and its menu clicked with xdotool.

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
from tests.conftest import OFFICEPULSE, WAIT, Process, ServerProcess, clean_env, stop, wait_until

if TYPE_CHECKING:
    from tests.xserver import XServer

TOOLS = ("trayer", "dbus-daemon")


def require_tray_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    try:
        import gi  # noqa: F401  - the GTK backend of pystray
    except ImportError:
        missing.append("PyGObject (pip install -e '.[tray]')")
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
        return str(
            wait_until(
                lambda: re.match(pattern, t := self.title()) and t,
                timeout,
                f"the icon's tooltip to match {pattern!r}",
                lambda: f"it is {self.title()!r}",
            )
        )

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
        votes: dict[State, int] = {}
        data = shot.tobytes()
        for pixel in zip(data[0::3], data[1::3], data[2::3], strict=True):
            # The tray's own grey (0xdddddd) and the marks' white are nobody's vote.
            if min(pixel) > 200:
                continue
            nearest = min(COLOURS, key=lambda s: _distance(COLOURS[s], pixel))
            votes[nearest] = votes.get(nearest, 0) + 1
        return max(votes, key=lambda s: votes[s]) if votes else None

    def wait_for_state(self, state: State, timeout: float = WAIT) -> None:
        wait_until(
            lambda: self.state() == state,
            timeout,
            f"the icon to show {state!r}",
            lambda: f"it shows {self.state()!r}, tooltip {self.title()!r}",
        )

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
        self.x.xdotool("mousemove", "--sync", str(x), str(y))
        self.x.xdotool("mousemove", "--sync", str(x + 1), str(y))

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


def _distance(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=False))


@dataclass
class TrayAgent:
    proc: Process
    opened: Path  # the URLs the agent asked the browser to open, a line each
    bus: subprocess.Popen[str]

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
        stop(self.bus)
        return out


def session_bus(tmp: Path) -> tuple[subprocess.Popen[str], str]:
    """A private session bus (pystray's GTK backend talks to it); its address."""
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
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
    backend: str = "gtk",
    **env: str | None,
) -> TrayAgent:
    """``officepulse agent --tray`` on ``x``'s display, against ``server`` (or a URL; None:
    the one its config file names, in ``tmp``/home/.config/officepulse/agent.toml)."""
    opened = tmp / "opened.txt"
    browser = tmp / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    bus, address = session_bus(tmp)
    url = server if isinstance(server, str) or server is None else server.ws_url
    proc = Process(
        [
            OFFICEPULSE, "--env-file", "/dev/null", "agent",
            *(["--server-url", url] if url else []), "--state-dir", str(tmp / "agent-state"),
            "--credential-store", "file", "--tray", *args,
        ],
        name="the tray agent",
        env=clean_env(
            DISPLAY=x.display,
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_SESSION_TYPE="x11",
            WAYLAND_DISPLAY=None,
            DBUS_SESSION_BUS_ADDRESS=address,
            NO_AT_BRIDGE="1",  # no accessibility daemons outliving the test
            PYSTRAY_BACKEND=backend,
            BROWSER=str(browser),
            TMPDIR=str(tmp),
            **env,
        ),
    )  # fmt: skip
    return TrayAgent(proc, opened, bus)


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
        stop(agent.bus)
