"""Making enrollment tokens, for the CLI and the dashboard alike: the options checked
(errors name the option), the secret made, the token described once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from officepulse.errors import OfficepulseError
from officepulse.security.agent_secrets import TOKEN_PREFIX, new_secret, new_token_id, secret_hash
from officepulse.store.base import EnrollmentToken
from officepulse.store.enrollment import Enrollment

DEFAULT_EXPIRES_HOURS = 7 * 24.0
MAX_LABEL = 256


class TokenOptionError(OfficepulseError, ValueError):
    """A token option is out of range; the message names it, the hint says what to give."""


@dataclass(frozen=True, slots=True)
class NewToken:
    token: EnrollmentToken
    secret: str  # shown once, never stored


def check_options(label: str, expires_hours: float | None, uses: int | None) -> None:
    if len(label) > MAX_LABEL:
        raise TokenOptionError(f"label is {len(label)} characters long; at most {MAX_LABEL}")
    if expires_hours is not None and not 0 < expires_hours <= 24 * 366:
        raise TokenOptionError(
            f"expires_in_hours is {expires_hours:g}",
            hint="give more than 0 and at most a year (8784)",
        )
    if uses is not None and uses < 1:
        raise TokenOptionError(
            f"uses is {uses}", hint="give 1 or more (or leave it out: unlimited)"
        )


async def create_token(
    store: Enrollment, label: str, now_ms: int, expires_hours: float | None, uses: int | None
) -> NewToken:
    check_options(label, expires_hours, uses)
    expires_ms = None if expires_hours is None else now_ms + round(expires_hours * 3_600_000)
    token = EnrollmentToken(new_token_id(), label, now_ms, expires_ms, uses, None)
    secret = new_secret(TOKEN_PREFIX)
    await store.add_token(token, secret_hash(secret))
    return NewToken(token, secret)


def utc_minute(ms: int) -> str:
    """An instant as people read it in lists: "2026-11-30 15:38 UTC"."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def token_state(token: EnrollmentToken, now_ms: int) -> str:
    """In words: usable (and for how long, how often), or why not."""
    refusal = token.refusal(now_ms)
    if refusal is not None:
        return refusal.removeprefix("enroll-token-").replace("-", " ")
    uses = "any number of agents" if token.uses_left is None else f"{token.uses_left} left"
    until = "no expiry" if token.expires_ms is None else f"until {utc_minute(token.expires_ms)}"
    return f"usable: {uses}, {until}"
