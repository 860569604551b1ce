"""``--log-format json``: one JSON object per line for log collectors (Loki, journald's
JSON export, Elasticsearch...), beside the readable lines of logtext.py.

Each line: ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``,
``message``, then ``agent_id``, ``gateway_id`` and ``request_id`` where the line has
them (logcontext.py, or the same names given in a call's ``extra``), and ``exception``
(the traceback) where there is one. The encoder escapes every control character a
client's text may hold, so a record is one line whatever its arguments.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import msgspec

from officepulse.logcontext import FIELDS

_encode = msgspec.json.Encoder().encode


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
        return _encode(line).decode()
