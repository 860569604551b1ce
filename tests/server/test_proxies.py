"""The real client behind trusted proxies, pure: the walk over X-Forwarded-For, the
PROXY protocol header found in bytes however they arrive, and the setting's errors."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from officepulse.server.proxies import TrustedProxies, forwarded_for, parse_address
from officepulse.server.proxy_header import (
    V1_SIGNATURE,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    parse,
    starts_with_header,
)
from officepulse.settings import ServerSettings, SettingsError, load
from tests.support.proxy_headers import v1, v2

TRUSTED = TrustedProxies.of(["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"])


@pytest.mark.parametrize(
    ("hops", "client"),
    [
        (["127.0.0.1"], "127.0.0.1"),  # the proxy itself, asking for itself
        (["203.0.113.7", "127.0.0.1"], "203.0.113.7"),
        (["203.0.113.7", "10.1.2.3", "127.0.0.1"], "203.0.113.7"),  # two proxies deep
        # What the client wrote itself is left of the hop its proxy appended: not believed.
        (["198.51.100.1", "203.0.113.7", "127.0.0.1"], "203.0.113.7"),
        (["203.0.113.7", "192.0.2.1"], "192.0.2.1"),  # an untrusted peer: its XFF is ignored
        (["unknown", "10.1.2.3", "127.0.0.1"], "10.1.2.3"),
        (["203.0.113.7:4711", "127.0.0.1"], "203.0.113.7"),
        (["[2001:db9::5]:443", "2001:db8::1"], "2001:db9::5"),
        (["::ffff:203.0.113.7", "::ffff:127.0.0.1"], "203.0.113.7"),
    ],
)
def test_the_client_is_the_nearest_hop_that_is_not_a_trusted_proxy(
    hops: list[str], client: str
) -> None:
    assert TRUSTED.client(hops) == client


def test_forwarded_for_joins_every_header_in_order() -> None:
    assert forwarded_for(["1.1.1.1, 2.2.2.2", " 3.3.3.3 ,", ""]) == [
        "1.1.1.1",
        "2.2.2.2",
        "3.3.3.3",
    ]


@given(
    client=st.ip_addresses(v=4).map(str),
    spoofed=st.lists(st.ip_addresses().map(str), max_size=4),
    proxies=st.lists(st.sampled_from(["127.0.0.1", "10.9.8.7", "2001:db8::2"]), min_size=1),
)
def test_whatever_a_client_sends_before_its_own_address_it_stays_itself(
    client: str, spoofed: list[str], proxies: list[str]
) -> None:
    if TRUSTED.trusts(client):
        return  # a trusted address is not a client of this test
    assert TRUSTED.client([*spoofed, client, *proxies]) == client


def test_addresses_as_proxies_write_them() -> None:
    assert str(parse_address("1.2.3.4:80")) == "1.2.3.4"
    assert str(parse_address("[::1]:80")) == "::1"
    assert str(parse_address("::1")) == "::1"
    assert parse_address("[::1") is None
    assert parse_address("proxy.example") is None


def test_a_bad_trusted_proxy_stops_start_up_naming_it() -> None:
    with pytest.raises(SettingsError) as raised:
        load(ServerSettings, {"trusted_proxies": "10.0.0.1, 10.0.0.300/8"}, env_file=None)
    assert str(raised.value) == (
        "--trusted-proxies: '10.0.0.300/8' is not an IP address or network (such as "
        "10.0.0.5 or 10.0.0.0/24) (got '10.0.0.1, 10.0.0.300/8')"
    )


# -- the PROXY protocol header --------------------------------------------------------


REQUEST = b"GET /agent HTTP/1.1\r\nHost: x\r\n\r\n"


@given(
    source=st.ip_addresses(),
    version=st.sampled_from([v1, v2]),
    rest=st.binary(max_size=64),
    cuts=st.lists(st.integers(0, 200), max_size=6),
)
def test_a_header_arriving_in_pieces_gives_its_client_and_leaves_the_rest(
    source: ipaddress.IPv4Address | ipaddress.IPv6Address,
    version: Callable[[str], bytes],
    rest: bytes,
    cuts: list[int],
) -> None:
    header = version(str(source))
    stream = header + rest
    received = b""
    found: ProxyHeader | None = None
    for end in [*sorted(cuts), len(stream)]:
        received = stream[: max(end, len(received))]
        assert starts_with_header(received) in (True, None)
        if starts_with_header(received):
            found = parse(received)
            if found is not None:
                break
    # An IPv4-mapped IPv6 client is its IPv4 address, as everywhere (parse_address).
    client = source.ipv4_mapped if isinstance(source, ipaddress.IPv6Address) else None
    assert found == ProxyHeader(str(client or source), len(header))
    assert received[found.length :] + stream[len(received) :] == rest


def test_a_local_header_names_no_client() -> None:
    # HAProxy's own health checks: the connection is the proxy's.
    assert parse(v2("10.0.0.1", local=True) + REQUEST) == ProxyHeader(None, 28)
    assert parse(b"PROXY UNKNOWN\r\n" + REQUEST) == ProxyHeader(None, 15)


def test_tlvs_after_the_addresses_are_part_of_the_header() -> None:
    tlv = bytes([0x04, 0x00, 0x03]) + b"abc"  # PP2_TYPE_NOOP
    header = v2("192.0.2.9", tlv=tlv)
    assert parse(header + REQUEST) == ProxyHeader("192.0.2.9", len(header))


def test_plain_http_is_not_a_header_and_is_told_at_its_first_byte() -> None:
    assert starts_with_header(b"G") is False
    assert starts_with_header(b"\r\n\r\nGET /") is False  # empty lines before a request
    assert starts_with_header(b"PRO") is None
    assert starts_with_header(b"\r\n\r\n\x00") is None
    assert starts_with_header(V1_SIGNATURE) is True


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "malformed PROXY header"),
        (b"PROXY TCP4 999.2.3.4 5.6.7.8 1 2\r\n", "malformed PROXY header"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "malformed PROXY header"),  # no CR
        (b"PROXY TCP4 " + b"1" * 120, "longer than 107 bytes"),
        (V2_SIGNATURE + b"\x31\x11\x00\x0c" + b"\x00" * 12, "malformed PROXY header"),
        (V2_SIGNATURE + b"\x21\x11\x00\x04" + b"\x00" * 4, "malformed PROXY header"),
    ],
)
def test_a_bad_header_is_an_error_that_says_so(data: bytes, reason: str) -> None:
    with pytest.raises(ProxyHeaderError, match=reason):
        parse(data)


@given(st.binary(max_size=80))
def test_any_bytes_after_a_signature_parse_or_fail_with_a_header_error(tail: bytes) -> None:
    for signature in (V1_SIGNATURE, V2_SIGNATURE):
        with contextlib.suppress(ProxyHeaderError):
            parse(signature + tail)
