"""The service endpoints of the scaled-out processes, for real: an ``officepulse gateway``
and an ``officepulse panel`` on PostgreSQL and a real NATS server each answer /healthz,
/readyz and /metrics as the embedded server does; the gateway's metrics count the agent
connected to it, and both say they are not ready while NATS is down, and ready again once
it is back."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from websockets.sync.client import connect

from tests.support.agent_messages import hello
from tests.support.processes import WAIT, wait_until
from tests.support.scrape import scrape
from tests.support.servers import start_scaled

pytest_plugins = ["tests.support.postgres", "tests.support.nats_server"]

if TYPE_CHECKING:
    from tests.support.nats_server import NatsServer


def answer(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_gateway_and_panel_answer_health_and_metrics(
    postgres_url: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    gateway = start_scaled("gateway", postgres_url, nats_server.url, tmp_path, "--gateway-id", "g1")
    panel = start_scaled("panel", postgres_url, nats_server.url, tmp_path)
    try:
        for process in (gateway, panel):
            assert answer(f"{process.url}/healthz") == (200, {"status": "alive"})
            assert answer(f"{process.url}/readyz") == (200, {"status": "ready"})
        for process, kind in ((gateway, "gateway"), (panel, "panel")):
            built = [name for name in scrape(process) if name.startswith("officepulse_build_info")]
            assert len(built) == 1, built
            assert f'process="{kind}"' in built[0], built
        assert scrape(gateway)["officepulse_agents_connected"] == 0

        with connect(gateway.ws_url) as agent:
            agent.send(hello("ops-agent"))
            assert json.loads(agent.recv(timeout=WAIT))["type"] == "welcome"
            wait_until(
                lambda: scrape(gateway)["officepulse_agents_connected"] == 1,
                what="the gateway's metrics counting its agent",
            )

        nats_server.stop()
        for process in (gateway, panel):
            wait_until(
                lambda p=process: (
                    answer(f"{p.url}/readyz")
                    == (503, {"status": "not ready", "reasons": ["bus: not connected"]})
                ),
                what="/readyz saying the bus is down",
            )
            assert answer(f"{process.url}/healthz") == (200, {"status": "alive"})
        nats_server.start()
        for process in (gateway, panel):
            wait_until(
                lambda p=process: answer(f"{p.url}/readyz")[0] == 200,
                what="/readyz ready again once NATS is back",
            )
    finally:
        panel.stop()
        gateway.stop()
