"""One live session per agent across gateways.

Within a gateway a newer connection of an agent replaces the open one (4009,
gateway/gateway.py ``_replace``). Across gateways, a gateway that takes an agent's hello
publishes a claim on ``CLAIMED``, as soon as the hello is admitted (before its row is read
and written, which in a storm waits seconds, and which the sweeps of a dead gateway's
agents must not get ahead of): the agent's id and when its session began (wall clock,
ms). A gateway holding an older session of that agent lets it go with 4009, without
writing its row or showing it offline (``Agents.let_go(state, "elsewhere")``): those
are the newer gateway's now. Sessions are ordered by (began, gateway id), the same
order on every gateway, so two hellos at once leave exactly one.

Claims are published, not requested: the hello does not wait for the other gateways.
When the bus comes back after NATS went away, each gateway claims all its agents again
in one message (claims published meanwhile may be lost): an agent that connected twice
meanwhile keeps its newest session then.

A hello with ``takeover: false`` (an agent replaced once already, perhaps a twin sharing
an id) claims nothing: across gateways such twins each keep a session until one ends.

And an agent swept while it is still connected here (this gateway's lease was renewed too
late, server/leases.py): the sweeper says so on ``EXPIRED``, and this gateway writes it
online again, under its lease, and shows it again, so no dashboard keeps it offline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec

from officepulse.bus.base import Bus, Subscription
from officepulse.gateway.agents import AgentState
from officepulse.gateway.gateway import Gateway
from officepulse.protocol.errors import CloseCode, Refusal

log = logging.getLogger(__name__)

CLAIMED = "officepulse.gateways.claimed"
# The ids of agents whose leases a sweep ended (MessagePack list of strings).
EXPIRED = "officepulse.gateways.expired"


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    gateway: str
    # Each agent's id and when its session here began (ms since the epoch).
    agents: list[tuple[str, int]]


_claim_decoder = msgspec.msgpack.Decoder(Claim)
_expired_decoder = msgspec.msgpack.Decoder(list[str])


def older(mine: tuple[int, str], theirs: tuple[int, str]) -> bool:
    """Whether the session ``mine`` (began, gateway id) gives way to ``theirs``."""
    return mine < theirs


class Sessions:
    def __init__(
        self, gateway_id: str, bus: Bus, gateway: Gateway, clock: Callable[[], float]
    ) -> None:
        self.id = gateway_id
        self.bus = bus
        self.gateway = gateway
        self.clock = clock
        self._subs: list[Subscription] = []

    async def start(self) -> None:
        self._subs = [
            await self.bus.subscribe(CLAIMED, self._on_claim),
            await self.bus.subscribe(EXPIRED, self._on_expired),
        ]
        self.bus.on_reconnected(self.claim_all)
        self.gateway.claimed = self.claim

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()

    async def claim(self, agent_id: str) -> int:
        """Its hello was taken here: any other gateway's session of it ends. Returns when
        this session began (ms), which its state keeps."""
        began_ms = int(self.clock() * 1000)
        await self._publish([(agent_id, began_ms)])
        return began_ms

    async def claim_all(self) -> None:
        held = [
            (conn.state.info.id, conn.state.began_ms)
            for conn in list(self.gateway.connections.values())
            if conn.state is not None and conn.state.began_ms and not conn.ws.closed
        ]
        if held:
            await self._publish(held)

    async def _publish(self, agents: list[tuple[str, int]]) -> None:
        await self.bus.publish(
            CLAIMED, msgspec.msgpack.encode(Claim(gateway=self.id, agents=agents))
        )

    def _held(self, agent_id: str) -> AgentState | None:
        """The agent's state while it is connected here and not being let go."""
        conn = self.gateway.connections.get(agent_id)
        if conn is None or conn.state is None or conn.ws.closed or conn.state.gone is not None:
            return None
        return conn.state

    async def _on_claim(self, payload: bytes) -> None:
        try:
            claim = _claim_decoder.decode(payload)
        except msgspec.DecodeError as exc:
            # A gateway of another version: its claim is left out, not the others'.
            log.warning("a claim on %s could not be read: %s", CLAIMED, exc)
            return
        if claim.gateway == self.id:
            return
        for agent_id, began_ms in claim.agents:
            state = self._held(agent_id)
            if state is None or not state.began_ms:
                continue
            if not older((state.began_ms, self.id), (began_ms, claim.gateway)):
                continue  # ours is the newer: the other gateway lets its session go
            await self.gateway.kick(
                agent_id,
                Refusal(
                    CloseCode.REPLACED,
                    f"replaced by a newer connection of this agent on gateway {claim.gateway}",
                ),
                "elsewhere",
            )

    async def _on_expired(self, payload: bytes) -> None:
        try:
            agent_ids = _expired_decoder.decode(payload)
        except msgspec.DecodeError as exc:
            log.warning("a message on %s could not be read: %s", EXPIRED, exc)
            return
        now_ms = int(self.clock() * 1000)
        for agent_id in agent_ids:
            state = self._held(agent_id)
            if state is None:
                continue
            log.warning(
                "agent %s: its lease lapsed while connected here (renewals late); "
                "renewed and shown again",
                agent_id,
            )
            self.gateway.agents.renew(state, now_ms)
            await self.gateway.agents.show(state)
