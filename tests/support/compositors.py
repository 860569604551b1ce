"""Real Wayland compositors for tests, headless, with software rendering: sway (wlroots'
headless backend), KWin (``--virtual``) and GNOME Shell (``--headless``), each with real
clients, and the agent run inside their session.

Compositors refuse to run as root. When the tests run as root, every process of a session
(the compositor, its D-Bus buses, clients and the agent) runs as the unprivileged user
``officepulse-test``, which ``scripts/system-deps`` creates (``make test`` runs it); when
the tests run as another user, they run as that same user. The switch is ``setpriv``:
unlike ``runuser`` it keeps the environment the test gives, and it can keep
``CAP_DAC_READ_SEARCH`` for the agent alone when the test's Python (the venv's interpreter)
lives where that user cannot read it, such as a pyenv build in root's home. The test process
itself talks to the sessions directly: root may connect to any Unix socket, and each session
bus is started with a configuration that lets root in next to its owner.

Each session also has its own system bus with a stand-in for logind on it
(tests/support/logind.py): the compositors (and swayidle) hear from it that the session is to
be locked or unlocked, or that the computer is about to sleep, as they would from logind.

Every session lives in its own scratch folder under /tmp (short, for socket paths), owned by
that user; its processes are stopped by their own pids at the end, with everything they
started (found by parentage, and by the session's XDG_RUNTIME_DIR in their environment, for
D-Bus-activated helpers that outlive their parents). A compositor that cannot start fails the
test with the reason and the tail of its log: nothing is skipped.

Use one session per test module (module-scoped fixture): a compositor starts in well under
a second (sway, KWin) to 2-4 s (GNOME Shell, after installing the extension), measured on a
loaded 2-core machine. Recipes and their gotchas: /work/shared/TEST_RECIPES.md,
section 13.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import importlib
import json
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import psutil
import pytest

from officepulse.agent.sources.gnome import EXTENSION_UUID
from tests.support.logind import SEATS, SESSION_ID, Logind
from tests.support.processes import OFFICEPULSE, stop
from tests.support.servers import ServerProcess

T = TypeVar("T")

TEST_USER = "officepulse-test"
START_TIMEOUT = 30.0  # generous: a loaded 2-core machine
WAIT = 20.0
SYSTEM_PYTHON = "/usr/bin/python3"  # python3-gi, for the GTK client
CLIENTS = Path(__file__).parent / "clients"
TEST_EXTENSIONS = Path(__file__).parent / "gnome_extensions"  # for GNOME Shell, test only
FOCUSED_WINDOW_DOUBLE = "focused-window-double@officepulse-test"
ESM_LOADER = "esm-loader@officepulse-test"
TEST_UUIDS = (EXTENSION_UUID, FOCUSED_WINDOW_DOUBLE, ESM_LOADER)
# GNOME Shell's ExtensionState: enabled; disabled, or loaded but never enabled (INITIALIZED)
ENABLED, NOT_ENABLED = 1, (2, 6)
KEY_X = 45  # linux/input-event-codes.h

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <include>/usr/share/dbus-1/session.conf</include>
  <!-- the test process (root) drives the session next to its owner -->
  <policy context="default"><allow user="root"/></policy>
</busconfig>
"""


# -- the user ---------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    switch: bool  # the tests run as root and switch to this user

    def command(self, *, python: bool = False) -> list[str]:
        """The prefix that runs a command as this user; ``python`` for commands run by the
        test's own interpreter (the agent)."""
        if not self.switch:
            return []
        prefix = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups"]
        if python and not _can_run_python(self.uid, self.gid):
            prefix += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
        return [*prefix, "--"]

    def own(self, path: Path, mode: int = 0o700) -> Path:
        """Make ``path`` (a folder) this user's."""
        path.mkdir(parents=True, exist_ok=True)
        if self.switch:
            os.chown(path, self.uid, self.gid)
        path.chmod(mode)
        return path


@functools.cache
def _can_run_python(uid: int, gid: int) -> bool:
    done = subprocess.run(
        [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={gid}",
            "--init-groups",
            "--",
            sys.executable,
            "-c",
            "import officepulse",
        ],
        capture_output=True,
        timeout=30,
        check=False,
        cwd="/",
    )
    return done.returncode == 0


def session_user() -> User:
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return User(me.pw_name, me.pw_uid, me.pw_gid, switch=False)
    try:
        entry = pwd.getpwnam(TEST_USER)
    except KeyError:
        pytest.fail(
            f"the user {TEST_USER!r}, which runs the compositors (they refuse root), does not "
            "exist: run scripts/system-deps as root (make test does)"
        )
    return User(entry.pw_name, entry.pw_uid, entry.pw_gid, switch=True)


def require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"not installed: {', '.join(missing)}; run scripts/system-deps as root "
            "(make test does), which installs the compositors and their clients"
        )


# -- waiting ----------------------------------------------------------------------------


def wait_for(
    pred: Callable[[], T | bool | None],
    what: str,
    timeout: float = WAIT,
    log: Callable[[], str] | None = None,
) -> T:
    """Poll ``pred`` until it gives something truthy; fail naming ``what`` (and the
    session's log) when the deadline passes. A D-Bus call of ``pred``'s left unanswered
    for its own 10 s (TimeoutError) is "not yet": a compositor busy starting, rendering in
    software beside other work on a loaded machine, answers late, and only this wait's
    deadline says when it is too late."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = pred()
        except TimeoutError:
            value = None
        if value:
            return value  # type: ignore[return-value]  # truthy: not None or False
        if time.monotonic() >= end:
            tail = f"\n--- log ---\n{log()}" if log is not None else ""
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}{tail}")
        time.sleep(0.02)


# -- processes --------------------------------------------------------------------------


class Session:
    """What every compositor session has: a scratch folder owned by the user, a private
    XDG_RUNTIME_DIR, the processes started, and their logs."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.root = Path(tempfile.mkdtemp(prefix="opwl-", dir="/tmp"))
        user.own(self.root)
        self.run = user.own(self.root / "run")
        self.home = user.own(self.root / "home")
        self.procs: list[subprocess.Popen[Any]] = []
        self.logs: list[Path] = []
        self._states = 0
        self.system_bus = ""
        self._logind: Logind | None = None

    @property
    def env(self) -> dict[str, str]:
        """The session's environment for its clients and the agent."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.run),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_SESSION_TYPE": "wayland",
        }

    def spawn(
        self,
        command: Sequence[str],
        log_name: str,
        *,
        env: Mapping[str, str] | None = None,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
        stdout: int | None = None,
    ) -> subprocess.Popen[str]:
        """Start ``command`` as the user; its output goes to a log file (or ``stdout``)."""
        log = self.root / f"{log_name}.log"
        self.logs.append(log)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [*self.user.command(), *command],
                env=dict(env if env is not None else self.env),
                stdin=stdin,
                stdout=stdout if stdout is not None else out,
                stderr=out,
                cwd=self.root,
                text=True,
            )
        self.procs.append(proc)
        return proc

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for log in self.logs:
            with contextlib.suppress(OSError):
                text = log.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"[{log.name}]\n" + "\n".join(text))
        return "\n".join(parts)

    def alive(self, proc: subprocess.Popen[Any], what: str) -> None:
        if proc.poll() is not None:
            pytest.fail(
                f"{what} exited with status {proc.returncode} while starting\n"
                f"--- log ---\n{self.log_tail()}"
            )

    def state_dir(self) -> Path:
        """A fresh agent state folder the user can write."""
        self._states += 1
        return self.user.own(self.root / f"agent-state-{self._states}")

    @contextlib.contextmanager
    def agent(self, server: ServerProcess, *args: str) -> Iterator[AgentRun]:
        """A real ``officepulse agent`` in this session, as the user, stopped at the end
        of the block; its output is then in ``output``, and is added to any failure."""
        command = [
            *self.user.command(python=True),
            OFFICEPULSE,
            "--env-file",
            "/dev/null",
            "agent",
            "--server-url",
            server.ws_url,
            "--state-dir",
            str(self.state_dir()),
            # Not the keyring: with no login keyring, gnome-keyring asks GNOME Shell to
            # prompt for a password to create one. The agent goes on with the file after
            # the keyring deadline, but with the prompt up Alt+Tab no longer reaches the
            # windows (the shell's modal prompt holds the keyboard, it seems).
            "--credential-store",
            "file",
            *args,
        ]
        proc = subprocess.Popen(
            command,
            env=self.agent_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            text=True,
        )
        self.procs.append(proc)
        run = AgentRun(proc)
        try:
            yield run
        except BaseException as exc:
            run.output = stop(proc)
            exc.add_note(f"--- the agent's output ---\n{run.output}")
            raise
        run.output = stop(proc)

    def officepulse(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``officepulse agent ARGS`` in this session (or ``env``), as the user."""
        return subprocess.run(
            [
                *self.user.command(python=True),
                OFFICEPULSE,
                "--env-file",
                "/dev/null",
                "agent",
                *list(args),
            ],
            env=dict(env if env is not None else self.agent_env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=self.root,
        )

    def run_as_user(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """A command of the session's own (``gsettings``), as the user."""
        return subprocess.run(
            [*self.user.command(), *command],
            env=self.agent_env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd=self.root,
        )

    def probe(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``officepulse agent ARGS probe``: what the agent sees in this session."""
        return self.officepulse(*args, "probe")

    @property
    def agent_env(self) -> dict[str, str]:
        """The environment a desktop session gives the agent."""
        return self.env

    def start_bus(self, name: str, *, config: Path | None = None) -> str:
        """A dbus-daemon of this session (``config``, else one that lets root in too);
        returns its address."""
        if config is None:
            config = self.root / "bus.conf"
            config.write_text(BUS_CONFIG)
        proc = self.spawn(
            [
                "dbus-daemon",
                f"--config-file={config}",
                "--nofork",
                "--nopidfile",
                "--print-address=1",
                f"--address=unix:path={self.run / name}",
            ],
            f"dbus-{name}",
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()  # printed once it listens
        if not address.startswith("unix:"):
            self.alive(proc, f"dbus-daemon ({name})")
            pytest.fail(f"dbus-daemon ({name}) printed {address!r} instead of its address")
        return address

    def start_system_bus(self) -> str:
        """The session's own system bus, with a stand-in for logind on it
        (tests/support/logind.py); returns its address, for DBUS_SYSTEM_BUS_ADDRESS (give
        XDG_SESSION_ID=SESSION_ID too)."""
        self.system_bus = self.start_bus("system_bus")
        self._logind = Logind(self.system_bus)
        return self.system_bus

    @property
    def logind(self) -> Logind:
        assert self._logind is not None, "the session was started without a system bus"
        return self._logind

    def stop(self) -> None:
        """Stop every process of the session by its pid, then remove the scratch folder."""
        if self._logind is not None:
            self._logind.close()
        found: dict[int, psutil.Process] = {}
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                parent = psutil.Process(proc.pid)
                found[parent.pid] = parent
                for child in parent.children(recursive=True):
                    found[child.pid] = child
        for other in _processes_of_session(self.user.uid, str(self.run)):
            found.setdefault(other.pid, other)
        for process in found.values():
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(list(found.values()), timeout=5)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=5)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        shutil.rmtree(self.root, ignore_errors=True)


def _processes_of_session(uid: int, runtime: str) -> list[psutil.Process]:
    """The user's processes started inside this session (by its XDG_RUNTIME_DIR)."""
    found = []
    for process in psutil.process_iter(["uids"]):
        try:
            if process.info["uids"] is None or process.info["uids"].real != uid:
                continue
            if process.environ().get("XDG_RUNTIME_DIR") == runtime:
                found.append(process)
        except psutil.Error:
            continue
    return found


@dataclass
class AgentRun:
    proc: subprocess.Popen[str]
    output: str = ""


# -- what reached the server ------------------------------------------------------------


def live(server: ServerProcess, agent: str) -> dict[str, Any] | None:
    """What the server shows as ``agent``'s current activity, while it is online."""
    for each in server.get("/api/v1/agents")["agents"]:
        if each["id"] == agent and each["online"] and each["current"] is not None:
            return dict(each["current"])
    return None


def seen_live(
    server: ServerProcess, agent: str, during: Callable[[], None] | None = None, **fields: Any
) -> dict[str, Any]:
    """Wait until the server shows ``agent``'s current activity with these fields; ``during``
    is done before each look (input, for a person who keeps working: "active" then holds
    however slowly a loaded machine looks)."""

    def matches() -> dict[str, Any] | None:
        if during is not None:
            during()
        cur = live(server, agent)
        if cur is not None and all(cur.get(k) == v for k, v in fields.items()):
            return cur
        return None

    return wait_for(matches, f"the server to show {agent} with {fields}")


def stored_windows(server: ServerProcess, agent: str) -> list[tuple[str, str, int | None]]:
    """(app, title, pid) of ``agent``'s stored spans in order, repeats folded: the pid is
    stored with each span, though the live view leaves it out."""
    with contextlib.closing(sqlite3.connect(server.database)) as conn:
        rows = conn.execute(
            "SELECT app, title, pid FROM spans WHERE agent_id = ? ORDER BY start_ms", (agent,)
        ).fetchall()
    folded: list[tuple[str, str, int | None]] = []
    for row in rows:
        if not folded or folded[-1] != tuple(row):
            folded.append((str(row[0]), str(row[1]), row[2]))
    return folded


# -- clients ----------------------------------------------------------------------------


@dataclass
class Client:
    """A client window started in a session: ``app_id`` and ``title`` as it set them."""

    app_id: str
    title: str
    proc: subprocess.Popen[str]
    retitle: Callable[[str], None] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def set_title(self, title: str) -> None:
        self.retitle(title)
        self.title = title

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)


def gtk_window(session: Session, title: str, app_id: str, env: Mapping[str, str]) -> Client:
    """A GTK 3 window (tests/support/clients/gtk_window.py, the system's Python with python3-gi);
    it prints "shown" once mapped, and takes new titles on stdin."""
    proc = session.spawn(
        [SYSTEM_PYTHON, str(CLIENTS / "gtk_window.py"), title, app_id],
        f"gtk-{app_id}",
        env={**env, "GDK_BACKEND": "wayland", "NO_AT_BRIDGE": "1"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    line = proc.stdout.readline().strip()  # blocks until mapped, or '' when it dies
    if line != "shown":
        session.alive(proc, f"the GTK window {app_id}")
        pytest.fail(f"the GTK window {app_id} said {line!r}\n{session.log_tail()}")

    def retitle(new: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(new + "\n")
        proc.stdin.flush()

    return Client(app_id, title, proc, retitle)


# -- sway -------------------------------------------------------------------------------


S = TypeVar("S", bound=Session)


@contextlib.contextmanager
def started(kind: type[S]) -> Iterator[S]:
    """A compositor session of ``kind`` as the test user, stopped whatever happens."""
    session = kind(session_user())
    try:
        session.start()
        yield session
    finally:
        session.stop()


class BusSession(Session):
    """A session with its own session bus (KWin, GNOME Shell), called through jeepney."""

    def __init__(self, user: User) -> None:
        super().__init__(user)
        self.bus_address = ""
        self._bus: Any = None

    def call(
        self,
        dest: str,
        path: str,
        iface: str,
        member: str,
        sig: str | None = None,
        body: tuple[Any, ...] = (),
    ) -> tuple[Any, ...]:
        return _call(self._bus, dest, path, iface, member, sig, body)

    def stop(self) -> None:
        if self._bus is not None:
            self._bus.close()
        super().stop()


class Sway(Session):
    """sway, headless (wlroots' headless backend, pixman renderer, no input devices)."""

    def __init__(self, user: User) -> None:
        super().__init__(user)
        self.socket = ""
        self.display = ""

    def start(self) -> None:
        require("sway", "swaymsg", "foot", "wtype", "swaylock", "swayidle", "dbus-daemon")
        self.start_system_bus()  # for swayidle, which hears of locking and sleep from logind
        config = self.root / "sway.cfg"
        config.write_text("output HEADLESS-1 resolution 1280x800\n")
        env = {
            **self.env,
            "WLR_BACKENDS": "headless",
            "WLR_LIBINPUT_NO_DEVICES": "1",
            "WLR_RENDERER": "pixman",
        }
        proc = self.spawn(["sway", "-c", str(config)], "sway", env=env)

        def ready() -> bool:
            self.alive(proc, "sway")
            ipc = glob.glob(str(self.run / "sway-ipc.*.sock"))
            # The display is wayland-1 here, not wayland-0: look for it.
            displays = [p for p in glob.glob(str(self.run / "wayland-*")) if "." not in p]
            if ipc and displays:
                self.socket, self.display = ipc[0], Path(displays[0]).name
                return self.version() is not None
            return False

        wait_for(ready, "sway's IPC socket", START_TIMEOUT, self.log_tail)

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        if self.display:
            env.update(WAYLAND_DISPLAY=self.display, SWAYSOCK=self.socket)
        return env

    @property
    def agent_env(self) -> dict[str, str]:
        return {**self.env, "XDG_CURRENT_DESKTOP": "sway"}

    def msg(self, *args: str) -> Any:
        done = subprocess.run(
            ["swaymsg", "-s", self.socket, "-r", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"swaymsg {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return json.loads(done.stdout)

    def version(self) -> str | None:
        done = subprocess.run(
            ["swaymsg", "-s", self.socket, "-r", "-t", "get_version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return json.loads(done.stdout)["human_readable"] if done.returncode == 0 else None

    def windows(self) -> list[dict[str, Any]]:
        """Every window of the tree (nodes with a pid)."""
        found, stack = [], [self.msg("-t", "get_tree")]
        while stack:
            node = stack.pop()
            if node.get("pid"):
                found.append(node)
            stack.extend(node.get("nodes", []) + node.get("floating_nodes", []))
        return found

    def focused(self) -> dict[str, Any] | None:
        return next((w for w in self.windows() if w.get("focused")), None)

    def foot(self, app_id: str, title: str) -> Client:
        """A foot terminal with this app id and title; lines sent to ``set_title`` become
        its title (an OSC 2 sequence written by the shell inside it, read from a FIFO)."""
        fifo = self.root / f"title-{app_id}"
        os.mkfifo(fifo)
        if self.user.switch:
            os.chown(fifo, self.user.uid, self.user.gid)
        # <> keeps the FIFO open for writing too, so each writer closing is no end of file.
        script = 'exec 3<>"$0"; while IFS= read -r t <&3; do printf "\\033]2;%s\\007" "$t"; done'
        proc = self.spawn(
            ["foot", "-a", app_id, "-T", title, "--", "sh", "-c", script, str(fifo)],
            f"foot-{app_id}",
        )
        wait_for(
            lambda: (
                self.alive(proc, f"foot {app_id}")
                or any(w.get("app_id") == app_id for w in self.windows())
            ),
            f"the foot window {app_id} in sway's tree",
            log=self.log_tail,
        )

        def retitle(new: str) -> None:
            with open(fifo, "w") as pipe:
                pipe.write(new + "\n")

        return Client(app_id, title, proc, retitle)

    def focus(self, client: Client) -> None:
        self.msg(f'[app_id="{client.app_id}"] focus')
        wait_for(
            lambda: (w := self.focused()) is not None and w.get("app_id") == client.app_id,
            f"sway to focus {client.app_id}",
        )

    def move_pointer(self) -> None:
        """Input that resets idle time: a pointer motion of the seat."""
        self.msg("seat - cursor move 1 1")

    def lock(self) -> subprocess.Popen[str]:
        """swaylock locking the session, as the user. It runs until SIGUSR1, which unlocks
        the screen and ends it (swaylock(1)); no password is ever typed."""
        return self.spawn(["swaylock", "--color", "000000"], "swaylock")

    def swayidle(self, *args: str) -> subprocess.Popen[str]:
        """swayidle with these events and commands (swayidle(1)), on the session's system
        bus, running until the end of the session; returns once it listens to logind
        (it takes a delay lock on sleep when it has a ``before-sleep`` command)."""
        before = len(self.logind.manager.inhibitors)
        proc = self.spawn(
            ["swayidle", "-w", *args],
            "swayidle",
            env={
                **self.env,
                "DBUS_SYSTEM_BUS_ADDRESS": self.system_bus,
                "XDG_SESSION_ID": SESSION_ID,
            },
        )
        wait_for(
            lambda: self.alive(proc, "swayidle") or len(self.logind.manager.inhibitors) > before,
            "swayidle to take its delay lock from logind",
            log=self.log_tail,
        )
        return proc

    def lockers(self) -> list[psutil.Process]:
        """The swaylock processes of this session: a locker, the child it keeps to check
        passwords, and while ``swaylock -f`` detaches, the one that started it."""
        found = []
        for process in _processes_of_session(self.user.uid, str(self.run)):
            with contextlib.suppress(psutil.Error):
                if process.name() == "swaylock" and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process)
        return found

    def unlock(self) -> None:
        """SIGUSR1 to every swaylock until none is left: swaylock unlocks on it, as on the
        right password (swaylock(1)). Sent again while any is left, for one that was still
        detaching (``-f``) the first time."""

        def unlocked() -> bool:
            lockers = self.lockers()
            for process in lockers:
                with contextlib.suppress(psutil.Error):
                    process.send_signal(signal.SIGUSR1)
            return not lockers

        wait_for(unlocked, "swaylock to unlock and exit", log=self.log_tail)


# -- KWin -------------------------------------------------------------------------------


class KWin(BusSession):
    """KWin on a virtual output (``kwin_wayland --virtual``), on its own session bus, as a
    KDE Plasma 5 session has it (KDE_SESSION_VERSION=5)."""

    DISPLAY = "wayland-kde"

    def __init__(self, user: User) -> None:
        super().__init__(user)
        self._scripts = 0
        self._nudge = 1
        self._input: subprocess.Popen[str] | None = None

    def start(self) -> None:
        require("kwin_wayland", "dbus-daemon", SYSTEM_PYTHON)
        # Debian's kwin_wayland carries the file capability cap_sys_resource, which a
        # container's bounding set may lack ("Operation not permitted"); a copy has none.
        binary = self.root / "kwin_wayland"
        shutil.copyfile(str(shutil.which("kwin_wayland")), binary)
        binary.chmod(0o755)
        system = self.start_system_bus()
        self.bus_address = self.start_bus("bus")
        proc = self.spawn(
            [
                str(binary),
                "--virtual",
                "--width",
                "1280",
                "--height",
                "800",
                "--socket",
                self.DISPLAY,
            ],
            "kwin",
            env={
                **self.env,
                "QT_QPA_PLATFORM": "wayland",
                # the tests' input (org_kde_kwin_fake_input) without a .desktop file
                # allowing it (see _start_input); the agent uses no restricted protocol
                "KWIN_WAYLAND_NO_PERMISSION_CHECKS": "1",
                "DBUS_SYSTEM_BUS_ADDRESS": system,
                "XDG_SESSION_ID": SESSION_ID,
            },
        )
        self._bus = _blocking_bus(self.bus_address)

        def ready() -> bool:
            self.alive(proc, "kwin_wayland")
            return (self.run / self.DISPLAY).exists() and self.has_name("org.kde.KWin")

        wait_for(ready, "KWin on its socket and session bus", START_TIMEOUT, self.log_tail)
        self._start_input()

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        if self.bus_address:
            env.update(WAYLAND_DISPLAY=self.DISPLAY, DBUS_SESSION_BUS_ADDRESS=self.bus_address)
        return env

    @property
    def agent_env(self) -> dict[str, str]:
        return {
            **self.env,
            "XDG_CURRENT_DESKTOP": "KDE",
            "KDE_FULL_SESSION": "true",
            "KDE_SESSION_VERSION": "5",
        }

    def has_name(self, name: str) -> bool:
        (has,) = self.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "NameHasOwner",
            "s",
            (name,),
        )
        return bool(has)

    def window(self, title: str, app_id: str) -> Client:
        return gtk_window(self, title, app_id, self.env)

    def run_script(self, code: str) -> None:
        """Run a KWin script once (as the agent does, but for the test's own purposes)."""
        self._scripts += 1
        name = f"test_{self._scripts}"
        path = self.run / f"{name}.js"
        path.write_text(code)
        if self.user.switch:
            os.chown(path, self.user.uid, self.user.gid)
        (script_id,) = self.call(
            "org.kde.KWin",
            "/Scripting",
            "org.kde.kwin.Scripting",
            "loadScript",
            "ss",
            (str(path), name),
        )
        assert script_id >= 0, f"KWin refused the test script {name}"
        self.call("org.kde.KWin", f"/{script_id}", "org.kde.kwin.Script", "run")
        self.call(
            "org.kde.KWin", "/Scripting", "org.kde.kwin.Scripting", "unloadScript", "s", (name,)
        )

    def activate(self, client: Client) -> None:
        """Give ``client``'s window the focus, as clicking it would (a KWin script sets
        ``workspace.activeClient``)."""
        # KWin 5 names them clients, KWin 6 windows.
        self.run_script(
            "(workspace.windowList ? workspace.windowList() : workspace.clientList())"
            f".forEach(function (w) {{ if (w.pid === {client.pid}) {{"
            " if (workspace.windowList) workspace.activeWindow = w;"
            " else workspace.activeClient = w; }});"
        )

    def _start_input(self) -> None:
        """The tests' input device (tests/support/clients/fake_input.py): KWin takes input
        from a client only through its fake-input protocol, which it offers to trusted
        programs alone (a system binary run as the session's user, here with
        KWIN_WAYLAND_NO_PERMISSION_CHECKS standing in for a .desktop file that allows it)."""
        self._input = self.spawn(
            [SYSTEM_PYTHON, str(CLIENTS / "fake_input.py")],
            "fake-input",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._send_input(None, "ready")

    def _send_input(self, line: str | None, answer: str = "ok") -> None:
        proc = self._input
        assert proc is not None
        assert proc.stdin is not None
        assert proc.stdout is not None
        if line is not None:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        said = proc.stdout.readline().strip()  # blocks until KWin handled it, or '' if it died
        if said != answer:
            self.alive(proc, "the fake-input client")
            pytest.fail(f"the fake-input client said {said!r}\n{self.log_tail()}")

    def move_pointer(self) -> None:
        """Input that resets idle time: a pointer motion, back and forth by a pixel so the
        pointer never ends at the edge of the screen."""
        self._nudge = -self._nudge
        self._send_input(f"pointer {self._nudge} {self._nudge}")

    def type_key(self, key: int = KEY_X) -> None:
        """A key (a Linux key code) pressed and released on KWin's fake keyboard."""
        self._send_input(f"key {key}")

    def lock(self) -> None:
        """Lock the screen (KScreenLocker inside KWin), as Plasma's "Lock Session" does;
        ``logind.unlock()`` unlocks it (``loginctl unlock-session``)."""
        self.call(
            "org.freedesktop.ScreenSaver", "/ScreenSaver", "org.freedesktop.ScreenSaver", "Lock"
        )


# -- GNOME Shell ------------------------------------------------------------------------

KEY_SHIFT, KEY_ALT, KEY_TAB = 0xFFE1, 0xFFE9, 0xFF09


class Gnome(BusSession):
    """GNOME Shell, headless on a virtual monitor, with officepulse's extension installed
    by ``officepulse agent install-gnome-extension`` before it starts (the shell reads
    extensions at startup), and two test-only extensions beside it, installed but not
    enabled (``only_extension`` swaps them in): a stand-in for the third-party Focused
    Window D-Bus extension, and a loader that runs officepulse's GNOME 45+ build (an ES
    module, as the installer writes it for 46) in this GNOME 43 (tests/support/gnome_extensions).

    gnome-shell needs a system bus (its logind lookup dies without one): a private one,
    with a stand-in for logind and GDM's version on it (tests/support/logind.py), which
    also gives the shell its lock screen (``loginctl lock-session`` and sleep, as logind
    would tell them). The lock screen's org.gnome.ScreenSaver is GNOME's own D-Bus service,
    run by gjs on demand."""

    DISPLAY = "wayland-gnome"

    def __init__(self, user: User) -> None:
        super().__init__(user)
        self.installed = ""
        self.installed_esm = ""
        self._remote = ""

    def start(self) -> None:
        require(
            "gnome-shell",
            "gsettings",
            "dbus-daemon",
            "gjs",
            "glib-compile-resources",
            SYSTEM_PYTHON,
        )
        if not Path(SEATS).is_dir():
            pytest.fail(
                f"{SEATS} is missing: GNOME Shell offers its lock screen only where it exists "
                "(systemd-logind makes it); run scripts/system-deps as root (make test does)"
            )
        system = self.start_system_bus()
        self.bus_address = self.start_bus("bus")
        done = self.officepulse("install-gnome-extension")
        if done.returncode != 0:
            pytest.fail(f"install-gnome-extension failed:\n{done.stdout}{done.stderr}")
        self.installed = done.stdout
        self._install_test_extensions()
        # A shell killed early leaves this crash guard, which turns extensions off.
        (self.run / "gnome-shell-disable-extensions").unlink(missing_ok=True)
        proc = self.spawn(
            [
                "gnome-shell",
                "--headless",
                "--virtual-monitor",
                "1280x800",
                "--wayland",
                "--no-x11",
                "--wayland-display",
                self.DISPLAY,
            ],
            "gnome-shell",
            env={**self.env, "DBUS_SYSTEM_BUS_ADDRESS": system, "XDG_SESSION_ID": SESSION_ID},
        )
        self._bus = _blocking_bus(self.bus_address)

        def ready() -> bool:
            self.alive(proc, "gnome-shell")
            return self.focused_window() is not None

        # The shell owns its name well before it answers: still busy starting.
        wait_for(
            ready, "GNOME Shell with officepulse's extension", 3 * START_TIMEOUT, self.log_tail
        )
        # GNOME Shell (40 and later) opens the overview once its startup is complete, and
        # new windows get no focus under it: wait for it, then close it. org.gnome.Shell's
        # OverviewActive is writable by anyone (no unsafe mode needed).
        wait_for(
            self.overview_active,
            "the overview at the end of startup",
            3 * START_TIMEOUT,
            self.log_tail,
        )
        self.call(
            "org.gnome.Shell",
            "/org/gnome/Shell",
            "org.freedesktop.DBus.Properties",
            "Set",
            "ssv",
            ("org.gnome.Shell", "OverviewActive", ("b", False)),
        )
        wait_for(lambda: not self.overview_active(), "the overview to close", log=self.log_tail)
        # Remote desktop input; the session lives as long as this connection.
        (self._remote,) = self.call(
            "org.gnome.Mutter.RemoteDesktop",
            "/org/gnome/Mutter/RemoteDesktop",
            "org.gnome.Mutter.RemoteDesktop",
            "CreateSession",
        )
        self.call(
            "org.gnome.Mutter.RemoteDesktop",
            self._remote,
            "org.gnome.Mutter.RemoteDesktop.Session",
            "Start",
        )
        # The first key right after Start can be lost: spend it on a lone Shift.
        self.keys(KEY_SHIFT)

    def _install_test_extensions(self) -> None:
        """The test-only extensions, and officepulse's GNOME 46 build for the loader."""
        esm_data = self.user.own(self.root / "esm-data")
        done = self.officepulse(
            "install-gnome-extension",
            "--shell-version",
            "46",
            "--no-enable",
            env={**self.agent_env, "XDG_DATA_HOME": str(esm_data)},
        )
        if done.returncode != 0:
            pytest.fail(f"install-gnome-extension for 46 failed:\n{done.stdout}{done.stderr}")
        self.installed_esm = done.stdout
        folder = self.home / ".local" / "share" / "gnome-shell" / "extensions"
        for source in TEST_EXTENSIONS.iterdir():
            shutil.copytree(source, folder / source.name)
        loader = folder / ESM_LOADER
        subprocess.run(
            [
                "glib-compile-resources",
                f"--sourcedir={loader / 'stand-in'}",
                f"--target={loader / 'stand-in.gresource'}",
                str(loader / "stand-in" / "stand-in.gresource.xml"),
            ],
            check=True,
            timeout=30,
        )
        (loader / "target").write_text(
            str(esm_data / "gnome-shell" / "extensions" / EXTENSION_UUID) + "\n"
        )
        if self.user.switch:
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, self.user.uid, self.user.gid)

    def extension_state(self, uuid: str) -> int:
        """The shell's ExtensionState of ``uuid`` (0: it does not know it)."""
        (info,) = self.call(
            "org.gnome.Shell",
            "/org/gnome/Shell",
            "org.gnome.Shell.Extensions",
            "GetExtensionInfo",
            "s",
            (uuid,),
        )
        return int(info["state"][1]) if "state" in info else 0

    def enable_only(self, uuid: str) -> None:
        """Make ``uuid`` the only enabled extension (as the Extensions app would), and wait
        until the shell has done it. All are turned off first: two extensions must not
        export the same object at once, and the shell enables the new before it disables
        the old."""
        for enabled in ([], [uuid]):
            done = self.run_as_user(
                ["gsettings", "set", "org.gnome.shell", "enabled-extensions", str(enabled)]
            )
            assert done.returncode == 0, done.stderr

            def states() -> dict[str, int]:
                return {u: self.extension_state(u) for u in TEST_UUIDS}

            def done_(enabled: list[str] = enabled) -> bool:
                want = {u: u in enabled for u in TEST_UUIDS}
                return all(
                    (s == ENABLED) if want[u] else (s in NOT_ENABLED) for u, s in states().items()
                )

            wait_for(
                done_,
                f"the shell to run {enabled or 'no extension'}",
                log=lambda: f"states {states()}\n{self.log_tail()}",
            )

    @contextlib.contextmanager
    def only_extension(self, uuid: str) -> Iterator[None]:
        """``uuid`` alone enabled for the block, then officepulse's extension again."""
        self.enable_only(uuid)
        try:
            yield
        finally:
            self.enable_only(EXTENSION_UUID)

    def screen_locked(self) -> bool:
        """GNOME's own answer (org.gnome.ScreenSaver, started on demand)."""
        (active,) = self.call(
            "org.gnome.ScreenSaver", "/org/gnome/ScreenSaver", "org.gnome.ScreenSaver", "GetActive"
        )
        return bool(active)

    def overview_active(self) -> bool:
        (value,) = self.call(
            "org.gnome.Shell",
            "/org/gnome/Shell",
            "org.freedesktop.DBus.Properties",
            "Get",
            "ss",
            ("org.gnome.Shell", "OverviewActive"),
        )
        return bool(value[1])

    def alt_tab(self, to: Client) -> None:
        """Alt+Tab until ``to`` has the focus (a key can be lost while the remote-desktop
        session warms up, so it is typed again if nothing changed); nothing when it has."""
        end = time.monotonic() + WAIT
        while time.monotonic() < end:
            if self.focused_pid() == to.pid:
                return
            self.keys(KEY_ALT, KEY_TAB)
            settle = time.monotonic() + 3
            while time.monotonic() < settle:
                if self.focused_pid() == to.pid:
                    return
                time.sleep(0.02)
        pytest.fail(f"Alt+Tab did not give {to.app_id} the focus within {WAIT:g} s")

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        if self.bus_address:
            env.update(WAYLAND_DISPLAY=self.DISPLAY, DBUS_SESSION_BUS_ADDRESS=self.bus_address)
        return env

    @property
    def agent_env(self) -> dict[str, str]:
        return {**self.env, "XDG_CURRENT_DESKTOP": "GNOME"}

    def focused_window(self) -> dict[str, Any] | None:
        """What officepulse's extension says ({} when nothing has focus), or None while it
        does not answer."""
        return self._get("/org/officepulse/FocusedWindow", "org.officepulse.FocusedWindow")

    def focused_pid(self) -> int | None:
        """The pid of the focused window, from whichever extension runs: officepulse's, or
        the stand-in for the third-party one."""
        window = self.focused_window()
        if window is None:
            window = self._get(
                "/org/gnome/shell/extensions/FocusedWindow",
                "org.gnome.shell.extensions.FocusedWindow",
            )
        return None if window is None else window.get("pid")

    def _get(self, path: str, interface: str) -> dict[str, Any] | None:
        try:
            (text,) = self.call("org.gnome.Shell", path, interface, "Get")
        except BusError:
            return None
        window: dict[str, Any] = json.loads(text)
        return window

    @contextlib.contextmanager
    def focus_changes(self) -> Iterator[Callable[..., dict[str, Any]]]:
        """Listen to the extension's ``Changed`` signal; the function waits for one whose
        JSON has the given fields (passing over others, such as a moment of no focus) and
        fails after a deadline."""
        jeepney: Any = importlib.import_module("jeepney")
        bus_messages: Any = importlib.import_module("jeepney.bus_messages")
        rule = jeepney.MatchRule(
            type="signal",
            interface="org.officepulse.FocusedWindow",
            member="Changed",
            path="/org/officepulse/FocusedWindow",
        )
        self._bus.send_and_get_reply(bus_messages.message_bus.AddMatch(rule), timeout=10)
        with self._bus.filter(rule) as queue:

            def change_to(**fields: Any) -> dict[str, Any]:
                end = time.monotonic() + WAIT
                seen = []
                while (left := end - time.monotonic()) > 0:
                    try:
                        signal_message = self._bus.recv_until_filtered(queue, timeout=left)
                    except TimeoutError:
                        break
                    change: dict[str, Any] = json.loads(signal_message.body[0])
                    if all(change.get(k) == v for k, v in fields.items()):
                        return change
                    seen.append(change)
                pytest.fail(f"no Changed signal with {fields} within {WAIT:g} s; saw {seen}")

            yield change_to

    def window(self, title: str, app_id: str) -> Client:
        client = gtk_window(self, title, app_id, self.env)
        wait_for(
            lambda: (self.focused_window() or {}).get("pid") == client.pid,
            f"the new window {app_id} to get the focus",
            log=self.log_tail,
        )
        return client

    def keys(self, *keysyms: int) -> None:
        """Press the keys in order and release them in reverse (Alt+Tab: KEY_ALT, KEY_TAB)."""
        session = "org.gnome.Mutter.RemoteDesktop.Session"
        for key in keysyms:
            self.call(
                "org.gnome.Mutter.RemoteDesktop",
                self._remote,
                session,
                "NotifyKeyboardKeysym",
                "ub",
                (key, True),
            )
        for key in reversed(keysyms):
            self.call(
                "org.gnome.Mutter.RemoteDesktop",
                self._remote,
                session,
                "NotifyKeyboardKeysym",
                "ub",
                (key, False),
            )

    def move_pointer(self) -> None:
        self.call(
            "org.gnome.Mutter.RemoteDesktop",
            self._remote,
            "org.gnome.Mutter.RemoteDesktop.Session",
            "NotifyPointerMotionRelative",
            "dd",
            (3.0, 2.0),
        )

    def idle_ms(self) -> int:
        (ms,) = self.call(
            "org.gnome.Mutter.IdleMonitor",
            "/org/gnome/Mutter/IdleMonitor/Core",
            "org.gnome.Mutter.IdleMonitor",
            "GetIdletime",
        )
        return int(ms)


# -- D-Bus for the harness --------------------------------------------------------------


class BusError(Exception):
    pass


def _blocking_bus(address: str) -> Any:
    blocking: Any = importlib.import_module("jeepney.io.blocking")
    return blocking.open_dbus_connection(bus=address)


def _call(
    conn: Any, dest: str, path: str, iface: str, member: str, sig: str | None, body: tuple[Any, ...]
) -> tuple[Any, ...]:
    jeepney: Any = importlib.import_module("jeepney")
    address = jeepney.DBusAddress(path, bus_name=dest, interface=iface)
    reply = conn.send_and_get_reply(jeepney.new_method_call(address, member, sig, body), timeout=10)
    if reply.header.message_type == jeepney.MessageType.error:
        raise BusError(f"{dest} {iface}.{member}: {reply.body}")
    return tuple(reply.body)
