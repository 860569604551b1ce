"""/metrics read by Prometheus' parser (prometheus-client's) from a real server, with real
agent processes and raw agent connections on real ports: the numbers are what the test
did. And who may read it (security/access.py, Access.METRICS)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from officepulse.protocol.errors import CloseCode
from tests.support.agent_messages import DAY, hello, spans
from tests.support.processes import WAIT, stop, wait_until
from tests.support.scrape import scrape
from tests.support.servers import ServerProcess, start_agent, start_server


def _waited(server: ServerProcess, name: str, value: float) -> dict[str, float]:
    """The scrape once sample ``name`` reads ``value`` (within WAIT seconds)."""
    seen: dict[str, float] = {}

    def reached() -> bool:
        seen.update(scrape(server))
        return seen.get(name) == value

    wait_until(
        reached, WAIT, f"{name} == {value}", lambda: f"last scrape: {name} = {seen.get(name)}"
    )
    return seen


def _stored_spans(server: ServerProcess) -> int:
    query = urlencode({"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat()})
    return len(server.get(f"/api/v1/spans?{query}")["spans"])


def test_metrics_count_the_agents_spans_and_refusals_the_test_made(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    agents = []
    try:
        before = scrape(server)
        assert before["officepulse_agents_connected"] == 0
        assert before["officepulse_spans_stored_total"] == 0
        # A live dashboard, so that presence is fanned out to someone.
        with connect(server.browser_url) as browser:
            browser.recv(timeout=WAIT)  # the office as it is
            _waited(server, "officepulse_dashboards_connected", 1)
            # Two real agents, reading nothing: connected, and storing no spans.
            for name in ("ann", "bob"):
                agents.append(
                    start_agent(server, tmp_path / name, "--source", "none", "--agent-id", name)
                )
            _waited(server, "officepulse_agents_connected", 2)
            # A third connection sends 25 spans in two batches, each acknowledged once
            # durable, then the second again, which stores nothing new. They are ten days
            # old: back-fill, while it sends them.
            with connect(server.ws_url) as ws:
                ws.send(hello("carol"))
                assert json.loads(ws.recv(timeout=WAIT))["type"] == "welcome"
                _waited(server, "officepulse_agents_connected", 3)
                for first, count, acked in ((1, 10, 10), (11, 15, 25), (11, 15, 25)):
                    ws.send(spans(first, count))
                    assert json.loads(ws.recv(timeout=WAIT)) == {"type": "ack", "seq": acked}
                assert scrape(server)["officepulse_agents_backfilling"] == 1
            after = _waited(server, "officepulse_agents_connected", 2)
            assert after["officepulse_agents_backfilling"] == 0
            # Heartbeats: the first starts a span, the second extends it, the third (another
            # app) starts one more; a Ping's Pong says all three were taken.
            with connect(server.ws_url) as ws:
                ws.send(hello("hal"))
                assert json.loads(ws.recv(timeout=WAIT))["type"] == "welcome"
                for second, app in ((0, "Code"), (1, "Code"), (2, "Mail")):
                    ts = (DAY + timedelta(hours=2, seconds=second)).isoformat()
                    ws.send(json.dumps({"type": "heartbeat", "ts": ts, "activity": {"app": app}}))
                ws.send(json.dumps({"type": "ping", "id": 1}))
                assert json.loads(ws.recv(timeout=WAIT)) == {"type": "pong", "id": 1}
                during = scrape(server)
            assert during["officepulse_heartbeats_total"] == 3
            assert during["officepulse_spans_stored_total"] == 25 + 2
            # An agent speaking a protocol version that does not exist: refused, 4003.
            with connect(server.ws_url) as ws:
                ws.send(hello("dave").replace('"v": 2', '"v": 99'))
                assert json.loads(ws.recv(timeout=WAIT))["type"] == "error"
                with pytest.raises(ConnectionClosed):
                    ws.recv(timeout=WAIT)
                assert ws.close_code == CloseCode.UNSUPPORTED_VERSION
            refused = (
                f'officepulse_connections_refused_total{{code="{CloseCode.UNSUPPORTED_VERSION:d}"}}'
            )
            after = _waited(server, refused, 1)
        assert after["officepulse_spans_stored_total"] == 27 == _stored_spans(server)
        assert after["officepulse_spans_refused_total"] == 0
        # Three commits (the batch sent again is one too: it writes its sequence number).
        assert after["officepulse_ingest_commit_seconds_count"] == 3
        assert after['officepulse_ingest_commit_seconds_bucket{le="+Inf"}'] == 3
        assert after["officepulse_ingest_commit_seconds_sum"] > 0
        # Carol came and went, Ann and Bob came: the dashboard was sent each change.
        assert after["officepulse_fanout_seconds_count"] >= 3
        assert after['officepulse_bus_messages_total{direction="published"}'] >= 3
        assert after["officepulse_bus_errors_total"] == 0
        assert after['officepulse_build_info{process="server",version="0.1.0"}'] == 1
        assert after["process_resident_memory_bytes"] > 0
        _waited(server, "officepulse_dashboards_connected", 0)
    finally:
        for agent in agents:
            stop(agent)
        server.stop()
