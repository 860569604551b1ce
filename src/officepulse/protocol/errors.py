"""The errors that end an agent's conversation, and the websocket close codes that carry
them (their place in the project's tree: officepulse/errors.py).

ConversationError   a CloseCode, a short machine-readable ``code``, a message
 ├── ProtocolError    the peer broke the protocol (close codes 4000-4004): raised by the codec
 │                    and the conversations, and by ingest for a hello's unknown time zone (a
 │                    field's value the pure codec cannot check: it has no zone database)
 └── Refusal          the server will not take a well-formed hello or message (4009 and up):
                      admission (blocked, removed, credentials, enrollment tokens, an
                      agent older than the server's minimum version), the
                      gateway's one connection per agent and its limits; a hint, where there
                      is one, says what the person at the agent can do
"""

from __future__ import annotations

import enum
import re

from officepulse.errors import OfficepulseError


class CloseCode(enum.IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    MALFORMED = 4000
    UNKNOWN_TYPE = 4001
    INVALID_MESSAGE = 4002
    UNSUPPORTED_VERSION = 4003
    HELLO_EXPECTED = 4004
    REPLACED = 4009
    # The agent is blocked; it should try again only slowly (an unblock is picked up).
    AGENT_BLOCKED = 4010
    # No usable credential or enrollment token, or the agent was removed: always with a
    # finer error code that says which (agent/link.py REFUSAL_CODES). Retrying with the
    # same one will be refused again.
    UNAUTHORIZED = 4011
    # The agent's version is below the server's agent_min_version: it must be updated
    # (4000 + HTTP's 426 Upgrade Required). Retrying with the same agent is refused again.
    UPDATE_REQUIRED = 4426
    # Limits: 4000 + the nearest HTTP status, clear of the protocol's own 40xx.
    HANDSHAKE_TIMEOUT = 4408
    RATE_LIMITED = 4429
    TOO_MANY_CONNECTIONS = 4503
    # The gateway has as many agent connections as it takes: come back soon (another gateway
    # behind the load balancer, or this one once a place is free). RFC 6455's 1013 "try
    # again later" in the private range; the reason may suggest a delay (retry_reason).
    TRY_AGAIN_SOON = 4013

    @property
    def slug(self) -> str:
        return self.name.lower().replace("_", "-")


# A close reason that suggests a delay starts with it: ``retry-after=2: ...`` (seconds).
_RETRY_AFTER = re.compile(r"retry-after=(\d{1,6}(?:\.\d{1,3})?)(?::|$)")


def retry_reason(seconds: float, text: str) -> str:
    """A close reason suggesting ``seconds`` before the next attempt, then ``text``, cut to
    what a close frame carries (123 bytes)."""
    return f"retry-after={seconds:g}: {text}".encode()[:123].decode(errors="ignore")


def retry_after(reason: str) -> float | None:
    """The delay a close reason suggests (``retry_reason``), or None when it suggests none."""
    match = _RETRY_AFTER.match(reason)
    return float(match.group(1)) if match else None


class ConversationError(OfficepulseError):
    """Ends a conversation: the peer is sent an Error (``code``, ``message``), then the
    connection closes with ``close_code``."""

    def __init__(
        self,
        close_code: CloseCode,
        message: str,
        code: str | None = None,
        *,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.close_code = close_code
        self._code = code

    @property
    def message(self) -> str:
        """What the peer is told: what was wrong, and the hint when there is one."""
        return str(self)

    @property
    def code(self) -> str:
        """The error's code: the close code's name unless a finer one was given
        (``credential-revoked`` under 4011 ``unauthorized``)."""
        return self._code or self.close_code.slug

    def close_reason(self) -> str:
        """The message cut to what a websocket close frame can carry (123 bytes)."""
        raw = self.message.encode()
        if len(raw) <= 123:
            return self.message
        return raw[:120].decode(errors="ignore") + "..."


class ProtocolError(ConversationError):
    """The peer broke the protocol; the connection closes with ``close_code``."""


class Refusal(ConversationError):
    """The message was well-formed, but the server will not take it (who the agent is,
    what its hello says, a limit). Not a protocol error: the agent did nothing wrong
    with the protocol, and it shows the message to its person as it is."""
