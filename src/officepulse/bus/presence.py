"""What the bus carries between ingest and hub: the state of one agent as the
dashboard shows it. Sent whole (not as a diff), so a lost or coalesced message
never leaves a dashboard wrong for longer than the next one."""

from __future__ import annotations

import msgspec

from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.store.base import AgentInfo, AgentStatus

PRESENCE_SUBJECT = "officepulse.presence"


class CurrentSpan(msgspec.Struct, frozen=True, kw_only=True):
    start_ms: int
    end_ms: int
    activity: Activity


class AgentView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    host: str
    platform: str
    version: str
    tz: str
    online: bool
    last_seen_ms: int
    current: CurrentSpan | None = None
    # ``current`` is the activity in progress as the agent itself reports it (protocol
    # v2's presence, since when it is in front), not its latest stored span: the reports
    # count it up to now until the agent's spans arrive (panel/live.py).
    live: bool = False
    # Online with nothing to show (``current`` None): why, as the agent said (its
    # presence's ``reason``: "cannot read this desktop: …"); None when it did not say.
    reason: str | None = None
    # A blocked or removed agent leaves every dashboard (the admin page lists it).
    blocked: bool = False
    removed: bool = False

    @property
    def listed(self) -> bool:
        return not (self.blocked or self.removed)

    @classmethod
    def of(
        cls,
        info: AgentInfo,
        current: Span | None,
        *,
        blocked: bool = False,
        removed: bool = False,
        live: bool = False,
        reason: str | None = None,
    ) -> AgentView:
        span = (
            CurrentSpan(start_ms=current.start_ms, end_ms=current.end_ms, activity=current.activity)
            if current is not None
            else None
        )
        return cls(
            id=info.id,
            name=info.name,
            host=info.host,
            platform=info.platform,
            version=info.version,
            tz=info.tz,
            online=info.online,
            last_seen_ms=info.last_seen_ms,
            current=span,
            live=live and span is not None,
            reason=reason if info.online and span is None else None,
            blocked=blocked,
            removed=removed,
        )

    @classmethod
    def of_status(cls, status: AgentStatus) -> AgentView:
        return cls.of(status.info, status.current, blocked=status.blocked is not None)

    @classmethod
    def gone(cls, agent_id: str) -> AgentView:
        """A removed agent: only its id matters."""
        return cls(
            id=agent_id,
            name="",
            host="",
            platform="",
            version="",
            tz="UTC",
            online=False,
            last_seen_ms=0,
            removed=True,
        )


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AgentView)


def encode_view(view: AgentView) -> bytes:
    return _encoder.encode(view)


def decode_view(payload: bytes) -> AgentView:
    return _decoder.decode(payload)
