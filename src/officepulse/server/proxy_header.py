"""The PROXY protocol header (HAProxy's ``send-proxy`` / ``send-proxy-v2``), sans I/O.

A proxy in TCP mode, or one that keeps the client's address out of HTTP, starts the
connection with one header saying where the connection really comes from, then the
client's bytes. The ``proxy-protocol`` library parses a header; this module finds where
one starts and ends in the bytes received so far (a header may arrive in pieces, and the
HTTP request right behind it in the same piece) and says what it means here.
Specification: https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from proxyprotocol import ProxyProtocol, ProxyProtocolIncompleteError
from proxyprotocol.result import ProxyResult, is_ipv4, is_ipv6
from proxyprotocol.v1 import ProxyProtocolV1
from proxyprotocol.v2 import ProxyProtocolV2

from officepulse.errors import OfficepulseError
from officepulse.server.proxies import parse_address

V1_SIGNATURE = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107  # the longest v1 line, CRLF included (section 2.1)
V2_FIXED = 16  # signature, version and command, family, length


class ProxyHeaderError(OfficepulseError, ValueError):
    """The bytes start like a PROXY header but are not a valid one."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    # The address the connection comes from, as the proxy says; None when it says
    # nothing usable (LOCAL: the proxy's own health check; UNKNOWN; a UNIX socket).
    client: str | None
    length: int  # bytes the header takes at the start of the stream


def starts_with_header(data: bytes) -> bool | None:
    """Whether ``data`` (the first bytes of a connection) starts with a PROXY header:
    None while too few bytes have come to tell."""
    for signature in (V1_SIGNATURE, V2_SIGNATURE):
        n = min(len(data), len(signature))
        if data[:n] == signature[:n]:
            return True if n == len(signature) else None
    return False


def parse(data: bytes) -> ProxyHeader | None:
    """The PROXY header at the start of ``data`` (which starts_with_header said has one),
    or None until all of it has come. ProxyHeaderError when it is not a valid one."""
    version: ProxyProtocol
    if data.startswith(V1_SIGNATURE):
        end = data.find(b"\n", 0, V1_MAX)
        if end < 0:
            if len(data) >= V1_MAX:
                raise ProxyHeaderError(f"PROXY v1 header longer than {V1_MAX} bytes")
            return None
        raw, version = data[: end + 1], ProxyProtocolV1()
    else:
        if len(data) < V2_FIXED:
            return None
        length = V2_FIXED + int.from_bytes(data[14:16], "big")
        if len(data) < length:
            return None
        raw, version = data[:length], ProxyProtocolV2()
    try:
        result = version.unpack(bytes(raw))
    except (ValueError, struct.error, ProxyProtocolIncompleteError) as exc:
        # ValueError covers the library's syntax and checksum errors and bad addresses.
        detail = str(exc) or type(exc).__name__
        raise ProxyHeaderError(f"malformed PROXY header: {detail}") from exc
    return ProxyHeader(_client(result), len(raw))


def _client(result: ProxyResult) -> str | None:
    if is_ipv4(result) or is_ipv6(result):
        address = parse_address(str(result.source[0]))
        return None if address is None else str(address)
    return None
