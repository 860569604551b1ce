"""What compression agent connections get, negotiated for real against a real server: none
by default, whatever the agent offers (the agent as it ships, and older agents with other
offers still connect and are served); permessage-deflate when the server is told to take
it (``agent_deflate``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)

from officepulse.agent.link import DEFLATE, deflate_offer
from tests.support.agent_messages import hello, served, spans
from tests.support.servers import ServerProcess, start_server


def offer(**params: Any) -> list[ClientPerMessageDeflateFactory]:
    return [ClientPerMessageDeflateFactory(compress_settings=DEFLATE, **params)]


async def test_the_agent_as_it_ships_gets_no_compression(server: ServerProcess) -> None:
    async with connect(server.ws_url, compression=None, extensions=deflate_offer(True)) as ws:
        # The agent offered permessage-deflate; the server's answer declines it.
        assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert ws.protocol.extensions == []
        await served(ws, "shipped")


async def test_agents_offering_other_parameters_still_connect(server: ServerProcess) -> None:
    offers = {
        "websockets-default": "deflate",  # websockets' own offer (12-bit windows)
        "window-9": offer(server_max_window_bits=9, client_max_window_bits=9),
        "no-context": offer(server_no_context_takeover=True, client_no_context_takeover=True),
        "none": None,
    }
    for name, extensions in offers.items():
        if extensions == "deflate":
            opened = connect(server.ws_url, compression="deflate")
        else:
            opened = connect(server.ws_url, compression=None, extensions=extensions)
        async with opened as ws:
            assert ws.protocol.extensions == [], name
            await served(ws, name)
    # The agent before 0.2 was on aiohttp's client, which offers
    # "permessage-deflate; client_max_window_bits".
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(server.ws_url, compress=15) as old,
    ):
        assert old.compress == 0
        await old.send_str(hello("aiohttp-agent"))
        assert json.loads(await old.receive_str(timeout=30))["type"] == "welcome"
        await old.send_str(spans(1, 2))
        assert json.loads(await old.receive_str(timeout=30)) == {"type": "ack", "seq": 2}
    rows = server.get(
        "/api/v1/usage?start=2026-11-27T00:00:00Z&end=2026-11-28T00:00:00Z&group_by=agent"
    )["rows"]
    assert {r["agent"]: r["seconds"] for r in rows} == {
        name: 60.0 for name in [*offers, "aiohttp-agent"]
    }


async def test_a_server_told_to_take_compression_takes_the_agent_s_offer(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--agent-deflate", "true")
    try:
        async with connect(server.ws_url, compression=None, extensions=deflate_offer(True)) as ws:
            (deflate,) = ws.protocol.extensions
            assert isinstance(deflate, PerMessageDeflate)
            assert (deflate.remote_max_window_bits, deflate.local_max_window_bits) == (15, 15)
            await served(ws, "compressed")
    finally:
        server.stop()
