"""SwayWindow against a fake sway: a real Unix socket speaking sway's IPC framing
(``i3-ipc``, length and type as native u32), replying with ``swaymsg -t get_tree`` output
recorded from a real sway (tests/data/recorded/sources/sway, see its README): trees of a
newer sway than Debian 12's 1.7 (which test_wayland_sway.py runs for real), and the error
cases a real sway does not produce on demand."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from officepulse.agent.sources import sway
from officepulse.agent.sources.base import SourceUnavailable
from officepulse.agent.sources.sway import (
    InhibitedIdle,
    SwayWindow,
    encode,
    focused_node,
    inhibits_idle,
    sample_from_node,
)
from tests.support.source_fakes import FakeSway, recorded, recorded_json

pytestmark = pytest.mark.timeout(30)

SCREEN_TIME = "sway/get_tree-sway-screen-time.json"
MAN_PAGE = "sway/get_tree-sway-ipc-7-example.json"


def _hexdump_bytes(text: str) -> bytes:
    """The bytes of a ``offset | hex bytes | ascii`` dump, as sway-ipc(7) prints one."""
    out = bytearray()
    for line in text.splitlines():
        middle = line.split("|")[1]
        out += bytes.fromhex(middle)
    return bytes(out)


def test_framing_is_the_one_sway_ipc_7_documents() -> None:
    """sway-ipc(7) shows the RUN_COMMAND "exit" message as a hexdump; ours is identical."""
    dump = recorded("sway/exit-message-sway-ipc-7.hexdump").decode()
    assert encode(0, b"exit") == _hexdump_bytes(dump)


def test_focused_window_of_a_recorded_tree(tmp_path: Path) -> None:
    """Recorded: three Alacritty and Firefox windows on three workspaces; the focused one is
    Alacritty on workspace 3 (pid 4044). Its title has sway's escaped slashes."""
    with FakeSway(tmp_path / "sway.sock", recorded(SCREEN_TIME)) as server:
        source = SwayWindow({"SWAYSOCK": str(server.path)})
        try:
            sample = source.active_window()
            again = source.active_window()
        finally:
            source.close()
    assert sample is not None
    assert (sample.app, sample.title, sample.pid) == (
        "Alacritty",
        "erackleff@erackleff:~/dev/sway-screen-time/src",
        4044,
    )
    assert again == sample
    # One connection for every poll, and each request a bare GET_TREE.
    assert server.accepted == 1
    assert server.requests == [(b"i3-ipc", 4, b""), (b"i3-ipc", 4, b"")]


def test_the_man_page_tree_native_and_xwayland_windows(tmp_path: Path) -> None:
    """sway-ipc(7)'s GET_TREE example (documentation, not a capture; see the README): the
    focused window is termite (xdg_shell, app_id); its neighbour is urxvt under XWayland,
    which has no app_id but window_properties.class."""
    tree = recorded_json(MAN_PAGE)
    with FakeSway(tmp_path / "sway.sock", json.dumps(tree).encode()) as server:
        source = SwayWindow({"SWAYSOCK": str(server.path)})
        try:
            sample = source.active_window()
        finally:
            source.close()
    assert sample is not None
    assert (sample.app, sample.title, sample.pid) == ("termite", "", 25370)
    workspace = tree["nodes"][1]["nodes"][0]
    urxvt = sample_from_node(workspace["nodes"][0])
    assert urxvt is not None
    assert (urxvt.app, urxvt.title, urxvt.pid) == ("URxvt", "urxvt", 23959)


def test_an_empty_focused_workspace_is_no_window(tmp_path: Path) -> None:
    """Constructed from the recorded tree: focus moved from the window to its workspace, as
    sway reports a focused empty workspace (sway-ipc(7): ``focused`` on any node)."""
    tree = recorded_json(SCREEN_TIME)
    workspace = tree["nodes"][1]["nodes"][2]
    workspace["nodes"][0]["focused"] = False
    workspace["focused"] = True
    assert focused_node(tree) is workspace
    with FakeSway(tmp_path / "sway.sock", json.dumps(tree).encode()) as server:
        source = SwayWindow({"SWAYSOCK": str(server.path)})
        try:
            assert source.active_window() is None
        finally:
            source.close()


def test_a_floating_window_is_found() -> None:
    """Constructed from the recorded tree: the focused window moved to floating_nodes."""
    tree = recorded_json(SCREEN_TIME)
    workspace = tree["nodes"][1]["nodes"][2]
    window = workspace["nodes"].pop()
    window["type"] = "floating_con"
    workspace["floating_nodes"].append(copy.deepcopy(window))
    assert sway.sample_from_tree(tree) is not None


def test_not_a_sway_session() -> None:
    with pytest.raises(SourceUnavailable, match="SWAYSOCK is not set"):
        SwayWindow({})


def test_no_sway_listening(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="cannot connect to sway's IPC socket"):
        SwayWindow({"SWAYSOCK": str(tmp_path / "gone.sock")})


def test_sway_going_away_is_reported_and_final(tmp_path: Path) -> None:
    server = FakeSway(tmp_path / "sway.sock", recorded(SCREEN_TIME))
    source = SwayWindow({"SWAYSOCK": str(server.path)})
    try:
        assert source.active_window() is not None
        server.close()
        with pytest.raises(SourceUnavailable, match="lost the connection to sway"):
            source.active_window()
        with pytest.raises(SourceUnavailable, match="was closed"):
            source.active_window()
    finally:
        source.close()
        server.close()


def test_a_socket_that_is_not_sway(tmp_path: Path) -> None:
    with FakeSway(tmp_path / "other.sock", b"", garbage=True) as server:
        source = SwayWindow({"SWAYSOCK": str(server.path)})
        try:
            with pytest.raises(SourceUnavailable, match="does not start like an i3-ipc"):
                source.active_window()
        finally:
            source.close()


def test_a_reply_that_is_not_json(tmp_path: Path) -> None:
    with FakeSway(tmp_path / "sway.sock", b"{not json") as server:
        source = SwayWindow({"SWAYSOCK": str(server.path)})
        try:
            with pytest.raises(SourceUnavailable, match="not JSON"):
                source.active_window()
        finally:
            source.close()


# -- the screen locker's process -------------------------------------------------------

SESSION = {"XDG_RUNTIME_DIR": "/run/user/1000", "WAYLAND_DISPLAY": "wayland-1"}


@pytest.mark.parametrize(
    ("environ", "path"),
    [
        (SESSION, "/run/user/1000/wayland-1"),
        ({"WAYLAND_DISPLAY": "/tmp/elsewhere/wayland-9"}, "/tmp/elsewhere/wayland-9"),
        ({"WAYLAND_DISPLAY": "wayland-1"}, None),  # relative to nothing
        ({"XDG_RUNTIME_DIR": "/run/user/1000"}, None),
    ],
)
def test_the_wayland_socket_a_process_talks_to(environ: dict[str, str], path: str | None) -> None:
    assert sway.wayland_socket(environ) == path


@pytest.mark.parametrize(
    ("name", "uid", "environ", "locks"),
    [
        ("swaylock", 1000, SESSION, True),
        ("gtklock", 1000, SESSION, True),
        ("waylock", 1000, SESSION, True),
        ("swaylock", 1000, None, True),  # setuid: its environment is unreadable
        ("swaylock", 1001, SESSION, False),  # someone else's
        ("swaylock", 1000, {**SESSION, "WAYLAND_DISPLAY": "wayland-2"}, False),  # another display
        ("swaylock", 1000, {"XDG_RUNTIME_DIR": "/run/user/1000"}, False),  # no display at all
        ("swayidle", 1000, SESSION, False),  # not a locker
    ],
)
def test_which_processes_lock_this_session(
    name: str, uid: int, environ: dict[str, str] | None, locks: bool
) -> None:
    assert sway.locks_this_session(name, uid, environ, 1000, "/run/user/1000/wayland-1") is locks


def test_no_lock_source_without_a_display() -> None:
    with pytest.raises(SourceUnavailable, match="WAYLAND_DISPLAY or XDG_RUNTIME_DIR is not set"):
        sway.SwayLock({"SWAYSOCK": "/run/user/1000/sway-ipc.sock"})


def test_which_windows_inhibit_idle() -> None:
    """The recorded tree's windows inhibit nothing; one that plays a video (its
    ``inhibit_idle`` set true here: constructed) does, on any workspace."""
    tree = recorded_json(SCREEN_TIME)
    assert inhibits_idle(tree) is False
    video = copy.deepcopy(tree)
    window = next(n for n in _nodes(video) if n.get("app_id") == "firefox")
    window["inhibit_idle"] = True
    assert inhibits_idle(video) is True


def _nodes(tree: dict[str, Any]) -> list[dict[str, Any]]:
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.get("nodes", []) + node.get("floating_nodes", []))
    return found


class _Idle:
    """An idle protocol's idle time, as a test sets it."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def idle_seconds(self) -> float:
        return self.seconds

    def locked(self) -> bool:
        return False

    def close(self) -> None:
        pass


class _Tree:
    idle_inhibited = False


def test_idle_is_nothing_while_inhibited_and_counts_from_its_end() -> None:
    """sway 1.7's protocol goes on saying "idle" (growing) through an inhibition, however
    much input comes, and after it until the next input: the time is 0 meanwhile, and at
    most the time since the inhibition was last seen afterwards. Times chosen."""
    idle, tree, now = _Idle(), _Tree(), [100.0]
    source = InhibitedIdle(idle, tree, clock=lambda: now[0])  # type: ignore[arg-type]
    idle.seconds = 30.0
    assert source.idle_seconds() == 30.0  # no inhibition: the protocol's own
    tree.idle_inhibited = True
    idle.seconds, now[0] = 90.0, 160.0
    assert source.idle_seconds() == 0.0
    tree.idle_inhibited = False
    idle.seconds, now[0] = 95.0, 165.0
    assert source.idle_seconds() == 5.0  # since the inhibition was last seen
    idle.seconds, now[0] = 0.0, 170.0  # input: the protocol says "resumed"
    assert source.idle_seconds() == 0.0
    idle.seconds, now[0] = 4.0, 174.0
    assert source.idle_seconds() == 4.0
