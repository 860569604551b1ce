"""``officepulse agent probe`` as a person runs it: on a real X desktop (Xvfb + openbox,
xterm windows), without any desktop, and with a config file that cannot be used."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from officepulse.agent.config import parse_config
from officepulse.agent.drivers import Seen
from officepulse.agent.probe import Probe, render
from officepulse.agent.sources.base import WindowSample
from officepulse.agent.sources.select import BackendReport
from officepulse.protocol.messages import Activity
from tests.support.processes import OFFICEPULSE, clean_env

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = pytest.mark.timeout(60)

CONFIG = """\
[privacy]
never_capture = ["OpVault*", { app = "OpDiary", send = "nothing" }]
never_introspect = ["OpQuiet"]
redact = ['secret \\d+']
"""


def probe(tmp: Path, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", "agent", *args, "probe"],
        capture_output=True,
        text=True,
        timeout=30,
        # Its own data folder: the probe reads the agent's journal there, and must not
        # open the real one (two tests probing it at once would both write to it).
        env=clean_env(XDG_CONFIG_HOME=str(tmp / "xdg"), XDG_DATA_HOME=str(tmp / "data"), **env),
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "xdg" / "officepulse" / "agent.toml"
    path.parent.mkdir(parents=True)
    path.write_text(CONFIG)
    return path


def test_probe_on_a_real_desktop(xserver: XServer, tmp_path: Path, config: Path) -> None:
    editor = xserver.xterm("OpProbe", "notes - secret 1234 - draft")
    vault = xserver.xterm("OpVaultXC", "bank.kdbx")
    diary = xserver.xterm("OpDiary", "dear diary")
    env = {"DISPLAY": xserver.display, "XDG_SESSION_TYPE": "x11", "WAYLAND_DISPLAY": None}

    xserver.activate(editor)
    xserver.mousemove(10, 10)
    done = probe(tmp_path, "--idle-threshold", "60", **env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout
    lines = out.splitlines()
    assert lines[0].startswith("officepulse agent probe")
    assert "linux, x11 session" in out
    assert "  window    [ n/a  ] sway            not a sway session (SWAYSOCK is not set)" in out
    assert "            [in use] x11             _NET_ACTIVE_WINDOW, WM_CLASS" in out
    assert "  idle      [in use] x11             the MIT-SCREEN-SAVER extension's idle time" in out
    assert "  lock      [in use] x11             the X screen saver's state" in out
    assert "macos" not in out  # another platform's backends are left out
    assert "window      app 'OpProbe', title 'notes - secret 1234 - draft'" in out
    assert f"process xterm, pid {editor.pid}" in out
    idle = next(line for line in lines if line.startswith("idle "))
    assert "s since the last input → active (threshold 60 s)" in idle
    assert "terminal          program='sleep'" in out  # the xterm's foreground program
    assert f"privacy     lists from {config}" in out
    assert "never capture     OpVault* (private), OpDiary (nothing)" in out
    assert "never introspect  OpQuiet" in out
    assert "redact            1 pattern(s) → '…': 'secret \\\\d+'" in out
    assert "this window       redacted" in out
    assert (
        'would send  {"app":"OpProbe","title":"notes - … - draft","process":"xterm",'
        f'"pid":{editor.pid},"program":"sleep"}}' in out
    )

    xserver.activate(vault)
    out = probe(tmp_path, **env).stdout
    assert "this window       never captured (matches 'OpVault*'): sends private" in out
    assert "introspect  not run: this app is on a privacy list" in out
    assert 'would send  {"app":"private","private":true}' in out

    xserver.activate(diary)
    out = probe(tmp_path, **env).stdout
    assert "this window       never captured (matches 'OpDiary'): sends nothing" in out
    assert "would send  nothing: this time is not sent at all" in out


def test_probe_without_a_desktop_says_so_and_exits_0(tmp_path: Path, config: Path) -> None:
    done = probe(tmp_path, DISPLAY=None, WAYLAND_DISPLAY=None, XDG_SESSION_TYPE=None)
    assert done.returncode == 0
    out = done.stdout
    assert "no graphical session found (DISPLAY and WAYLAND_DISPLAY are not set)" in out
    assert "window      cannot be read: no graphical session found" in out
    assert "the agent stays connected and shows you online, without an activity" in out
    assert f"privacy     lists from {config}" in out
    assert "would send  no activity (online only)" in out


def test_probe_with_a_display_that_is_gone(tmp_path: Path) -> None:
    done = probe(tmp_path, "--source", "x11", DISPLAY=":4242")
    assert done.returncode == 0
    assert "[failed] x11             cannot open X display ':4242'" in done.stdout
    assert "privacy     no lists (" in done.stdout


def test_probe_shows_a_bad_config_file_and_exits_2(tmp_path: Path, config: Path) -> None:
    config.write_text('[privacy]\nnever_capture = ["a"]\nredact = ["(open"]\n')
    done = probe(tmp_path, DISPLAY=None, WAYLAND_DISPLAY=None)
    assert done.returncode == 2
    assert (
        f"{config}, line 3: privacy.redact[0]: '(open' is not a regular expression" in done.stdout
    )
    assert "would send  nothing: the agent would not start until the file is fixed" in done.stdout


def test_probe_flags_before_and_after_the_word_probe(tmp_path: Path) -> None:
    for args in (["--source", "none", "probe"], ["probe", "--source", "none"]):
        done = subprocess.run(
            [OFFICEPULSE, "--env-file", "/dev/null", "agent", *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=clean_env(XDG_CONFIG_HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path)),
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "window      cannot be read: the source is set to 'none'" in done.stdout


def test_render_fits_a_screen_and_names_every_stage() -> None:
    sample = WindowSample("Code", "main.py", "code", 7)
    activity = Activity(app="Code", title="main.py", process="code", pid=7)
    window = "_NET_ACTIVE_WINDOW on the X display"
    report = Probe(
        when=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        platform="linux",
        session="x11",
        idle_threshold=180,
        backends=(
            BackendReport("window", "sway", "sway's tree", False, False, "not sway", False),
            BackendReport("window", "x11", window, True, True, None, True),
            BackendReport("window", "macos", "NSWorkspace", False, False, "only on macOS", False),
            BackendReport("idle", "x11", "XScreenSaver", True, True, None, True),
        ),
        desktop="x11",
        idle_from="x11",
        seen=Seen(sample, 2.0, activity, activity, True),
        introspection=(("editor", "project='officepulse'"), ("media", "nothing more")),
        config=parse_config("", Path("/home/a/.config/officepulse/agent.toml")),
    )
    text = render(report)
    lines = text.splitlines()
    assert len(lines) <= 25
    assert max(map(len, lines)) <= 100
    for label in ("desktop", "window", "idle", "locked", "introspect", "privacy", "would send"):
        assert any(line.startswith(label) for line in lines), label
    assert "  window    [ n/a  ] sway            not sway" in lines
    assert f"            [in use] x11             {window}" in lines
    assert "  lock      no backend for this platform" in lines
    assert "NSWorkspace" not in text
    assert "idle        2.0 s since the last input → active (threshold 180 s)" in lines
    assert "locked      cannot tell on this desktop" in lines
    assert "  this window       on no list" in lines
    assert 'would send  {"app":"Code","title":"main.py","process":"code","pid":7}' in lines


def test_probe_reads_the_config_file_named_by_flag_or_environment(tmp_path: Path) -> None:
    named = tmp_path / "mine.toml"
    named.write_text('[privacy]\nnever_introspect = ["OpNamed"]\n')
    by_flag = probe(tmp_path, "--source", "none", "--agent-config", str(named))
    by_env = probe(tmp_path, "--source", "none", OFFICEPULSE_AGENT_CONFIG=str(named))
    for done in (by_flag, by_env):
        assert done.returncode == 0, done.stdout
        assert f"privacy     lists from {named}" in done.stdout
        assert "never introspect  OpNamed" in done.stdout
    missing = probe(tmp_path, "--source", "none", "--agent-config", str(tmp_path / "no.toml"))
    assert missing.returncode == 2
    assert f"config file {tmp_path / 'no.toml'} does not exist" in missing.stdout


@pytest.mark.parametrize(
    ("idle_for", "line"),
    [
        (0.0, "idle        less than 1 s since the last input → active (threshold 180 s)"),
        (
            4.25,
            "idle        at least 4.2 s since the last input → active (threshold 180 s); "
            "Wayland tells only since the agent started watching",
        ),
    ],
)
def test_wayland_idle_time_is_said_as_the_lower_bound_it_is(idle_for: float, line: str) -> None:
    """ext-idle-notify and org_kde_kwin_idle say "idle" once a timeout passes without input,
    counted from when the agent asked: the probe says so rather than show an exact time."""
    sample = WindowSample("foot", "~", "foot", 7)
    activity = Activity(app="foot", title="~", process="foot", pid=7)
    report = Probe(
        when=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        platform="linux",
        session="wayland",
        idle_threshold=180,
        desktop="sway",
        idle_from="kde-idle",
        idle_resolution=1.0,
        seen=Seen(sample, idle_for, activity, activity, True),
        config=parse_config("", Path("/home/a/.config/officepulse/agent.toml")),
    )
    assert line in render(report).splitlines()
