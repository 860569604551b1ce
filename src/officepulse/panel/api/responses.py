"""How the REST API answers: JSON encoded from its Structs, the same rows as a CSV
table on ``format=csv``, and errors as ``{"error": ...}``."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import msgspec
from aiohttp import web

from officepulse.panel.api.params import ApiError, UnknownAgent

_json = msgspec.json.Encoder()


class ErrorOut(msgspec.Struct, kw_only=True):
    error: str


def instant(ms: int) -> datetime:
    """Milliseconds since the epoch as the aware instant the answers show."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def json_response(body: msgspec.Struct | dict[str, object], status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(body), status=status, content_type="application/json")


def to_csv(rows: list[msgspec.Struct], columns: list[str]) -> str:
    """One header line, then a line per row; instants as ISO 8601, empty for none."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = []
        for column in columns:
            value = getattr(row, column)
            if isinstance(value, datetime):
                value = value.isoformat().replace("+00:00", "Z")
            values.append("" if value is None else value)
        writer.writerow(values)
    return buffer.getvalue()


def csv_response(text: str, name: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="officepulse-{name}.csv"'},
    )


def export(
    out: msgspec.Struct,
    fmt: str,
    rows: list[msgspec.Struct],
    row: type[msgspec.Struct],
    name: str,
    columns: list[str] | None = None,
) -> web.Response:
    """``out`` as JSON, or its ``rows`` as a CSV table with a column per field of ``row``
    (or the ``columns`` given: a grouped report has only the keys it was grouped by)."""
    if fmt == "csv":
        return csv_response(to_csv(rows, columns or list(row.__struct_fields__)), name)
    return json_response(out)


def bad_request(message: str, status: int = 400) -> web.Response:
    return json_response(ErrorOut(error=message), status=status)


def refused(exc: ApiError) -> web.Response:
    return bad_request(str(exc), 404 if isinstance(exc, UnknownAgent) else 400)
