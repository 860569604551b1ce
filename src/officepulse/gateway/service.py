"""A gateway on the bus: it announces itself and answers the panel's requests
(bus/gateways.py): the agents connected here, disconnecting one of them, the agent release
policy to apply. In the embedded server it answers on the in-process bus too, so both
kinds of process are asked the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import msgspec

from officepulse import __version__
from officepulse.bus.base import Bus, Subscription
from officepulse.bus.gateways import (
    ANNOUNCE,
    ANNOUNCE_EVERY,
    CONNECTIONS,
    DISCONNECT,
    GONE,
    INFO,
    POLICY,
    ROLL_CALL,
    AgentPolicy,
    Connections,
    Disconnect,
    Disconnected,
    GatewayInfo,
    PolicyApplied,
)
from officepulse.gateway.admission import Admission
from officepulse.gateway.agents import Agents
from officepulse.gateway.control import Disconnector
from officepulse.gateway.gateway import Gateway
from officepulse.store.failures import FailureLog
from officepulse.versions import VersionError

log = logging.getLogger(__name__)

_disconnect_decoder = msgspec.msgpack.Decoder(Disconnect)
_policy_decoder = msgspec.msgpack.Decoder(AgentPolicy)


class GatewayService:
    def __init__(
        self,
        gateway_id: str,
        bus: Bus,
        gateway: Gateway,
        admission: Admission,
        disconnect: Disconnector,
        clock: Callable[[], float],
    ) -> None:
        self.id = gateway_id
        self.bus = bus
        self.gateway = gateway
        self.agents = gateway.agents
        self.admission = admission
        self.disconnect = disconnect
        self.clock = clock
        self.started_ms = int(clock() * 1000)
        self.address = ""  # where agents reach it: known once it listens (``listening``)
        self._subs: list[Subscription] = []
        self._announcer: asyncio.Task[None] | None = None

    def info(self) -> GatewayInfo:
        return GatewayInfo(
            id=self.id,
            address=self.address,
            version=__version__,
            started_ms=self.started_ms,
            connections=len(self.gateway.connections),
        )

    async def start(self) -> None:
        self._subs = [
            await self.bus.serve(CONNECTIONS, self._connections),
            await self.bus.serve(DISCONNECT, self._disconnect),
            await self.bus.serve(POLICY, self._policy),
            await self.bus.serve(INFO, self._info),
            await self.bus.subscribe(ROLL_CALL, self._roll_call),
        ]
        self._announcer = asyncio.create_task(self._announce_often(), name="gateway-announce")
        self.bus.on_reconnected(self.resend)

    async def resend(self) -> None:
        """The bus is back after NATS went away: what was published meanwhile may be lost,
        so this gateway says again that it is here and what each of its agents shows (a
        panel that came back first hears it now; one that comes back later asks)."""
        await self.bus.publish(ANNOUNCE, msgspec.msgpack.encode(self.info()))
        states = [c.state for c in list(self.gateway.connections.values()) if c.state is not None]
        for state in states:
            await self.agents.show(state)
        log.info("presence of %d agent(s) sent again", len(states))

    async def listening(self, address: str) -> None:
        """It listens at ``address`` now: said at once, not at the next announcement."""
        self.address = address
        await self.bus.publish(ANNOUNCE, msgspec.msgpack.encode(self.info()))

    async def _roll_call(self, payload: bytes) -> None:
        """A panel starting: say who is here."""
        await self.bus.publish(ANNOUNCE, msgspec.msgpack.encode(self.info()))

    async def stop(self) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._announcer
        for sub in self._subs:
            await sub.unsubscribe()
        await self.bus.publish(GONE, self.id.encode())

    async def _announce_often(self) -> None:
        failures = FailureLog("announcing this gateway", log)

        async def announce() -> None:
            await self.bus.publish(ANNOUNCE, msgspec.msgpack.encode(self.info()))

        while True:
            await failures.attempt(announce)
            await asyncio.sleep(ANNOUNCE_EVERY)

    # -- the panel's requests --------------------------------------------------------

    async def _connections(self, payload: bytes) -> bytes:
        views = [
            Agents.view(conn.state)
            for conn in list(self.gateway.connections.values())
            if conn.state is not None and not conn.ws.closed
        ]
        return msgspec.msgpack.encode(Connections(gateway=self.info(), agents=views))

    async def _info(self, payload: bytes) -> bytes:
        return msgspec.msgpack.encode(self.info())

    async def _disconnect(self, payload: bytes) -> bytes:
        order = _disconnect_decoder.decode(payload)
        held = await self.disconnect(order) > 0
        return msgspec.msgpack.encode(Disconnected(gateway=self.id, held=held))

    async def _policy(self, payload: bytes) -> bytes:
        policy = _policy_decoder.decode(payload)
        try:
            self.admission.apply(policy)
        except VersionError as exc:
            return msgspec.msgpack.encode(PolicyApplied(gateway=self.id, error=str(exc)))
        log.info(
            "agent release policy from the panel: latest %s, oldest admitted %s",
            policy.latest_version,
            policy.min_version,
        )
        return msgspec.msgpack.encode(PolicyApplied(gateway=self.id))
