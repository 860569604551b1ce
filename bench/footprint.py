#!/usr/bin/env python3
"""Agent footprint: the CPU and memory of a real ``officepulse agent`` watching a real X
desktop, polling once a second, with the privacy lists and introspection on.

Starts Xvfb + openbox with three xterm windows (``tests/support/xserver.py``), a real server on a
scratch database, and the agent (``--source x11 --poll-interval 1``, pinned to one core,
everything else on the other). After a warm-up it measures two phases:

  steady     nothing moves: the same window in front, the agent polls and heartbeats;
  switching  the front window changes every ``--switch-every`` seconds and a title
             changes in between (the bench's xdotool calls are not the agent's cost).

For each: the agent's CPU (user + system, psutil ``cpu_times`` before and after, as % of
one core and ms per poll), its RSS (the highest of samples every 0.25 s) and its RSS
high-water mark (VmHWM). Targets: under 1 % of one core, under 60 MB RSS.

``--tray`` runs the agent with its tray icon (``--tray``, what the icon costs), on a session
bus of its own: ``--tray-backend xembed`` (the default) the agent's own XEmbed icon in
trayer; ``sni`` its StatusNotifierItem in xfce4-panel (a StatusNotifierWatcher); ``gtk`` and
``appindicator`` pystray's backends (PYSTRAY_BACKEND) in trayer. The agent's log says which
backend it used (``tray_backend`` in the result). ``--breakdown`` adds the agent's largest
memory mappings at the end (what its RSS is made of).

To measure another commit's agent, run the bench with ``PYTHONPATH=<its checkout>/src``:
the agent and server it starts import officepulse from there.
``--agent-command dist/officepulse-agent`` measures the packaged agent (``make package``)
instead of ``officepulse agent``: the process it unpacks, with the one-file loader's own
memory said apart.

Run: .venv/bin/python bench/footprint.py [--seconds 60] [--json]   (bench/README.md)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.xserver import XServer, start_xserver  # noqa: E402 - needs the repo on the path

RESULTS_DIR = REPO / "bench" / "results"
OFFICEPULSE = str(Path(sys.executable).parent / "officepulse")
AGENT_CPU = 0  # the agent gets a core to itself; X, the server and this script share CPU 1
CPU_TARGET_PCT = 1.0
RSS_TARGET_MB = 60.0

# A realistic config: a few apps on each list and two redaction patterns, so every poll
# pays for the privacy rules.
CONFIG = """\
[privacy]
never_capture = ["KeePassXC", "signal*", { app = "Slack", send = "nothing" }]
never_introspect = ["firefox", "thunderbird"]
redact = ['\\b\\d{4}(?:[ -]?\\d{4}){3}\\b', '(?i)project \\w+']
"""

WINDOWS = (
    ("BenchEditor", "main.py - officepulse - Visual Studio Code"),
    ("BenchBrowser", "Pull requests · officepulse — Mozilla Firefox"),
    ("BenchTerminal", "vim notes.txt"),
)


@dataclass
class Phase:
    name: str
    seconds: float
    cpu_s: float
    cpu_pct: float
    polls: int
    ms_per_poll: float
    rss_max_mb: float
    rss_end_mb: float
    switches: int


def pin(pid: int, cpu: int) -> None:
    if (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(pid, {cpu})


def pin_others() -> None:
    """This script, and what it starts after the agent, on the other core."""
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 2)) - {AGENT_CPU})


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFICEPULSE_")}
    env.pop("WAYLAND_DISPLAY", None)
    env.update(extra)
    return env


class Server:
    def __init__(self, tmp: Path) -> None:
        self.proc = subprocess.Popen(
            [
                OFFICEPULSE,
                "--env-file",
                "/dev/null",
                "server",
                "--port",
                "0",
                "--database",
                str(tmp / "bench.sqlite3"),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=clean_env(),
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 20
        self.url = ""
        while time.monotonic() < deadline and not self.url:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("officepulse server listening on "):
                self.url = line.split(" on ", 1)[1].strip().replace("localhost", "127.0.0.1")
        if not self.url:
            self.stop()
            raise RuntimeError("the server did not start")
        # Keep draining its output so the pipe never fills.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def agents(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + "/api/v1/agents", timeout=5) as response:
            agents: list[dict[str, Any]] = json.loads(response.read())["agents"]
            return agents

    def stop(self) -> None:
        stop(self.proc)


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def is_script(program: str) -> bool:
    """A script (pip's ``officepulse-agent``) runs in its own process; not so the packaged
    file, a loader that starts the agent it unpacked."""
    with open(program, "rb") as file:
        return file.read(2) == b"#!"


def high_water_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(
    name: str,
    agent: psutil.Process,
    seconds: float,
    poll_interval: float,
    xserver: XServer | None = None,
    windows: list[Any] | None = None,
    switch_every: float = 5.0,
) -> Phase:
    def cpu() -> float:
        t = agent.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    rss_max = 0
    switches = 0
    next_switch = time.monotonic() + switch_every / 2
    before = cpu()
    start = time.monotonic()
    while (now := time.monotonic()) - start < seconds:
        rss_max = max(rss_max, agent.memory_info().rss)
        if xserver is not None and windows and now >= next_switch:
            win = windows[switches % len(windows)]
            if switches % 2:
                xserver.set_title(win, f"{WINDOWS[switches % len(WINDOWS)][1]} ({switches})")
            xserver.activate(win)
            switches += 1
            next_switch += switch_every
        time.sleep(0.25)
    elapsed = time.monotonic() - start
    used = cpu() - before
    rss_end = agent.memory_info().rss
    polls = max(1, round(elapsed / poll_interval))
    return Phase(
        name=name,
        seconds=round(elapsed, 1),
        cpu_s=round(used, 3),
        cpu_pct=round(100 * used / elapsed, 3),
        polls=polls,
        ms_per_poll=round(1000 * used / polls, 3),
        rss_max_mb=round(max(rss_max, rss_end) / 2**20, 1),
        rss_end_mb=round(rss_end / 2**20, 1),
        switches=switches,
    )


@contextlib.contextmanager
def extra_processes(count: int) -> Iterator[None]:
    """Idle processes, so the machine has as many as a desktop session (300-500): some
    introspection walks the process table."""
    procs = [
        subprocess.Popen(["sleep", "infinity"], stdin=subprocess.DEVNULL) for _ in range(count)
    ]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


@contextlib.contextmanager
def tray_host(xserver: XServer, tmp: Path, backend: str | None) -> Iterator[dict[str, str]]:
    """A tray and a session bus for the agent's tray icon (``backend``; None: no tray); the
    environment the agent needs."""
    if backend is None:
        yield {}
        return
    if backend == "sni":
        from tests.support.tray_host import SniHost

        host = SniHost(xserver, tmp)
        try:
            yield {"DBUS_SESSION_BUS_ADDRESS": host.address, "NO_AT_BRIDGE": "1"}
        finally:
            host.close()
        return
    xserver.spawn("trayer", "--edge", "top", "--align", "right", "--height", "32", name="trayer")
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert bus.stdout is not None
        env = {"DBUS_SESSION_BUS_ADDRESS": bus.stdout.readline().strip(), "NO_AT_BRIDGE": "1"}
        if backend in ("gtk", "appindicator"):
            env["PYSTRAY_BACKEND"] = backend
        yield env
    finally:
        stop(bus)


def tray_backend(log: str) -> str | None:
    """The tray backend the agent said it used ("tray: sni backend")."""
    found = re.search(r"tray: (\w+) backend", log)
    return found[1] if found else None


def breakdown(pid: int, top: int = 15) -> list[dict[str, Any]]:
    """The process's largest memory mappings by RSS (/proc/<pid>/smaps): shared libraries
    by file, the rest as [heap] and [anon]."""
    rss: dict[str, int] = {}
    anon: dict[str, int] = {}
    name = "?"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if not head[0].endswith(":"):  # a mapping's first line: address range, ..., path
            name = head[5] if len(head) > 5 else "[anon]"
        elif head[0] == "Rss:":
            rss[name] = rss.get(name, 0) + int(head[1])
        elif head[0] == "Anonymous:":
            anon[name] = anon.get(name, 0) + int(head[1])
    largest = sorted(rss, key=lambda n: -rss[n])[:top]
    return [{"mapping": n, "rss_kb": rss[n], "anonymous_kb": anon.get(n, 0)} for n in largest]


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="officepulse-footprint-") as scratch:
        tmp = Path(scratch)
        (tmp / "xdg" / "officepulse").mkdir(parents=True)
        (tmp / "xdg" / "officepulse" / "agent.toml").write_text(CONFIG)
        pin_others()
        with (
            start_xserver(wm=True) as xserver,
            extra_processes(args.extra_processes),
            tray_host(xserver, tmp, args.tray_backend if args.tray else None) as tray_env,
        ):
            windows = [xserver.xterm(cls, title) for cls, title in WINDOWS]
            xserver.activate(windows[0])
            server = Server(tmp)
            started = time.monotonic()
            proc = subprocess.Popen(
                [
                    *(
                        [args.agent_command, "--env-file", "/dev/null"]
                        if args.agent_command
                        else [OFFICEPULSE, "--env-file", "/dev/null", "agent"]
                    ),
                    "--server-url",
                    server.url.replace("http", "ws", 1) + "/agent",
                    "--agent-id",
                    "footprint",
                    "--state-dir",
                    str(tmp / "agent-state"),
                    "--source",
                    "x11",
                    "--poll-interval",
                    str(args.poll_interval),
                    *(["--tray", "--credential-store", "file"] if args.tray else []),
                    *args.agent_arg,
                ],
                stdout=subprocess.DEVNULL,
                stderr=(tmp / "agent.log").open("wb"),
                env=clean_env(
                    DISPLAY=xserver.display,
                    XDG_SESSION_TYPE="x11",
                    XDG_CONFIG_HOME=str(tmp / "xdg"),
                    **tray_env,
                ),
            )
            try:
                pin(proc.pid, AGENT_CPU)
                agent = psutil.Process(proc.pid)
                loader = None
                if args.agent_command and not is_script(args.agent_command):
                    # A one-file program is a loader and the agent it unpacked: the agent
                    # is measured, the loader's memory is said apart.
                    loader, agent = agent, wait_for(agent.children, 30, "the agent's process")[0]
                    pin(agent.pid, AGENT_CPU)
                wait_for(
                    lambda: any(a["id"] == "footprint" and a["online"] for a in server.agents()),
                    30,
                    "the agent online",
                )
                connected_after = time.monotonic() - started
                time.sleep(args.warmup)
                phases = [
                    measure("steady", agent, args.seconds, args.poll_interval),
                    measure(
                        "switching",
                        agent,
                        args.switch_seconds,
                        args.poll_interval,
                        xserver,
                        windows,
                        args.switch_every,
                    ),
                ]
                hwm = high_water_mb(agent.pid)
                loader_rss = loader.memory_info().rss / 2**20 if loader is not None else None
                mappings = breakdown(agent.pid) if args.breakdown else []
                processes = len(psutil.pids())
                seen = next(a for a in server.agents() if a["id"] == "footprint")
                if proc.poll() is not None:
                    raise RuntimeError("the agent exited:\n" + (tmp / "agent.log").read_text())
            finally:
                stop(proc)
                server.stop()
            log = (tmp / "agent.log").read_text(errors="replace")
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": platform.python_version(),
        "poll_interval": args.poll_interval,
        "tray": args.tray,
        "agent_command": args.agent_command,
        "connected_after_s": round(connected_after, 2),
        "loader_rss_mb": None if loader_rss is None else round(loader_rss, 1),
        "tray_backend": tray_backend(log),
        "pythonpath": os.environ.get("PYTHONPATH"),
        "processes_on_the_machine": processes,
        "phases": [asdict(p) for p in phases],
        "rss_high_water_mb": round(hwm, 1),
        "last_seen_on_server": seen.get("current"),
        "agent_log_lines": len(log.splitlines()),
        "tracebacks_in_log": log.count("Traceback"),
        "largest_mappings": mappings,
    }


def report(result: dict[str, Any]) -> str:
    rows = [
        "| phase | seconds | CPU s | % of one core | ms CPU per poll | RSS max MB | switches |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in result["phases"]:
        rows.append(
            f"| {p['name']} | {p['seconds']} | {p['cpu_s']} | {p['cpu_pct']} | "
            f"{p['ms_per_poll']} | {p['rss_max_mb']} | {p['switches']} |"
        )
    worst_cpu = max(p["cpu_pct"] for p in result["phases"])
    worst_rss = max(result["rss_high_water_mb"], *(p["rss_max_mb"] for p in result["phases"]))
    verdict = [
        f"processes on the machine: {result['processes_on_the_machine']}; "
        f"RSS high-water mark (VmHWM): {result['rss_high_water_mb']} MB",
        f"online on the server {result['connected_after_s']} s after the agent was started"
        + (
            f"; the one-file loader's own RSS: {result['loader_rss_mb']} MB"
            if result["loader_rss_mb"] is not None
            else ""
        ),
        f"CPU target < {CPU_TARGET_PCT} % of one core: "
        f"{'met' if worst_cpu < CPU_TARGET_PCT else 'MISSED'} (worst {worst_cpu} %)",
        f"RSS target < {RSS_TARGET_MB:g} MB: "
        f"{'met' if worst_rss < RSS_TARGET_MB else 'MISSED'} (worst {worst_rss} MB)",
        f"agent log: {result['agent_log_lines']} lines, "
        f"{result['tracebacks_in_log']} tracebacks; last seen on the server: "
        f"{json.dumps(result['last_seen_on_server'], ensure_ascii=False)}",
    ]
    if result["tray"]:
        verdict.append(f"tray: {result['tray_backend']}")
    for m in result["largest_mappings"]:
        verdict.append(f"  {m['rss_kb'] / 1024:6.1f} MB  {m['mapping']}")
    return "\n".join([*rows, "", *verdict])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="steady phase (default 60)")
    parser.add_argument(
        "--switch-seconds", type=float, default=30, help="switching phase (default 30)"
    )
    parser.add_argument(
        "--switch-every", type=float, default=3, help="seconds between switches (default 3)"
    )
    parser.add_argument("--poll-interval", type=float, default=1.0, help="default 1")
    parser.add_argument("--warmup", type=float, default=5, help="seconds before measuring")
    parser.add_argument(
        "--agent-arg", action="append", default=[], help="one more argument for the agent"
    )
    parser.add_argument(
        "--extra-processes",
        type=int,
        default=0,
        help="start this many idle processes first, to count like a desktop session",
    )
    parser.add_argument("--tray", action="store_true", help="the agent with its tray icon")
    parser.add_argument(
        "--tray-backend",
        choices=("xembed", "sni", "gtk", "appindicator"),
        default="xembed",
        help="with --tray: the agent's XEmbed icon in trayer (default), its "
        "StatusNotifierItem in xfce4-panel, or pystray's GTK or AppIndicator backend",
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="print the agent's largest memory mappings"
    )
    parser.add_argument(
        "--agent-command",
        help="run this program, which takes `officepulse agent`'s arguments, instead: the "
        "packaged dist/officepulse-agent (`make package`)",
    )
    parser.add_argument("--json", action="store_true", help="also write bench/results/")
    args = parser.parse_args()
    result = run(args)
    print(report(result))
    if args.json:
        RESULTS_DIR.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS_DIR / f"footprint-{stamp}.json"
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
