"""Sans-I/O conversations: the rules of an agent connection, without the socket.

Everything that decides what may be sent when lives here; the server's and the
agent's websocket code only pump frames in and out. A protocol error never
raises into the I/O layer: it becomes an Error message plus a close code that
the pump reads from ``close``.

Server side::

    AWAITING_HELLO --hello--> ACCEPTING --accept()--> OPEN
          |                       |--reject()--> CLOSED
          '--anything else--> CLOSED (4004)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import msgspec

from officepulse.protocol.codec import (
    Encoding,
    Frame,
    decode_agent_message,
    decode_server_message,
    encode,
    encoding_of,
)
from officepulse.protocol.errors import CloseCode, ConversationError, ProtocolError
from officepulse.protocol.messages import (
    SUPPORTED_VERSIONS,
    Ack,
    AppNames,
    Enrolled,
    Error,
    Facts,
    Heartbeat,
    Hello,
    Ping,
    Pong,
    Presence,
    Spans,
    Welcome,
)


class State(enum.Enum):
    AWAITING_HELLO = "awaiting-hello"
    ACCEPTING = "accepting"
    OPEN = "open"
    CLOSED = "closed"


# Events are made for every message an agent sends: not frozen, as a frozen dataclass
# costs three times as much to make (treat them as read-only all the same).
@dataclass(slots=True)
class HelloReceived:
    hello: Hello


@dataclass(slots=True)
class HeartbeatReceived:
    heartbeat: Heartbeat


@dataclass(slots=True)
class SpansReceived:
    spans: Spans


@dataclass(slots=True)
class PresenceReceived:
    presence: Presence


@dataclass(slots=True)
class AppNamesReceived:
    app_names: AppNames


@dataclass(slots=True)
class FactsReceived:
    facts: Facts


ServerEvent = (
    HelloReceived
    | HeartbeatReceived
    | SpansReceived
    | PresenceReceived
    | AppNamesReceived
    | FactsReceived
)


# receive() compares the state on every message: a member looked up on its enum class
# costs ten times a global on Python 3.11.
_AWAITING_HELLO, _OPEN, _CLOSED = State.AWAITING_HELLO, State.OPEN, State.CLOSED


@dataclass(frozen=True, slots=True)
class Close:
    code: CloseCode
    reason: str


class ServerConversation:
    """The server's half of one agent connection."""

    def __init__(self) -> None:
        self.state = State.AWAITING_HELLO
        self.encoding: Encoding = "json"
        self.close: Close | None = None
        self.hello: Hello | None = None
        self._outgoing: list[Frame] = []

    def data_to_send(self) -> list[Frame]:
        out, self._outgoing = self._outgoing, []
        return out

    def has_data_to_send(self) -> bool:
        """Whether data_to_send() would return anything (most messages get no reply)."""
        return bool(self._outgoing)

    def _send(self, message: msgspec.Struct) -> None:
        self._outgoing.append(encode(message, self.encoding))

    def fail(self, error: ConversationError) -> None:
        """Refuse the connection: an Error message, then a close naming the cause."""
        if self.state is State.CLOSED:
            return
        self._send(Error(code=error.code, message=error.message, fatal=True))
        self.close = Close(error.close_code, error.close_reason())
        self.state = State.CLOSED

    def receive(self, frame: Frame) -> list[ServerEvent]:
        state = self.state
        if state is _CLOSED:
            return []
        if state is _AWAITING_HELLO:
            # Replies follow the encoding of the Hello, even when it is broken.
            self.encoding = encoding_of(frame)
        try:
            message = decode_agent_message(frame)
        except ProtocolError as exc:
            self.fail(exc)
            return []
        # Heartbeats first, and only here: nearly every message of a v1 agent is one
        # (``type() is``: message Structs are never subclassed).
        if type(message) is Heartbeat and state is _OPEN:
            return [HeartbeatReceived(message)]
        if isinstance(message, Hello):
            if self.state is not State.AWAITING_HELLO:
                self.fail(ProtocolError(CloseCode.HELLO_EXPECTED, "hello sent twice"))
                return []
            if message.v not in SUPPORTED_VERSIONS:
                supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
                self.fail(
                    ProtocolError(
                        CloseCode.UNSUPPORTED_VERSION,
                        f"protocol version {message.v} is not supported; this server speaks "
                        f"{supported}",
                    )
                )
                return []
            self.hello = message
            self.state = State.ACCEPTING
            return [HelloReceived(message)]
        if self.state is not State.OPEN:
            self.fail(
                ProtocolError(
                    CloseCode.HELLO_EXPECTED,
                    f"the first message must be 'hello', not '{type(message).__name__.lower()}'",
                )
            )
            return []
        if isinstance(message, Ping):
            self._send(Pong(id=message.id))
            return []
        assert self.hello is not None
        if self.hello.v < 2:
            kind = type(message).__name__.lower()
            self.fail(
                ProtocolError(
                    CloseCode.INVALID_MESSAGE,
                    f"'{kind}' needs protocol version 2; this connection said hello with v1",
                )
            )
            return []
        if isinstance(message, Spans):
            return [SpansReceived(message)]
        if isinstance(message, AppNames):
            return [AppNamesReceived(message)]
        if isinstance(message, Facts):
            if self.hello.v < 3:
                self.fail(
                    ProtocolError(
                        CloseCode.INVALID_MESSAGE,
                        f"'facts' needs protocol version 3; this connection said hello "
                        f"with v{self.hello.v}",
                    )
                )
                return []
            return [FactsReceived(message)]
        assert isinstance(message, Presence)  # heartbeats were taken first
        return [PresenceReceived(message)]

    def enrolled(self, credential: str) -> None:
        """The Hello's enrollment token was exchanged: the credential goes out before
        the Welcome."""
        assert self.state is State.ACCEPTING, self.state
        self._send(Enrolled(credential=credential))

    def accept(self, welcome: Welcome) -> None:
        assert self.state is State.ACCEPTING, self.state
        self._send(welcome)
        self.state = State.OPEN

    def reject(self, error: ConversationError) -> None:
        self.fail(error)

    def ack(self, seq: int) -> None:
        self._send(Ack(seq=seq))

    def warn(self, code: str, message: str) -> None:
        """A non-fatal refusal: the message is dropped, the connection stays."""
        self._send(Error(code=code, message=message, fatal=False))


@dataclass(frozen=True, slots=True)
class WelcomeReceived:
    welcome: Welcome


@dataclass(frozen=True, slots=True)
class EnrolledReceived:
    credential: str


@dataclass(frozen=True, slots=True)
class PongReceived:
    id: int


@dataclass(frozen=True, slots=True)
class ErrorReceived:
    error: Error


@dataclass(frozen=True, slots=True)
class AckReceived:
    seq: int


AgentEvent = WelcomeReceived | EnrolledReceived | PongReceived | AckReceived | ErrorReceived


class AgentConversation:
    """The agent's half: sends Hello first, then heartbeats once welcomed."""

    def __init__(self, hello: Hello, encoding: Encoding = "msgpack") -> None:
        self.encoding = encoding
        self.state = State.ACCEPTING
        self.welcome: Welcome | None = None
        self._outgoing: list[Frame] = [encode(hello, encoding)]

    def data_to_send(self) -> list[Frame]:
        out, self._outgoing = self._outgoing, []
        return out

    def send(self, message: Heartbeat | Spans | Presence | Ping | AppNames | Facts) -> None:
        if self.state is not State.OPEN:
            raise RuntimeError(f"cannot send {type(message).__name__} while {self.state.value}")
        self._outgoing.append(encode(message, self.encoding))

    def receive(self, frame: Frame) -> list[AgentEvent]:
        message = decode_server_message(frame)  # a broken server is the agent's error
        if isinstance(message, Welcome):
            self.welcome = message
            self.state = State.OPEN
            return [WelcomeReceived(message)]
        if isinstance(message, Enrolled):
            return [EnrolledReceived(message.credential)]
        if isinstance(message, Pong):
            return [PongReceived(message.id)]
        if isinstance(message, Ack):
            return [AckReceived(message.seq)]
        if message.fatal:
            self.state = State.CLOSED
        return [ErrorReceived(message)]
