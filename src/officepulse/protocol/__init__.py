"""The officepulse wire protocol, shared by agent and server.

Everything here is sans-I/O: bytes and strings in, typed messages out, and back.
No sockets, no clocks, no environment.
"""

from officepulse.protocol.codec import decode_agent_message, decode_server_message, encode
from officepulse.protocol.errors import CloseCode, ConversationError, ProtocolError, Refusal
from officepulse.protocol.messages import (
    PROTOCOL_VERSION,
    Ack,
    Activity,
    AgentMessage,
    AppName,
    AppNames,
    ClockJump,
    Error,
    Facts,
    Heartbeat,
    Hello,
    Media,
    Ping,
    Pong,
    Presence,
    ServerMessage,
    SpanOut,
    Spans,
    Stretch,
    Welcome,
)

__all__ = [
    "PROTOCOL_VERSION",
    "Ack",
    "Activity",
    "AgentMessage",
    "AppName",
    "AppNames",
    "ClockJump",
    "CloseCode",
    "ConversationError",
    "Error",
    "Facts",
    "Heartbeat",
    "Hello",
    "Media",
    "Ping",
    "Pong",
    "Presence",
    "ProtocolError",
    "Refusal",
    "ServerMessage",
    "SpanOut",
    "Spans",
    "Stretch",
    "Welcome",
    "decode_agent_message",
    "decode_server_message",
    "encode",
]
