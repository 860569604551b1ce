"""The tray icon in an X system tray (the freedesktop.org System Tray protocol: XEmbed),
drawn with python-xlib and Pillow, its menu a window of its own: for trays that have no
StatusNotifierWatcher (trayer, stalonetray, i3bar, older panels), without GTK.

pystray's own X backend ("xorg") docks an icon but takes no clicks and has no menu, paints
the icon on black, and never docks in a tray started after it; this one does all four:

- the icon window asks the owner of ``_NET_SYSTEM_TRAY_S<screen>`` to embed it (the
  ``SYSTEM_TRAY_REQUEST_DOCK`` message), and again when a tray announces itself (the
  ``MANAGER`` message on the root window) or the one it was in goes away;
- its background is the tray's own (ParentRelative), the icon drawn over it through a
  mask of its opaque pixels;
- a left click is the default row (the dashboard), a right click opens the menu: rows of
  text drawn by Pillow, the pointer and keyboard grabbed while it is open, a row chosen by
  releasing the button on it (or Return), Escape or a click elsewhere closes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from officepulse.agent.tray_icon import Item, LoopIcon, Menu, is_separator, rows

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageFont import FreeTypeFont, ImageFont

__all__ = ["MenuLook", "XEmbedIcon", "draw_menu", "row_at"]

log = logging.getLogger(__name__)

REQUEST_DOCK = 0
XEMBED_MAPPED = 1
ICON_SIZE = 24  # asked for; the tray decides


@dataclass(frozen=True)
class MenuLook:
    row_height: int = 24
    padding: int = 12
    min_width: int = 160
    font_size: int = 13
    background: tuple[int, int, int] = (246, 245, 244)
    text: tuple[int, int, int] = (30, 30, 30)
    greyed: tuple[int, int, int] = (150, 150, 150)
    highlight: tuple[int, int, int] = (53, 132, 228)
    highlighted_text: tuple[int, int, int] = (255, 255, 255)
    border: tuple[int, int, int] = (160, 160, 160)


LOOK = MenuLook()


def _font(size: int) -> FreeTypeFont | ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size)
    except (ImportError, OSError, TypeError):  # a Pillow without FreeType: its bitmap font
        return ImageFont.load_default()


def shown_rows(menu: Menu | None) -> list[Item]:
    return [item for item in rows(menu) if item.visible]


def row_at(y: int, count: int, look: MenuLook = LOOK) -> int | None:
    """The row (0, 1, ...) at ``y`` pixels from the menu's top, or None outside it."""
    row = y // look.row_height if y >= 0 else -1
    return row if 0 <= row < count else None


def draw_menu(items: list[Item], highlighted: int | None, look: MenuLook = LOOK) -> Image:
    """The menu as a picture: a row each, all as tall (greyed when it cannot be chosen,
    highlighted under the pointer)."""
    from PIL import Image, ImageDraw

    font = _font(look.font_size)
    texts = ["" if is_separator(item) else item.text for item in items]
    widest = max((int(font.getlength(text)) for text in texts), default=0)
    width = max(look.min_width, widest + 2 * look.padding)
    image = Image.new("RGB", (width, look.row_height * max(1, len(items))), look.background)
    draw = ImageDraw.Draw(image)
    for n, (item, text) in enumerate(zip(items, texts, strict=True)):
        top = n * look.row_height
        middle = top + look.row_height // 2
        if is_separator(item):
            draw.line((look.padding, middle, width - look.padding, middle), fill=look.border)
            continue
        colour = look.text if item.enabled else look.greyed
        if n == highlighted and item.enabled:
            draw.rectangle((0, top, width - 1, top + look.row_height - 1), fill=look.highlight)
            colour = look.highlighted_text
        draw.text((look.padding, middle), text, fill=colour, font=font, anchor="lm")
    draw.rectangle((0, 0, width - 1, image.height - 1), outline=look.border)
    return image


class XEmbedIcon(LoopIcon):
    """A pystray-like icon docked in the X display's system tray."""

    def __init__(self, name: str, icon: Image, title: str, menu: Menu | None) -> None:
        super().__init__(name, icon, title, menu)
        self._d: Any = None
        self._window: Any = None
        self._manager: Any = None
        self._popup: _Popup | None = None

    # -- the loop's part ---------------------------------------------------------

    def _open(self) -> list[int]:
        from Xlib import X, Xutil
        from Xlib import display as xdisplay

        d = xdisplay.Display()
        self._d = d
        d.set_error_handler(self._x_error)
        screen = d.screen()
        self._atoms = {
            name: d.intern_atom(name)
            for name in (
                f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}",
                "_NET_SYSTEM_TRAY_OPCODE",
                "_XEMBED_INFO",
                "MANAGER",
                "UTF8_STRING",
                "_NET_WM_NAME",
            )
        }
        self._selection = self._atoms[f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}"]
        window = screen.root.create_window(
            0, 0, ICON_SIZE, ICON_SIZE, 0, screen.root_depth,
            X.InputOutput, X.CopyFromParent,
            background_pixmap=X.ParentRelative,
            event_mask=X.ExposureMask | X.StructureNotifyMask | X.ButtonPressMask,
        )  # fmt: skip
        self._window = window
        self._name_window()
        window.set_wm_class(self.name, self.name.capitalize())
        window.set_wm_normal_hints(flags=Xutil.PMinSize, min_width=ICON_SIZE, min_height=ICON_SIZE)
        info = self._atoms["_XEMBED_INFO"]
        window.change_property(info, info, 32, [0, XEMBED_MAPPED])
        # A tray that starts later says so on the root window (MANAGER).
        screen.root.change_attributes(event_mask=X.StructureNotifyMask)
        d.flush()
        return [d.fileno()]

    def _readable(self, fd: int | None) -> None:
        d = self._d
        while d.pending_events():
            self._event(d.next_event())

    def _apply(self, changes: set[str]) -> None:
        if "title" in changes:
            self._name_window()
        if "visible" in changes and self.visible:
            self._dock()
        if "icon" in changes:
            self._draw()
        if self._popup is not None and changes & {"menu", "icon", "title"}:
            self._popup.refresh(shown_rows(self.menu))
            if self._popup.closed:
                self._popup = None
        self._d.flush()

    def _close(self) -> None:
        if self._d is not None:
            self._d.close()
            self._d = None

    # -- X --------------------------------------------------------------------

    def _x_error(self, error: Any, request: Any) -> None:
        # The tray went away under a request of ours (BadWindow): the next MANAGER docks.
        log.debug("tray: X error %s", error)

    def _name_window(self) -> None:
        """The title as the window's name (what trays show as its tooltip): WM_NAME in
        Latin-1 where it can be (as Xlib and GTK set it; what older trays read), else in
        UTF-8 (…), and _NET_WM_NAME in UTF-8 always."""
        from Xlib import Xatom

        utf8 = self._atoms["UTF8_STRING"]
        text = self.title.encode()
        try:
            self._window.change_property(
                Xatom.WM_NAME, Xatom.STRING, 8, self.title.encode("latin-1")
            )
        except UnicodeEncodeError:
            self._window.change_property(Xatom.WM_NAME, utf8, 8, text)
        self._window.change_property(self._atoms["_NET_WM_NAME"], utf8, 8, text)

    def _dock(self) -> None:
        from Xlib import X
        from Xlib.protocol import event

        owner = self._d.get_selection_owner(self._selection)
        if owner == X.NONE:
            log.info("tray: no system tray on the display yet; the icon docks once one starts")
            return
        self._manager = owner
        owner.change_attributes(event_mask=X.StructureNotifyMask)  # its DestroyNotify
        message = event.ClientMessage(
            window=owner,
            client_type=self._atoms["_NET_SYSTEM_TRAY_OPCODE"],
            data=(32, [X.CurrentTime, REQUEST_DOCK, self._window.id, 0, 0]),
        )
        owner.send_event(message, event_mask=X.NoEventMask)
        self._d.flush()

    def _event(self, ev: Any) -> None:
        from Xlib import X

        if self._popup is not None and self._popup.takes(ev):
            if self._popup.closed:
                chosen, self._popup = self._popup.chosen, None
                if chosen is not None:
                    self.activate(chosen)
            return
        kind = ev.type
        if kind == X.ClientMessage and ev.client_type == self._atoms["MANAGER"]:
            if ev.data[1][1] == self._selection and self.visible:
                log.info("tray: a system tray started; docking the icon")
                self._dock()
        elif kind == X.DestroyNotify and self._manager is not None:
            if ev.window.id == self._manager.id:
                self._manager = None  # the tray is gone: docked again at the next MANAGER
        elif kind in (X.Expose, X.ConfigureNotify) and ev.window.id == self._window.id:
            self._draw()
        elif kind == X.ButtonPress and ev.window.id == self._window.id:
            if ev.detail == 1:
                self()  # the default row
            elif ev.detail == 3:
                # Under the icon (above it when the tray is at the bottom of the screen).
                top = ev.root_y - ev.event_y
                bottom = top + self._window.get_geometry().height
                self._popup = _Popup(self._d, shown_rows(self.menu), ev.root_x, top, bottom)

    def _draw(self) -> None:
        from PIL import Image
        from Xlib.error import XError

        try:
            geometry = self._window.get_geometry()
        except XError:
            return
        size = max(1, min(geometry.width, geometry.height))
        x0, y0 = (geometry.width - size) // 2, (geometry.height - size) // 2
        picture = self.icon.convert("RGBA").resize((size, size), Image.Resampling.LANCZOS)
        # The tray's background (ParentRelative) shows where the icon is transparent.
        self._window.clear_area(0, 0, geometry.width, geometry.height)
        mask = self._window.create_pixmap(size, size, 1)
        mask_gc = mask.create_gc(foreground=1, background=0)
        mask.put_pil_image(mask_gc, 0, 0, picture.getchannel("A").point(lambda a: a >= 128, "1"))
        gc = self._window.create_gc(clip_mask=mask, clip_x_origin=x0, clip_y_origin=y0)
        self._window.put_pil_image(gc, x0, y0, picture.convert("RGB"))
        gc.free()
        mask_gc.free()
        mask.free()


class _Popup:
    """The open menu: a window over everything, the pointer and keyboard grabbed."""

    def __init__(self, d: Any, items: list[Item], x: int, above: int, below: int) -> None:
        from Xlib import X

        self.d = d
        self.items = items
        self.highlighted: int | None = None
        self.moved = False
        self.closed = False
        self.chosen: Item | None = None
        picture = draw_menu(items, None)
        screen = d.screen()
        width, height = picture.size
        # From the pointer rightwards and below ``below`` (else above ``above``), kept on
        # the screen.
        left = max(0, min(x, screen.width_in_pixels - width))
        top = below if below + height <= screen.height_in_pixels else max(0, above - height)
        self.window = screen.root.create_window(
            left, top, width, height, 0, screen.root_depth,
            X.InputOutput, X.CopyFromParent,
            override_redirect=True,
            background_pixel=screen.white_pixel,
            event_mask=X.ExposureMask | X.KeyPressMask | X.ButtonPressMask
            | X.ButtonReleaseMask | X.PointerMotionMask,
        )  # fmt: skip
        self.window.set_wm_class("officepulse", "Officepulse")
        self.window.set_wm_name("officepulse menu")
        self.gc = self.window.create_gc()
        self.window.map()
        self.window.grab_pointer(
            False,
            X.ButtonPressMask | X.ButtonReleaseMask | X.PointerMotionMask,
            X.GrabModeAsync, X.GrabModeAsync, X.NONE, X.NONE, X.CurrentTime,
        )  # fmt: skip
        self.window.grab_keyboard(False, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime)
        self.size = (width, height)
        d.flush()

    def refresh(self, items: list[Item]) -> None:
        if len(items) != len(self.items):
            self.close(None)  # rows came or went: shown anew on the next click
            return
        self.items = items
        self.paint()

    def paint(self) -> None:
        picture = draw_menu(self.items, self.highlighted)
        self.window.put_pil_image(self.gc, 0, 0, picture)

    def takes(self, ev: Any) -> bool:
        """Handle ``ev`` if it is the menu's (True)."""
        from Xlib import XK, X

        window = getattr(ev, "window", None)
        if window is None or window.id != self.window.id:
            return False
        kind = ev.type
        if kind == X.Expose:
            self.paint()
        elif kind == X.MotionNotify:
            self.moved = True
            self._highlight(self._row(ev))
        elif kind == X.ButtonPress and self._row(ev) is None and not self._inside(ev):
            self.close(None)  # a click elsewhere
        elif kind == X.ButtonRelease and self.moved:
            self._choose(self._row(ev))
        elif kind == X.KeyPress:
            key = self.d.keycode_to_keysym(ev.detail, 0)
            if key == XK.XK_Escape:
                self.close(None)
            elif key in (XK.XK_Down, XK.XK_Up):
                step = 1 if key == XK.XK_Down else -1
                start = -1 if self.highlighted is None else self.highlighted
                self._highlight((start + step) % len(self.items))
            elif key in (XK.XK_Return, XK.XK_KP_Enter) and self.highlighted is not None:
                self._choose(self.highlighted)
        return True

    def _choose(self, row: int | None) -> None:
        if row is not None and self.items[row].enabled and not is_separator(self.items[row]):
            self.close(self.items[row])

    def _inside(self, ev: Any) -> bool:
        return bool(0 <= ev.event_x < self.size[0] and 0 <= ev.event_y < self.size[1])

    def _row(self, ev: Any) -> int | None:
        return row_at(ev.event_y, len(self.items)) if self._inside(ev) else None

    def _highlight(self, row: int | None) -> None:
        if row != self.highlighted:
            self.highlighted = row
            self.paint()

    def close(self, chosen: Item | None) -> None:
        from Xlib import X

        self.chosen = chosen
        self.closed = True
        self.d.ungrab_pointer(X.CurrentTime)
        self.d.ungrab_keyboard(X.CurrentTime)
        self.window.destroy()
        self.d.flush()
