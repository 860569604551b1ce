"""The gateway's parts wired together on a store and a bus: the owner of agent state,
ingest, admission, the /agent websocket, control (what team leads did) and the service
that answers panels. The embedded server (server/app.py) and a gateway process
(server/gateway_process.py) both run these.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from officepulse.bus.base import Bus
from officepulse.gateway.admission import Admission
from officepulse.gateway.agents import Agents
from officepulse.gateway.control import AgentControl, LocalDisconnect
from officepulse.gateway.gateway import Gated, Gateway
from officepulse.gateway.ingest import Ingest
from officepulse.gateway.service import GatewayService
from officepulse.settings import ServerSettings
from officepulse.store.base import Store


class GatewayParts:
    def __init__(
        self,
        settings: ServerSettings,
        store: Store,
        bus: Bus,
        *,
        gateway_id: str,
        clock: Callable[[], float],
        socket_of: Callable[[web.Request], Gated | None],
        commit_seconds: Callable[[float], None] | None = None,
    ) -> None:
        # The one owner of agent state: every path that saves an agent or publishes its
        # presence (ingest, control, the ActivityWatch API) goes through it.
        self.agents = Agents(store, bus)
        self.ingest = Ingest(
            store,
            self.agents,
            pulsetime=settings.pulsetime,
            clock=clock,
            commit_seconds=commit_seconds or (lambda seconds: None),
        )
        self.auth_mode = settings.agent_auth_mode()
        required = self.auth_mode == "required"
        self.admission = Admission(
            store,
            required=required,
            clock=clock,
            latest_version=settings.agent_latest_version,
            min_version=settings.agent_min_version,
            download_url=settings.agent_download_url,
        )
        self.gateway = Gateway(settings, self.ingest, self.admission, socket_of=socket_of)
        disconnect = LocalDisconnect(store, self.gateway, clock)
        self.control = AgentControl(store, self.agents, disconnect, required=required, clock=clock)
        self.service = GatewayService(
            gateway_id, bus, self.gateway, self.admission, disconnect, clock
        )

    async def start(self) -> None:
        """Once the store is open and the bus started."""
        await self.control.start()
        await self.service.start()

    async def stop(self) -> None:
        """No more requests or changes acted on; then every agent is let go."""
        await self.control.stop()
        await self.service.stop()
        await self.gateway.close_all()
