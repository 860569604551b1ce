"""The packaged agent for real. `make package` builds the one file (PyInstaller), once for
each state of the sources, in the background from the moment the tests are collected: the
``packaged`` fixture of tests/support/package_build.py, which keeps it for the next run.

The file then runs in a sandbox (bubblewrap) that holds no Python, no project and no
/usr/bin: only the system's shared libraries, the file, a home folder, /proc and the X
server's socket. In there: ``--version``, ``probe`` on Xvfb, and the agent itself,
connected to a real server (run from the venv) whose API must show the span it sent.
Outside the sandbox (a browser starts the host through /bin/sh), with no venv on PATH:
what ``install`` writes names the file itself, and the browser's launcher runs its host.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from officepulse import __version__
from officepulse.agent.browser_tabs import Tabs
from officepulse.agent.native_host import encode_message
from officepulse.agent.tab_channel import TabListener
from tests.support import enrollment, paths
from tests.support.native_host import HELLO, tab
from tests.support.processes import WAIT, Process, clean_env, wait_until
from tests.support.servers import ServerProcess

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux package"),
    pytest.mark.timeout(1500),  # the first test may build the file: a minute or more
]

ROOT = paths.ROOT
NAME = "officepulse-agent"
INSIDE = f"/app/{NAME}"  # where the file is in the sandbox
HOME = "/home/person"


def require_bwrap() -> None:
    if shutil.which("bwrap") is None:
        pytest.fail("these tests run the packaged agent in bubblewrap: run `make system-deps`")


def sandbox(
    program: Path,
    home: Path,
    *args: str,
    display: str | None = None,
    env: dict[str, str] | None = None,
) -> list[str]:
    """``program`` with ``args`` in a sandbox holding no Python and no project: the
    system's libraries (the C library, zlib), the file at /app, ``home`` as the home
    folder, a fresh /tmp (where the file unpacks itself), /proc, and the X socket."""
    require_bwrap()
    arch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    command = ["bwrap", "--ro-bind", f"/usr/lib/{arch}", f"/usr/lib/{arch}"]
    for libs in ("/usr/lib64", "/usr/lib32"):
        if Path(libs).is_dir():
            command += ["--ro-bind", libs, libs]
    command += ["--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"]
    command += ["--ro-bind", str(program), INSIDE, "--bind", str(home), HOME]
    command += ["--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev", "--die-with-parent"]
    command += ["--chdir", HOME]  # run from the home folder, far from any checkout
    given = {"HOME": HOME, "USER": "person", "LANG": "C.UTF-8", **(env or {})}
    if display is not None:
        command += ["--ro-bind", "/tmp/.X11-unix", "/tmp/.X11-unix"]
        given |= {"DISPLAY": display, "XDG_SESSION_TYPE": "x11"}
    command.append("--clearenv")
    for key, value in given.items():
        command += ["--setenv", key, value]
    return [*command, INSIDE, *args]


def kill_tree(pid: int) -> None:
    """Kill ``pid`` and what it started: the one-file program is a loader and the agent it
    unpacked, and killing the loader alone leaves the agent running."""
    try:
        top = psutil.Process(pid)
        procs = [*top.children(recursive=True), top]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


def run(command: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), capture_output=True, text=True, timeout=WAIT * 2, check=False, **kwargs
    )


# -- the file --------------------------------------------------------------------------


def test_the_file_runs_where_there_is_no_python(packaged: Path, tmp_path: Path) -> None:
    size = packaged.stat().st_size
    print(f"\n{packaged}: {size / 2**20:.1f} MB")
    started = time.monotonic()
    done = run(sandbox(packaged, tmp_path, "--version"))
    print(f"--version in {time.monotonic() - started:.2f} s")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{NAME} {__version__}"
    # The sandbox really has no Python: the same binds cannot start one.
    python = run([*sandbox(packaged, tmp_path)[:-1], "/usr/bin/python3", "-c", "0"])
    assert python.returncode != 0
    helped = run(sandbox(packaged, tmp_path, "--help"))
    assert helped.returncode == 0, helped.stderr
    for command in ("probe", "settings", "install", "uninstall", "native-host"):
        assert command in helped.stdout
    assert f"usage: {NAME} " in helped.stdout


def test_probe_reads_the_x_desktop(packaged: Path, xserver: XServer, tmp_path: Path) -> None:
    editor = xserver.xterm("PkgEditor", "notes.txt - packaged")
    xserver.activate(editor)
    done = run(sandbox(packaged, tmp_path, "probe", "--source", "x11", display=xserver.display))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "app 'PkgEditor', title 'notes.txt - packaged'" in done.stdout
    assert '"app":"PkgEditor"' in done.stdout  # what it would send
    assert "[in use] x11" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


# -- against a real server -------------------------------------------------------------


def test_the_file_connects_and_its_spans_are_stored(
    packaged: Path, xserver: XServer, server: ServerProcess, tmp_path: Path
) -> None:
    first = xserver.xterm("PkgFirst", "first window")
    second = xserver.xterm("PkgSecond", "second window")
    xserver.activate(first)
    args = ("--server-url", server.ws_url, "--source", "x11", "--poll-interval", "0.2")
    args += ("--agent-id", "packaged", "--credential-store", "file")
    started = time.monotonic()
    agent = Process(
        sandbox(
            packaged, tmp_path, *args, display=xserver.display, env={"XDG_RUNTIME_DIR": "/tmp"}
        ),
        name="the packaged agent",
    )
    try:
        agent.wait_for_log("connected to ")
        print(f"\nconnected {time.monotonic() - started:.2f} s after it was started")

        def online() -> dict[str, Any] | None:
            for seen in server.get("/api/v1/agents")["agents"]:
                if seen["id"] == "packaged" and seen["online"] and seen["current"]:
                    return dict(seen)
            return None

        seen = wait_until(online, what="the packaged agent online with a current window")
        assert seen["version"] == __version__
        assert seen["current"]["app"] == "PkgFirst"
        # The build's hash recorded when the file was built (officepulse/builds.py) is the
        # server's own, as they come from one source: no unknown build is flagged.
        day = "/api/v1/gaps?agent=packaged&tz=UTC&date=" + _today_date()
        assert [g for g in server.get(day)["gaps"] if g["kind"] == "unknown-build"] == []
        xserver.activate(second)  # ends the first window's span, which the agent then sends
        spans = wait_until(
            lambda: [
                s
                for s in server.get("/api/v1/spans?" + _today())["spans"]
                if s["app"] == "PkgFirst"
            ],
            what="the first window's span stored",
            context=agent.tail,
        )
        assert spans[0]["title"] == "first window"
        assert spans[0]["agent"] == "packaged"
        # SIGTERM, as systemd stops it: to the file's own process (bwrap passes no signal
        # on; the one-file program's loader passes it to the agent it unpacked).
        (program, *_) = psutil.Process(agent.pid).children()
        program.send_signal(signal.SIGTERM)
        assert agent.wait(WAIT) == 0
    finally:
        kill_tree(agent.pid)
        agent.wait()
    out = agent.output()
    assert "stopped (" in out
    assert "Traceback" not in out


def _today_date() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).date().isoformat()


def _today() -> str:
    from datetime import UTC, datetime, timedelta
    from urllib.parse import urlencode

    now = datetime.now(UTC)
    return urlencode(
        {
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
        }
    )


# -- what it leaves to start it later --------------------------------------------------


async def test_what_it_installs_starts_the_file_itself(packaged: Path, tmp_path: Path) -> None:
    """The start-at-login entries and the browser's launcher run the file, not a Python;
    and the launcher, started as Chromium starts it, passes the tab on to an agent."""
    runtime = tmp_path / "run"  # short enough for a socket's path (107 bytes at most)
    runtime.mkdir(mode=0o700)
    program = tmp_path / "bin" / NAME
    program.parent.mkdir()
    shutil.copy2(packaged, program)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",  # no venv, no project
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_RUNTIME_DIR": str(runtime),
        "TMPDIR": str(tmp_path),  # where the file unpacks itself
    }
    installed = await asyncio.to_thread(
        run, [str(program), "--server-url", "ws://127.0.0.1:9/agent", "install"], env=env, cwd=home
    )
    assert installed.returncode == 0, installed.stderr
    unit = (home / ".config" / "systemd" / "user" / "officepulse-agent.service").read_text()
    assert f"ExecStart={program} --server-url ws://127.0.0.1:9/agent --tray\n" in unit
    entry = (home / ".config" / "autostart" / "officepulse-agent.desktop").read_text()
    assert f"Exec={program} --server-url ws://127.0.0.1:9/agent --tray\n" in entry

    browser = await asyncio.to_thread(
        run, [str(program), "install", "--browser", "chromium"], env=env, cwd=home
    )
    assert browser.returncode == 0, browser.stderr
    launcher = (
        home / ".local" / "share" / "officepulse" / "native-messaging" / "officepulse-native-host"
    )
    assert launcher.read_text() == f'#!/bin/sh\nexec {program} native-host "$@"\n'

    tabs = Tabs()
    listener = TabListener(tabs, str(runtime / "officepulse" / "tabs.sock"))
    await listener.start()
    host = await asyncio.create_subprocess_exec(
        str(launcher),
        "chrome-extension://packagedtest/",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert host.stdin is not None
        host.stdin.write(encode_message(HELLO))
        host.stdin.write(encode_message(tab("Packaged page", "https://example.org/p")))
        await host.stdin.drain()
        deadline = time.monotonic() + WAIT
        while not any(b.tab and b.tab.title == "Packaged page" for b in tabs.browsers.values()):
            assert time.monotonic() < deadline, "the tab never reached the agent from the host"
            await asyncio.sleep(0.05)
        (seen,) = tabs.browsers.values()
        assert seen.host.caller == "chrome-extension://packagedtest/"
        host.stdin.close()  # as the browser does (communicate() leaves it open on 3.11)
        async with asyncio.timeout(WAIT):
            out, err = await host.communicate()
        assert host.returncode == 0, err
        assert out == b""  # nothing to the browser: it would read it as a message
    finally:
        kill_tree(host.pid)
        await host.wait()
        await listener.close()

    removed = await asyncio.to_thread(run, [str(program), "uninstall"], env=env, cwd=home)
    assert removed.returncode == 0, removed.stderr
    assert not (home / ".config" / "systemd" / "user" / "officepulse-agent.service").exists()


def test_a_program_without_a_console_writes_to_its_log(tmp_path: Path) -> None:
    """The Windows .exe has no console (sys.stdout and sys.stderr are None): what it says
    goes to agent.log in the user log folder. Run here with both set to None."""
    code = (
        "import sys; sys.stdout = sys.stderr = None\n"
        "from officepulse.cli.packaged import main\n"
        "main(['probe'])\n"
        "main(['--version'])\n"
    )
    env = clean_env(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    done = run([sys.executable, "-c", code], env=env, cwd=tmp_path)
    assert done.stdout == ""
    logged = (tmp_path / "state" / NAME / "log" / "agent.log").read_text()
    assert "officepulse agent probe" in logged  # probe's report
    assert logged.rstrip().endswith(f"{NAME} {__version__}")
    assert done.returncode == 0, done.stderr


# A real Secret Service (gnome-keyring on a private bus) and a server that admits enrolled
# agents only: the fixtures of tests/support/enrollment.py.
secret_service = enrollment.secret_service
locked = enrollment.locked


def test_the_file_keeps_its_credential_in_the_system_keyring(
    packaged: Path, locked: ServerProcess, secret_service: dict[str, str], tmp_path: Path
) -> None:
    """keyring finds its backends through their packages' metadata: the file must carry it,
    or the credential would go to a file where the person has a keyring."""
    token = enrollment.new_token(locked)
    args = ("--server-url", locked.ws_url, "--source", "none", "--agent-id", "pkgkr")
    agent = Process(
        [str(packaged), *args, "--enroll-token", token],
        name="the packaged agent",
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), **secret_service},
    )
    try:
        agent.wait_for_log("credential is kept in")
    finally:
        kill_tree(agent.pid)
        agent.wait()
    out = agent.output()
    assert "credential is kept in the system keyring (keyring.backends.SecretService" in out
    assert enrollment.keyring_password(secret_service, "pkgkr") is not None


def test_the_file_carries_its_pages_and_the_gnome_extension(packaged: Path, tmp_path: Path) -> None:
    """What the agent reads from its package at run time is in the file: the GNOME Shell
    extension it installs (the same files as from source), and the settings page with its
    script and stylesheet."""
    homes = {name: tmp_path / name for name in ("packaged", "source")}
    for name, command in (
        ("packaged", [str(packaged)]),
        ("source", [sys.executable, "-m", "officepulse", "agent"]),
    ):
        homes[name].mkdir()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(homes[name]), "TMPDIR": str(tmp_path)}
        args = ["install-gnome-extension", "--shell-version", "45", "--no-enable"]
        done = run([*command, *args], env=env, cwd=homes[name])
        assert done.returncode == 0, done.stdout + done.stderr
    extensions = Path(".local/share/gnome-shell/extensions/focused-window@officepulse")
    packaged_files = sorted((homes["packaged"] / extensions).iterdir())
    assert [f.name for f in packaged_files] == ["extension.js", "metadata.json"]
    for built in packaged_files:
        assert built.read_bytes() == (homes["source"] / extensions / built.name).read_bytes()

    env = {"PATH": "/usr/bin:/bin", "HOME": str(homes["packaged"]), "TMPDIR": str(tmp_path)}
    page = Process([str(packaged), "settings", "--no-browser"], name="the settings page", env=env)
    try:
        link = page.wait_for_log("the settings page: ").split(": ", 1)[1]
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(link, timeout=WAIT) as answer:
            assert "<title>officepulse agent settings</title>" in answer.read().decode()
        origin = link.split("/?", 1)[0]
        for asset in ("page.js", "page.css"):
            with opener.open(f"{origin}/{asset}", timeout=WAIT) as answer:
                source = ROOT / "src" / "officepulse" / "agent" / "page" / asset
                assert answer.read() == source.read_bytes()
    finally:
        kill_tree(page.pid)
        page.wait()
    assert "Traceback" not in page.output()
