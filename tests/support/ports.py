"""Free TCP ports on the loopback, for programs that must be told their port (NATS,
HAProxy, ActivityWatch's server); a program that can listen on port 0 and say which port
it got (officepulse's server) is better still: no one else can take that port first."""

from __future__ import annotations

import os
import socket


def _share() -> tuple[int, int]:
    """This process's share of the ports and the number of shares: under pytest-xdist,
    one per worker (PYTEST_XDIST_WORKER=gw1 of PYTEST_XDIST_WORKER_COUNT=2, inherited by
    the programs the worker starts), else the whole range."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if worker.startswith("gw") and worker[2:].isdigit() and count.isdigit() and int(count):
        return int(worker[2:]) % int(count), int(count)
    return 0, 1


def free_port() -> int:
    """A port nothing listens on now. A port is free from here until the program given
    it binds it; in that moment another worker's pick must not land on it, so each
    worker picks from its own share (pairs of ports: Linux hands out even ports to
    bind(), odd ones to outgoing connections)."""
    share, shares = _share()
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port // 2 % shares == share:
            return port
