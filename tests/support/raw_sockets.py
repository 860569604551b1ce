"""Raw sockets to a real server: its port, a hello that is welcomed, and a request asked
over a plain socket."""

from __future__ import annotations

import http.client
import json

from websockets.sync.client import ClientConnection

from tests.support.agent_messages import hello
from tests.support.servers import ServerProcess


def port_of(server: ServerProcess) -> int:
    return int(server.url.rsplit(":", 1)[1])


def welcomed(ws: ClientConnection, agent_id: str) -> ClientConnection:
    ws.send(hello(agent_id))
    reply = json.loads(ws.recv(timeout=10))
    assert reply["type"] == "welcome", reply
    return ws


def ask(
    server: ServerProcess, path: str = "/api/v1/agents", headers: dict[str, str] | None = None
) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()
