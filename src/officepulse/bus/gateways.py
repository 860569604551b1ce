"""What the panel asks the gateways over the bus, and what they answer: the agents
connected to each (a panel's snapshot), disconnecting an agent wherever it is connected
(blocked, removed, its credential revoked), and the agent release policy they apply
(pushed settings). Every gateway answers every request (scatter-gather, bus/base.py);
the gateway side is gateway/service.py.

Subjects, all under ``officepulse.gateways.``: ``connections``, ``disconnect`` and
``policy`` are requests; ``announce`` (each gateway, at start, every ``ANNOUNCE_EVERY``
seconds and when a panel calls the roll on ``roll-call`` as it starts) and ``gone`` (at a
clean stop) are published, so a panel knows how many replies to wait for: it stops
waiting once every gateway it knows has answered, or at the request's deadline.
``info`` is a request too: each gateway's GatewayInfo now, for the fleet page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal, TypeVar

import msgspec

from officepulse.bus.base import Bus
from officepulse.bus.presence import AgentView

log = logging.getLogger(__name__)

CONNECTIONS = "officepulse.gateways.connections"
DISCONNECT = "officepulse.gateways.disconnect"
POLICY = "officepulse.gateways.policy"
ANNOUNCE = "officepulse.gateways.announce"
GONE = "officepulse.gateways.gone"
ROLL_CALL = "officepulse.gateways.roll-call"
# A request: each gateway's GatewayInfo as it is now (the fleet page and /api/v1/gateways).
INFO = "officepulse.gateways.info"

# A gateway says it is there this often; one not heard for FORGET_AFTER is not waited for.
ANNOUNCE_EVERY = 5.0
FORGET_AFTER = 3 * ANNOUNCE_EVERY

# How long a request waits for the gateways' replies, in seconds. A disconnect is what a
# team lead waits for on the Agents page (issue 12 asks for a block to act within 1 s).
DISCONNECT_WITHIN = 1.0
CONNECTIONS_WITHIN = 2.0
POLICY_WITHIN = 2.0
# The fleet page asks every few seconds; a gateway that does not answer within this is
# shown as silent (its last announcement stands) until FORGET_AFTER drops it.
INFO_WITHIN = 1.0


class GatewayInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One gateway process as it announces itself (a row of the fleet page)."""

    id: str
    address: str
    version: str
    started_ms: int
    connections: int


class Connections(msgspec.Struct, frozen=True, kw_only=True):
    gateway: GatewayInfo
    agents: list[AgentView]


class Disconnect(msgspec.Struct, frozen=True, kw_only=True):
    """Disconnect this agent now if it is connected here. The reason (a block's) is read
    from the store, which has it already: the request only says what to do."""

    agent_id: str
    action: Literal["block", "remove", "revoke"]
    # Removal only: its history goes too (what it wrote until it was disconnected).
    erase: bool = False


class Disconnected(msgspec.Struct, frozen=True, kw_only=True):
    gateway: str
    held: bool  # the agent was connected there, and is not any more


class AgentPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The settings a gateway tells agents (the welcome) and admits them by: the
    agent_latest_version, agent_download_url and agent_min_version settings."""

    latest_version: str | None = None
    download_url: str | None = None
    min_version: str | None = None


class PolicyApplied(msgspec.Struct, frozen=True, kw_only=True):
    gateway: str
    error: str | None = None  # why it was not applied (a version that is no version)


R = TypeVar("R")


def _decoded(replies: list[bytes], decode: Callable[[bytes], R], subject: str) -> list[R]:
    out = []
    for reply in replies:
        try:
            out.append(decode(reply))
        except msgspec.DecodeError as exc:
            # A gateway of another version: its answer is left out, not the others'.
            log.warning("a gateway's reply on %s could not be read: %s", subject, exc)
    return out


class Gateways:
    """The gateways as a panel sees them: whom it knows of, and the requests it makes."""

    def __init__(self, bus: Bus, clock: Callable[[], float]) -> None:
        self.bus = bus
        self.clock = clock
        # Gateway id -> (what it said last, when it was heard, by ``clock``).
        self._known: dict[str, tuple[GatewayInfo, float]] = {}

    async def start(self) -> None:
        await self.bus.subscribe(ANNOUNCE, self._on_announce)
        await self.bus.subscribe(GONE, self._on_gone)
        await self.bus.publish(ROLL_CALL, b"")

    def known(self) -> list[GatewayInfo]:
        """The gateways heard from within ``FORGET_AFTER``."""
        now = self.clock()
        for gid, (_, heard) in list(self._known.items()):
            if now - heard > FORGET_AFTER:
                del self._known[gid]
        return [info for info, _ in self._known.values()]

    def heard(self) -> list[tuple[GatewayInfo, float]]:
        """``known()``, each with how many seconds ago it was last heard from."""
        self.known()
        now = self.clock()
        return [(info, now - at) for info, at in self._known.values()]

    def _heard(self, info: GatewayInfo) -> None:
        self._known[info.id] = (info, self.clock())

    async def _on_announce(self, payload: bytes) -> None:
        self._heard(msgspec.msgpack.decode(payload, type=GatewayInfo))

    async def _on_gone(self, payload: bytes) -> None:
        self._known.pop(payload.decode(), None)

    async def _ask(self, subject: str, payload: bytes, within: float) -> list[bytes]:
        # Every gateway known answers, then no need to wait longer; with none known, a
        # new one may still answer within the deadline.
        expected = len(self.known()) or None
        return await self.bus.request(subject, payload, within=within, replies=expected)

    async def connections(self) -> list[Connections]:
        """Every gateway's agents, as each holds them now."""
        replies = await self._ask(CONNECTIONS, b"", CONNECTIONS_WITHIN)
        answers = _decoded(replies, _connections_decoder.decode, CONNECTIONS)
        for answer in answers:
            self._heard(answer.gateway)
        return answers

    async def infos(self) -> list[GatewayInfo]:
        """What each gateway that answers within ``INFO_WITHIN`` says of itself now."""
        replies = await self._ask(INFO, b"", INFO_WITHIN)
        answers = _decoded(replies, _info_decoder.decode, INFO)
        for answer in answers:
            self._heard(answer)
        return answers

    async def disconnect(self, order: Disconnect) -> int:
        """Disconnect the agent wherever it is connected; how many gateways held it."""
        replies = await self._ask(DISCONNECT, msgspec.msgpack.encode(order), DISCONNECT_WITHIN)
        answers = _decoded(replies, _disconnected_decoder.decode, DISCONNECT)
        return sum(1 for answer in answers if answer.held)

    async def push_policy(self, policy: AgentPolicy) -> list[PolicyApplied]:
        """Every gateway applies ``policy`` to the agents it welcomes from now on."""
        replies = await self._ask(POLICY, msgspec.msgpack.encode(policy), POLICY_WITHIN)
        return _decoded(replies, _applied_decoder.decode, POLICY)


_connections_decoder = msgspec.msgpack.Decoder(Connections)
_disconnected_decoder = msgspec.msgpack.Decoder(Disconnected)
_applied_decoder = msgspec.msgpack.Decoder(PolicyApplied)
_info_decoder = msgspec.msgpack.Decoder(GatewayInfo)
