"""What the agent's own Linux tray icons share (``tray_sni``: StatusNotifierItem over D-Bus;
``tray_xembed``: an XEmbed icon in an X tray): the surface of a pystray icon, so that the
tray (``tray.py``) drives them as it drives pystray's, and one loop.

The surface: ``Icon(name, image, title, menu)``, ``icon``, ``title`` and ``visible`` to set,
``update_menu()``, ``run(setup)`` (blocking, on the main thread) and ``stop()`` (from any
thread). Menus are pystray's ``Menu`` and ``MenuItem`` (read through ``Item``): rows with a
text, an action, whether they are enabled, visible or the default.

The loop waits on the backend's connection (the D-Bus socket, the X display) and on a pipe
of its own: a change made in another thread (the agent's status) is noted and the pipe
written, and the loop applies it. So one thread alone talks to D-Bus or to X, and an idle
icon costs nothing: the loop sleeps until something arrives.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from officepulse.errors import OfficepulseError

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["Item", "LoopIcon", "Menu", "rows"]

log = logging.getLogger(__name__)

SETUP_TIMEOUT = 5.0  # seconds to wait for the setup thread once stopped, as pystray does


class TrayUnavailable(OfficepulseError):
    """No tray can be shown here (no display, no toolkit); the message says why."""


class Item(Protocol):
    """A pystray ``MenuItem`` as the icons read it."""

    @property
    def text(self) -> str: ...

    @property
    def enabled(self) -> bool: ...

    @property
    def visible(self) -> bool: ...

    @property
    def default(self) -> bool: ...

    @property
    def checked(self) -> bool | None: ...

    def __call__(self, icon: Any) -> object: ...


class Menu(Protocol):
    """A pystray ``Menu``: its rows, the default run when called."""

    @property
    def items(self) -> Iterable[Item]: ...

    def __call__(self, icon: Any) -> object: ...


def rows(menu: Menu | None) -> list[Item]:
    """The rows of ``menu``, hidden ones included (a row keeps its number when another
    row is hidden)."""
    return list(menu.items) if menu is not None else []


def is_separator(item: Item) -> bool:
    # pystray's Menu.SEPARATOR is a MenuItem with this text and no action.
    return item.text == "- - - -"


class LoopIcon:
    """The loop and the pystray surface; a backend implements ``_open`` (connect; the file
    descriptors to wait on), ``_readable`` (one of them can be read), ``_apply`` (the
    changes noted since: "icon", "title", "menu", "visible") and ``_close``."""

    HAS_MENU = True
    HAS_DEFAULT_ACTION = True

    def __init__(self, name: str, icon: Image, title: str, menu: Menu | None) -> None:
        self.name = name
        self._icon = icon
        self._title = title
        self._menu = menu
        self._visible = False
        self._lock = threading.Lock()
        self._changes: set[str] = set()
        self._stopping = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # -- the pystray surface (any thread) --------------------------------------------

    @property
    def icon(self) -> Image:
        return self._icon

    @icon.setter
    def icon(self, image: Image) -> None:
        self._icon = image
        self._note("icon")

    @property
    def title(self) -> str:
        return self._title

    @title.setter
    def title(self, text: str) -> None:
        if text != self._title:
            self._title = text
            self._note("title")

    @property
    def menu(self) -> Menu | None:
        return self._menu

    @property
    def visible(self) -> bool:
        return self._visible

    @visible.setter
    def visible(self, value: bool) -> None:
        if value != self._visible:
            self._visible = value
            self._note("visible")

    def update_menu(self) -> None:
        """The rows' texts or states may have changed: shown again as they are now."""
        self._note("menu")

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        self._wake()

    def __call__(self) -> None:
        """The default action (a left click on the icon): the menu's default row."""
        if self._menu is not None:
            self._menu(self)
            self.update_menu()

    def activate(self, item: Item) -> None:
        """A row was chosen: its action if it is enabled, then the menu as it is now."""
        if item.enabled and not is_separator(item):
            try:
                item(self)
            except Exception:
                log.exception("the tray's %r failed", item.text)
        self.update_menu()

    # -- the loop (the main thread) --------------------------------------------------

    def run(self, setup: Callable[[LoopIcon], object] | None = None) -> None:
        """Connect, call ``setup(icon)`` in a thread of its own (as pystray does), then
        serve until ``stop()``. TrayUnavailable when it cannot connect. A tray lost on the
        way (the bus or the display gone) is said in the log; the agent goes on without
        it until stopped."""

        try:
            fds = self._open()
        except Exception as exc:  # whatever the bus or the display said: no tray here
            with contextlib.suppress(Exception):
                self._close()
            raise TrayUnavailable(f"the tray icon cannot be shown ({exc})") from exc
        worker = threading.Thread(
            target=(lambda: setup(self)) if setup else self._show_only,
            name="officepulse-tray-setup",
            daemon=True,
        )
        selector = selectors.DefaultSelector()
        try:
            for fd in fds:
                selector.register(fd, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            worker.start()
            try:
                self._serve(selector)
            except Exception:
                log.exception("the tray icon stopped working; the agent goes on without it")
                for fd in fds:
                    selector.unregister(fd)
                self._serve_stop_only(selector)
        finally:
            selector.close()
            try:
                self._close()
            finally:
                os.close(self._wake_r)
                os.close(self._wake_w)
            if worker.ident is not None and worker is not threading.current_thread():
                worker.join(SETUP_TIMEOUT)

    def _serve(self, selector: selectors.BaseSelector) -> None:
        while True:
            # Whatever is already read and parsed goes first: select() would not see it.
            self._readable(None)
            for key, _ in selector.select():
                if key.fd == self._wake_r:
                    self._drain()
                else:
                    self._readable(int(key.fd))
            with self._lock:
                changes, self._changes = self._changes, set()
                stopping = self._stopping
            if stopping:
                return
            if changes:
                self._apply(changes)

    def _serve_stop_only(self, selector: selectors.BaseSelector) -> None:
        while True:
            selector.select()
            self._drain()
            with self._lock:
                if self._stopping:
                    return

    def _show_only(self) -> None:
        self.visible = True

    def _note(self, change: str) -> None:
        with self._lock:
            self._changes.add(change)
        self._wake()

    def _wake(self) -> None:
        # Full: the loop wakes anyway; closed: the loop has ended.
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 512):
                pass

    # -- the backend's part ----------------------------------------------------------

    def _open(self) -> list[int]:
        raise NotImplementedError

    def _readable(self, fd: int | None) -> None:
        """``fd`` can be read; None: handle what was received and parsed already."""
        raise NotImplementedError

    def _apply(self, changes: set[str]) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError
