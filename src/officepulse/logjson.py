"""``--log-format json``: one JSON object per line for log collectors (Loki, journald's
JSON export, Elasticsearch...), beside the readable lines of logtext.py.

Each line: ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``,
``message``, then ``agent_id``, ``gateway_id`` and ``request_id`` where the line has
them (logcontext.py, or the same names given in a call's ``extra``), and ``exception``
(the traceback) where there is one. Every character logtext.py escapes in readable lines
(controls, line separators, bidirectional overrides) is written as a JSON ``\\u`` escape,
so a record is one line, and shows as it is, whatever its arguments hold; a JSON reader
gets the text back unchanged.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import msgspec

from officepulse.logcontext import FIELDS
from officepulse.logtext import UNSAFE

_encode = msgspec.json.Encoder().encode


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, str] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in FIELDS:
            value = getattr(record, name, None) or var.get()
            if value is not None:
                line[name] = str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # msgspec escapes what JSON requires (below U+0020); the rest of them here.
        return UNSAFE.sub(_escaped, _encode(line).decode())
