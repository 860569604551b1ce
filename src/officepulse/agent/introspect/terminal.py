"""Terminals: the program in the foreground, what tmux runs in the pane in front, and the
file vim or nvim has open.

Linux: the terminal window's pid (``_NET_WM_PID``) has the shell as a child; the shell's
``/proc/<pid>/stat`` names its tty's foreground process group (``tpgid``), whose leader is
the program in front ("vim", "sleep" for ``sleep 1 | cat``, "bash" at the prompt). A
terminal that serves several tabs or windows from one process (gnome-terminal-server,
konsole) has one shell per tab: the tab whose tty was read from last (``st_atime``, which
Linux keeps to within a few seconds) is taken: the one the person types into.

macOS: Terminal and iTerm2 tell the tty of their front tab through AppleScript; ``ps -t``
then shows which processes are in that tty's foreground group (psutil cannot: it has no
tpgid on macOS). Other macOS terminals, and Windows consoles (which have no process
groups), give only what their title says.

tmux: the client ("tmux: client" in the foreground) is looked up with
``tmux -S <socket> list-clients`` (the socket comes from the client's own ``-L``/``-S``
and ``TMUX_TMPDIR``), which says what its session's active pane is running
(``pane_current_command``) and the pane's title.

vim and nvim: the file comes from the title they set ("notes.txt + (~/dir) - VIM", with
``set title``), or from a title a shell set to the command line ("nvim notes.txt").
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from officepulse.agent.introspect.applescript import Runner
from officepulse.agent.introspect.apps import find_app
from officepulse.agent.introspect.base import NOTHING, Details, IntrospectionError
from officepulse.agent.sources.base import WindowSample

TMUX_TIMEOUT = 1.0
VIM_NAMES = frozenset({"vim", "nvim", "vi", "view", "vimdiff", "gvim", "rvim"})


@dataclass(frozen=True, slots=True)
class Stat:
    """The fields of ``/proc/<pid>/stat`` used here."""

    comm: str
    ppid: int
    pgrp: int
    session: int
    tty_nr: int
    tpgid: int


def read_stat(pid: int) -> Stat | None:
    """``/proc/<pid>/stat``, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm is in parentheses and may itself hold spaces and parentheses.
    head, _, rest = data.rpartition(b")")
    comm = head.partition(b"(")[2].decode("utf-8", "replace")
    fields = rest.split()
    return Stat(
        comm=comm,
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        session=int(fields[3]),
        tty_nr=int(fields[4]),
        tpgid=int(fields[5]),
    )


@dataclass(frozen=True, slots=True)
class Foreground:
    pid: int  # the foreground group's leader (its pgid)
    name: str
    tty: str | None


def foreground(terminal_pid: int) -> Foreground | None:
    """The foreground program of a terminal emulator's tty (Linux, /proc), or None."""
    shells = []
    try:
        children = _children(terminal_pid)
    except psutil.NoSuchProcess:
        return None
    for child in children:
        stat = read_stat(child.pid)
        if stat is not None and stat.tty_nr != 0 and stat.tpgid > 0:
            shells.append((child, stat))
    if not shells:
        return None
    child, stat = max(shells, key=lambda pair: _tty_last_read(pair[1].tty_nr))
    return Foreground(stat.tpgid, _group_name(stat.tpgid, child), tty_path(stat.tty_nr))


def _children(pid: int) -> list[psutil.Process]:
    """The direct children of ``pid``. The kernel lists them in
    /proc/<pid>/task/*/children, which costs microseconds; psutil's children()
    reads the stat file of every process on the machine, every poll (the agent's
    footprint benchmark found that to be most of its CPU)."""
    try:
        pids: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids.extend(int(p) for p in (task / "children").read_text().split())
    except FileNotFoundError:
        if not Path(f"/proc/{pid}").exists():
            raise psutil.NoSuchProcess(pid) from None
        return psutil.Process(pid).children()  # a kernel without the children file
    except (OSError, ValueError):
        return psutil.Process(pid).children()
    out = []
    for child in pids:
        try:
            out.append(psutil.Process(child))
        except psutil.NoSuchProcess:
            continue
    return out


def _tty_last_read(tty_nr: int) -> float:
    tty = tty_path(tty_nr)
    if tty is None:
        return 0.0
    try:
        return os.stat(tty).st_atime
    except OSError:
        return 0.0


# Unix 98 pseudo-terminals (/dev/pts/N): device majors 136 to 143, 256 minors each.
PTS_MAJORS = range(136, 144)


def tty_path(tty_nr: int) -> str | None:
    """The device file of the tty numbered ``tty_nr`` (as in ``/proc/<pid>/stat``), looked
    up now. Not psutil's terminal(): it maps numbers to files once per process, so the tty
    of a terminal (or tab) opened after the agent's first look would never be found."""
    for path in _tty_files(tty_nr):
        try:
            if os.stat(path).st_rdev == tty_nr:
                return path
        except OSError:
            continue
    return None


def _tty_files(tty_nr: int) -> Iterator[str]:
    """Where the tty numbered ``tty_nr`` may be: the one a pseudo-terminal's number
    names first (one stat, where most look-ups end), then every tty."""
    major, minor = os.major(tty_nr), os.minor(tty_nr)
    if major in PTS_MAJORS:
        yield f"/dev/pts/{(major - PTS_MAJORS.start) * 256 + minor}"
    yield from glob.glob("/dev/pts/*")
    yield from glob.glob("/dev/tty*")


def _group_name(pgid: int, shell: psutil.Process) -> str:
    try:
        return psutil.Process(pgid).name()
    except psutil.NoSuchProcess:
        pass
    # The leader exited (the first command of a pipeline); any member will do.
    try:
        members = shell.children(recursive=True)
    except psutil.NoSuchProcess:
        members = []
    for proc in members:
        stat = read_stat(proc.pid)
        if stat is not None and stat.pgrp == pgid:
            return stat.comm
    return shell.name()


def foreground_on_tty(tty: str, ps: str = "ps") -> Foreground | None:
    """The foreground program of ``tty`` ("/dev/ttys003") from ``ps``: BSD and procps
    ``ps`` both print pid, pgid and the tty's foreground group (tpgid)."""
    name = tty.removeprefix("/dev/")
    try:
        done = subprocess.run(
            [ps, "-t", name, "-o", "pid=,pgid=,tpgid=,comm="],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TMUX_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise IntrospectionError(f"could not run {ps}: {exc}") from exc
    return parse_ps(done.stdout, tty)


def parse_ps(output: str, tty: str | None = None) -> Foreground | None:
    """Pick the foreground group's leader (else any member) from ``ps -o
    pid=,pgid=,tpgid=,comm=`` lines."""
    member = None
    for line in output.splitlines():
        fields = line.split(None, 3)
        if len(fields) < 4 or not all(f.lstrip("-").isdigit() for f in fields[:3]):
            continue
        pid, pgid, tpgid = map(int, fields[:3])
        if pgid != tpgid:
            continue
        # BSD ps shows the path, and a login shell as "-zsh".
        comm = os.path.basename(fields[3].strip()).lstrip("-")
        if pid == pgid:
            return Foreground(pid, comm, tty)
        member = member or comm  # the leader has exited (a pipeline's first command)
    return Foreground(0, member, tty) if member else None


@dataclass(frozen=True, slots=True)
class TmuxPane:
    command: str
    title: str


def tmux_pane(client_pid: int, tmux: str = "tmux") -> TmuxPane | None:
    """What the active pane of a tmux client's session runs, or None when that client is
    not found (it detached, or its server is one we cannot reach)."""
    socket = tmux_socket(client_pid)
    if socket is None:
        return None
    if shutil.which(tmux) is None:
        raise IntrospectionError("tmux runs in the terminal but the tmux command is not found")
    fmt = "#{client_pid}\t#{pane_current_command}\t#{pane_title}"
    try:
        done = subprocess.run(
            [tmux, "-S", socket, "list-clients", "-F", fmt],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TMUX_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise IntrospectionError(f"tmux did not answer within {TMUX_TIMEOUT} s") from exc
    if done.returncode != 0:
        return None  # the server has gone since
    for line in done.stdout.splitlines():
        pid, _, rest = line.partition("\t")
        command, _, title = rest.partition("\t")
        if pid.strip() == str(client_pid):
            return TmuxPane(command, title)
    return None


def tmux_socket(client_pid: int) -> str | None:
    """The server socket a tmux client talks to: its ``-S path``, or ``-L name`` (default
    "default") in ``$TMUX_TMPDIR/tmux-<uid>/`` (``/tmp`` when unset)."""
    try:
        proc = psutil.Process(client_pid)
        args = proc.cmdline()
        uid = proc.uids().real
        try:
            env = proc.environ()
        except psutil.AccessDenied:
            env = {}
        cwd = proc.cwd()
    except psutil.Error:
        return None
    path, name = tmux_options(args[1:])
    if path is not None:
        return str(Path(cwd, path))
    base = env.get("TMUX_TMPDIR") or "/tmp"
    return str(Path(base, f"tmux-{uid}", name or "default"))


_TMUX_WITH_VALUE = frozenset("cfLST")


def tmux_options(args: Sequence[str]) -> tuple[str | None, str | None]:
    """``-S path`` and ``-L name`` from tmux's arguments (before its command)."""
    path = name = None
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg in ("-", "--"):
            break
        j = 1
        while j < len(arg):  # flags may be bundled: -2u, -uLname
            flag = arg[j]
            if flag in _TMUX_WITH_VALUE:
                value = arg[j + 1 :]
                if not value and i + 1 < len(args):
                    i += 1
                    value = args[i]
                if flag == "S":
                    path = value
                elif flag == "L":
                    name = value
                break
            j += 1
        i += 1
    return path, name


@dataclass(frozen=True, slots=True)
class VimTitle:
    program: str
    file: str | None


# vim's own title: "name[ flags] (dir) - VIM", flags "+" modified, "=" read-only,
# "-" not modifiable; nvim says "- NVIM" (or "- Nvim").
_VIM_OWN = re.compile(
    r"^(?P<name>.+?)(?: (?P<flags>[-+=]{1,3}))?(?: \((?P<dir>[^()]*)\))?"
    r" - (?P<prog>N?VIM|Nvim|GVIM)\d*$"
)
# A shell's title for the command line: "nvim notes.txt", "vim -p a.py b.py".
_VIM_COMMAND = re.compile(r"^(?:\S*/)?(?P<prog>n?vim|vi|view|vimdiff)(?:\s+(?P<args>.*))?$")


def parse_vim_title(title: str) -> VimTitle | None:
    text = title.strip()
    match = _VIM_OWN.match(text)
    if match is not None:
        program = "nvim" if match["prog"].lower() == "nvim" else "vim"
        name, folder = match["name"], match["dir"]
        if name == "[No Name]":
            return VimTitle(program, None)
        if not folder or "..." in folder:  # vim shortens a title longer than 'titlelen'
            return VimTitle(program, name)
        return VimTitle(program, f"{folder}/{name}")
    match = _VIM_COMMAND.match(text)
    if match is not None:
        files = [a for a in (match["args"] or "").split() if not a.startswith(("-", "+"))]
        return VimTitle(match["prog"], files[0] if files else None)
    return None


def _details(program: str | None, titles: Sequence[str]) -> Details:
    if program is None:
        return NOTHING
    file = None
    if program in VIM_NAMES:
        for title in titles:
            vim = parse_vim_title(title)
            if vim is not None and vim.file is not None:
                file = vim.file
                break
    return Details(program=program, file=file)


class LinuxTerminal:
    """Linux (and other systems with /proc): the tty's foreground group, then tmux."""

    name = "terminal"

    def __init__(self, tmux: str = "tmux") -> None:
        self.tmux = tmux

    def describe(self, sample: WindowSample) -> Details:
        if sample.pid is None:
            return _from_title(sample.title)
        front = foreground(sample.pid)
        if front is None:
            return _from_title(sample.title)
        return _with_tmux(front, sample.title, self.tmux)

    def close(self) -> None:
        pass


def _with_tmux(front: Foreground, title: str, tmux: str) -> Details:
    if not front.name.startswith("tmux"):  # "tmux: client" (Linux), "tmux" (macOS)
        return _details(front.name, [title])
    pane = tmux_pane(front.pid, tmux) if front.pid else None
    if pane is None:
        return Details(program="tmux")
    return _details(pane.command, [pane.title, title])


def _from_title(title: str) -> Details:
    vim = parse_vim_title(title)
    if vim is None:
        return NOTHING
    return Details(program=vim.program, file=vim.file)


class TitleTerminal:
    """Where the processes cannot be read: vim's file from the title, and nothing else."""

    name = "terminal"

    def describe(self, sample: WindowSample) -> Details:
        return _from_title(sample.title)

    def close(self) -> None:
        pass


TTY_SCRIPTS = {
    "Terminal": 'tell application "Terminal" to return tty of selected tab of front window',
    "iTerm2": 'tell application "iTerm2" to return tty of current session of current window',
}


class MacTerminal:
    """macOS Terminal and iTerm2: the front tab's tty from AppleScript, its foreground
    group from ``ps``. Other terminals: the title only."""

    name = "terminal"

    def __init__(self, runner: Runner, tmux: str = "tmux", ps: str = "ps") -> None:
        self.runner = runner
        self.tmux = tmux
        self.ps = ps

    def describe(self, sample: WindowSample) -> Details:
        app = find_app(sample)
        script = TTY_SCRIPTS.get(app.name) if app is not None else None
        if script is None:
            return _from_title(sample.title)
        tty = self.runner(script).strip()
        if not tty.startswith("/dev/"):
            return _from_title(sample.title)
        front = foreground_on_tty(tty, self.ps)
        if front is None:
            return _from_title(sample.title)
        return _with_tmux(front, sample.title, self.tmux)

    def close(self) -> None:
        pass
