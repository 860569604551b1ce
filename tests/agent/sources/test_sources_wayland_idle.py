"""WaylandIdle (ext-idle-notify-v1 spoken in pure Python) against a fake compositor: a real
Unix socket speaking the Wayland wire format, advertising the globals a real sway advertised
(recorded WAYLAND_DEBUG trace, tests/data/recorded/sources/wayland; the wl_seat global is
not in that excerpt and is added, see the README), and sending idled / resumed when told."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from officepulse.agent.sources.base import SourceUnavailable
from officepulse.agent.sources.wayland_idle import WaylandIdle, pack_string, socket_path
from tests.support.source_fakes import (
    FakeCompositor,
    parse_globals,
    recorded,
    short_dir,
    wl_message,
    wl_string,
)

pytestmark = pytest.mark.timeout(30)

SWAY_GLOBALS = parse_globals(recorded("wayland/sway-globals-wayland-debug.txt").decode())
SEAT = (10, "wl_seat", 9)  # constructed: sway advertises wl_seat, the excerpt stops before it


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runtime() -> Iterator[Path]:
    with short_dir() as path:
        yield path


def _wait_for(pred: object, timeout: float = 15.0) -> None:  # < the 30 s timeout
    assert callable(pred)
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_the_recorded_globals_are_sways() -> None:
    assert (8, "ext_idle_notifier_v1", 1) in SWAY_GLOBALS
    assert len(SWAY_GLOBALS) == 9


def test_idle_time_follows_idled_and_resumed(runtime: Path) -> None:
    clock = Clock()
    with FakeCompositor(runtime / "wayland-1", [*SWAY_GLOBALS, SEAT]) as compositor:
        idle = WaylandIdle(
            {"XDG_RUNTIME_DIR": str(runtime), "WAYLAND_DISPLAY": "wayland-1"}, clock=clock
        )
        try:
            # The handshake, as libwayland clients do it: registry, sync, binds, the request.
            requests = compositor.requests
            assert requests[0] == (1, 1, struct.pack("=I", 2))  # get_registry(new id 2)
            assert requests[1] == (1, 0, struct.pack("=I", 3))  # sync(new id 3)
            notifier = compositor.object_of("ext_idle_notifier_v1")
            seat = compositor.object_of("wl_seat")
            assert compositor.bound[notifier] == ("ext_idle_notifier_v1", 1)
            assert compositor.bound[seat] == ("wl_seat", 1)
            # sway's notifier is version 1: get_idle_notification (opcode 1), 1 s, the seat.
            assert compositor.notification_request is not None
            opcode, _, timeout_ms, seat_arg = compositor.notification_request
            assert (opcode, timeout_ms, seat_arg) == (1, 1000, seat)
            assert idle.respects_inhibitors

            assert idle.idle_seconds() == 0.0
            compositor.idled()
            _wait_for(lambda: idle.idle_seconds() > 0)
            assert idle.idle_seconds() == 1.0  # the timeout: input stopped 1 s before idled
            clock.now += 125.5
            assert idle.idle_seconds() == pytest.approx(126.5)
            compositor.resumed()
            _wait_for(lambda: idle.idle_seconds() == 0.0)
        finally:
            idle.close()


def test_version_2_asks_for_input_only_notifications(runtime: Path) -> None:
    """KWin 6.6 advertises ext_idle_notifier_v1 version 2 (see the README): then the
    notification ignores idle inhibitors, so a playing video does not hide that the person
    left (get_input_idle_notification, opcode 2)."""
    globals_ = [(1, "wl_seat", 9), (2, "ext_idle_notifier_v1", 2)]
    with FakeCompositor(runtime / "wayland-0", globals_) as compositor:
        idle = WaylandIdle({"XDG_RUNTIME_DIR": str(runtime)})
        idle.close()
    assert compositor.bound[compositor.object_of("ext_idle_notifier_v1")][1] == 2
    assert compositor.notification_request is not None
    assert compositor.notification_request[0] == 2
    assert not idle.respects_inhibitors


def test_a_compositor_without_ext_idle_notify(runtime: Path) -> None:
    """Constructed: a registry without ext_idle_notifier_v1 (as GNOME's Mutter)."""
    globals_ = [(g, name, v) for g, name, v in SWAY_GLOBALS if name != "ext_idle_notifier_v1"]
    with (
        FakeCompositor(runtime / "wayland-0", [*globals_, SEAT]),
        pytest.raises(SourceUnavailable, match="does not offer ext-idle-notify-v1"),
    ):
        WaylandIdle({"XDG_RUNTIME_DIR": str(runtime)})


def test_a_protocol_error_is_reported(runtime: Path) -> None:
    def refuse(conn: object, obj: int, opcode: int, payload: bytes) -> bool:
        if opcode in (1, 2) and obj > 3 and len(payload) == 12:
            error = struct.pack("=II", obj, 1) + wl_string("invalid seat")
            compositor.send(wl_message(1, 0, error))
            return True
        return False

    with FakeCompositor(runtime / "wayland-0", [*SWAY_GLOBALS, SEAT]) as compositor:
        compositor.on_request = refuse
        with pytest.raises(SourceUnavailable, match=r"protocol error 1 on object .*invalid seat"):
            WaylandIdle({"XDG_RUNTIME_DIR": str(runtime)})


def test_the_compositor_going_away(runtime: Path) -> None:
    with FakeCompositor(runtime / "wayland-0", [*SWAY_GLOBALS, SEAT]) as compositor:
        idle = WaylandIdle({"XDG_RUNTIME_DIR": str(runtime)})
        try:
            compositor.drop_clients()
            _wait_for(lambda: _raises(idle))
            with pytest.raises(SourceUnavailable, match="was closed"):
                idle.idle_seconds()
        finally:
            idle.close()


def _raises(idle: WaylandIdle) -> bool:
    try:
        idle.idle_seconds()
    except SourceUnavailable as exc:
        assert "lost the Wayland compositor" in str(exc)
        return True
    return False


def test_no_compositor(runtime: Path) -> None:
    with pytest.raises(SourceUnavailable, match="cannot talk to the Wayland compositor"):
        WaylandIdle({"XDG_RUNTIME_DIR": str(runtime), "WAYLAND_DISPLAY": "wayland-9"})


def test_socket_path() -> None:
    assert socket_path({"WAYLAND_DISPLAY": "/abs/wl"}) == "/abs/wl"
    assert socket_path({"XDG_RUNTIME_DIR": "/run/user/7"}) == "/run/user/7/wayland-0"
    with pytest.raises(SourceUnavailable, match="XDG_RUNTIME_DIR is not set"):
        socket_path({"WAYLAND_DISPLAY": "wayland-0"})


def test_strings_are_padded_to_words() -> None:
    assert pack_string("wl_seat") == struct.pack("=I", 8) + b"wl_seat\0"
    assert pack_string("ext_idle_notifier_v1") == (
        struct.pack("=I", 21) + b"ext_idle_notifier_v1\0" + b"\0\0\0"
    )
