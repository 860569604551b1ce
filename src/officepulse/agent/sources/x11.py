"""X11: the focused window (EWMH) and idle time (MIT-SCREEN-SAVER), read with python-xlib.

Run ``python -m officepulse.agent.sources.x11`` to print one reading of this desktop.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import psutil

from officepulse.agent.sources.base import SourceUnavailable, WindowSample

__all__ = ["X11Desktop", "decode_compound_text"]

_SCREEN_SAVER = "MIT-SCREEN-SAVER"
_ANY_TYPE = 0  # Xlib.X.AnyPropertyType
_SAVER_ON, _SAVER_CYCLE = 1, 2  # Xlib.ext.screensaver.StateOn, StateCycle


class X11Desktop:
    """One X display, read as a ``WindowSource`` and an ``IdleSource``.

    The constructor opens a single connection (``display``, else ``$DISPLAY``) and keeps it
    for every poll; it raises ``SourceUnavailable`` when there is no display to open.

    It is also a ``LockSource``: ``locked()`` is True while the X screen saver is on.

    Idle time is a separate capability: a server without the MIT-SCREEN-SAVER extension still
    gives windows. ``idle_available`` says whether it is there (decided once, at connection
    time) and ``idle_unavailable_reason`` says why not; ``idle_seconds()`` raises
    ``SourceUnavailable`` with that reason instead of failing some other way, so a caller can
    either check up front or handle the one exception.

    ``active_window()`` never raises because a window closed while it was being read (it
    re-reads the focus once, then reports ``None``). Both reading methods raise
    ``SourceUnavailable`` once the connection is gone (the X server exited, or ``close()``).
    One thread at a time: python-xlib connections are not shared safely.
    """

    def __init__(self, display: str | None = None) -> None:
        name = display if display is not None else os.environ.get("DISPLAY", "")
        if not name:
            raise SourceUnavailable(
                "no X display: DISPLAY is not set (run inside an X session, or pass the display)"
            )
        try:
            import Xlib.display
            import Xlib.error
        except ImportError as exc:  # pragma: no cover - python-xlib is a Linux dependency
            raise SourceUnavailable(
                f"cannot read X11: python-xlib is not installed ({exc})"
            ) from exc

        self._xerror: Any = Xlib.error
        self._name = name
        self._closed: str | None = None  # why the connection can no longer be used
        try:
            self._d: Any = Xlib.display.Display(name)
        except (
            Xlib.error.DisplayError,
            Xlib.error.ConnectionClosedError,
            Xlib.error.XauthError,
            Xlib.error.XNoAuthError,
            OSError,
            ValueError,
            OverflowError,  # a display number whose TCP port would be past 65535
        ) as exc:
            _close_sockets_left_by(exc)
            raise SourceUnavailable(f"cannot open X display {name!r}: {_reason(exc)}") from exc

        try:
            self._root: Any = self._d.screen().root
            atom = self._d.intern_atom
            self._net_active_window = cast(int, atom("_NET_ACTIVE_WINDOW"))
            self._net_wm_name = cast(int, atom("_NET_WM_NAME"))
            self._net_wm_pid = cast(int, atom("_NET_WM_PID"))
            self._utf8_string = cast(int, atom("UTF8_STRING"))
            self._compound_text = cast(int, atom("COMPOUND_TEXT"))
            self._wm_name = cast(int, atom("WM_NAME"))
            self._wm_class = cast(int, atom("WM_CLASS"))
            self._wm_client_machine = cast(int, atom("WM_CLIENT_MACHINE"))
            has_saver = bool(self._d.has_extension(_SCREEN_SAVER))
        except (Xlib.error.ConnectionClosedError, OSError) as exc:
            raise SourceUnavailable(self._lost(exc)) from exc

        self._host = _short_host(socket.gethostname())
        self.idle_available: bool = has_saver
        self.idle_unavailable_reason: str | None = (
            None
            if has_saver
            else f"X display {name!r} has no {_SCREEN_SAVER} extension, so idle time is unknown"
        )

    @property
    def display_name(self) -> str:
        return self._name

    def active_window(self) -> WindowSample | None:
        """The window ``_NET_ACTIVE_WINDOW`` names, or None (nothing focused, or no EWMH
        window manager). ``app`` is the WM_CLASS class, else the process name, else the
        WM_CLASS instance, else ``""``; ``pid``/``process`` are None when the window does not
        say, or says it belongs to another host (``WM_CLIENT_MACHINE``, e.g. ``ssh -X``)."""
        with self._connection():
            wid = self._active_id()
            for _ in range(2):
                if wid is None:
                    return None
                try:
                    return self._read_window(wid)
                except (self._xerror.BadWindow, self._xerror.BadDrawable):
                    # Closed between reading its id and its properties: look once more.
                    again = self._active_id()
                    if again == wid:
                        return None
                    wid = again
            return None

    def idle_seconds(self) -> float:
        """Seconds since the last keyboard or mouse input on this display."""
        if self.idle_unavailable_reason is not None:
            raise SourceUnavailable(self.idle_unavailable_reason)
        with self._connection():
            info = self._root.screensaver_query_info()
            return int(info.idle) / 1000

    def locked(self) -> bool:
        """True while the X screen saver is on (MIT-SCREEN-SAVER state On or Cycle): the screen
        is blanked or a saver runs, which screen lockers built on it (xscreensaver,
        light-locker) also show. GNOME's and KDE's lock screens are told by their D-Bus
        services instead (``select`` combines them). Raises like ``idle_seconds``."""
        if self.idle_unavailable_reason is not None:
            raise SourceUnavailable(self.idle_unavailable_reason)
        with self._connection():
            info = self._root.screensaver_query_info()
            return int(info.state) in (_SAVER_ON, _SAVER_CYCLE)

    def close(self) -> None:
        """Close the connection. Safe to call twice, and after the server has gone."""
        if self._closed is None:
            self._closed = f"the connection to X display {self._name!r} was closed by close()"
            try:
                self._d.close()
            except (self._xerror.ConnectionClosedError, OSError):
                self._close_socket()

    def __enter__(self) -> X11Desktop:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[None]:
        """Turn a dead connection into ``SourceUnavailable``; X protocol errors pass through."""
        if self._closed is not None:
            raise SourceUnavailable(self._closed)
        try:
            yield
        except (self._xerror.ConnectionClosedError, OSError) as exc:
            raise SourceUnavailable(self._lost(exc)) from exc

    def _lost(self, exc: BaseException) -> str:
        self._closed = (
            f"lost the connection to X display {self._name!r}"
            f" (the X server exited or closed it): {exc}"
        )
        self._close_socket()
        return self._closed

    def _active_id(self) -> int | None:
        prop = self._root.get_full_property(self._net_active_window, _ANY_TYPE)
        if prop is None or prop.format != 32 or len(prop.value) == 0:
            return None
        wid = int(prop.value[0])
        return wid or None

    def _read_window(self, wid: int) -> WindowSample:
        win = self._d.create_resource_object("window", wid)
        instance, wm_class = _split_wm_class(self._text(win, self._wm_class))
        title = self._text(win, self._net_wm_name) or self._text(win, self._wm_name) or ""
        pid = self._pid(win)
        process = _process_name(pid) if pid is not None else None
        app = wm_class or process or instance
        return WindowSample(app=app, title=title, process=process, pid=pid)

    def _pid(self, win: Any) -> int | None:
        prop = win.get_full_property(self._net_wm_pid, _ANY_TYPE)
        if prop is None or prop.format != 32 or len(prop.value) == 0:
            return None
        pid = int(prop.value[0])
        if pid <= 0:
            return None
        machine = self._text(win, self._wm_client_machine)
        if machine and _short_host(machine) not in (self._host, "localhost"):
            return None  # a pid on another host names some unrelated local process
        return pid

    def _text(self, win: Any, atom: int) -> str | None:
        # AnyPropertyType: xdotool and others store _NET_WM_NAME as STRING, and asking for
        # UTF8_STRING then gives nothing at all; xterm -T sets only WM_NAME, as COMPOUND_TEXT.
        prop = win.get_full_property(atom, _ANY_TYPE)
        if prop is None or prop.format != 8:
            return None
        value = prop.value
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        kind = int(prop.property_type)
        if kind == self._utf8_string:
            text = raw.decode("utf-8", "replace")
        elif kind == self._compound_text:
            text = decode_compound_text(raw)
        else:
            # STRING is Latin-1 by the book, but UTF-8 in practice (xdotool, scripts).
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
        return text.rstrip("\0")

    def _close_socket(self) -> None:
        # python-xlib has usually closed it already; close() would raise trying to flush.
        sock = getattr(getattr(self._d, "display", None), "socket", None)
        if isinstance(sock, socket.socket):
            sock.close()


# COMPOUND_TEXT (X11 "ctext", ISO 2022 as Xlib writes it): GL starts as ASCII, GR as the
# Latin-1 upper half; escape sequences switch either half to another charset, and characters
# in no charset go into UTF-8 segments (ESC % G ... ESC % @).
_GR_96 = {  # ESC - F: a 96-character set into GR
    "A": "iso8859_1", "B": "iso8859_2", "C": "iso8859_3", "D": "iso8859_4",
    "F": "iso8859_7", "G": "iso8859_6", "H": "iso8859_8", "L": "iso8859_5",
    "M": "iso8859_9", "T": "iso8859_11", "V": "iso8859_10", "Y": "iso8859_13",
    "_": "iso8859_14", "b": "iso8859_15", "f": "iso8859_16",
}  # fmt: skip
_WIDE_94 = {"A": "gb2312", "B": "euc_jp", "C": "euc_kr"}  # ESC $ ( F / ESC $ ) F, via EUC
_ESC, _CSI = 0x1B, 0x9B


@dataclass(frozen=True, slots=True)
class _Charset:
    codec: str | None  # None: a charset this decoder does not know (gives U+FFFD)
    high: bool = False  # set the top bit before decoding (a 94x94 set used in GL)


def decode_compound_text(raw: bytes) -> str:
    """Decode a COMPOUND_TEXT property value: the ISO 8859 sets, JIS X 0208, GB 2312,
    KS C 5601, UTF-8 and extended segments; anything else becomes U+FFFD."""
    gl, gr = _Charset("ascii"), _Charset("iso8859_1")
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if b == _ESC:
            j = i + 1
            while j < n and 0x20 <= raw[j] <= 0x2F:  # intermediate bytes
                j += 1
            if j >= n:
                break
            mid, final, i = raw[i + 1 : j], chr(raw[j]), j + 1
            if mid == b"%" and final == "G":  # UTF-8 until ESC % @
                end = raw.find(b"\x1b%@", i)
                end = n if end < 0 else end
                out.append(raw[i:end].decode("utf-8", "replace"))
                i = end + 3
            elif mid == b"%/" and i + 2 <= n:  # extended segment: length, name STX, text
                size = ((raw[i] & 0x7F) << 7) | (raw[i + 1] & 0x7F)
                body, i = raw[i + 2 : i + 2 + size], i + 2 + size
                enc, _, text = body.partition(b"\x02")
                out.append(_decode_named(enc.decode("latin-1"), text))
            elif mid == b"(":
                gl = _Charset("ascii" if final in "BJ" else None)
            elif mid == b"-":
                gr = _Charset(_GR_96.get(final))
            elif mid in (b"$(", b"$"):
                gl = _Charset(_WIDE_94.get(final), high=True)
            elif mid == b"$)":
                gr = _Charset(_WIDE_94.get(final))
            elif mid == b")":
                gr = _Charset(None)
            continue
        if b == _CSI:  # direction marks: CSI [params] ]
            i += 1
            while i < n and 0x20 <= raw[i] <= 0x3F:
                i += 1
            i += 1
            continue
        if b in (0x09, 0x0A, 0x20):  # the only controls ctext allows; space is in GL
            out.append(chr(b))
            i += 1
            continue
        if 0x21 <= b <= 0x7E or b >= 0xA0:
            right = b >= 0xA0
            j = i
            while j < n and (raw[j] >= 0xA0 if right else 0x21 <= raw[j] <= 0x7E):
                j += 1
            out.append(_decode_run(gr if right else gl, raw[i:j]))
            i = j
            continue
        i += 1  # other C0/C1 controls are not text
    return "".join(out)


def _decode_run(charset: _Charset, run: bytes) -> str:
    if charset.codec is None:
        return "\ufffd" * len(run)
    if charset.high:
        run = bytes(c | 0x80 for c in run)
    return run.decode(charset.codec, "replace")


def _decode_named(encoding: str, text: bytes) -> str:
    for name in (encoding, encoding.rsplit("-", 1)[0]):  # "big5-0" -> "big5"
        try:
            return text.decode(name, "replace")
        except LookupError:
            continue
    return "\ufffd" * len(text)


def _split_wm_class(text: str | None) -> tuple[str, str]:
    """WM_CLASS is ``instance NUL class NUL``; either part may be missing."""
    if not text:
        return "", ""
    parts = text.split("\0")
    return parts[0], (parts[1] if len(parts) > 1 else "")


def _process_name(pid: int) -> str | None:
    try:
        return psutil.Process(pid).name()
    except psutil.Error:  # NoSuchProcess (and zombies), AccessDenied
        return None


def _short_host(name: str) -> str:
    return name.split(".", 1)[0].lower()


def _reason(exc: BaseException) -> str:
    # DisplayConnectionError prints as 'Can't connect to display ":5": <why>'; keep the why.
    msg = getattr(exc, "msg", None)
    if isinstance(msg, bytes):  # the server's refusal, e.g. b"Authorization required, ..."
        msg = msg.decode("latin-1")
    if isinstance(msg, str) and msg.strip():
        return msg.strip()
    if type(exc).__name__ == "DisplayNameError":
        return "not a valid display name (expected something like ':0' or 'host:0.0')"
    return str(exc) or type(exc).__name__


def _close_sockets_left_by(exc: BaseException) -> None:
    """python-xlib 0.33 does not close its socket when connecting or the handshake fails.
    Close it now, found in the failed frames, rather than leave it to the garbage collector
    (an unclosed-socket ResourceWarning, and a descriptor held for as long as the traceback)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        err = pending.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        tb = err.__traceback__
        while tb is not None:
            for value in tb.tb_frame.f_locals.values():
                attrs = getattr(value, "__dict__", None)
                inner = attrs.get("socket") if isinstance(attrs, dict) else None
                for candidate in (value, inner):
                    if isinstance(candidate, socket.socket):
                        candidate.close()
            tb = tb.tb_next
        pending.extend(e for e in (err.__cause__, err.__context__) if e is not None)


def _main() -> int:
    try:
        desktop = X11Desktop()
    except SourceUnavailable as exc:
        print(f"X11 unavailable: {exc}")
        return 1
    with desktop:
        print(f"display:       {desktop.display_name}")
        print(f"active window: {desktop.active_window()}")
        if desktop.idle_available:
            print(f"idle seconds:  {desktop.idle_seconds():.3f}")
            print(f"screen saver:  {'on' if desktop.locked() else 'off'}")
        else:
            print(f"idle seconds:  unavailable ({desktop.idle_unavailable_reason})")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
