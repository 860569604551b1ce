"""Who the client is behind trusted reverse proxies, pure.

A request's hops, nearest last: the X-Forwarded-For entries, then the address a PROXY
protocol header gave (server/proxy_header.py), then the socket's peer. Walking from the
peer outwards, each hop that is a trusted proxy (``trusted_proxies``) vouches for the one
before it; the first hop that is not trusted is the client. So a client cannot pass for
another by sending its own X-Forwarded-For: only what trusted proxies appended counts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address | None:
    """An address as proxies write it (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:80``,
    ``::1``), an IPv4-mapped IPv6 address as the IPv4 one; None when it is none."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_for(values: Iterable[str]) -> list[str]:
    """The hops of every X-Forwarded-For header, in order (a header may be sent twice)."""
    return [hop.strip() for value in values for hop in value.split(",") if hop.strip()]


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    networks: tuple[Network, ...]

    @classmethod
    def of(cls, entries: Iterable[str]) -> TrustedProxies:
        """From the ``trusted_proxies`` setting (already checked by settings.py)."""
        return cls(tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, host: str) -> bool:
        address = parse_address(host)
        return address is not None and any(address in net for net in self.networks)

    def client(self, hops: Sequence[str]) -> str:
        """The client of a request whose hops are ``hops`` (nearest last, the socket's
        peer at the end): the nearest hop that is not a trusted proxy. A hop that is not
        an address (``unknown``, a name) ends the walk at the trusted hop after it;
        when every hop is trusted, the farthest one is the client."""
        client = hops[-1]
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                return client
            client = str(address)
            if not any(address in net for net in self.networks):
                return client
        return client
