"""A real X server for tests: Xvfb on a free display, optionally openbox, xterm windows,
focus and input driven with xdotool. Every process is stopped by its own pid at teardown.

Fixtures: ``xserver`` (Xvfb + openbox), ``bare_xserver`` (Xvfb alone, so no
_NET_ACTIVE_WINDOW) and ``xserver_factory`` (more servers, other Xvfb arguments). Use them
as a pytest plugin from a test module::

    from typing import TYPE_CHECKING
    if TYPE_CHECKING:
        from tests.support.xserver import XServer

    pytest_plugins = ["tests.support.xserver"]

    def test_focus(xserver: XServer) -> None:
        a = xserver.xterm("TermA", "Alpha")
        xserver.activate(a)

Import it only for type checking there: a module named in ``pytest_plugins`` that the test
module has already imported cannot be assert-rewritten, pytest warns, and warnings are errors
here. (``pytest_plugins = ["tests.support.xserver"]`` in ``tests/conftest.py`` would lift that
rule.)
Outside pytest, ``start_xserver(wm=..., xvfb_args=[...])`` is a context manager.

On Linux a missing tool fails the test with the apt-get line to run; elsewhere it skips.
Recipes and the reasons behind the retry loops: /work/shared/TEST_RECIPES.md, sections 1-2.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
import Xlib.error
from Xlib import X
from Xlib import display as xdisplay
from Xlib.protocol import event as xevent

T = TypeVar("T")

TOOLS = ("Xvfb", "openbox", "xterm", "xdotool", "xauth")
# Generous: a loaded machine can take many seconds to start a process or draw a window.
START_TIMEOUT = 30.0


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def wait_for(
    pred: Callable[[], T | None], timeout: float = START_TIMEOUT, what: str = "condition"
) -> T:
    """Poll ``pred`` until it returns something truthy; TimeoutError names ``what``."""
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= end:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def wait_or_none(pred: Callable[[], T | None], timeout: float) -> T | None:
    """``wait_for`` that gives None instead of raising."""
    try:
        return wait_for(pred, timeout)
    except TimeoutError:
        return None


@dataclass(frozen=True)
class Window:
    """An xterm started by ``XServer.xterm``."""

    wid: int
    cls: str
    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid


class XServer:
    """A running Xvfb (and maybe openbox) with helpers. Build it with ``start_xserver``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.display = ""
        self.xvfb: subprocess.Popen[bytes] | None = None
        self.wm: subprocess.Popen[bytes] | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._conn: Any = None  # the helpers' own Xlib connection, not the one under test
        self._logs: list[Path] = []

    # -- environment -------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """Environment for X clients: this display, and HOME/TMPDIR inside the temp dir
        (xterm leaves /tmp/xtermXX* behind when killed early; no rc files change titles)."""
        env = {**os.environ, "DISPLAY": self.display, "TMPDIR": str(self.tmp)}
        env.update(HOME=str(self.tmp / "home"), LANG="C.UTF-8", LC_ALL="C.UTF-8")
        return env

    @property
    def number(self) -> int:
        return int(self.display.lstrip(":"))

    # -- processes ----------------------------------------------------------------

    def spawn(self, *cmd: str, name: str | None = None) -> subprocess.Popen[bytes]:
        """Start an X client on this display; it is stopped at teardown. Its output goes to
        ``<tmp>/<name>.log`` (shown by ``logs()`` when something fails)."""
        log = self.tmp / f"{name or Path(cmd[0]).name}-{len(self._procs)}.log"
        self._logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=self.env
            )
        self._procs.append(proc)
        return proc

    def logs(self) -> str:
        parts = []
        for log in self._logs:
            with contextlib.suppress(OSError):
                parts.append(f"--- {log.name}\n{log.read_text(errors='replace')}")
        return "\n".join(parts)

    def _start_xvfb(self, args: Sequence[str]) -> None:
        log = self.tmp / "xvfb.log"
        self._logs.append(log)
        r, w = os.pipe()
        try:
            with log.open("wb") as out:
                self.xvfb = subprocess.Popen(
                    [
                        "Xvfb",
                        "-displayfd",
                        str(w),
                        "-screen",
                        "0",
                        "1280x800x24",
                        "-nolisten",
                        "tcp",
                        *args,
                    ],
                    pass_fds=[w],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            os.close(w)
            w = -1
            # Xvfb writes the number and the newline separately, and dies if the pipe is
            # closed in between: read up to the newline.
            buf = b""
            end = time.monotonic() + START_TIMEOUT
            while not buf.endswith(b"\n"):
                left = end - time.monotonic()
                if left <= 0 or not select.select([r], [], [], left)[0]:
                    raise RuntimeError(f"Xvfb did not report a display\n{self.logs()}")
                chunk = os.read(r, 16)
                if not chunk:
                    raise RuntimeError(f"Xvfb exited before it was ready\n{self.logs()}")
                buf += chunk
        finally:
            os.close(r)
            if w != -1:
                os.close(w)
        self.display = ":" + buf.decode().strip()
        self._conn = xdisplay.Display(self.display)

    def start_wm(self) -> None:
        """Start openbox and wait until it answers requests, not merely until it has
        announced itself: openbox sets _NET_SUPPORTING_WM_CHECK early, and an xterm started
        while it is still loading its config waits 5 s for it (Xt's wmTimeout)."""
        self.wm = self.spawn("openbox", name="openbox")
        conn = self._conn
        root = conn.screen().root
        check = conn.intern_atom("_NET_SUPPORTING_WM_CHECK")
        wait_for(
            lambda: root.get_full_property(check, X.AnyPropertyType),
            START_TIMEOUT,
            "openbox (_NET_SUPPORTING_WM_CHECK)",
        )
        # Ask for the frame size of an unmapped window; the WM answers from its event loop.
        probe = root.create_window(0, 0, 10, 10, 0, X.CopyFromParent)
        request = conn.intern_atom("_NET_REQUEST_FRAME_EXTENTS")
        extents = conn.intern_atom("_NET_FRAME_EXTENTS")

        def answered() -> bool:
            msg = xevent.ClientMessage(window=probe, client_type=request, data=(32, [0] * 5))
            mask = X.SubstructureRedirectMask | X.SubstructureNotifyMask
            root.send_event(msg, event_mask=mask)
            return (
                wait_or_none(lambda: probe.get_full_property(extents, X.AnyPropertyType), 0.25)
                is not None
            )

        try:
            wait_for(answered, START_TIMEOUT, "openbox to answer _NET_REQUEST_FRAME_EXTENTS")
        finally:
            probe.destroy()
            conn.sync()

    def kill_server(self) -> None:
        """SIGKILL Xvfb, the way a crash would; its lock file and socket are removed later."""
        assert self.xvfb is not None
        self.xvfb.send_signal(signal.SIGKILL)
        self.xvfb.wait(START_TIMEOUT)

    def stop(self) -> None:
        """Stop every process (clients first, Xvfb last) and remove the temp dir."""
        if self._conn is not None:
            with contextlib.suppress(Xlib.error.ConnectionClosedError, OSError):  # server gone
                self._conn.close()
            sock = getattr(self._conn.display, "socket", None)
            if sock is not None:
                sock.close()
            self._conn = None
        for proc in reversed(self._procs):
            _stop(proc)
        if self.xvfb is not None:
            _stop(self.xvfb)
            if self.display and self.xvfb.returncode == -signal.SIGKILL:
                self._remove_stale_lock(self.xvfb.pid)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _remove_stale_lock(self, pid: int) -> None:
        # A killed Xvfb cannot remove its lock file and socket; they are ours only if the
        # lock still holds our pid.
        lock = Path(f"/tmp/.X{self.number}-lock")
        try:
            owner = int(lock.read_text().strip())
        except (OSError, ValueError):
            return
        if owner == pid:
            lock.unlink(missing_ok=True)
            Path(f"/tmp/.X11-unix/X{self.number}").unlink(missing_ok=True)

    # -- X helpers ----------------------------------------------------------------------

    @staticmethod
    def wait_for(
        pred: Callable[[], T | None], timeout: float = START_TIMEOUT, what: str = "condition"
    ) -> T:
        """``wait_for`` from this module, reachable without importing it (see the docstring)."""
        return wait_for(pred, timeout, what)

    def xdotool(self, *args: str, timeout: float = START_TIMEOUT) -> str:
        done = subprocess.run(
            ["xdotool", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"xdotool {' '.join(args)} failed: {done.stderr.decode()!r}")
        return done.stdout.decode()

    def xterm(self, cls: str, title: str, command: Sequence[str] = ("sleep", "infinity")) -> Window:
        """Start ``xterm -class cls -T title -e command`` and wait for its window. The
        default command is no shell, so nothing rewrites the title behind the test's back."""
        proc = self.spawn("xterm", "-class", cls, "-T", title, "-e", *command, name=cls)
        wid = self.find_window(cls)
        # Found is not yet shown: a window the WM maps later takes the focus, so wait until
        # it is on screen (and managed, if there is a WM).
        wait_for(lambda: self._is_ready(wid), START_TIMEOUT, f"{cls} on screen")
        return Window(wid=wid, cls=cls, proc=proc)

    def find_window(self, cls: str, timeout: float = START_TIMEOUT) -> int:
        """The id of the window whose WM_CLASS class is ``cls``, once it exists. (Like
        ``xdotool search --sync --class``, which polls only every 0.5 s.)"""
        return wait_for(lambda: self._find_class(cls), timeout, f"a window of class {cls}")

    def _find_class(self, cls: str) -> int | None:
        xerror: Any = Xlib.error
        pending = [self._conn.screen().root]
        while pending:
            xwin = pending.pop()
            try:
                wm_class = xwin.get_wm_class()
                children = xwin.query_tree().children
            except (xerror.BadWindow, xerror.BadDrawable):
                continue  # gone while we looked
            if wm_class is not None and wm_class[1] == cls:
                return int(xwin.id)
            pending.extend(children)
        return None

    def _is_ready(self, wid: int) -> bool:
        xwin = self._conn.create_resource_object("window", wid)
        if xwin.get_attributes().map_state != X.IsViewable:
            return False
        return self.wm is None or self.property_type(wid, "WM_STATE") is not None

    def property_type(self, wid: int, name: str) -> str | None:
        """The type (an atom name such as ``"STRING"``) of a window property, or None."""
        xwin = self._conn.create_resource_object("window", wid)
        prop = xwin.get_full_property(self._conn.intern_atom(name), X.AnyPropertyType)
        if prop is None:
            return None
        return str(self._conn.get_atom_name(prop.property_type))

    def active_id(self) -> int | None:
        """``_NET_ACTIVE_WINDOW`` as read on the helpers' own connection."""
        root = self._conn.screen().root
        prop = root.get_full_property(
            self._conn.intern_atom("_NET_ACTIVE_WINDOW"), X.AnyPropertyType
        )
        if prop is None or len(prop.value) == 0:
            return None
        return int(prop.value[0]) or None

    def activate(self, win: Window, timeout: float = START_TIMEOUT) -> None:
        """Focus ``win``, re-sending the request until the window manager has done it (it
        ignores windows it does not manage yet, and newly mapped windows steal focus)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with contextlib.suppress(RuntimeError):
                self.xdotool("windowactivate", str(win.wid))
            with contextlib.suppress(TimeoutError):
                wait_for(lambda: self.active_id() == win.wid, 0.5, f"focus on {win.cls}")
                return
        raise TimeoutError(f"could not focus {win.cls} (0x{win.wid:x}) within {timeout} s")

    def set_title(self, win: Window, title: str) -> None:
        """Rename with ``xdotool set_window --name`` (writes WM_NAME and _NET_WM_NAME typed
        STRING, not UTF8_STRING)."""
        self.xdotool("set_window", "--name", title, str(win.wid))

    def mousemove(self, x: int, y: int) -> None:
        """Move the pointer through XTEST: real input, so the idle time drops to ~0.

        ``--sync`` waits until the pointer has left where it was: asked to move where it
        already is, xdotool waited 15 s for that (seen after a tray menu closed). So a
        pointer already there goes a pixel aside first, which is real input too."""
        here = self.xdotool("getmouselocation", "--shell")
        at = dict(line.split("=", 1) for line in here.split() if "=" in line)
        if (at.get("X"), at.get("Y")) == (str(x), str(y)):
            self.xdotool("mousemove", "--sync", str(x + 1 if x == 0 else x - 1), str(y))
        self.xdotool("mousemove", "--sync", str(x), str(y))

    def set_root_property(self, name: str, type_name: str, fmt: int, value: Any) -> None:
        """Write a property on the root window (e.g. a fake _NET_ACTIVE_WINDOW)."""
        root = self._conn.screen().root
        atom = self._conn.intern_atom(name)
        root.change_property(atom, self._conn.intern_atom(type_name), fmt, value)
        self._conn.sync()

    def create_window(self, props: dict[str, tuple[str, int, Any]] | None = None) -> int:
        """A bare, unmapped window owned by the helpers' connection, with the given
        properties ``{name: (type, format, value)}``. Returns its id."""
        root = self._conn.screen().root
        win = root.create_window(0, 0, 10, 10, 0, X.CopyFromParent)
        for name, (type_name, fmt, value) in (props or {}).items():
            win.change_property(
                self._conn.intern_atom(name), self._conn.intern_atom(type_name), fmt, value
            )
        self._conn.sync()
        return int(win.id)

    def destroy_window(self, wid: int) -> None:
        self._conn.create_resource_object("window", wid).destroy()
        self._conn.sync()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop ``proc`` and what it started. xterm's child normally dies of SIGHUP with the
    terminal, but not when xterm is stopped before the child has taken the terminal."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    # Not our children: they are reaped by init, so done means exited, zombie or not.
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: not any(map(_running, children)), 3, "children to exit")
    for child in filter(_running, children):
        with contextlib.suppress(psutil.Error):
            child.kill()


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@contextlib.contextmanager
def start_xserver(*, wm: bool = True, xvfb_args: Sequence[str] = ()) -> Iterator[XServer]:
    """Xvfb on a free display (``-displayfd``), plus openbox when ``wm``; all stopped after."""
    server = XServer(Path(tempfile.mkdtemp(prefix="officepulse-x11-")))
    (server.tmp / "home").mkdir()
    try:
        server._start_xvfb(xvfb_args)
        if wm:
            server.start_wm()
        yield server
    finally:
        server.stop()


def _require_tools() -> None:
    if missing := missing_tools():
        why = f"needs {', '.join(missing)}: apt-get install xvfb openbox xterm xdotool xauth"
        if sys.platform.startswith("linux"):
            pytest.fail(why)  # the X11 source is tested for real, not skipped quietly
        pytest.skip(why)


@pytest.fixture
def xserver() -> Iterator[XServer]:
    """Xvfb + openbox, fresh for each test."""
    _require_tools()
    with start_xserver(wm=True) as server:
        yield server


@pytest.fixture
def bare_xserver() -> Iterator[XServer]:
    """Xvfb alone: no window manager, so nothing sets _NET_ACTIVE_WINDOW."""
    _require_tools()
    with start_xserver(wm=False) as server:
        yield server


@pytest.fixture
def xserver_factory() -> Iterator[Callable[..., XServer]]:
    """``xserver_factory(wm=..., xvfb_args=[...])`` starts more servers; all stop after."""
    _require_tools()
    with contextlib.ExitStack() as stack:

        def make(*, wm: bool = True, xvfb_args: Sequence[str] = ()) -> XServer:
            return stack.enter_context(start_xserver(wm=wm, xvfb_args=xvfb_args))

        yield make
