"""This machine's names and addresses: the names a team may reach the server
by, for the default ``allowed_hosts`` and the ``--dev-tls`` certificate."""

from __future__ import annotations

import ipaddress
import socket

import psutil


def machine_names() -> list[str]:
    """The host name, its fully qualified name, and every interface's address
    (link-local IPv6 ones left out: they need a zone and no one types them)."""
    names: list[str] = []
    for name in (socket.gethostname(), socket.getfqdn()):
        if name and name.lower() not in names:
            names.append(name.lower())
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                ip = ipaddress.ip_address(addr.address.split("%", 1)[0])
            except ValueError:
                continue
            if not ip.is_link_local and str(ip) not in names:
                names.append(str(ip))
    return names
