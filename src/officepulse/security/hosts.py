"""Host and Origin rules, pure: which names this server answers to, and which
pages may talk to it from a browser.

- DNS rebinding: a hostile page on ``evil.example`` whose name an attacker
  points at this server's address reaches it with ``Host: evil.example``; only
  the server's own names (``allowed_hosts``) are answered.
- Cross-site websocket hijacking and form posts from other sites: a browser
  always says which page a websocket or a POST comes from (``Origin``); it must
  be this very server (same host and port as the request's ``Host``). A request
  without ``Origin`` does not come from a web page (agents, curl): it is let
  through, since such a client could send any ``Origin`` it likes anyway.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("", "0.0.0.0", "::")
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


@dataclass(frozen=True, slots=True)
class Authority:
    """A host (lower case, IPv6 without brackets) and a port (None: the scheme's default)."""

    host: str
    port: int | None


def normal_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def parse_host_header(value: str, scheme: str = "http") -> Authority | None:
    """``name``, ``name:port``, ``[::1]:port``; None when it is none of those."""
    try:
        parts = urlsplit(f"{scheme}://{value.strip()}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.path or parts.query or parts.username is not None:
        return None
    if port == _DEFAULT_PORTS.get(scheme):
        port = None
    return Authority(normal_host(parts.hostname), port)


def parse_origin(value: str) -> Authority | None:
    """``https://name[:port]``; None for ``null`` or anything that is not an origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if port == _DEFAULT_PORTS[parts.scheme]:
        port = None
    return Authority(normal_host(parts.hostname), port)


@dataclass(frozen=True, slots=True)
class HostRules:
    names: frozenset[str]  # normalised; "*" allows any Host

    @classmethod
    def of(cls, names: Iterable[str]) -> HostRules:
        return cls(frozenset("*" if n.strip() == "*" else normal_host(n) for n in names))

    def host_allowed(self, host_header: str | None, scheme: str = "http") -> str | None:
        """None when the request may be answered, else why not."""
        if host_header is None:
            return None  # HTTP/1.0 without Host: not a browser, so not a rebinding attack
        authority = parse_host_header(host_header, scheme)
        if authority is None:
            return f"malformed Host header {host_header[:60]!r}"
        if "*" in self.names or authority.host in self.names:
            return None
        return (
            f"this server does not answer to the name {authority.host[:60]!r} "
            "(add it to allowed_hosts if it is one of its names)"
        )

    def origin_allowed(
        self, origin: str, host_header: str | None, scheme: str = "http"
    ) -> str | None:
        """None when a page at ``origin`` is this server itself, else why not."""
        page = parse_origin(origin)
        if page is None:
            return f"cross-site request refused: origin {origin[:60]!r} is not this server"
        here = None if host_header is None else parse_host_header(host_header, scheme)
        # Behind a TLS proxy the page is https and this leg http: hosts and ports compare.
        if here is not None and here == page:
            return None
        if here is None and page.host in self.names:
            return None
        return f"cross-site request refused: origin {origin[:60]!r} is not this server"


def default_names(bound_host: str, machine_names: Iterable[str]) -> list[str]:
    """localhost and loopback addresses, the address the server is bound to
    (unless it is every interface), and this machine's names and addresses."""
    names = list(LOOPBACK_NAMES)
    if bound_host not in WILDCARD_BINDS:
        names.append(bound_host)
    names.extend(machine_names)
    return names
