"""Pair tests: an AgentConversation wired to a ServerConversation, no sockets;
what one side sends is what the other decodes."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from officepulse.gateway.admission import ASK, agent_removed
from officepulse.protocol import PROTOCOL_VERSION, Activity, CloseCode, Heartbeat, Hello, Welcome
from officepulse.protocol.codec import decode_server_message
from officepulse.protocol.errors import ProtocolError, Refusal
from officepulse.protocol.messages import Error, Ping
from officepulse.protocol.session import (
    AgentConversation,
    EnrolledReceived,
    ErrorReceived,
    HeartbeatReceived,
    HelloReceived,
    PongReceived,
    ServerConversation,
    State,
    WelcomeReceived,
)

HELLO = Hello(
    v=PROTOCOL_VERSION,
    agent_id="a1",
    name="Alice",
    host="laptop",
    platform="Linux",
    agent_version="0.1",
    tz="Europe/Paris",
)
WELCOME = Welcome(
    v=PROTOCOL_VERSION,
    session="s",
    server_version="0.1",
    heartbeat_interval=10,
    pulsetime=25,
    max_frame_bytes=65536,
)


def pump(
    src: AgentConversation | ServerConversation, dst: AgentConversation | ServerConversation
) -> list[object]:
    events: list[object] = []
    for frame in src.data_to_send():
        events.extend(dst.receive(frame))
    return events


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_handshake_heartbeat_and_ping(encoding: str) -> None:
    agent = AgentConversation(HELLO, encoding)  # type: ignore[arg-type]
    server = ServerConversation()
    assert pump(agent, server) == [HelloReceived(HELLO)]
    assert server.encoding == encoding
    server.accept(WELCOME)
    assert pump(server, agent) == [WelcomeReceived(WELCOME)]
    beat = Heartbeat(ts=datetime(2026, 5, 1, 9, tzinfo=UTC), activity=Activity(app="Code"))
    agent.send(beat)
    agent.send(Ping(id=7))
    assert pump(agent, server) == [HeartbeatReceived(beat)]
    assert pump(server, agent) == [PongReceived(7)]
    assert server.close is None


def test_agent_cannot_send_before_welcome() -> None:
    agent = AgentConversation(HELLO)
    with pytest.raises(RuntimeError, match="while accepting"):
        agent.send(Ping(id=1))


def test_heartbeat_before_hello_closes_with_hello_expected() -> None:
    server = ServerConversation()
    server.receive('{"type": "ping", "id": 1}')
    assert server.close is not None
    assert server.close.code is CloseCode.HELLO_EXPECTED
    assert "first message must be 'hello'" in server.close.reason
    (frame,) = server.data_to_send()
    error = decode_server_message(frame)
    assert isinstance(error, Error)
    assert error.fatal
    assert error.code == "hello-expected"
    assert server.state is State.CLOSED
    assert server.receive('{"type": "ping", "id": 2}') == []


def test_unsupported_version_names_the_versions() -> None:
    server = ServerConversation()
    agent = AgentConversation(Hello(**{**_fields(HELLO), "v": 99}))
    pump(agent, server)
    assert server.close is not None
    assert server.close.code is CloseCode.UNSUPPORTED_VERSION
    assert server.close.reason == "protocol version 99 is not supported; this server speaks 1, 2, 3"
    events = pump(server, agent)
    assert isinstance(events[0], ErrorReceived)
    assert agent.state is State.CLOSED


def test_second_hello_is_refused() -> None:
    server = ServerConversation()
    agent = AgentConversation(HELLO)
    pump(agent, server)
    server.accept(WELCOME)
    server.data_to_send()
    server.receive(AgentConversation(HELLO).data_to_send()[0])
    assert server.close is not None
    assert server.close.code is CloseCode.HELLO_EXPECTED


def test_reject_and_warn() -> None:
    server = ServerConversation()
    pump(AgentConversation(HELLO, "json"), server)
    server.reject(ProtocolError(CloseCode.INVALID_MESSAGE, "unknown time zone"))
    (frame,) = server.data_to_send()
    assert isinstance(frame, str)
    assert '"fatal":true' in frame
    other = ServerConversation()
    pump(AgentConversation(HELLO), other)
    other.accept(WELCOME)
    other.warn("heartbeat-refused", "too old")
    _, warning = other.data_to_send()
    decoded = decode_server_message(warning)
    assert isinstance(decoded, Error)
    assert not decoded.fatal
    assert other.close is None


def test_broken_hello_is_answered_in_its_own_encoding() -> None:
    server = ServerConversation()
    server.receive(b"\x93\x01")  # MessagePack, but an array
    (frame,) = server.data_to_send()
    assert isinstance(frame, bytes)


def _fields(hello: Hello) -> dict[str, object]:
    return {f: getattr(hello, f) for f in hello.__struct_fields__}


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_an_enrollment_sends_the_credential_before_the_welcome(encoding: str) -> None:
    hello = msgspec.structs.replace(HELLO, enroll="opet_token")
    agent = AgentConversation(hello, encoding)  # type: ignore[arg-type]
    server = ServerConversation()
    assert pump(agent, server) == [HelloReceived(hello)]
    server.enrolled("opac_secret")
    server.accept(WELCOME)
    assert pump(server, agent) == [EnrolledReceived("opac_secret"), WelcomeReceived(WELCOME)]
    assert agent.state is State.OPEN


def test_a_refusal_carries_its_own_code_under_the_close_code() -> None:
    agent = AgentConversation(HELLO, "json")
    server = ServerConversation()
    pump(agent, server)
    server.reject(Refusal(CloseCode.UNAUTHORIZED, "it was revoked", "credential-revoked"))
    (event,) = pump(server, agent)
    assert event == ErrorReceived(
        Error(code="credential-revoked", message="it was revoked", fatal=True)
    )
    assert server.close is not None
    assert server.close.code == 4011
    assert agent.state is State.CLOSED


def test_a_refusal_tells_the_agent_what_to_do() -> None:
    agent = AgentConversation(HELLO, "json")
    server = ServerConversation()
    pump(agent, server)
    refusal = agent_removed()
    server.reject(refusal)
    (event,) = pump(server, agent)
    told = "this agent was removed by the team lead; to join again, " + ASK
    assert refusal.hint == "to join again, " + ASK
    assert event == ErrorReceived(Error(code="agent-removed", message=told, fatal=True))
    assert server.close is not None
    assert server.close.reason == told
