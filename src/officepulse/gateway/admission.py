"""Who may connect an agent: the checks on a Hello before it is welcomed.

Order: a blocked agent is refused first (whatever it presents); then an agent older than
``agent_min_version`` (before its enrollment token is spent: it has to come back updated);
then an enrollment token in the Hello is exchanged for a credential (in any mode); then,
where agents must authenticate (``agent_auth = required``), the Hello's credential is
checked. Every refusal
is a Refusal whose message says in words what is wrong, and whose hint what to do; the
agent shows both as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec

from officepulse.bus.gateways import AgentPolicy
from officepulse.protocol.errors import CloseCode, Refusal
from officepulse.protocol.messages import AgentRelease, Hello
from officepulse.security.agent_secrets import CREDENTIAL_PREFIX, matches, new_secret, secret_hash
from officepulse.store.agents import AgentBlocks, AgentReads
from officepulse.store.base import Blocked
from officepulse.store.enrollment import Enrollment
from officepulse.versions import Version, VersionError, parse

ASK = "ask your team lead for a new enrollment token"
# What is wrong with an enrollment token, by its refusal code; the hint is ASK.
TOKEN_REFUSALS = {
    "enroll-token-unknown": "the enrollment token is not known to this server",
    "enroll-token-expired": "the enrollment token has expired",
    "enroll-token-used-up": "the enrollment token has been used up already",
    "enroll-token-revoked": "the enrollment token was revoked",
}
TOKEN_HINTS = {"enroll-token-unknown": "check it, or " + ASK}


def unauthorized(code: str, message: str, hint: str) -> Refusal:
    return Refusal(CloseCode.UNAUTHORIZED, message, code, hint=hint)


def credential_required() -> Refusal:
    return unauthorized(
        "credential-required",
        "this server admits enrolled agents only",
        "ask your team lead for an enrollment token and start the agent once with "
        "--enroll-token TOKEN",
    )


def credential_unknown() -> Refusal:
    return unauthorized(
        "credential-unknown",
        "this server does not know this agent's credential (the agent was removed, or "
        "enrolled with another server)",
        ASK,
    )


def credential_revoked() -> Refusal:
    return unauthorized("credential-revoked", "this agent's credential was revoked", ASK)


def agent_removed() -> Refusal:
    return unauthorized(
        "agent-removed", "this agent was removed by the team lead", "to join again, " + ASK
    )


def agent_blocked(blocked: Blocked) -> Refusal:
    why = f": {blocked.reason}" if blocked.reason else ""
    return Refusal(CloseCode.AGENT_BLOCKED, f"this agent was blocked by the team lead{why}")


def update_required(agent_version: str, least: Version, url: str | None) -> Refusal:
    where = f"download it from {url}" if url else "ask your team lead for it"
    return Refusal(
        CloseCode.UPDATE_REQUIRED,
        f"this agent is version {agent_version}; this server admits {least} and newer",
        hint=f"update the officepulse agent: {where}",
    )


def too_old(agent_version: str, least: Version) -> bool:
    """Whether ``agent_version`` (a hello's) is below ``least``; one that is no version
    number at all cannot be told to be recent enough."""
    try:
        return parse(agent_version) < least
    except VersionError:
        return True


class AdmissionStore(AgentReads, AgentBlocks, Enrollment, Protocol):
    """What admission reads of agents (blocked, removed) and of their credentials, and the
    enrollment it makes."""


class Admission:
    def __init__(
        self,
        store: AdmissionStore,
        *,
        required: bool,
        clock: Callable[[], float],
        latest_version: str | None = None,
        min_version: str | None = None,
        download_url: str | None = None,
    ) -> None:
        self.store = store
        self.required = required
        self.clock = clock
        self.apply(
            AgentPolicy(
                latest_version=latest_version, download_url=download_url, min_version=min_version
            )
        )

    def apply(self, policy: AgentPolicy) -> None:
        """Admit and welcome agents by ``policy`` from now on (at start: the settings; then
        what a panel pushes). Raises VersionError, changing nothing, for a bad version."""
        least = parse(policy.min_version) if policy.min_version is not None else None
        if policy.latest_version is not None:
            parse(policy.latest_version)
        self.min_version = least
        self.download_url = policy.download_url
        # What the welcome tells every agent about the current agent (left out when the
        # operator set no version).
        self.release: AgentRelease | msgspec.UnsetType = (
            AgentRelease(version=policy.latest_version, url=policy.download_url)
            if policy.latest_version is not None
            else msgspec.UNSET
        )

    async def blocked(self, agent_id: str) -> Refusal | None:
        blocked = await self.store.blocked(agent_id)
        return agent_blocked(blocked) if blocked is not None else None

    async def admit(self, hello: Hello) -> str | None:
        """Raises the refusal; returns the agent's new credential when the Hello enrolled."""
        blocked = await self.blocked(hello.agent_id)
        if blocked is not None:
            raise blocked
        least = self.min_version
        if least is not None and too_old(hello.agent_version, least):
            raise update_required(hello.agent_version, least, self.download_url)
        if hello.enroll is not None:
            credential = new_secret(CREDENTIAL_PREFIX)
            refusal = await self.store.enroll(
                secret_hash(hello.enroll),
                hello.agent_id,
                secret_hash(credential),
                int(self.clock() * 1000),
            )
            if refusal is not None:
                raise unauthorized(refusal, TOKEN_REFUSALS[refusal], TOKEN_HINTS.get(refusal, ASK))
            return credential
        if not self.required:
            return None
        if hello.token is None:
            raise credential_required()
        stored = await self.store.credential(hello.agent_id)
        if stored is None or not matches(hello.token, stored.hash):
            raise credential_unknown()
        if stored.revoked_ms is not None:
            raise credential_revoked()
        return None
