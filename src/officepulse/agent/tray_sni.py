"""The tray icon as a StatusNotifierItem, with its menu as com.canonical.dbusmenu, spoken
over D-Bus with jeepney: what KDE Plasma, GNOME's AppIndicator extension, Xfce's panel,
waybar and others show, without GTK (whose import alone costs the agent 70 MB).

The protocols, as hosts use them (the freedesktop.org StatusNotifierItem specification
under its ``org.kde`` names; libdbusmenu's ``dbus-menu.xml``):

- the item owns ``org.kde.StatusNotifierItem-<pid>-1`` and tells the watcher
  (``org.kde.StatusNotifierWatcher``) about it; again whenever a watcher (re)appears;
- ``/StatusNotifierItem``: properties (the icon as ARGB32 pixmaps in network byte order,
  the tooltip, ``Menu`` = ``/MenuBar``), ``Activate`` (a left click: the default row) and the
  ``NewIcon`` / ``NewToolTip`` / ``NewTitle`` signals when they change;
- ``/MenuBar``: ``GetLayout`` (a root whose children are the rows, numbered from 1 in menu
  order), ``Event(id, "clicked", ...)`` to choose a row, ``AboutToShow``, and
  ``ItemsPropertiesUpdated`` / ``LayoutUpdated`` when the rows change.

``org.kde.*`` rather than ``org.freedesktop.*``: every host and watcher in use answers to
the former only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from officepulse.agent.tray_icon import Item, LoopIcon, Menu, is_separator, rows

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "ITEM_PATH",
    "MENU_PATH",
    "WATCHER",
    "SniIcon",
    "layout",
    "pixmaps",
    "row_properties",
    "watcher_present",
]

log = logging.getLogger(__name__)

WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
ITEM_INTERFACE = "org.kde.StatusNotifierItem"
ITEM_PATH = "/StatusNotifierItem"
MENU_INTERFACE = "com.canonical.dbusmenu"
MENU_PATH = "/MenuBar"
PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
PEER = "org.freedesktop.DBus.Peer"
DBUS = "org.freedesktop.DBus"
UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
UNKNOWN_OBJECT = "org.freedesktop.DBus.Error.UnknownObject"
UNKNOWN_PROPERTY = "org.freedesktop.DBus.Error.UnknownProperty"
READ_ONLY = "org.freedesktop.DBus.Error.PropertyReadOnly"
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
# Hosts scale the pixmap nearest to the size they draw.
PIXMAP_SIZES = (22, 32, 64)
CALL_TIMEOUT = 5.0

INTROSPECTION = {
    ITEM_PATH: f"""<node>
 <interface name="{ITEM_INTERFACE}">
  <property name="Category" type="s" access="read"/>
  <property name="Id" type="s" access="read"/>
  <property name="Title" type="s" access="read"/>
  <property name="Status" type="s" access="read"/>
  <property name="WindowId" type="i" access="read"/>
  <property name="IconName" type="s" access="read"/>
  <property name="IconPixmap" type="a(iiay)" access="read"/>
  <property name="OverlayIconName" type="s" access="read"/>
  <property name="OverlayIconPixmap" type="a(iiay)" access="read"/>
  <property name="AttentionIconName" type="s" access="read"/>
  <property name="AttentionIconPixmap" type="a(iiay)" access="read"/>
  <property name="AttentionMovieName" type="s" access="read"/>
  <property name="ToolTip" type="(sa(iiay)ss)" access="read"/>
  <property name="ItemIsMenu" type="b" access="read"/>
  <property name="Menu" type="o" access="read"/>
  <method name="ContextMenu"><arg name="x" type="i"/><arg name="y" type="i"/></method>
  <method name="Activate"><arg name="x" type="i"/><arg name="y" type="i"/></method>
  <method name="SecondaryActivate"><arg name="x" type="i"/><arg name="y" type="i"/></method>
  <method name="Scroll"><arg name="delta" type="i"/><arg name="orientation" type="s"/></method>
  <signal name="NewTitle"/>
  <signal name="NewIcon"/>
  <signal name="NewAttentionIcon"/>
  <signal name="NewOverlayIcon"/>
  <signal name="NewToolTip"/>
  <signal name="NewStatus"><arg name="status" type="s"/></signal>
 </interface>
</node>""",
    MENU_PATH: f"""<node>
 <interface name="{MENU_INTERFACE}">
  <property name="Version" type="u" access="read"/>
  <property name="TextDirection" type="s" access="read"/>
  <property name="Status" type="s" access="read"/>
  <property name="IconThemePath" type="as" access="read"/>
  <method name="GetLayout">
   <arg type="i" direction="in"/><arg type="i" direction="in"/>
   <arg type="as" direction="in"/>
   <arg type="u" direction="out"/><arg type="(ia{{sv}}av)" direction="out"/>
  </method>
  <method name="GetGroupProperties">
   <arg type="ai" direction="in"/><arg type="as" direction="in"/>
   <arg type="a(ia{{sv}})" direction="out"/>
  </method>
  <method name="GetProperty">
   <arg type="i" direction="in"/><arg type="s" direction="in"/>
   <arg type="v" direction="out"/>
  </method>
  <method name="Event">
   <arg type="i" direction="in"/><arg type="s" direction="in"/>
   <arg type="v" direction="in"/><arg type="u" direction="in"/>
  </method>
  <method name="EventGroup">
   <arg type="a(isvu)" direction="in"/><arg type="ai" direction="out"/>
  </method>
  <method name="AboutToShow">
   <arg type="i" direction="in"/><arg type="b" direction="out"/>
  </method>
  <method name="AboutToShowGroup">
   <arg type="ai" direction="in"/>
   <arg type="ai" direction="out"/><arg type="ai" direction="out"/>
  </method>
  <signal name="ItemsPropertiesUpdated">
   <arg type="a(ia{{sv}})"/><arg type="a(ias)"/>
  </signal>
  <signal name="LayoutUpdated"><arg type="u"/><arg type="i"/></signal>
  <signal name="ItemActivationRequested"><arg type="i"/><arg type="u"/></signal>
 </interface>
</node>""",
}

Variant = tuple[str, Any]
Props = dict[str, Variant]


# -- pure: what is said over the bus ------------------------------------------------


def pixmaps(image: Image, sizes: tuple[int, ...] = PIXMAP_SIZES) -> list[tuple[int, int, bytes]]:
    """``image`` as the spec's ``a(iiay)``: for each size, width, height and ARGB32
    pixels in network byte order (A, R, G, B bytes)."""
    from PIL import Image as PILImage

    out = []
    for size in sizes:
        rgba = image.convert("RGBA").resize((size, size), PILImage.Resampling.LANCZOS)
        r, g, b, a = rgba.split()
        # Pillow has no ARGB packer: the bands in that order, packed as if RGBA.
        out.append((size, size, PILImage.merge("RGBA", (a, r, g, b)).tobytes()))
    return out


def escape_label(text: str) -> str:
    """dbusmenu reads "_" as the mark of an access key: a plain one is written "__"."""
    return text.replace("_", "__")


def row_properties(item: Item) -> Props:
    """A row's dbusmenu properties (the defaults left out, as the spec asks, except
    ``enabled`` and ``visible``, which hosts are told every time)."""
    if is_separator(item):
        return {"type": ("s", "separator"), "visible": ("b", item.visible)}
    props: Props = {
        "label": ("s", escape_label(item.text)),
        "enabled": ("b", bool(item.enabled)),
        "visible": ("b", bool(item.visible)),
    }
    checked = item.checked
    if checked is not None:
        props["toggle-type"] = ("s", "checkmark")
        props["toggle-state"] = ("i", 1 if checked else 0)
    return props


def menu_properties(menu: Menu | None) -> dict[int, Props]:
    """Every row's properties by its id (1, 2, ... in menu order)."""
    return {n: row_properties(item) for n, item in enumerate(rows(menu), start=1)}


def _only(props: Props, names: list[str]) -> Props:
    return {k: v for k, v in props.items() if k in names} if names else props


def layout(
    properties: Mapping[int, Props], parent: int, depth: int, names: list[str]
) -> tuple[int, Props, list[Variant]]:
    """``GetLayout``'s ``(ia{sv}av)`` for ``parent``: the root (0) has the rows as its
    children; a row has none."""
    if parent != 0:
        return (parent, _only(properties[parent], names), [])
    children: list[Variant] = (
        []
        if depth == 0
        else [("(ia{sv}av)", (n, _only(p, names), [])) for n, p in properties.items()]
    )
    return (0, {"children-display": ("s", "submenu")}, children)


def changed_rows(before: Mapping[int, Props], after: Mapping[int, Props]) -> list[int]:
    return [n for n, props in after.items() if before.get(n) != props]


# -- the backend ------------------------------------------------------------------


def watcher_present(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the session bus has a StatusNotifierWatcher now (a host to show the icon)."""
    from officepulse.agent.sources._dbus import DBusError, SessionBus
    from officepulse.agent.sources.base import SourceUnavailable

    try:
        bus = SessionBus(environ)
    except SourceUnavailable:
        return False
    try:
        return bus.name_owner(WATCHER) is not None
    except (DBusError, SourceUnavailable):
        return False
    finally:
        bus.close()


class SniIcon(LoopIcon):
    """A pystray-like icon served as a StatusNotifierItem on the session bus."""

    def __init__(self, name: str, icon: Image, title: str, menu: Menu | None) -> None:
        super().__init__(name, icon, title, menu)
        self._conn: Any = None
        self._j: Any = None  # the jeepney module
        self.bus_name = f"org.kde.StatusNotifierItem-{os.getpid()}-1"
        self._revision = 1
        self._shown: dict[int, Props] = {}
        self._pixmaps: list[tuple[int, int, bytes]] = []
        self._registering: int | None = None  # the serial of our RegisterStatusNotifierItem

    # -- the loop's part ---------------------------------------------------------

    def _open(self) -> list[int]:
        import jeepney  # type: ignore[import-untyped]
        from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
        from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

        from officepulse.agent.sources._dbus import session_address

        address = session_address(os.environ)
        if address is None:
            raise OSError("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
        self._j = jeepney
        self._conn = open_dbus_connection(bus=address)
        flags = jeepney.DBusNameFlags.do_not_queue
        reply = self._conn.send_and_get_reply(
            message_bus.RequestName(self.bus_name, flags), timeout=CALL_TIMEOUT
        )
        if reply.header.message_type == jeepney.MessageType.error or reply.body[0] != 1:
            raise OSError(f"cannot own {self.bus_name} on the session bus ({reply.body})")
        # A watcher that (re)starts after us, a panel restarted: register again.
        rule = jeepney.MatchRule(
            type="signal",
            sender=DBUS,
            interface=DBUS,
            member="NameOwnerChanged",
            path="/org/freedesktop/DBus",
        )
        rule.add_arg_condition(0, WATCHER)
        self._conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=CALL_TIMEOUT)
        self._pixmaps = pixmaps(self.icon)
        self._shown = menu_properties(self.menu)
        return [self._conn.sock.fileno()]

    def _readable(self, fd: int | None) -> None:
        while True:
            try:
                msg = self._conn.receive(timeout=0)
            except TimeoutError:
                return
            self._handle(msg)

    def _apply(self, changes: set[str]) -> None:
        if "icon" in changes:
            self._pixmaps = pixmaps(self.icon)
            self._signal(ITEM_PATH, ITEM_INTERFACE, "NewIcon")
        if "title" in changes:
            self._signal(ITEM_PATH, ITEM_INTERFACE, "NewTitle")
            self._signal(ITEM_PATH, ITEM_INTERFACE, "NewToolTip")
        if "menu" in changes:
            self._refresh_menu()
        if "visible" in changes and self.visible:
            self._register()

    def _close(self) -> None:
        if self._conn is not None:
            # Leaving the bus is what takes the item away: the watcher sees its name go.
            self._conn.close()
            self._conn = None

    # -- talking ---------------------------------------------------------------

    def _register(self) -> None:
        j = self._j
        call = j.new_method_call(
            j.DBusAddress(WATCHER_PATH, bus_name=WATCHER, interface=WATCHER),
            "RegisterStatusNotifierItem",
            "s",
            (self.bus_name,),
        )
        # Not waiting for the answer here: the watcher, or the host with it, may call us
        # back first (GetAll) and wait for us.
        self._registering = next(self._conn.outgoing_serial)
        self._conn.send(call, serial=self._registering)

    def _signal(self, path: str, interface: str, member: str, sig: str = "", *body: Any) -> None:
        j = self._j
        self._conn.send(
            j.new_signal(j.DBusAddress(path, interface=interface), member, sig or None, body)
        )

    def _refresh_menu(self) -> None:
        now = menu_properties(self.menu)
        changed = changed_rows(self._shown, now)
        if not changed and now.keys() == self._shown.keys():
            return
        self._shown = now
        self._revision += 1
        self._signal(
            MENU_PATH,
            MENU_INTERFACE,
            "ItemsPropertiesUpdated",
            "a(ia{sv})a(ias)",
            [(n, now[n]) for n in changed if n in now],
            [],
        )
        self._signal(MENU_PATH, MENU_INTERFACE, "LayoutUpdated", "ui", self._revision, 0)

    def _handle(self, msg: Any) -> None:
        j = self._j
        header = msg.header
        kind = header.message_type
        fields = header.fields
        if kind == j.MessageType.signal:
            if fields.get(j.HeaderFields.member) == "NameOwnerChanged" and msg.body[2]:
                log.info("tray: a StatusNotifierWatcher appeared; registering the icon")
                if self.visible:
                    self._register()
            return
        if kind == j.MessageType.error:
            if fields.get(j.HeaderFields.reply_serial) == self._registering:
                log.warning("tray: the StatusNotifierWatcher refused the icon: %s", msg.body)
            return
        if kind != j.MessageType.method_call:
            return
        path = fields.get(j.HeaderFields.path, "")
        interface = fields.get(j.HeaderFields.interface, "")
        member = fields.get(j.HeaderFields.member, "")
        reply, after = self._answer(msg, path, interface, member, tuple(msg.body))
        if not header.flags & j.MessageFlag.no_reply_expected:
            self._conn.send(reply)
        if after is not None:
            after()  # a row's action, once its caller has its answer

    def _answer(
        self, msg: Any, path: str, interface: str, member: str, body: tuple[Any, ...]
    ) -> tuple[Any, Any]:
        j = self._j
        ok = j.new_method_return
        if interface == INTROSPECTABLE and member == "Introspect":
            xml = INTROSPECTION.get(path, "<node/>")
            return ok(msg, "s", (xml,)), None
        if interface == PEER:
            if member == "Ping":
                return ok(msg), None
            if member == "GetMachineId":
                return ok(msg, "s", (_machine_id(),)), None
        if path not in (ITEM_PATH, MENU_PATH):
            return self._error(msg, UNKNOWN_OBJECT, f"no object at {path}"), None
        if interface == PROPERTIES:
            return self._properties(msg, path, member, body), None
        if path == ITEM_PATH and interface in (ITEM_INTERFACE, ""):
            if member == "Activate":
                return ok(msg), self  # the default row, as a left click does
            if member in ("SecondaryActivate", "ContextMenu", "Scroll"):
                return ok(msg), None
            if member == "ProvideXdgActivationToken":
                return ok(msg), None
        if path == MENU_PATH and interface in (MENU_INTERFACE, ""):
            return self._menu_call(msg, member, body)
        return self._error(msg, UNKNOWN_METHOD, f"no method {interface}.{member} at {path}"), None

    def _menu_call(self, msg: Any, member: str, body: tuple[Any, ...]) -> tuple[Any, Any]:
        ok = self._j.new_method_return
        props = menu_properties(self.menu)
        if member == "GetLayout":
            parent, depth, names = body
            if parent != 0 and parent not in props:
                return self._error(msg, INVALID_ARGS, f"no menu row {parent}"), None
            tree = layout(props, parent, depth, list(names))
            return ok(msg, "u(ia{sv}av)", (self._revision, tree)), None
        if member == "GetGroupProperties":
            ids, names = body
            wanted = list(ids) or list(props)
            found = [(n, _only(props[n], list(names))) for n in wanted if n in props]
            return ok(msg, "a(ia{sv})", (found,)), None
        if member == "GetProperty":
            row, name = body
            if row not in props or name not in props[row]:
                return self._error(
                    msg, INVALID_ARGS, f"no property {name!r} on menu row {row}"
                ), None
            return ok(msg, "v", (props[row][name],)), None
        if member == "Event":
            row, event, _data, _time = body
            return ok(msg), self._event(row, event)
        if member == "EventGroup":
            (events,) = body
            missing = [row for row, _e, _d, _t in events if row not in props and row != 0]
            actions = [self._event(row, event) for row, event, _d, _t in events]

            def run_all() -> None:
                for action in actions:
                    if action is not None:
                        action()

            return ok(msg, "ai", (missing,)), run_all
        if member == "AboutToShow":
            # Texts and states are read afresh: say whether they changed since last shown.
            return ok(msg, "b", (props != self._shown,)), self.update_menu
        if member == "AboutToShowGroup":
            (ids,) = body
            stale = [n for n in ids if props.get(n) != self._shown.get(n)]
            missing = [n for n in ids if n != 0 and n not in props]
            return ok(msg, "aiai", (stale, missing)), self.update_menu
        return self._error(msg, UNKNOWN_METHOD, f"no method {MENU_INTERFACE}.{member}"), None

    def _error(self, msg: Any, name: str, text: str) -> Any:
        return self._j.new_error(msg, name, "s", (text,))

    def _event(self, row: int, event: str) -> Any:
        """What a host's event on ``row`` does: "clicked" chooses it."""
        if event != "clicked":
            return None
        items = rows(self.menu)
        if not 1 <= row <= len(items):
            return None
        item = items[row - 1]
        return lambda: self.activate(item)

    def _properties(self, msg: Any, path: str, member: str, body: tuple[Any, ...]) -> Any:
        ok = self._j.new_method_return
        interface = ITEM_INTERFACE if path == ITEM_PATH else MENU_INTERFACE
        values = self._item_properties() if path == ITEM_PATH else _MENU_PROPERTIES
        if member == "GetAll":
            asked = body[0] if body else ""
            return ok(msg, "a{sv}", (values if asked in (interface, "") else {},))
        if member == "Get":
            asked, name = body
            if asked not in (interface, "") or name not in values:
                return self._error(msg, UNKNOWN_PROPERTY, f"no property {asked}.{name}")
            return ok(msg, "v", (values[name],))
        if member == "Set":
            return self._error(msg, READ_ONLY, "the tray icon's properties are read-only")
        return self._error(msg, UNKNOWN_METHOD, f"no method {PROPERTIES}.{member}")

    def _item_properties(self) -> Props:
        return {
            "Category": ("s", "ApplicationStatus"),
            "Id": ("s", self.name),
            "Title": ("s", self.title),
            "Status": ("s", "Active"),
            "WindowId": ("i", 0),
            "IconName": ("s", ""),
            "IconThemePath": ("s", ""),
            "IconPixmap": ("a(iiay)", self._pixmaps),
            "OverlayIconName": ("s", ""),
            "OverlayIconPixmap": ("a(iiay)", []),
            "AttentionIconName": ("s", ""),
            "AttentionIconPixmap": ("a(iiay)", []),
            "AttentionMovieName": ("s", ""),
            "ToolTip": ("(sa(iiay)ss)", ("", [], self.title, "")),
            # False: a left click is the default row (the dashboard), as with GTK's icon;
            # the menu opens on a right click.
            "ItemIsMenu": ("b", False),
            "Menu": ("o", MENU_PATH),
        }


_MENU_PROPERTIES: Props = {
    "Version": ("u", 3),
    "TextDirection": ("s", "ltr"),
    "Status": ("s", "normal"),
    "IconThemePath": ("as", []),
}


def _machine_id() -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return Path(path).read_text().strip()
        except OSError:
            continue
    return ""
