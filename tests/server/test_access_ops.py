"""Who may read /metrics, /healthz and /readyz (security/access.py: Access.METRICS and
Access.PROBE), on a server whose people have accounts (locked): the probes answer without
a session, /metrics from loopback or with the metrics_token, never through a proxy that
hides the client."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from officepulse.server.app import Server
from officepulse.settings import ServerSettings
from officepulse.store.accounts import NewPerson

TOKEN = "s3cret-metrics-token-of-the-test"
RELAYED = {"X-Forwarded-For": "203.0.113.7"}  # as a reverse proxy on this machine sends


async def _locked(client: TestClient[object, object], server: Server) -> None:
    await server.store.add_person(NewPerson("ann", "Ann", "admin", "x", "full", 0))
    r = await client.get("/api/v1/agents")
    assert r.status == 401  # locked now: a session is needed for the rest


async def test_probes_answer_anyone_and_metrics_loopback_or_the_token(tmp_path: Path) -> None:
    server = Server(ServerSettings(database=str(tmp_path / "o.sqlite3"), metrics_token=TOKEN))
    async with TestClient(TestServer(server.app())) as client:
        await _locked(client, server)
        for path, status in (("/healthz", 200), ("/readyz", 200)):
            for headers in ({}, RELAYED):
                r = await client.get(path, headers=headers)
                assert r.status == status, (path, headers)
                assert r.headers["Cache-Control"] == "no-store"
        assert (await (await client.get("/readyz")).json()) == {"status": "ready"}
        assert (await client.get("/metrics")).status == 200  # loopback
        relayed = await client.get("/metrics", headers=RELAYED)
        assert relayed.status == 401
        assert "Bearer" in (await relayed.json())["error"]
        ok = await client.get("/metrics", headers={**RELAYED, "Authorization": f"Bearer {TOKEN}"})
        assert ok.status == 200
        assert "officepulse_agents_connected 0.0" in await ok.text()
        wrong = await client.get("/metrics", headers={**RELAYED, "Authorization": "Bearer nope"})
        assert wrong.status == 401
        assert (await wrong.json())["error"] == "wrong metrics token"
        # A request id comes back on every answer, the client's own when it sent a sane one.
        mine = await client.get("/healthz", headers={"X-Request-ID": "proxy-id.42"})
        assert mine.headers["X-Request-ID"] == "proxy-id.42"
        odd = await client.get("/healthz", headers={"X-Request-ID": "<b>x</b>"})
        assert odd.headers["X-Request-ID"] != "<b>x</b>"
        assert len(odd.headers["X-Request-ID"]) == 16


async def test_without_a_token_metrics_answer_loopback_only(tmp_path: Path) -> None:
    server = Server(ServerSettings(database=str(tmp_path / "o.sqlite3")))
    async with TestClient(TestServer(server.app())) as client:
        assert (await client.get("/metrics")).status == 200
        for headers in (RELAYED, {"Forwarded": "for=203.0.113.7"}, {"X-Real-IP": "203.0.113.7"}):
            r = await client.get("/metrics", headers={**headers, "Authorization": "Bearer x"})
            assert r.status == 403, headers
            assert "metrics_token" in (await r.json())["error"]
