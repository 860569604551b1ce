"""Hyprland: the active window from its request socket, as ``hyprctl activewindow -j`` asks.

``hyprctl`` writes ``j/activewindow`` (flags, a slash, the command) to
``$XDG_RUNTIME_DIR/hypr/$HYPRLAND_INSTANCE_SIGNATURE/.socket.sock`` (``/tmp/hypr/...`` before
Hyprland 0.40) and reads the JSON reply until Hyprland closes the connection. This module
does the same, one short connection per poll, with no process started.

The reply is an object with ``class``, ``title``, ``pid``, ``xwayland`` and more, or ``{}``
when no window is active (since Hyprland PR #483).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from typing import Any

from officepulse.agent.sources._common import as_pid, local_sample, socket_trouble
from officepulse.agent.sources.base import SourceUnavailable, WindowSample

REQUEST = b"j/activewindow"
TIMEOUT = 2.0
MAX_REPLY = 16 * 1024 * 1024


def socket_path(environ: Mapping[str, str]) -> str:
    """Where this Hyprland instance listens: the first of the two known places that exists."""
    signature = environ.get("HYPRLAND_INSTANCE_SIGNATURE", "")
    if not signature:
        raise SourceUnavailable("not a Hyprland session: HYPRLAND_INSTANCE_SIGNATURE is not set")
    if "/" in signature or signature in (".", ".."):
        raise SourceUnavailable(f"HYPRLAND_INSTANCE_SIGNATURE is not a name: {signature!r}")
    candidates = []
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime:
        candidates.append(os.path.join(runtime, "hypr", signature, ".socket.sock"))
    candidates.append(os.path.join("/tmp", "hypr", signature, ".socket.sock"))  # before 0.40
    for path in candidates:
        if os.path.exists(path):
            return path
    raise SourceUnavailable(f"Hyprland's socket is not there (looked at {', '.join(candidates)})")


def sample_from_reply(data: Mapping[str, Any]) -> WindowSample | None:
    if not data:
        return None
    app = _text(data.get("class")) or _text(data.get("initialClass"))
    return local_sample(app, _text(data.get("title")), as_pid(data.get("pid")))


class HyprlandWindow:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._path = socket_path(environ)
        self.active_window()  # the socket answers, and in the expected format

    def active_window(self) -> WindowSample | None:
        reply = self._request(REQUEST)
        try:
            data = json.loads(reply)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            text = reply[:200].decode("utf-8", "replace")
            raise SourceUnavailable(f"Hyprland did not answer with JSON: {text!r}") from exc
        if not isinstance(data, dict):
            raise SourceUnavailable("Hyprland answered activewindow with something not an object")
        return sample_from_reply(data)

    def close(self) -> None:
        """Nothing is kept open between polls."""

    def _request(self, request: bytes) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT)
            try:
                sock.connect(self._path)
                sock.sendall(request)
                chunks = bytearray()
                while chunk := sock.recv(65536):
                    chunks += chunk
                    if len(chunks) > MAX_REPLY:
                        raise ConnectionError("the reply is too long")
            except OSError as exc:
                raise SourceUnavailable(
                    f"cannot read Hyprland's socket {self._path}: {socket_trouble(exc)}"
                ) from exc
        return bytes(chunks)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
