"""``officepulse agent --tray``: the agent with an icon in the system tray or menu bar.

On Linux the agent draws its icon itself, without GTK (whose import alone cost the agent
70 MB, more than the rest of it): a StatusNotifierItem with its menu over D-Bus where the
session has a StatusNotifierWatcher (KDE Plasma, GNOME's AppIndicator extension, Xfce's
panel, waybar: ``tray_sni``), else an XEmbed icon on the X display (trayer, stalonetray,
i3bar and the like: ``tray_xembed``), with pystray's menus. ``PYSTRAY_BACKEND`` set to one
of pystray's own Linux backends (``gtk``, ``appindicator``) uses that one instead. pystray
draws it on macOS (the menu bar, AppKit, already a dependency there) and Windows (Win32).
Qt would serve too, but it weighs some 200 MB to install and more memory than the whole
agent; pystray adds Pillow and, for its GTK backends, PyGObject.

The icon's colour and mark say the state (``controls.State``): connected (green),
catching up (blue, an arrow), offline (grey ring), paused (amber, two bars), cannot read
the desktop (red, "!"). The menu says it in words, then (when the server told of a newer
agent) "Update available", which opens its download page; pause for 15 minutes, for an
hour, until resumed; resume; the dashboard (also a left click); settings; about; quit.

Nothing here is imported unless the tray is asked for (docs/performance.md says what each
costs).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import webbrowser
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from officepulse import __version__
from officepulse.agent.background import AgentThread
from officepulse.agent.controls import Controls, State, Status
from officepulse.agent.tray_icon import TrayUnavailable
from officepulse.agent.updates import Update

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "COLOURS",
    "MENU",
    "TrayUnavailable",
    "dashboard_url",
    "icon_image",
    "menu_rows",
    "run_with_tray",
    "update_label",
]

log = logging.getLogger(__name__)

# Each state's colour (RGB), distinct enough to be told apart in a screenshot.
COLOURS: dict[State, tuple[int, int, int]] = {
    "starting": (156, 163, 175),
    "connected": (22, 163, 74),
    "catching-up": (37, 99, 235),
    "offline": (107, 114, 128),
    "paused": (217, 119, 6),
    "no-desktop": (185, 28, 28),
}
# The menu, top to bottom (the first row is the state in words, not clickable). No
# separators: every row is as tall as the next, which the tests rely on to click them.
MENU = (
    "status",
    "Pause for 15 minutes",
    "Pause for 1 hour",
    "Pause until I resume",
    "Resume",
    "Open the dashboard",
    "Settings…",
    f"About officepulse {__version__}",
    "Quit",
)
# Where the update row goes when the server told of a newer agent (below the status).
UPDATE_ROW = 1
PAUSES: Mapping[str, float | None] = {
    "Pause for 15 minutes": 15 * 60.0,
    "Pause for 1 hour": 3600.0,
    "Pause until I resume": None,
}


def update_label(update: Update) -> str:
    """The update row: what is new, and where a click takes the person."""
    return f"Update available: {update.version}" + (" (download…)" if update.url else "")


def menu_rows(status: Status) -> tuple[str, ...]:
    """The menu's rows as shown for ``status``: ``MENU``, with the update row when the
    server told of a newer agent."""
    if status.update is None:
        return MENU
    return (*MENU[:UPDATE_ROW], update_label(status.update), *MENU[UPDATE_ROW:])


def dashboard_url(server_url: str) -> str:
    """The dashboard of the server the agent talks to (wss://host/agent → https://host/)."""
    parts = urlsplit(server_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "/", "", ""))


def icon_image(state: State, size: int = 64) -> Image:
    """The icon for ``state``: a disc in the state's colour (a ring when offline) with a
    mark of its own."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    colour = COLOURS[state]
    edge = size // 16
    box = (edge, edge, size - 1 - edge, size - 1 - edge)
    white = (255, 255, 255, 255)
    if state == "offline":
        draw.ellipse(box, outline=colour, width=max(2, size // 8))
        return img
    draw.ellipse(box, fill=colour)
    u = size / 16  # a grid of 16 × 16 for the marks
    if state == "paused":
        draw.rectangle((5 * u, 4.5 * u, 7 * u, 11.5 * u), fill=white)
        draw.rectangle((9 * u, 4.5 * u, 11 * u, 11.5 * u), fill=white)
    elif state == "catching-up":
        draw.polygon([(8 * u, 3.5 * u), (12 * u, 8 * u), (4 * u, 8 * u)], fill=white)
        draw.rectangle((6.75 * u, 8 * u, 9.25 * u, 12.5 * u), fill=white)
    elif state == "no-desktop":
        draw.rectangle((7 * u, 3.5 * u, 9 * u, 9.5 * u), fill=white)
        draw.rectangle((7 * u, 10.75 * u, 9 * u, 12.5 * u), fill=white)
    elif state == "connected":
        draw.ellipse((6 * u, 6 * u, 10 * u, 10 * u), fill=white)
    return img


# pystray's backends that run GTK's loop (it takes the signals over: see _stop_on_signals).
GTK_BACKENDS = ("pystray._gtk", "pystray._appindicator")


def _import_pystray(backend: str | None) -> Any:
    """pystray, its backend chosen as it is imported (and an import that fails outright
    without a display); ``backend`` forces one for that import only."""
    # GTK reads its own options from sys.argv as pystray imports it (--name, --display,
    # --class...): officepulse's flags are not for it.
    argv, sys.argv = sys.argv, sys.argv[:1]
    forced = os.environ.get("PYSTRAY_BACKEND")
    if backend is not None:
        os.environ["PYSTRAY_BACKEND"] = backend
    try:
        import pystray
    except Exception as exc:  # any failure of a backend's import means no tray
        raise TrayUnavailable(f"no system tray can be used here ({exc})") from exc
    finally:
        sys.argv = argv
        if backend is not None:
            if forced is None:
                del os.environ["PYSTRAY_BACKEND"]
            else:
                os.environ["PYSTRAY_BACKEND"] = forced
    return pystray


def _load_pystray(environ: Mapping[str, str] = os.environ) -> Any:
    """What draws the icon (``Icon``, ``Menu``, ``MenuItem``, as pystray names them);
    TrayUnavailable when nothing can here. On Linux, unless PYSTRAY_BACKEND names one of
    pystray's: the agent's own icons, with pystray's menus (its "dummy" backend, which
    imports no toolkit)."""
    if sys.platform.startswith("linux") and not environ.get("PYSTRAY_BACKEND"):
        from officepulse.agent.sources._dbus import session_address
        from officepulse.agent.tray_sni import SniIcon, watcher_present

        icon: type
        if watcher_present(environ):
            icon = SniIcon
        elif environ.get("DISPLAY"):
            from officepulse.agent.tray_xembed import XEmbedIcon

            icon = XEmbedIcon
        elif session_address(environ) is not None:
            icon = SniIcon  # shown once a StatusNotifierWatcher appears
        else:
            raise TrayUnavailable(
                "no system tray here: no X display, and no D-Bus session bus for a "
                "StatusNotifierItem"
            )
        pystray = _import_pystray("dummy")
        return SimpleNamespace(Icon=icon, Menu=pystray.Menu, MenuItem=pystray.MenuItem)
    pystray = _import_pystray(None)
    if not getattr(pystray.Icon, "HAS_MENU", False):
        raise TrayUnavailable(
            "the only tray pystray found here has no menu (xorg); unset PYSTRAY_BACKEND for "
            "officepulse's own tray icons, or install PyGObject and GTK 3 (Debian: python3-gi "
            "gir1.2-gtk-3.0, or gir1.2-ayatanaappindicator3-0.1 for AppIndicator trays)"
        )
    return pystray


class Tray:
    def __init__(
        self,
        pystray: Any,
        controls: Controls,
        agent: AgentThread,
        server_url: Callable[[], str],
        open_url: Callable[[str], object] = webbrowser.open,
    ) -> None:
        self.pystray = pystray
        self.controls = controls
        self.agent = agent
        self.server_url = server_url
        self.open_url = open_url
        item = pystray.MenuItem
        # Rows greyed out when they cannot act: pausing a timeline replay, resuming an
        # agent that is not paused. (pystray asks each time the menu is built.)
        rows: list[Any] = [
            item(lambda _: controls.status.line, None, enabled=False),
            item(
                lambda _: update_label(u) if (u := controls.status.update) else "",
                self._update,
                visible=lambda _: controls.status.update is not None,
                enabled=lambda _: bool((u := controls.status.update) and u.url),
            ),
            *(
                item(text, self._pauser(seconds), enabled=lambda _: controls.can_pause)
                for text, seconds in PAUSES.items()
            ),
            item("Resume", self._resume, enabled=lambda _: controls.paused),
            item("Open the dashboard", self._dashboard, default=True),
            item("Settings…", lambda: self._page("/")),
            item(f"About officepulse {__version__}", lambda: self._page("/about")),
            item("Quit", self._quit),
        ]
        status = controls.status
        self.icon = pystray.Icon(
            "officepulse", icon_image(status.state), self._title(status), pystray.Menu(*rows)
        )

    @staticmethod
    def _title(status: Status) -> str:
        return f"officepulse: {status.line}"

    def show(self, status: Status) -> None:
        """The agent's status changed (called in the agent's thread; pystray hands the
        changes to the toolkit's loop)."""
        update = f"; {status.update.describe()}" if status.update else ""
        log.info("tray: %s (%s)%s", status.state, status.line, update)
        self.icon.icon = icon_image(status.state)
        self.icon.title = self._title(status)
        self.icon.update_menu()

    def _update(self) -> None:
        update = self.controls.status.update
        if update is not None and update.url:
            log.info("tray: opening the download page of %s: %s", update.version, update.url)
            self._in_background(lambda: self.open_url(str(update.url)))

    def _pauser(self, seconds: float | None) -> Callable[[], None]:
        def pause() -> None:
            log.info("tray: pause for %s", "ever" if seconds is None else f"{seconds:g} s")
            self.controls.pause_for(seconds)

        return pause

    def _resume(self) -> None:
        self.controls.resume()

    def _dashboard(self) -> None:
        url = dashboard_url(self.server_url())
        log.info("tray: opening the dashboard %s", url)
        self._in_background(lambda: self.open_url(url))

    def _page(self, path: str) -> None:
        def open_page() -> None:
            try:
                link = self.agent.page_link(path)
            except Exception:
                log.exception("cannot open the agent's page %s", path)
                return
            log.info("tray: opening the agent's page %s", path)
            self.open_url(link)

        self._in_background(open_page)

    def _quit(self) -> None:
        log.info("tray: quit")
        self.controls.quit()

    @staticmethod
    def _in_background(work: Callable[[], object]) -> None:
        # Starting a browser, or the pages' server, must not freeze the menu.
        threading.Thread(target=work, name="officepulse-tray-open", daemon=True).start()

    def run(self) -> None:
        def setup(icon: Any) -> None:
            icon.visible = True
            _stop_on_signals(self.controls, type(icon).__module__)
            self.agent.start()

        backend = type(self.icon).__module__
        before = {n: signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGINT)}
        if backend not in GTK_BACKENDS:
            # AppKit, Win32 and the agent's own icons leave Python's handlers alone: set
            # them on the main thread. (Ctrl-C too for the agent's own, as under GTK.)
            signal.signal(signal.SIGTERM, lambda *_: self.controls.quit())
            if backend.startswith("officepulse."):
                signal.signal(signal.SIGINT, lambda *_: self.controls.quit())
        try:
            self.icon.run(setup)
        except TrayUnavailable:
            # Before the agent started: the caller runs it without a tray, and the signals
            # stop it as they do there.
            for number, handler in before.items():
                signal.signal(number, handler)
            raise
        except Exception as exc:
            # pystray's GTK backend closes its notification on the way out, and raises when
            # no notification service runs (a bare X session): the agent has stopped already.
            if not self.agent.join(0):
                raise
            log.debug("the tray ended with: %s", exc)


def _stop_on_signals(controls: Controls, backend: str) -> None:
    """SIGTERM (systemd, logging out) and Ctrl-C stop the agent cleanly, as without a
    tray. pystray's GTK backends reset SIGINT to its default, and Python's own handlers run
    late under GTK's loop: GLib's handlers are used there (called from the setup thread,
    after that reset)."""
    if backend not in GTK_BACKENDS:
        return
    try:
        from gi.repository import GLib
    except ImportError:
        return

    def stop() -> bool:
        controls.quit()
        return True  # keep the handler: a second signal while stopping does no harm

    for number in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, number, stop)


def run_with_tray(
    settings: Callable[[], Any],
    pages: Callable[[Controls], Any],
    open_url: Callable[[str], object] = webbrowser.open,
) -> int:
    """Run the agent with a tray icon until Quit (or SIGTERM); TrayUnavailable when no
    tray can be shown (the caller runs the agent without one)."""
    pystray = _load_pystray()
    controls = Controls()
    agent: AgentThread
    tray: Tray

    def stopped() -> None:
        tray.icon.stop()

    agent = AgentThread(settings, controls, lambda: pages(controls), on_exit=stopped)
    tray = Tray(pystray, controls, agent, lambda: str(settings().server_url), open_url)
    controls.on_status = tray.show
    # "sni", "xembed" (the agent's own), "gtk", "appindicator", "darwin", "win32".
    backend = type(tray.icon).__module__.rsplit(".", 1)[-1].lstrip("_").removeprefix("tray_")
    log.info("tray: %s backend", backend)
    tray.run()
    agent.join()
    return 1 if agent.failure is not None else 0
