"""The agent's StatusNotifierItem: what it says over D-Bus (pure), and for real with
xfce4-panel (a StatusNotifierWatcher and host from Debian) on a private session bus: an
icon shown once a watcher starts after the agent and again after the panel restarts, and
hosts told when the menu's rows change, as they must be to show them right."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from officepulse.agent.tray import COLOURS, icon_image
from officepulse.agent.tray_sni import escape_label, layout, menu_properties, pixmaps
from tests.support.processes import wait_until
from tests.support.servers import ServerProcess
from tests.support.tray_host import DBUSMENU, SniHost, require_tray_tools, tray_agent

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = pytest.mark.timeout(180)


# -- pure -------------------------------------------------------------------------


class Row:
    """A pystray MenuItem as the icon reads it."""

    def __init__(self, text: str, enabled: bool = True, visible: bool = True) -> None:
        self.text, self.enabled, self.visible = text, enabled, visible
        self.default = False
        self.checked: bool | None = None

    def __call__(self, icon: Any) -> None:
        pass


class Rows:
    def __init__(self, *items: Row) -> None:
        self.items = items

    def __call__(self, icon: Any) -> None:
        pass


def test_pixmaps_are_argb32_in_network_byte_order_at_each_size() -> None:
    image = Image.new("RGBA", (64, 64), (10, 20, 30, 255))
    image.putpixel((0, 0), (0, 0, 0, 0))
    out = pixmaps(image, (16, 64))
    assert [(w, h) for w, h, _ in out] == [(16, 16), (64, 64)]
    _, _, data = out[1]
    assert len(data) == 64 * 64 * 4
    assert data[:4] == bytes([0, 0, 0, 0])  # transparent
    assert data[4:8] == bytes([255, 10, 20, 30])  # A, R, G, B


def test_the_icons_colour_survives_the_pixmap() -> None:
    _, _, data = pixmaps(icon_image("paused"), (64,))[0]
    centre = 4 * (64 * 20 + 32)  # a pixel of the disc, beside the bars
    assert tuple(data[centre + 1 : centre + 4]) == COLOURS["paused"]


def test_rows_are_numbered_in_menu_order_with_their_states() -> None:
    menu = Rows(Row("Status", enabled=False), Row("Pause_me"), Row("Hidden", visible=False))
    props = menu_properties(menu)
    assert list(props) == [1, 2, 3]
    assert props[1] == {"label": ("s", "Status"), "enabled": ("b", False), "visible": ("b", True)}
    assert props[2]["label"] == ("s", "Pause__me")  # "_" alone would mark an access key
    assert props[3]["visible"] == ("b", False)
    assert escape_label("a_b__c") == "a__b____c"


def test_the_layout_is_a_root_whose_children_are_the_rows() -> None:
    props = menu_properties(Rows(Row("One"), Row("Two")))
    root, root_props, children = layout(props, 0, -1, [])
    assert (root, root_props) == (0, {"children-display": ("s", "submenu")})
    assert [c[0] for c in children] == ["(ia{sv}av)", "(ia{sv}av)"]
    assert [c[1][0] for c in children] == [1, 2]
    assert children[1][1][1]["label"] == ("s", "Two")
    # Only the properties asked for; no children below depth 0; a row on its own.
    assert layout(props, 0, -1, ["label"])[2][0][1][1] == {"label": ("s", "One")}
    assert layout(props, 0, 0, [])[2] == []
    assert layout(props, 2, -1, [])[0] == 2


# -- for real -----------------------------------------------------------------------


def test_the_icon_shows_in_a_panel_started_after_it_and_again_after_a_restart(
    xserver: XServer, server: ServerProcess, tmp_path: Path
) -> None:
    """No watcher when the agent starts (and no X display for it: an SNI icon is its only
    way): it waits, and registers once xfce4-panel starts; the panel restarted, again."""
    require_tray_tools("sni")
    host = SniHost(xserver, tmp_path, panel=False)
    try:
        with tray_agent(
            xserver, server, tmp_path, "--source", "none", backend="sni", bus=host.address,
            DISPLAY=None,
        ) as agent:  # fmt: skip
            agent.proc.wait_for_log("tray: sni backend")
            agent.proc.wait_for_log("tray: no-desktop")
            assert host.item() is None
            host.start_panel()
            host.wait_for_state("no-desktop")
            wait_until(lambda: host.drawn_state() == "no-desktop", what="the panel's icon")

            host.stop_panel()
            host.start_panel()
            host.wait_for_state("no-desktop")
            wait_until(lambda: host.drawn_state() == "no-desktop", what="the icon again")
            host.choose("Quit")
            assert agent.proc.wait(30) == 0
        out = agent.proc.output()
        assert out.count("a StatusNotifierWatcher appeared") == 2
        assert "Traceback" not in out
    finally:
        host.close()


def test_hosts_are_told_when_the_rows_change(
    xserver: XServer, server: ServerProcess, tmp_path: Path
) -> None:
    """A pause changes the status row and enables Resume: the item says so
    (ItemsPropertiesUpdated with the new states, LayoutUpdated with a newer revision), and
    the layout a host reads then is the new one."""
    from jeepney import HeaderFields, MatchRule
    from jeepney.bus_messages import message_bus

    require_tray_tools("sni")
    host = SniHost(xserver, tmp_path)
    try:
        with tray_agent(
            xserver, server, tmp_path, "--source", "none", backend="sni", bus=host.address
        ) as agent:
            host.wait_for_state("no-desktop")
            name, _path = host._item()
            rule = MatchRule(type="signal", interface=DBUSMENU)
            host.conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=10)
            revision = host._call(name, "/MenuBar", DBUSMENU, "GetLayout", "iias", 0, 0, [])[0]
            # By label: the ids follow the rows, and a hidden update row may come first.
            resume = next(n for n, row in host.rows() if row.get("label") == "Resume")
            assert dict(host.rows())[resume]["enabled"] is False
            with host.conn.filter(rule, bufsize=64) as signals:
                host.choose("Pause until I resume")
                host.wait_for_state("paused")
                seen: dict[str, Any] = {}
                deadline = time.monotonic() + 30
                while not {"ItemsPropertiesUpdated", "LayoutUpdated"} <= seen.keys():
                    assert time.monotonic() < deadline, f"the item said only {list(seen)}"
                    msg = host.conn.recv_until_filtered(signals, timeout=30)
                    seen[msg.header.fields[HeaderFields.member]] = msg.body
            updated = {
                n: {k: v[1] for k, v in p.items()} for n, p in seen["ItemsPropertiesUpdated"][0]
            }
            assert updated[resume]["enabled"] is True
            assert updated[1]["label"] == "Paused until resumed"
            assert seen["LayoutUpdated"][0] > revision
            assert dict(host.rows())[resume]["enabled"] is True
            host.choose("Quit")
            assert agent.proc.wait(30) == 0
    finally:
        host.close()
