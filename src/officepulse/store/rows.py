"""Rows as both SQL stores keep them, to and from what the stores hand out: spans (the
optional parts of an activity in one msgpack column), agents and their latest span,
tokens, credentials and events."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity, Media
from officepulse.store.records import (
    AgentEvent,
    AgentInfo,
    AgentStatus,
    Blocked,
    Credential,
    EnrollmentToken,
)


class Details(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The optional parts of an activity, kept in one column."""

    private: bool = False
    paused: bool = False
    program: str | None = None
    project: str | None = None
    file: str | None = None
    media: Media | None = None


_details_encoder = msgspec.msgpack.Encoder()
_details_decoder = msgspec.msgpack.Decoder(Details)
_NO_DETAILS = Details()


def _details(a: Activity) -> bytes | None:
    # Most activities have none of these, and this runs for every span written.
    if not (a.private or a.paused) and (a.program, a.project, a.file, a.media) == (None,) * 4:
        return None
    d = Details(
        private=a.private,
        paused=a.paused,
        program=a.program,
        project=a.project,
        file=a.file,
        media=a.media,
    )
    return None if d == _NO_DETAILS else _details_encoder.encode(d)


SPAN_COLUMNS = "start_ms, end_ms, app, title, url, process, pid, idle, details, tz"
SpanRow = tuple[
    str, int, int, str, str, str | None, str | None, int | None, int, bytes | None, str | None
]


def span_row(agent_id: str, span: Span) -> SpanRow:
    a = span.activity
    return (
        agent_id,
        span.start_ms,
        span.end_ms,
        a.app,
        a.title,
        a.url,
        a.process,
        a.pid,
        a.idle,
        _details(a),
        span.tz,
    )


def span_from(row: Sequence[object]) -> Span:
    start, end, app, title, url, process, pid, idle, details, tz = row
    extra = _details_decoder.decode(details) if isinstance(details, bytes) else _NO_DETAILS
    activity = Activity(
        app=str(app),
        title=str(title),
        url=url if isinstance(url, str) else None,
        process=process if isinstance(process, str) else None,
        pid=pid if isinstance(pid, int) else None,
        idle=bool(idle),
        private=extra.private,
        paused=extra.paused,
        program=extra.program,
        project=extra.project,
        file=extra.file,
        media=extra.media,
    )
    assert isinstance(start, int)
    assert isinstance(end, int)
    return Span(start, end, activity, tz if isinstance(tz, str) else None)


def _int(value: object) -> int:
    assert isinstance(value, int), value
    return value


def _opt_int(value: object) -> int | None:
    return None if value is None else _int(value)


def status_from(row: Sequence[object]) -> AgentStatus:
    """A row of the agent query: 8 agent columns, those of its last span, blocked_ms,
    blocked_reason."""
    span_end = 8 + len(SPAN_COLUMNS.split(","))
    blocked_ms, reason = row[span_end], row[span_end + 1]
    return AgentStatus(
        agent_from(row[:8]),
        span_from(row[8:span_end]) if row[8] is not None else None,
        Blocked(str(reason or ""), _int(blocked_ms)) if blocked_ms is not None else None,
    )


def token_from(row: Sequence[object]) -> EnrollmentToken:
    id_, label, created, expires, uses, revoked = row
    return EnrollmentToken(
        str(id_), str(label), _int(created), _opt_int(expires), _opt_int(uses), _opt_int(revoked)
    )


def credential_from(row: Sequence[object]) -> Credential:
    agent_id, hash_, created, token_id, revoked = row
    return Credential(
        str(agent_id),
        str(hash_),
        _int(created),
        None if token_id is None else str(token_id),
        _opt_int(revoked),
    )


def event_from(row: Sequence[object]) -> AgentEvent:
    seq, agent_id, kind, at_ms = row
    assert kind in ("block", "unblock", "remove", "erase", "revoke"), kind
    return AgentEvent(_int(seq), str(agent_id), kind, _int(at_ms))


TOKEN_COLUMNS = "id, label, created_ms, expires_ms, uses_left, revoked_ms"
CREDENTIAL_COLUMNS = "agent_id, hash, created_ms, token_id, revoked_ms"


def agent_from(row: Sequence[object]) -> AgentInfo:
    id_, name, host, platform, version, tz, online, last_seen = row
    assert isinstance(last_seen, int)
    return AgentInfo(
        str(id_),
        str(name),
        str(host),
        str(platform),
        str(version),
        str(tz),
        bool(online),
        last_seen,
    )
