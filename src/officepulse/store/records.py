"""What the stores hand out and take: agents, their state and the changes made to them,
enrollment tokens and credentials, and usage rows. Plain values, no I/O; store/base.py
names them too, for the many that import them from there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from officepulse.core.spans import Span

GroupKey = Literal["agent", "app", "category"]
GROUP_KEYS: tuple[GroupKey, ...] = ("agent", "app", "category")


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: str
    name: str
    host: str
    platform: str
    version: str
    tz: str
    online: bool
    last_seen_ms: int


@dataclass(frozen=True, slots=True)
class Blocked:
    reason: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class AgentStatus:
    info: AgentInfo
    current: Span | None
    blocked: Blocked | None = None


@dataclass(frozen=True, slots=True)
class EnrollmentToken:
    """An enrollment token as the store keeps it (its secret only as a hash, elsewhere).
    ``uses_left`` None: any number of agents; ``expires_ms`` None: never."""

    id: str
    label: str
    created_ms: int
    expires_ms: int | None
    uses_left: int | None
    revoked_ms: int | None

    def refusal(self, now_ms: int) -> str | None:
        """Why this token cannot enroll an agent at ``now_ms`` (an error code), or None."""
        if self.revoked_ms is not None:
            return "enroll-token-revoked"
        if self.expires_ms is not None and now_ms >= self.expires_ms:
            return "enroll-token-expired"
        if self.uses_left is not None and self.uses_left <= 0:
            return "enroll-token-used-up"
        return None


def enroll_refusal(token: EnrollmentToken | None, now_ms: int) -> str | None:
    """Why the token found for a hash (None: none was) cannot enroll an agent, or None."""
    return "enroll-token-unknown" if token is None else token.refusal(now_ms)


@dataclass(frozen=True, slots=True)
class Credential:
    """An agent's credential: one per agent, kept as a hash; revoked ones stay listed."""

    agent_id: str
    hash: str
    created_ms: int
    token_id: str | None
    revoked_ms: int | None


# "erase": removed with its history.
AgentEventKind = Literal["block", "unblock", "remove", "erase", "revoke"]


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """A change made to an agent by a team lead (CLI or dashboard), in the order made.
    Servers poll for new ones (``agent_events``) to act on changes made elsewhere."""

    seq: int
    agent_id: str
    kind: AgentEventKind
    at_ms: int


class UsageRow(msgspec.Struct, frozen=True, gc=False):
    """Time in a period. A key not grouped by is None. Idle time is counted
    apart from active time, against the app that was in front. (A Struct: grouped by
    agent, an answer is tens of thousands of rows, and a Struct is made ten times faster
    than a frozen dataclass.)"""

    agent_id: str | None
    app: str | None
    active_ms: int
    idle_ms: int
    category: str | None = None
