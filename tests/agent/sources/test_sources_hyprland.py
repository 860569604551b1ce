"""HyprlandWindow against a fake Hyprland: its request socket at
``$XDG_RUNTIME_DIR/hypr/<signature>/.socket.sock``, a real Unix socket that reads the request
and answers with ``hyprctl activewindow -j`` output recorded from a real Hyprland
(tests/data/recorded/sources/hyprland, see its README), then closes as Hyprland does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from officepulse.agent.sources.base import SourceUnavailable
from officepulse.agent.sources.hyprland import HyprlandWindow, socket_path
from tests.support.source_fakes import FakeHyprland, recorded, short_dir

pytestmark = pytest.mark.timeout(30)

# The shape of a real signature (commit hash, start time, a random number).
SIGNATURE = "4520b30d498daca8079365bdb909a8dea38e8d55_1712345678_1234567890"


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A short private directory standing in for $XDG_RUNTIME_DIR (socket paths are short)."""
    with short_dir() as path:
        yield path


def _environ(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "hypr" / SIGNATURE).mkdir(parents=True)
    return {"XDG_RUNTIME_DIR": str(tmp_path), "HYPRLAND_INSTANCE_SIGNATURE": SIGNATURE}


def _socket(tmp_path: Path) -> Path:
    return tmp_path / "hypr" / SIGNATURE / ".socket.sock"


def test_active_window_as_hyprctl_asks(tmp_path: Path) -> None:
    """Recorded: a floating Alacritty whose class was set to X1F, pid 111214."""
    environ = _environ(tmp_path)
    with FakeHyprland(_socket(tmp_path), recorded("hyprland/activewindow-j.json")) as server:
        source = HyprlandWindow(environ)
        sample = source.active_window()
        source.close()
    assert sample is not None
    assert (sample.app, sample.title, sample.pid) == ("X1F", "vladimir@theor:~", 111214)
    # The constructor checks once, each poll asks again: one connection per request.
    assert server.requests == [b"j/activewindow", b"j/activewindow"]


def test_no_active_window(tmp_path: Path) -> None:
    """Recorded: ``{}``, Hyprland's answer when no window is active (its PR #483)."""
    environ = _environ(tmp_path)
    with FakeHyprland(_socket(tmp_path), recorded("hyprland/activewindow-j-none.json")):
        source = HyprlandWindow(environ)
        assert source.active_window() is None
        source.close()


def test_not_a_hyprland_session() -> None:
    with pytest.raises(SourceUnavailable, match="HYPRLAND_INSTANCE_SIGNATURE is not set"):
        socket_path({"XDG_RUNTIME_DIR": "/run/user/1000"})


def test_no_socket_says_where_it_looked(tmp_path: Path) -> None:
    environ = {"XDG_RUNTIME_DIR": str(tmp_path), "HYPRLAND_INSTANCE_SIGNATURE": SIGNATURE}
    with pytest.raises(SourceUnavailable, match=r"socket is not there \(looked at .*/tmp/hypr/"):
        HyprlandWindow(environ)


def test_a_signature_that_is_a_path_is_refused(tmp_path: Path) -> None:
    environ = {"XDG_RUNTIME_DIR": str(tmp_path), "HYPRLAND_INSTANCE_SIGNATURE": "../x"}
    with pytest.raises(SourceUnavailable, match="not a name"):
        HyprlandWindow(environ)


def test_an_error_reply_is_reported(tmp_path: Path) -> None:
    """Hyprland answers an unknown request with plain text (e.g. ``unknown request``)."""
    environ = _environ(tmp_path)
    with (
        FakeHyprland(_socket(tmp_path), b"unknown request"),
        pytest.raises(SourceUnavailable, match="did not answer with JSON: 'unknown request'"),
    ):
        HyprlandWindow(environ)


def test_hyprland_gone_between_polls(tmp_path: Path) -> None:
    environ = _environ(tmp_path)
    server = FakeHyprland(_socket(tmp_path), recorded("hyprland/activewindow-j.json"))
    source = HyprlandWindow(environ)
    server.close()
    with pytest.raises(SourceUnavailable, match="cannot read Hyprland's socket"):
        source.active_window()
