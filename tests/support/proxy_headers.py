"""PROXY protocol v1 and v2 headers as a proxy sends them."""

from __future__ import annotations

import ipaddress
import struct

from officepulse.server.proxy_header import V2_SIGNATURE


def v1(source: str, port: int = 40000) -> bytes:
    family = "TCP4" if ipaddress.ip_address(source).version == 4 else "TCP6"
    dest = "127.0.0.1" if family == "TCP4" else "::1"
    return f"PROXY {family} {source} {dest} {port} 8080\r\n".encode()


def v2(source: str, port: int = 40000, *, local: bool = False, tlv: bytes = b"") -> bytes:
    """As HAProxy's send-proxy-v2 writes it (section 2.2 of the specification)."""
    address = ipaddress.ip_address(source)
    if address.version == 4:
        family, dest = 0x11, ipaddress.ip_address("127.0.0.1")
    else:
        family, dest = 0x21, ipaddress.ip_address("::1")
    body = address.packed + dest.packed + struct.pack("!HH", port, 8080) + tlv
    command = 0x20 if local else 0x21
    return V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(body)) + body
