"""The codec: round trips in both encodings, and every kind of bad input gets
a ProtocolError whose close code and message name what was wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from officepulse.protocol import (
    Activity,
    CloseCode,
    Error,
    Heartbeat,
    Hello,
    Media,
    Ping,
    Pong,
    ProtocolError,
    SpanOut,
    Spans,
    Welcome,
    decode_agent_message,
    decode_server_message,
    encode,
)
from officepulse.protocol.messages import MAX_BATCH_SPANS

text = st.text(max_size=200)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=zones
)
activities = st.builds(
    Activity,
    app=st.text(min_size=1, max_size=50),
    title=text,
    url=st.none() | text,
    process=st.none() | st.text(max_size=50),
    pid=st.none() | st.integers(0, 2**31),
    idle=st.booleans(),
    private=st.booleans(),
    program=st.none() | st.text(max_size=30),
    project=st.none() | st.text(max_size=30),
    file=st.none() | text,
    media=st.none()
    | st.builds(
        Media,
        player=st.text(max_size=20),
        title=text,
        artist=st.text(max_size=20),
        playing=st.booleans(),
    ),
)
agent_ids = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")
hellos = st.builds(
    Hello,
    v=st.integers(0, 10),
    agent_id=agent_ids,
    name=st.text(max_size=50),
    host=st.text(max_size=50),
    platform=st.text(max_size=50),
    agent_version=st.text(max_size=20),
    tz=st.text(max_size=40),
    token=st.none() | st.text(max_size=50),
)
agent_messages = st.one_of(
    hellos,
    st.builds(Heartbeat, ts=instants, activity=activities),
    st.builds(Ping, id=st.integers(0, 2**62)),
    st.builds(
        Spans,
        first_seq=st.integers(1, 2**40),
        spans=st.lists(
            st.builds(
                SpanOut,
                start=instants,
                end=instants,
                activity=activities,
                tz=st.none() | st.sampled_from(["Europe/Berlin", "Asia/Kathmandu"]),
            ),
            min_size=1,
            max_size=3,
        ),
    ),
)
server_messages = st.one_of(
    st.builds(
        Welcome,
        v=st.integers(0, 10),
        session=text,
        server_version=text,
        heartbeat_interval=st.floats(0.001, 86_400),
        pulsetime=st.floats(0.001, 86_400),
        max_frame_bytes=st.integers(0, 2**30),
    ),
    st.builds(Pong, id=st.integers(0, 2**62)),
    st.builds(Error, code=text, message=text, fatal=st.booleans()),
)


@given(agent_messages, st.sampled_from(["json", "msgpack"]))
def test_agent_messages_round_trip(message: msgspec.Struct, encoding: str) -> None:
    frame = encode(message, encoding)  # type: ignore[arg-type]
    assert isinstance(frame, str if encoding == "json" else bytes)
    assert decode_agent_message(frame) == message


@given(server_messages, st.sampled_from(["json", "msgpack"]))
def test_server_messages_round_trip(message: msgspec.Struct, encoding: str) -> None:
    assert decode_server_message(encode(message, encoding)) == message  # type: ignore[arg-type]


@given(st.binary(max_size=300))
def test_garbage_bytes_give_a_protocol_error_and_nothing_else(data: bytes) -> None:
    try:
        message = decode_agent_message(data)
    except ProtocolError as exc:
        assert exc.close_code in {
            CloseCode.MALFORMED,
            CloseCode.UNKNOWN_TYPE,
            CloseCode.INVALID_MESSAGE,
        }
        assert exc.message
    else:
        assert isinstance(message, Hello | Heartbeat | Ping)


@given(st.text(max_size=300))
def test_garbage_text_gives_a_protocol_error_and_nothing_else(data: str) -> None:
    try:
        decode_agent_message(data)
    except ProtocolError as exc:
        assert exc.message.split(":")[0] in {
            "malformed JSON",
            "unknown message type",
            "invalid message",
        }


@given(st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10) | st.none()))
def test_json_objects_of_any_shape_are_refused_cleanly(obj: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        decode_agent_message(msgspec.json.encode(obj).decode())


@pytest.mark.parametrize(
    ("frame", "code", "names"),
    [
        ("{not json", CloseCode.MALFORMED, "malformed JSON"),
        (b"\xc1\x00", CloseCode.MALFORMED, "malformed MessagePack"),
        ('{"type": "teleport"}', CloseCode.UNKNOWN_TYPE, "'teleport'"),
        ('{"app": "x"}', CloseCode.UNKNOWN_TYPE, "missing required field `type`"),
        ('{"type": "heartbeat", "activity": {"app": "x"}}', CloseCode.INVALID_MESSAGE, "`ts`"),
        (
            '{"type": "heartbeat", "ts": "2026-01-01T10:00:00", "activity": {"app": "x"}}',
            CloseCode.INVALID_MESSAGE,
            "timezone",
        ),
        (
            '{"type": "heartbeat", "ts": "2026-01-01T10:00:00Z", "activity": {"app": 5}}',
            CloseCode.INVALID_MESSAGE,
            "`$.activity.app`",
        ),
        ('{"type": "ping", "id": -1}', CloseCode.INVALID_MESSAGE, "`$.id`"),
        ("[1, 2]", CloseCode.INVALID_MESSAGE, "Expected `object`, got `array`"),
        (
            '{"type": "hello", "v": 1, "agent_id": "no spaces please", "name": "a", "host": "h",'
            ' "platform": "p", "agent_version": "1", "tz": "UTC"}',
            CloseCode.INVALID_MESSAGE,
            "`$.agent_id`",
        ),
    ],
)
def test_bad_frames_name_what_was_wrong(frame: str | bytes, code: CloseCode, names: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_agent_message(frame)
    assert caught.value.close_code is code
    assert names in caught.value.message


def test_oversized_fields_are_refused() -> None:
    beat = {"type": "heartbeat", "ts": "2026-01-01T10:00:00Z", "activity": {"app": "x" * 300}}
    with pytest.raises(ProtocolError, match="length <= 256"):
        decode_agent_message(msgspec.json.encode(beat).decode())


def test_close_reason_fits_in_a_close_frame() -> None:
    error = ProtocolError(CloseCode.INVALID_MESSAGE, "é" * 200)
    assert len(error.close_reason().encode()) <= 123


def test_json_is_plain_and_readable() -> None:
    beat = Heartbeat(ts=datetime(2026, 1, 1, 10, tzinfo=UTC), activity=Activity(app="Code"))
    assert encode(beat, "json") == (
        '{"type":"heartbeat","ts":"2026-01-01T10:00:00Z","activity":{"app":"Code"}}'
    )


@given(
    count=st.integers(0, MAX_BATCH_SPANS + 50) | st.sampled_from([0, 1, MAX_BATCH_SPANS, 1001]),
    encoding=st.sampled_from(["json", "msgpack"]),
)
@settings(max_examples=30, deadline=None)
def test_a_batch_holds_one_to_the_most_spans(count: int, encoding: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    row = [start, start + timedelta(seconds=1), {"app": "Code"}]
    message = {"type": "spans", "first_seq": 1, "spans": [row] * count}
    frame: str | bytes = (
        msgspec.json.encode(message).decode()
        if encoding == "json"
        else msgspec.msgpack.encode(message)
    )
    if 1 <= count <= MAX_BATCH_SPANS:
        decoded = decode_agent_message(frame)
        assert isinstance(decoded, Spans)
        assert len(decoded.spans) == count
    else:
        with pytest.raises(ProtocolError) as caught:
            decode_agent_message(frame)
        assert caught.value.close_code is CloseCode.INVALID_MESSAGE
        assert "$.spans" in caught.value.message


def test_a_span_may_leave_out_its_zone() -> None:
    """Agents from before zones send 3-element spans: the zone is then None, and the
    server counts the span in the hello's zone."""
    frame = (
        '{"type":"spans","first_seq":1,"spans":['
        '["2026-11-27T10:00:00Z","2026-11-27T10:05:00Z",{"app":"Code"}],'
        '["2026-11-27T10:05:00Z","2026-11-27T10:06:00Z",{"app":"Code"},"Asia/Tokyo"]]}'
    )
    message = decode_agent_message(frame)
    assert isinstance(message, Spans)
    assert [s.tz for s in message.spans] == [None, "Asia/Tokyo"]
