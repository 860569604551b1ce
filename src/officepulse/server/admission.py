"""Who may connect an agent: the checks on a Hello before it is welcomed.

Order: a blocked agent is refused first (whatever it presents); then an enrollment token
in the Hello is exchanged for a credential (in any mode); then, where agents must
authenticate (``agent_auth = required``), the Hello's credential is checked. Every refusal
is a ProtocolError whose message says in words what is wrong and what to do; the agent
shows it as it is.
"""

from __future__ import annotations

from collections.abc import Callable

from officepulse.credentials import CREDENTIAL_PREFIX, matches, new_secret, secret_hash
from officepulse.protocol.errors import CloseCode, ProtocolError
from officepulse.protocol.messages import Hello
from officepulse.store.base import Blocked, Store

ASK = "ask your team lead for a new enrollment token"
TOKEN_REFUSALS = {
    "enroll-token-unknown": "the enrollment token is not known to this server; check it, or " + ASK,
    "enroll-token-expired": "the enrollment token has expired; " + ASK,
    "enroll-token-used-up": "the enrollment token has been used up already; " + ASK,
    "enroll-token-revoked": "the enrollment token was revoked; " + ASK,
}


def unauthorized(code: str, message: str) -> ProtocolError:
    return ProtocolError(CloseCode.UNAUTHORIZED, message, code)


def credential_required() -> ProtocolError:
    return unauthorized(
        "credential-required",
        "this server admits enrolled agents only; ask your team lead for an enrollment token "
        "and start the agent once with --enroll-token TOKEN",
    )


def credential_unknown() -> ProtocolError:
    return unauthorized(
        "credential-unknown",
        "this server does not know this agent's credential (the agent was removed, or "
        "enrolled with another server); " + ASK,
    )


def credential_revoked() -> ProtocolError:
    return unauthorized("credential-revoked", "this agent's credential was revoked; " + ASK)


def agent_removed() -> ProtocolError:
    return unauthorized(
        "agent-removed", "this agent was removed by the team lead; to join again, " + ASK
    )


def agent_blocked(blocked: Blocked) -> ProtocolError:
    why = f": {blocked.reason}" if blocked.reason else ""
    return ProtocolError(CloseCode.AGENT_BLOCKED, f"this agent was blocked by the team lead{why}")


class Admission:
    def __init__(self, store: Store, *, required: bool, clock: Callable[[], float]) -> None:
        self.store = store
        self.required = required
        self.clock = clock

    async def blocked(self, agent_id: str) -> ProtocolError | None:
        status = await self.store.agent(agent_id)
        if status is not None and status.blocked is not None:
            return agent_blocked(status.blocked)
        return None

    async def admit(self, hello: Hello) -> str | None:
        """Raises the refusal; returns the agent's new credential when the Hello enrolled."""
        blocked = await self.blocked(hello.agent_id)
        if blocked is not None:
            raise blocked
        if hello.enroll is not None:
            credential = new_secret(CREDENTIAL_PREFIX)
            refusal = await self.store.enroll(
                secret_hash(hello.enroll),
                hello.agent_id,
                secret_hash(credential),
                int(self.clock() * 1000),
            )
            if refusal is not None:
                raise unauthorized(refusal, TOKEN_REFUSALS[refusal])
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
