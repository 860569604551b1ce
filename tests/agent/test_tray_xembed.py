"""The agent's XEmbed tray icon: its menu as drawn (pure), and for real in trayer on Xvfb:
an icon that docks in a tray started after the agent, and a menu that closes on Escape or
a click elsewhere without choosing, and is used from the keyboard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from officepulse.agent.tray_xembed import LOOK, draw_menu, row_at
from tests.support.processes import wait_until
from tests.support.servers import ServerProcess
from tests.support.tray_host import Tray, require_tray_tools, tray_agent

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = pytest.mark.timeout(180)


class Row:
    def __init__(self, text: str, enabled: bool = True) -> None:
        self.text, self.enabled = text, enabled
        self.visible, self.default, self.checked = True, False, None

    def __call__(self, icon: Any) -> None:
        pass


def test_the_menu_is_drawn_a_row_each_all_as_tall() -> None:
    rows: list[Any] = [Row("Connected to office", enabled=False), Row("Quit")]
    plain = draw_menu(rows, None)
    assert plain.height == 2 * LOOK.row_height
    assert plain.width >= LOOK.min_width
    inked = {n: [p for p in _row_pixels(plain, n) if p != LOOK.background] for n in range(2)}
    assert all(inked.values())  # each row has its text
    # The greyed row's text is grey; the other's is dark.
    assert min(sum(p) for p in inked[0]) >= 3 * min(LOOK.greyed) - 150
    assert min(sum(p) for p in inked[1]) < sum(LOOK.greyed) - 150
    highlighted = draw_menu(rows, 1)
    assert LOOK.highlight in _row_pixels(highlighted, 1)
    assert LOOK.highlight not in _row_pixels(draw_menu(rows, 0), 0)  # greyed: never


def _row_pixels(image: Any, row: int) -> list[tuple[int, int, int]]:
    top = row * LOOK.row_height
    return [
        image.getpixel((x, y))
        for x in range(2, image.width - 2)
        for y in range(top + 2, top + LOOK.row_height - 2)
    ]


def test_rows_are_found_by_height() -> None:
    h = LOOK.row_height
    assert [row_at(y, 3) for y in (0, h - 1, h, 3 * h - 1)] == [0, 0, 1, 2]
    assert row_at(3 * h, 3) is None
    assert row_at(-1, 3) is None


def test_the_icon_docks_in_a_tray_started_after_it_and_its_menu_takes_keys(
    xserver: XServer, server: ServerProcess, tmp_path: Path
) -> None:
    require_tray_tools("xembed")
    with tray_agent(xserver, server, tmp_path, "--source", "none") as agent:
        agent.proc.wait_for_log("tray: xembed backend")
        agent.proc.wait_for_log("no system tray on the display yet")
        tray = Tray(xserver)
        try:
            tray.wait_for_state("no-desktop")
            agent.proc.wait_for_log("a system tray started; docking the icon")

            # Escape: closed, nothing chosen.
            _open_menu(tray)
            xserver.xdotool("key", "Escape")
            wait_until(lambda: tray.menu() is None, what="the menu closed by Escape")
            # A click elsewhere: the same.
            _open_menu(tray)
            xserver.mousemove(5, 700)
            xserver.xdotool("click", "1")
            wait_until(lambda: tray.menu() is None, what="the menu closed by a click elsewhere")
            assert not agent.proc.logged("tray: pause")

            # Down, Down (past the status row), Return: "Pause for 15 minutes".
            _open_menu(tray)
            for key in ("Down", "Down", "Return"):
                xserver.xdotool("key", key)
            tray.wait_for_state("paused")
            agent.proc.wait_for_log("tray: pause for 900 s")
            tray.choose("Quit")
            assert agent.proc.wait(30) == 0
        finally:
            tray.close()
    assert "Traceback" not in agent.proc.output()


def _open_menu(tray: Tray) -> None:
    cx, cy = tray.icon().centre
    tray.x.mousemove(cx, cy)
    tray.x.xdotool("click", "3")
    wait_until(tray.menu, what="the menu open")


def test_a_display_that_cannot_be_opened_leaves_the_agent_without_its_icon(
    xserver: XServer, server: ServerProcess, tmp_path: Path
) -> None:
    """DISPLAY names no X server: the icon cannot be shown, so the agent says so and runs
    without it, and SIGTERM still stops it cleanly."""
    require_tray_tools("xembed")
    display = f":{xserver.number + 1000}"  # nobody listens there
    with tray_agent(xserver, server, tmp_path, "--source", "none", DISPLAY=display) as agent:
        agent.proc.wait_for_log("the agent runs without its tray icon")
        server.wait_for_log("connected from")
        out = agent.stop()
    assert agent.proc.returncode == 0
    assert "stopped (" in out
    assert "Traceback" not in out
