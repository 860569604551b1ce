"""Protocol errors and the websocket close codes that carry them.

ProtocolError
 └── raised by the codec and the conversations; carries a CloseCode, a short
     machine-readable ``code`` and a message that names what was wrong.
"""

from __future__ import annotations

import enum


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
    # Limits: 4000 + the nearest HTTP status, clear of the protocol's own 40xx.
    HANDSHAKE_TIMEOUT = 4408
    RATE_LIMITED = 4429
    TOO_MANY_CONNECTIONS = 4503

    @property
    def slug(self) -> str:
        return self.name.lower().replace("_", "-")


class ProtocolError(Exception):
    """The peer broke the protocol; the connection closes with ``close_code``."""

    def __init__(self, close_code: CloseCode, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.message = message
        self._code = code

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
