"""Encoding and decoding: JSON for text frames, MessagePack for binary frames.

The frame type picks the codec, so one connection needs no negotiation and a
browser console or ``websocat`` can speak JSON to the same endpoint.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from officepulse.protocol.errors import CloseCode, ProtocolError
from officepulse.protocol.messages import AgentMessage, ServerMessage

Frame = bytes | str
Encoding = Literal["json", "msgpack"]

_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()
_agent_json: msgspec.json.Decoder[AgentMessage] = msgspec.json.Decoder(AgentMessage)
_agent_msgpack: msgspec.msgpack.Decoder[AgentMessage] = msgspec.msgpack.Decoder(AgentMessage)
_server_json: msgspec.json.Decoder[ServerMessage] = msgspec.json.Decoder(ServerMessage)
_server_msgpack: msgspec.msgpack.Decoder[ServerMessage] = msgspec.msgpack.Decoder(ServerMessage)


def encoding_of(frame: Frame) -> Encoding:
    return "json" if isinstance(frame, str) else "msgpack"


def encode(message: msgspec.Struct, encoding: Encoding) -> Frame:
    """JSON goes out as ``str`` (a text frame), MessagePack as ``bytes``."""
    if encoding == "json":
        return _json_encoder.encode(message).decode()
    return _msgpack_encoder.encode(message)


def _translate(frame: Frame, exc: msgspec.MsgspecError) -> ProtocolError:
    """Turn a msgspec error into a ProtocolError whose message names the problem."""
    text = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        # msgspec reports a bad tag at `$.type`; everything else is a bad field.
        if text.endswith("`$.type`") or "missing required field `type`" in text:
            return ProtocolError(CloseCode.UNKNOWN_TYPE, f"unknown message type: {text}")
        return ProtocolError(CloseCode.INVALID_MESSAGE, f"invalid message: {text}")
    kind = "JSON" if isinstance(frame, str) else "MessagePack"
    return ProtocolError(CloseCode.MALFORMED, f"malformed {kind}: {text}")


def decode_agent_message(frame: Frame) -> AgentMessage:
    """Decode what an agent sent; raises ProtocolError naming what was wrong."""
    try:
        if isinstance(frame, str):
            return _agent_json.decode(frame)
        return _agent_msgpack.decode(frame)
    except msgspec.MsgspecError as exc:
        raise _translate(frame, exc) from exc


def decode_server_message(frame: Frame) -> ServerMessage:
    """Decode what a server sent; raises ProtocolError naming what was wrong."""
    try:
        if isinstance(frame, str):
            return _server_json.decode(frame)
        return _server_msgpack.decode(frame)
    except msgspec.MsgspecError as exc:
        raise _translate(frame, exc) from exc
