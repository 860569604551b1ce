"""Enrollment tokens and agents' credentials, as a narrow protocol: what admission checks
and the token and agent commands change. Both stores implement it (``Store``,
store/base.py); each change of a credential records an AgentEvent."""

from __future__ import annotations

from typing import Protocol

from officepulse.store.agents import AgentRecords
from officepulse.store.records import Credential, EnrollmentToken


class Enrollment(Protocol):
    async def add_token(self, token: EnrollmentToken, token_hash: str) -> None: ...

    async def tokens(self) -> list[EnrollmentToken]: ...

    async def revoke_token(self, token_id: str, now_ms: int) -> bool:
        """False when there is no such token."""
        ...

    async def enroll(
        self, token_hash: str, agent_id: str, credential_hash: str, now_ms: int
    ) -> str | None:
        """Exchange an enrollment token for a credential, in one transaction: the token is
        checked and one use taken, and the agent's credential set (replacing any other).
        Returns why the token was refused (an error code), or None."""
        ...

    async def credential(self, agent_id: str) -> Credential | None: ...

    async def revoke_credential(self, agent_id: str, now_ms: int) -> bool: ...


class AgentAdmin(AgentRecords, Enrollment, Protocol):
    """What the agent and token admin (``officepulse agents``/``tokens``, the admin page)
    reads and changes."""
