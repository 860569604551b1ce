"""/healthz and /readyz of real server processes: ready on a migrated store; 503 with the
reason while the store's schema is behind the code or its PostgreSQL is stopped, alive
all the while, and ready again once that is mended. And the JSON log lines that say so,
each with the ids it has."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from websockets.sync.client import connect

from officepulse.store.postgres import SCHEMA_VERSION as POSTGRES_SCHEMA
from officepulse.store.sqlite import SCHEMA_VERSION as SQLITE_SCHEMA
from tests.support.agent_messages import hello
from tests.support.processes import WAIT, wait_until
from tests.support.servers import ServerProcess, start_server

if TYPE_CHECKING:
    from tests.support.postgres import PostgresCluster

pytest_plugins = ["tests.support.postgres"]


def probe(server: ServerProcess, path: str, request_id: str = "") -> tuple[int, Any]:
    headers = {"X-Request-ID": request_id} if request_id else {}
    request = urllib.request.Request(server.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def ready_becomes(server: ServerProcess, status: int, request_id: str = "") -> Any:
    """/readyz's answer once its status is ``status``; /healthz is 200 throughout."""
    answers: list[Any] = []

    def reached() -> bool:
        assert probe(server, "/healthz") == (200, {"status": "alive"})
        answers.append(probe(server, "/readyz", request_id))
        return bool(answers[-1][0] == status)

    wait_until(reached, 60, f"/readyz {status}", lambda: f"last answer: {answers[-1:]}")
    return answers[-1][1]


def json_lines(server: ServerProcess) -> list[dict[str, str]]:
    return [json.loads(line) for line in list(server.log) if line.startswith("{")]


def test_readyz_is_503_while_the_sqlite_schema_is_behind(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--log-format", "json")
    try:
        assert ready_becomes(server, 200) == {"status": "ready"}
        # As a database another process has not migrated yet (or an older copy put back).
        with sqlite3.connect(server.database) as db:
            db.execute(f"PRAGMA user_version={SQLITE_SCHEMA - 1}")
        answer = ready_becomes(server, 503, request_id="probe-1")
        assert answer == {
            "status": "not ready",
            "reasons": [
                f"store: database schema version {SQLITE_SCHEMA - 1} is behind this "
                f"officepulse's {SQLITE_SCHEMA}: migrations not applied (they run when a "
                "server starts)"
            ],
        }
        with sqlite3.connect(server.database) as db:
            db.execute(f"PRAGMA user_version={SQLITE_SCHEMA}")
        ready_becomes(server, 200)
        # An agent's lines carry its id.
        with connect(server.ws_url) as ws:
            ws.send(hello("eve"))
            assert json.loads(ws.recv(timeout=WAIT))["type"] == "welcome"
        server.wait_for_log('"message":"agent eve disconnected"')
        server.wait_for_log('"message":"ready again"')
    finally:
        server.stop()
    lines = json_lines(server)
    assert lines, "no JSON log lines"
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
        assert line["time"].endswith("Z")
    said = [line for line in lines if line["message"].startswith("not ready: ")]
    assert len(said) == 1, said  # once per change, however often it is polled
    assert said[0]["level"] == "warning"
    assert said[0]["request_id"] == "probe-1"
    assert said[0]["logger"] == "officepulse.ops.health"
    (connected,) = [line for line in lines if line["message"].startswith("agent eve (eve on h)")]
    assert connected["agent_id"] == "eve"
    assert "request_id" in connected  # the websocket's handshake was a request
    # Lines of no agent and no request have neither.
    listening = [line for line in lines if line["message"].startswith("serving at most")]
    assert listening
    assert "agent_id" not in listening[0]
    assert "request_id" not in listening[0]


def test_readyz_is_503_while_postgresql_is_stopped(
    tmp_path: Path, postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    server = start_server(tmp_path, "--database", postgres_url)
    try:
        assert ready_becomes(server, 200) == {"status": "ready"}
        postgres_cluster.stop("fast")
        try:
            answer = ready_becomes(server, 503)
        finally:
            postgres_cluster.start()
        assert answer["status"] == "not ready"
        assert answer["reasons"] in (["store: unreachable"], ["store: no answer within 2 s"])
        ready_becomes(server, 200)
        # A database behind this code's schema (the one migration table PostgreSQL keeps).
        with psycopg.connect(postgres_url, autocommit=True) as db:
            db.execute("DELETE FROM schema_version WHERE version = %s", (POSTGRES_SCHEMA,))
        answer = ready_becomes(server, 503)
        assert answer["reasons"][0].startswith(
            f"store: database schema version {POSTGRES_SCHEMA - 1} is behind"
        )
    finally:
        server.stop()
