"""The /agent websocket: pumps frames between the socket and a sans-I/O
ServerConversation, and hands what it decodes to ingest."""

from __future__ import annotations

import logging
import uuid

from aiohttp import WSMsgType, web

from officepulse import __version__
from officepulse.protocol.codec import Encoding, Frame, encode
from officepulse.protocol.errors import CloseCode, ProtocolError
from officepulse.protocol.messages import PROTOCOL_VERSION, Error, Welcome
from officepulse.protocol.session import HeartbeatReceived, HelloReceived, ServerConversation
from officepulse.server.ingest import AgentState, Ingest
from officepulse.settings import ServerSettings

log = logging.getLogger(__name__)


class AgentSocket(web.WebSocketResponse):
    """aiohttp closes an oversized message with a bare 1009; this says why,
    first as an Error message in the agent's encoding, then in the close reason."""

    encoding: Encoding = "json"

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        if code == CloseCode.MESSAGE_TOO_BIG and not message and not self.closed:
            limit = self._max_msg_size
            text = f"message too big: the limit is {limit} bytes"
            try:
                frame = encode(
                    Error(code="message-too-big", message=text, fatal=True), self.encoding
                )
                if isinstance(frame, str):
                    await self.send_str(frame)
                else:
                    await self.send_bytes(frame)
            except (ConnectionError, RuntimeError):
                pass
            message = text.encode()
        return await super().close(code=code, message=message, drain=drain)


class Gateway:
    def __init__(self, settings: ServerSettings, ingest: Ingest) -> None:
        self.settings = settings
        self.ingest = ingest
        self.connections: dict[str, AgentSocket] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = AgentSocket(max_msg_size=self.settings.max_frame_bytes, compress=False)
        await ws.prepare(request)
        conv = ServerConversation()
        state: AgentState | None = None
        peer = request.remote
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    frame: Frame = msg.data
                else:
                    if msg.type is WSMsgType.ERROR:
                        log.info("agent connection from %s: %s", peer, ws.exception())
                    break
                if state is None:
                    ws.encoding = "json" if isinstance(frame, str) else "msgpack"
                for event in conv.receive(frame):
                    if isinstance(event, HelloReceived):
                        try:
                            state = await self.ingest.connect(event.hello)
                        except ProtocolError as exc:
                            conv.reject(exc)
                        else:
                            await self._replace(event.hello.agent_id, ws)
                            conv.accept(self._welcome())
                            log.info(
                                "agent %s (%s on %s) connected from %s",
                                event.hello.agent_id,
                                event.hello.name,
                                event.hello.host,
                                peer,
                            )
                    elif isinstance(event, HeartbeatReceived):
                        assert state is not None
                        refusal = await self.ingest.beat(state, event.heartbeat)
                        if refusal is not None:
                            conv.warn("heartbeat-refused", refusal)
                for out in conv.data_to_send():
                    if isinstance(out, str):
                        await ws.send_str(out)
                    else:
                        await ws.send_bytes(out)
                if conv.close is not None:
                    log.info("closing agent connection from %s: %s", peer, conv.close.reason)
                    await ws.close(code=conv.close.code, message=conv.close.reason.encode())
                    break
        except ConnectionResetError:
            pass
        finally:
            if state is not None:
                if self.connections.get(state.info.id) is ws:
                    del self.connections[state.info.id]
                    await self.ingest.disconnect(state)
                log.info("agent %s disconnected", state.info.id)
        return ws

    def _welcome(self) -> Welcome:
        return Welcome(
            v=PROTOCOL_VERSION,
            session=uuid.uuid4().hex,
            server_version=__version__,
            heartbeat_interval=self.settings.heartbeat_interval,
            pulsetime=self.settings.pulsetime,
            max_frame_bytes=self.settings.max_frame_bytes,
        )

    async def _replace(self, agent_id: str, ws: AgentSocket) -> None:
        """One connection per agent: a newer one (an agent restarted before its
        old socket timed out) takes over."""
        old = self.connections.get(agent_id)
        self.connections[agent_id] = ws
        if old is not None and not old.closed:
            await old.close(
                code=CloseCode.REPLACED, message=b"replaced by a newer connection of this agent"
            )

    async def close_all(self) -> None:
        for ws in list(self.connections.values()):
            await ws.close(code=CloseCode.GOING_AWAY, message=b"server shutting down")
