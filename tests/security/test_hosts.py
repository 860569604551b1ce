"""The Host and Origin rules and the agent's URL check, as pure functions
(the same rules over real connections: tests/security/test_transport.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from officepulse.agent.transport import check_server_url
from officepulse.security.hosts import Authority, HostRules, default_names, parse_host_header
from officepulse.settings import is_loopback

RULES = HostRules.of(default_names("127.0.0.1", ["office.example.com", "192.0.2.7"]))


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("localhost:8080", True),
        ("LOCALHOST.:8080", True),
        ("127.0.0.1", True),
        ("[::1]:8080", True),
        ("[0:0:0:0:0:0:0:1]:8080", True),
        ("office.example.com", True),
        ("192.0.2.7:443", True),
        ("evil.example:8080", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("user@localhost", False),
        ("localhost/path", False),
        ("localhost:notaport", False),
    ],
)
def test_only_the_servers_names_are_answered(header: str, allowed: bool) -> None:
    assert (RULES.host_allowed(header) is None) is allowed


def test_any_host_with_a_star_and_none_without_a_host_header() -> None:
    assert HostRules.of(["*"]).host_allowed("anything.example") is None
    assert RULES.host_allowed(None) is None


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://localhost:8080", "localhost:8080", True),
        ("https://office.example.com", "office.example.com", True),  # behind a TLS proxy
        ("https://office.example.com:443", "office.example.com", True),
        ("http://localhost:8081", "localhost:8080", False),  # another port, another origin
        ("http://127.0.0.1:8080", "localhost:8080", False),
        ("http://evil.example", "localhost:8080", False),
        ("null", "localhost:8080", False),
        ("moz-extension://abc", "localhost:8080", False),
        ("http://localhost:8080/time?x=1", "localhost:8080", True),  # a Referer
    ],
)
def test_an_origin_must_be_this_server_itself(origin: str, host: str, same: bool) -> None:
    assert (RULES.origin_allowed(origin, host) is None) is same


@given(st.text(max_size=80))
def test_any_header_gets_an_answer_and_never_an_exception(header: str) -> None:
    answer = RULES.host_allowed(header)
    assert answer is None or "Host" in answer or "name" in answer
    assert RULES.origin_allowed(header, header) is None or "cross-site" in str(
        RULES.origin_allowed(header, header)
    )


def test_default_names_leave_out_a_wildcard_bind() -> None:
    assert "0.0.0.0" not in default_names("0.0.0.0", ["vm"])
    assert "vm" in default_names("0.0.0.0", ["vm"])
    assert "10.1.2.3" in default_names("10.1.2.3", [])
    assert parse_host_header("[::1]:80") == Authority("::1", None)


@pytest.mark.parametrize(
    ("url", "insecure", "ok"),
    [
        ("ws://localhost:8080/agent", False, True),
        ("ws://127.0.0.1:8080/agent", False, True),
        ("ws://[::1]:8080/agent", False, True),
        ("ws://dev.localhost/agent", False, True),
        ("wss://office.example.com/agent", False, True),
        ("ws://office.example.com/agent", False, False),
        ("ws://192.0.2.7:8080/agent", False, False),
        ("ws://localhost.evil.example/agent", False, False),
        ("ws://office.example.com/agent", True, True),
        ("http://localhost:8080/agent", False, False),
    ],
)
def test_plain_ws_only_to_this_computer(url: str, insecure: bool, ok: bool) -> None:
    assert (check_server_url(url, insecure) is None) is ok


def test_loopback_is_told_without_asking_dns() -> None:
    assert is_loopback("127.8.9.10")
    assert not is_loopback("localhost-alike.example")
