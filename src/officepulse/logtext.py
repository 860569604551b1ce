"""Log lines that cannot lie: whatever a client sent is shown, never obeyed.

An agent's name, a window title, a login typed into the sign-in form, a path or a header
reaches the logs as an argument of a message. Written raw, a newline in it starts a line
that looks like the server's own, and an ANSI escape sequence recolours, hides or rewrites
what an operator's terminal shows. The formatter below escapes every control character of
a record's message as Python would in a string literal (``\\n``, ``\\x1b``, ``\\u2028``), so
each record is exactly one line; a traceback keeps its lines, each after the first
indented, with the same characters escaped. Escaping is done here, once, for every logger,
rather than at each call, where one would be forgotten.

Backslashes are left as they are: a name holding a backslash and an ``n`` reads like an
escaped newline, but it is still on its one line and forges nothing.
"""

from __future__ import annotations

import logging
import re

# C0 and C1 controls and DEL; the Unicode line and paragraph separators; the marks and
# overrides that reorder text (a "Trojan Source" title could show its words in another
# order). Zero-width joiners and the like are left alone: emoji need them.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
UNSAFE = _UNSAFE  # for logjson.py, which escapes the same characters its own way
_UNSAFE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` on one line with every control character visible."""
    return _UNSAFE.sub(_shown, text)


def escape_block(text: str) -> str:
    """A multi-line text (a traceback) with its control characters visible but its
    newlines kept, each line after the first indented: no line of it can pass for the
    start of a record."""
    return _UNSAFE_BUT_NEWLINE.sub(_shown, text).replace("\n", "\n  ")


class EscapingFormatter(logging.Formatter):
    """A Formatter whose records are one line each, whatever their arguments hold."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return escape_block(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return escape_block(super().formatStack(stack_info))


def configure(
    level: str, fmt: str, datefmt: str, *, formatter: logging.Formatter | None = None
) -> None:
    """Log to stderr at ``level`` through the escaping formatter, or ``formatter`` when
    given (logjson.py's ``JsonFormatter``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter or EscapingFormatter(fmt, datefmt))
    logging.basicConfig(level=level.upper(), handlers=[handler])
