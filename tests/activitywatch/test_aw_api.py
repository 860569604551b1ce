"""The rest of ActivityWatch's REST API on officepulse, request by request
against the real aw-server 0.12: buckets, events, ranges, errors, exports; and
what editing through it does to officepulse's totals and presence."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer

from officepulse.activitywatch.http import AW_API
from officepulse.server.app import Server
from officepulse.settings import ServerSettings
from tests.support.aw import (
    STORES,
    T0,
    AwServer,
    at,
    aw_server,
    events,
    make_database,
    needs_aw,
    officepulse,
    request,
    usage,
)
from tests.support.processes import WAIT
from tests.support.servers import ServerProcess

pytestmark = needs_aw
pytest_plugins = ["tests.support.postgres"]


def q(offset: float) -> str:
    """An instant for a query string."""
    return quote(at(T0, offset))


@pytest.fixture(scope="module", params=STORES)
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AwServer, ServerProcess]]:
    """aw-server, and officepulse on each store."""
    tmp = tmp_path_factory.mktemp("aw-api")
    database = make_database(request.param, tmp, request)
    with aw_server(tmp) as aw, officepulse(tmp, database) as op:
        yield aw, op


def both(
    servers: tuple[AwServer, ServerProcess], method: str, path: str, body: Any = None
) -> tuple[Any, Any]:
    """The same request to aw-server and to officepulse: (status, body) of each."""
    aw, op = servers
    theirs = request(method, aw.url + path, body)
    ours = request(method, op.url + path, body)
    return theirs[:2], ours[:2]


def same(servers: tuple[AwServer, ServerProcess], method: str, path: str, body: Any = None) -> Any:
    theirs, ours = both(servers, method, path, body)
    assert ours == theirs, (method, path)
    return ours[1]


def test_info(servers: tuple[AwServer, ServerProcess]) -> None:
    _, op = servers
    status, info, _ = request("GET", op.url + "/api/0/info")
    assert status == 200
    assert set(info) == {"hostname", "version", "testing", "device_id"}
    assert info["testing"] is False
    assert request("GET", op.url + "/api/0/info")[1]["device_id"] == info["device_id"]


def test_buckets_events_and_ranges_answer_as_aw_server(
    servers: tuple[AwServer, ServerProcess],
) -> None:
    meta = {"client": "aw-watcher-test", "type": "test.events", "hostname": "api-host"}
    assert same(servers, "POST", "/api/0/buckets/api-events", meta) == {}
    theirs, ours = both(servers, "POST", "/api/0/buckets/api-events", meta)
    assert ours[0] == theirs[0] == 304  # already there
    inserted = [
        {"timestamp": at(T0, 0), "duration": 1.5, "data": {"app": "y"}},
        {"timestamp": at(T0, 0), "duration": 2, "data": {"app": "z"}},
        {"timestamp": at(T0, 10.1234567), "duration": 0.25, "data": {"app": "x"}},
        {"timestamp": at(T0, 20), "data": {"k": [1, 2]}},
        {"timestamp": at(T0, 30), "duration": 30, "data": {}},
    ]
    assert same(servers, "POST", "/api/0/buckets/api-events/events", inserted) is None
    assert same(servers, "POST", "/api/0/buckets/api-events/events", inserted[2]) is None
    ranges = [
        "",
        "?limit=1",
        "?limit=0",
        "?limit=-1",
        f"?start={q(1)}&end={q(1.5)}",
        f"?start={q(10.2)}",
        f"?end={q(20)}",
        f"?start={q(40)}&end={q(45.0005)}&limit=5",
        f"?start={q(60)}",
    ]
    aw, op = servers
    for query in ranges:
        theirs_events, ours_events = (
            events(aw.url, "api-events", query),
            events(op.url, "api-events", query),
        )
        assert [{k: e[k] for k in ("timestamp", "duration", "data")} for e in ours_events] == [
            {k: e[k] for k in ("timestamp", "duration", "data")} for e in theirs_events
        ], query
    assert same(servers, "GET", "/api/0/buckets/api-events/events/count") == 6
    assert same(servers, "GET", f"/api/0/buckets/api-events/events/count?start={q(15)}") == 2

    listed_theirs = request("GET", aw.url + "/api/0/buckets/")[1]["api-events"]
    listed_ours = request("GET", op.url + "/api/0/buckets/")[1]["api-events"]
    assert {k: v for k, v in listed_ours.items() if k != "created"} == {
        k: v for k, v in listed_theirs.items() if k != "created"
    }
    assert listed_ours["last_updated"] == at(T0, 60)

    # One event by id, and deleting it.
    newest = events(op.url, "api-events", "?limit=1")[0]
    status, one, _ = request("GET", f"{op.url}/api/0/buckets/api-events/events/{newest['id']}")
    assert (status, one) == (200, newest)
    assert request("GET", f"{op.url}/api/0/buckets/api-events/events/999999")[:2] == (404, None)
    status, answer, _ = request(
        "DELETE", f"{op.url}/api/0/buckets/api-events/events/{newest['id']}"
    )
    assert (status, answer) == (200, {"success": 1})
    assert len(events(op.url, "api-events")) == 5

    # Replacing an event: one with an id is a rewrite of that event.
    changed = dict(events(op.url, "api-events", "?limit=1")[0], duration=99.0)
    request("POST", f"{op.url}/api/0/buckets/api-events/events", [changed])
    assert events(op.url, "api-events", "?limit=1")[0] == changed


def test_errors_answer_as_aw_server(servers: tuple[AwServer, ServerProcess]) -> None:
    theirs, ours = both(servers, "GET", "/api/0/buckets/no-such-bucket")
    assert ours[0] == theirs[0] == 404
    assert ours[1]["message"] == "There's no bucket named no-such-bucket"
    assert theirs[1]["message"].startswith(ours[1]["message"])
    for path in ("/events", "/events/count", "/export"):
        theirs, ours = both(servers, "GET", "/api/0/buckets/no-such-bucket" + path)
        assert ours[0] == theirs[0] == 404, path
    same(
        servers, "POST", "/api/0/buckets/api-errors", {"client": "c", "type": "t", "hostname": "h"}
    )
    heartbeat = {"timestamp": at(T0, 0), "data": {}}
    assert same(servers, "POST", "/api/0/buckets/api-errors/heartbeat", heartbeat) == {
        "message": "Missing required parameter pulsetime"
    }
    theirs, ours = both(
        servers, "POST", "/api/0/buckets/api-errors/heartbeat?pulsetime=1", {"data": {}}
    )
    assert ours[0] == theirs[0] == 400
    assert "'timestamp' is a required property" in ours[1]["message"]
    theirs, ours = both(servers, "DELETE", "/api/0/buckets/api-errors")
    # aw-server --testing lets anyone delete; a real one (and officepulse) wants ?force=1.
    assert ours[0] == 401
    assert "force=1" in ours[1]["message"]
    assert request("DELETE", servers[1].url + "/api/0/buckets/api-errors?force=1")[:2] == (200, {})
    assert request("GET", servers[1].url + "/api/0/buckets/api-errors")[0] == 404
    status, body, _ = request(
        "POST", servers[1].url + "/api/0/buckets/x/heartbeat?pulsetime=1", raw=b"{nope"
    )
    assert status == 400
    assert "not JSON" in body["message"]


def test_exports_answer_as_aw_server(servers: tuple[AwServer, ServerProcess]) -> None:
    aw, op = servers
    meta = {"client": "aw-watcher-test", "type": "currentwindow", "hostname": "export-host"}
    same(servers, "POST", "/api/0/buckets/api-export", meta)
    for offset, app in ((0, "Code"), (1, "Code"), (2.5, "Firefox")):
        same(
            servers,
            "POST",
            "/api/0/buckets/api-export/heartbeat?pulsetime=2",
            {"timestamp": at(T0, offset), "data": {"app": app, "title": ""}},
        )
    status, theirs, their_headers = request("GET", aw.url + "/api/0/buckets/api-export/export")
    status, ours, our_headers = request("GET", op.url + "/api/0/buckets/api-export/export")
    assert status == 200
    assert our_headers["Content-Disposition"] == their_headers["Content-Disposition"]
    for body in (ours, theirs):
        body["buckets"]["api-export"].pop("created")
    assert ours == theirs
    everything = request("GET", op.url + "/api/0/export")[1]["buckets"]
    assert {"api-export", "api-events"} <= set(everything)
    assert "id" not in everything["api-export"]["events"][0]


def test_editing_through_the_api_changes_the_totals(
    servers: tuple[AwServer, ServerProcess],
) -> None:
    _, op = servers
    base = op.url + "/api/0/buckets/"
    request(
        "POST",
        base + "aw-watcher-window_frank",
        {"client": "aw-watcher-window", "type": "currentwindow", "hostname": "frank"},
    )
    request(
        "POST",
        base + "aw-watcher-afk_frank",
        {"client": "aw-watcher-afk", "type": "afkstatus", "hostname": "frank"},
    )
    window = [
        {"timestamp": at(T0, 0), "duration": 100, "data": {"app": "Code", "title": "a"}},
        {"timestamp": at(T0, 100), "duration": 50, "data": {"app": "Slack", "title": "b"}},
    ]
    request("POST", base + "aw-watcher-window_frank/events", window)
    assert usage(op.url, T0, "aw-frank") == {"Code": (100.0, 0.0), "Slack": (50.0, 0.0)}
    afk = [{"timestamp": at(T0, 80), "duration": 40, "data": {"status": "afk"}}]
    request("POST", base + "aw-watcher-afk_frank/events", afk)
    assert usage(op.url, T0, "aw-frank") == {"Code": (80.0, 20.0), "Slack": (30.0, 20.0)}
    request("DELETE", base + "aw-watcher-afk_frank?force=1")
    assert usage(op.url, T0, "aw-frank") == {"Code": (100.0, 0.0), "Slack": (50.0, 0.0)}
    slack = events(op.url, "aw-watcher-window_frank", "?limit=1")[0]
    request("DELETE", f"{base}aw-watcher-window_frank/events/{slack['id']}")
    assert usage(op.url, T0, "aw-frank") == {"Code": (100.0, 0.0)}


def test_browser_extensions_may_call_across_origins(
    servers: tuple[AwServer, ServerProcess],
) -> None:
    _, op = servers
    origin = "moz-extension://ef87d84c-2127-493f-b952-5b4e744245bc"
    status, _, headers = request(
        "OPTIONS",
        op.url + "/api/0/buckets/aw-watcher-web-firefox/heartbeat?pulsetime=80",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == origin
    status, _, headers = request("GET", op.url + "/api/0/info", headers={"Origin": origin})
    assert headers["Access-Control-Allow-Origin"] == origin
    status, _, headers = request(
        "GET", op.url + "/api/0/info", headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in headers


@pytest.fixture(params=STORES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    return make_database(request.param, tmp_path, request)


async def test_a_silent_watcher_goes_offline(database: Path | str) -> None:
    """aw-client has no connection whose end says it left: a computer is offline
    once nothing has come from it for a while (here 0.3 s)."""
    server = Server(ServerSettings(database=str(database)))
    app = server.app()
    api = app[AW_API]
    api.offline_after_ms = 300
    async with TestClient(TestServer(app)) as client:
        meta = {"client": "aw-watcher-window", "type": "currentwindow", "hostname": "gina"}
        assert (await client.post("/api/0/buckets/w", json=meta)).status == 200
        for offset in (0, 1):
            beat = {"timestamp": at(T0, offset), "data": {"app": "Code", "title": "x"}}
            answer = await client.post("/api/0/buckets/w/heartbeat?pulsetime=2", json=beat)
            assert answer.status == 200
        agents = (await (await client.get("/api/v1/agents")).json())["agents"]
        assert [(a["id"], a["online"], a["current"]["app"]) for a in agents] == [
            ("aw-gina", True, "Code")
        ]
        async with asyncio.timeout(WAIT):
            while agents[0]["online"]:
                await asyncio.sleep(0.1)
                agents = (await (await client.get("/api/v1/agents")).json())["agents"]
        assert agents[0]["online"] is False
        shown = server.hub.view("aw-gina")
        assert shown is not None
        assert shown.online is False
