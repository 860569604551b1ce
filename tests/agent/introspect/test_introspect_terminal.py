"""The terminal plugin against a real xterm under Xvfb, real bash, vim and tmux (on a
private socket, no config): commands are typed into the xterm with xdotool, and the window
is read by the agent's own X11 source. Nothing is mocked."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from officepulse.agent.introspect import Details, Introspector
from officepulse.agent.introspect.terminal import (
    MacTerminal,
    foreground,
    parse_ps,
    tmux_options,
    tmux_socket,
    tty_path,
)
from officepulse.agent.sources.base import WindowSample
from officepulse.agent.sources.x11 import X11Desktop

if TYPE_CHECKING:
    from tests.support.xserver import Window, XServer

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("vim") is None, reason="needs vim: apt-get install vim"),
]

SHELL = ("bash", "--norc", "--noprofile")


class Terminal:
    """A real xterm running bash, in front, read through X11Desktop."""

    def __init__(self, xserver: XServer, desk: X11Desktop, win: Window) -> None:
        self.xserver = xserver
        self.desk = desk
        self.win = win
        self.intro = Introspector("linux", disabled={"media"})

    def type(self, line: str) -> None:
        # xterm ignores synthetic events sent to a window (xdotool --window): the window
        # is focused and the keys go through XTEST, as a person's would.
        self.xserver.activate(self.win)
        self.xserver.xdotool("type", "--delay", "5", line)
        self.xserver.xdotool("key", "Return")

    def key(self, *keys: str) -> None:
        self.xserver.activate(self.win)
        self.xserver.xdotool("key", *keys)

    def sample(self) -> WindowSample:
        sample = self.desk.active_window()
        assert sample is not None
        return sample

    def details(self) -> Details:
        return self.intro.describe(self.sample())

    def wait(self, program: str, file: str | None = None, what: str = "") -> Details:
        def seen() -> Details | None:
            details = self.details()
            ok = details.program == program and (file is None or details.file == file)
            return details if ok else None

        try:
            return self.xserver.wait_for(seen, 10, what or f"{program} in front")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; last seen {self.sample()} -> {self.details()}") from None


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder with a short path: vim shortens titles longer than 85 % of the width."""
    path = Path(tempfile.mkdtemp(prefix="op-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def terminal(xserver: XServer) -> Iterator[Terminal]:
    win = xserver.xterm("OpTermIntro", "Intro", command=SHELL)
    xserver.activate(win)
    with X11Desktop(xserver.display) as desk:
        term = Terminal(xserver, desk, win)
        try:
            yield term
        finally:
            term.intro.close()


def test_foreground_program_follows_the_shell(terminal: Terminal, short_tmp: Path) -> None:
    tmp_path = short_tmp
    assert terminal.sample().process == "xterm"
    terminal.wait("bash")

    terminal.type(f"cd {tmp_path} && vim -n -c 'set title' notes.txt")
    notes = f"{tmp_path}/notes.txt"
    terminal.wait("vim", notes, "vim with notes.txt")
    assert terminal.sample().title == f"notes.txt ({tmp_path}) - VIM"  # recorded, as it is

    terminal.key("i", "h", "i", "Escape")  # modified: vim adds " +" to its title
    terminal.xserver.wait_for(lambda: " + (" in terminal.sample().title, 10, "vim's + flag")
    assert terminal.details() == Details(program="vim", file=notes)

    terminal.type(":q!")
    terminal.wait("bash")
    assert terminal.sample().title == "Intro"  # vim put the old title back

    # A long path: vim shortens the title, and then only the name is kept.
    deep = tmp_path / ("nested-folder-" * 5) / "deep"
    deep.mkdir(parents=True)
    terminal.type(f"cd {deep} && vim -n -c 'set title' notes.txt")
    # Seen here: "notes.txt (/tmp/op-unv2x_md/nest...folder-nested-folder-/deep) - VIM"
    terminal.xserver.wait_for(lambda: "..." in terminal.sample().title, 10, "a short title")
    assert terminal.details() == Details(program="vim", file="notes.txt")
    terminal.type(":q!")
    terminal.wait("bash")

    terminal.type("sleep 300 | cat")  # a pipeline is one group; its leader is the first
    terminal.wait("sleep")
    terminal.key("ctrl+c")
    terminal.wait("bash")


def test_the_macos_way_gives_the_same_answer(terminal: Terminal, tmp_path: Path) -> None:
    """MacTerminal asks Terminal.app for the tab's tty (replayed here: the xterm's real
    pty) and reads the foreground group with ``ps -t``, which procps and BSD ps share."""
    terminal.type(f"cd {tmp_path} && vim -n notes.txt")
    terminal.wait("vim")
    front = foreground(terminal.win.pid)
    assert front is not None
    assert front.tty is not None
    assert front.tty.startswith("/dev/pts/")
    asked: list[str] = []

    def runner(script: str) -> str:
        asked.append(script)
        return f"{front.tty}\n"

    mac = MacTerminal(runner)
    tab = WindowSample(app="Terminal", title="notes.txt — vim — 80×24", process="Terminal")
    assert mac.describe(tab) == Details(program="vim")
    assert asked == ['tell application "Terminal" to return tty of selected tab of front window']
    ps = subprocess.run(
        ["ps", "-t", front.tty.removeprefix("/dev/"), "-o", "pid=,pgid=,tpgid=,comm="],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    parsed = parse_ps(ps, front.tty)
    assert parsed is not None
    assert (parsed.pid, parsed.name) == (front.pid, "vim")
    terminal.type(":q")
    terminal.wait("bash")


@pytest.fixture
def tmux() -> Iterator[list[str]]:
    """A tmux server on a socket of its own, with no config; killed afterwards."""
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux: apt-get install tmux")
    name = f"officepulse-{uuid.uuid4().hex[:8]}"
    cmd = ["tmux", "-L", name, "-f", "/dev/null"]
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    subprocess.run(
        [*cmd, "new-session", "-d", "-s", "work", "-x", "80", "-y", "24", *SHELL],
        env=env,
        check=True,
        timeout=10,
    )
    socket = Path(f"/tmp/tmux-{os.getuid()}", name)
    try:
        yield cmd
    finally:
        subprocess.run([*cmd, "kill-server"], env=env, check=False, timeout=10)
        socket.unlink(missing_ok=True)


def test_tmux_pane_command(terminal: Terminal, tmux: list[str], tmp_path: Path) -> None:
    terminal.type(f"unset TMUX; {' '.join(tmux)} attach -t work")

    def client() -> int | None:
        front = foreground(terminal.win.pid)
        return front.pid if front is not None and front.name == "tmux: client" else None

    client_pid = terminal.xserver.wait_for(client, 10, "the tmux client in front")
    assert tmux_socket(client_pid) == f"/tmp/tmux-{os.getuid()}/{tmux[2]}"
    terminal.wait("bash", what="the pane's shell, through tmux")

    subprocess.run([*tmux, "send-keys", "-t", "work", "sleep 300", "Enter"], check=True)
    terminal.wait("sleep", what="tmux's pane_current_command")

    subprocess.run([*tmux, "send-keys", "-t", "work", "C-c"], check=True)
    terminal.wait("bash")
    subprocess.run(
        [*tmux, "send-keys", "-t", "work", f"cd {tmp_path} && vim -n notes.txt", "Enter"],
        check=True,
    )
    terminal.wait("vim")

    subprocess.run([*tmux, "detach-client", "-s", "work"], check=True)
    terminal.wait("bash", what="the xterm's own shell again")


def test_each_tty_is_found_by_its_number_even_one_opened_after_the_first_look() -> None:
    """A terminal's new tab gets a new /dev/pts/N while the agent runs (psutil's
    terminal() maps numbers to files once per process, and then never finds it)."""
    ptys: list[tuple[int, int]] = []
    try:
        for _ in range(4):  # each looked up before the next one exists
            ptys.append(os.openpty())
            slave = ptys[-1][1]
            assert tty_path(os.fstat(slave).st_rdev) == os.ttyname(slave)
    finally:
        for fd in (fd for pair in ptys for fd in pair):
            os.close(fd)
    assert tty_path(os.stat("/dev/tty").st_rdev) == "/dev/tty"  # not a pseudo-terminal
    assert tty_path(os.stat("/dev/null").st_rdev) is None  # not a tty


def test_a_terminal_whose_process_is_gone() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    intro = Introspector("linux", disabled={"media"})
    gone = WindowSample(app="XTerm", title="nvim notes.txt", process="xterm", pid=proc.pid)
    # No process to read: what the title says (a shell titled it with the command line).
    assert intro.describe(gone) == Details(program="nvim", file="notes.txt")
    assert psutil.pid_exists(proc.pid) is False or psutil.Process(proc.pid).status() == "zombie"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-L", "work", "-f", "/dev/null", "attach"], (None, "work")),
        (["-Lwork", "attach"], (None, "work")),
        (["-2u", "-S", "/run/t.sock", "new"], ("/run/t.sock", None)),
        (["attach", "-L", "not-an-option-here"], (None, None)),
        ([], (None, None)),
    ],
)
def test_tmux_options(args: list[str], expected: tuple[str | None, str | None]) -> None:
    assert tmux_options(args) == expected
