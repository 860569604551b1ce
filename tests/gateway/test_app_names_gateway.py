"""The app_names message on a real server: taken on v2 connections whose Welcome offers
it, stored, shown beside the raw app in the API; malformed ones refused with an error
that names what was wrong; the admin's override via the REST API."""

from __future__ import annotations

import base64
import csv
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.app_names import png, put_json
from tests.support.processes import WAIT
from tests.support.servers import ServerProcess, start_server
from tests.support.usage_query import TODAY

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the refusals: none of them stores anything."""
    srv = start_server(tmp_path_factory.mktemp("app-names"))
    yield srv
    srv.stop()


@contextmanager
def agent(server: ServerProcess, v: int = 2) -> Iterator[tuple[ClientConnection, dict[str, Any]]]:
    with connect(server.ws_url, open_timeout=WAIT, proxy=None) as ws:
        hello = {"type": "hello", "v": v, "agent_id": "ann", "name": "Ann", "host": "h"}
        ws.send(json.dumps({**hello, "platform": "Linux", "agent_version": "t", "tz": "UTC"}))
        welcome = json.loads(ws.recv(timeout=WAIT))
        assert welcome["type"] == "welcome", welcome
        yield ws, welcome


def sync(ws: ClientConnection, n: int = 1) -> None:
    ws.send(json.dumps({"type": "ping", "id": n}))
    assert json.loads(ws.recv(timeout=WAIT)) == {"type": "pong", "id": n}


def refusal(ws: ClientConnection, message: Any) -> tuple[dict[str, Any], int | None]:
    ws.send(json.dumps(message))
    error = json.loads(ws.recv(timeout=WAIT))
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=WAIT)
    return error, ws.close_code


def test_names_sent_once_are_stored_and_shown_beside_the_app(server: ServerProcess) -> None:
    now = datetime.now(UTC)
    with agent(server) as (ws, welcome):
        assert welcome["app_names"] is True
        names = [
            {"app": "libreoffice-writer", "name": "LibreOffice Writer"},
            {"app": "XTerm", "name": "XTerm terminal"},
        ]
        ws.send(json.dumps({"type": "app_names", "names": names}))
        span = [(now - timedelta(minutes=5)).isoformat(), now.isoformat()]
        ws.send(
            json.dumps(
                {
                    "type": "spans",
                    "first_seq": 1,
                    "spans": [[*span, {"app": "libreoffice-writer", "title": "a.odt"}]],
                }
            )
        )
        assert json.loads(ws.recv(timeout=WAIT)) == {"type": "ack", "seq": 1}
        ws.send(
            json.dumps({"type": "presence", "since": now.isoformat(), "activity": {"app": "XTerm"}})
        )
        sync(ws)
        apps = server.get("/api/v1/app-names")["apps"]
        assert apps == [
            {
                "app": "XTerm",
                "name": "XTerm terminal",
                "reported": "XTerm terminal",
                "override": None,
                "icon": None,
            },
            {
                "app": "libreoffice-writer",
                "name": "LibreOffice Writer",
                "reported": "LibreOffice Writer",
                "override": None,
                "icon": None,
            },
        ]
        # XTerm, in front now, is counted too (in progress, live-totals), by its name.
        rows = {r["app"]: r for r in server.get(f"/api/v1/usage?{TODAY}&group_by=app")["rows"]}
        assert rows["libreoffice-writer"]["app_name"] == "LibreOffice Writer"
        assert rows["XTerm"]["app_name"] == "XTerm terminal"
        assert rows["XTerm"]["in_progress_seconds"] > 0
        spans = {s["app"]: s for s in server.get(f"/api/v1/spans?{TODAY}")["spans"]}
        assert spans["libreoffice-writer"]["app_name"] == "LibreOffice Writer"
        # The admin's name wins everywhere, and totals stay keyed by the raw app.
        status, body = put_json(server, "/api/v1/app-names", {"app": "XTerm", "name": "Terminal"})
        assert status == 200, body
        assert body == {
            "app": "XTerm",
            "name": "Terminal",
            "reported": "XTerm terminal",
            "override": "Terminal",
            "icon": None,
        }
        (ann,) = server.get("/api/v1/agents")["agents"]
        assert (ann["current"]["app"], ann["current"]["app_name"]) == ("XTerm", "Terminal")
    with urllib.request.urlopen(f"{server.url}/api/v1/usage?{TODAY}&format=csv") as r:
        csv_rows = {row["app"]: row for row in csv.DictReader(io.StringIO(r.read().decode()))}
    assert csv_rows["libreoffice-writer"]["app_name"] == "LibreOffice Writer"
    # null: the reported name again.
    status, body = put_json(server, "/api/v1/app-names", {"app": "XTerm", "name": None})
    assert (status, body["name"]) == (200, "XTerm terminal")
    paths = server.get("/api/v1/openapi.json")["paths"]
    assert set(paths["/api/v1/app-names"]) == {"get", "put"}


@pytest.mark.parametrize(
    ("names", "named"),
    [
        ([{"app": "Code", "name": ""}], "length >= 1 - at `$.names[0].name`"),
        ([], "length >= 1 - at `$.names`"),
        ([{"app": "Code"}], "missing required field `name` - at `$.names[0]`"),
        ("Code", "Expected `array`, got `str` - at `$.names`"),
        ([{"app": "x" * 257, "name": "X"}], "length <= 256 - at `$.names[0].app`"),
        (
            [{"app": "Code", "name": "Code", "icon": base64.b64encode(b"x" * 16_385).decode()}],
            "length <= 16384 - at `$.names[0].icon`",
        ),
    ],
)
def test_malformed_names_are_refused_naming_the_field(
    shared: ServerProcess, names: Any, named: str
) -> None:
    with agent(shared) as (ws, _):
        error, code = refusal(ws, {"type": "app_names", "names": names})
    assert (error["code"], error["fatal"], code) == ("invalid-message", True, 4002)
    assert named in error["message"], error


def test_a_v1_connection_may_not_send_names(shared: ServerProcess) -> None:
    with agent(shared, v=1) as (ws, _):
        names = [{"app": "Code", "name": "Visual Studio Code"}]
        error, code = refusal(ws, {"type": "app_names", "names": names})
    assert code == 4002
    assert "'appnames' needs protocol version 2" in error["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "the body is empty"),
        ({"app": "", "name": "X"}, "$.app"),
        ({"app": "   ", "name": "X"}, "$.app"),  # blanks alone: no app (the pattern)
        # Blanks Python's \s and a JSON Schema reader's (ECMA-262) disagree on: the
        # document's pattern and the server refuse them alike (the API fuzzer sent "\x1c").
        ({"app": "\x1c\x1f", "name": "X"}, "$.app"),
        ({"app": "\x85", "name": "X"}, "$.app"),
        ({"app": "\ufeff ", "name": "X"}, "$.app"),
        ({"app": "XTerm"}, "missing required field `name`"),
        ({"app": "XTerm", "name": "T", "colour": "red"}, "unknown field `colour`"),
        ({"app": "XTerm", "name": "x" * 257}, "$.name"),
    ],
)
def test_a_bad_override_is_refused_with_what_was_wrong(
    shared: ServerProcess, body: Any, says: str
) -> None:
    status, answer = put_json(shared, "/api/v1/app-names", body)
    assert status == 400
    assert says in answer["error"], answer
    stored = shared.get("/api/v1/app-names")["apps"]
    assert not [a for a in stored if a["app"].strip() in ("", "XTerm")]  # nothing stored


def test_an_icon_is_stored_and_served_and_one_that_is_no_png_refused(
    shared: ServerProcess,
) -> None:
    icon = png(16, 16, (204, 102, 119))
    with agent(shared) as (ws, _):
        names = [
            {"app": "gimp", "name": "GIMP", "icon": base64.b64encode(icon).decode()},
            {"app": "evil", "name": "Evil", "icon": base64.b64encode(b"<svg onload=x>").decode()},
        ]
        ws.send(json.dumps({"type": "app_names", "names": names}))
        error = json.loads(ws.recv(timeout=WAIT))
        assert (error["code"], error["fatal"]) == ("icon-refused", False)
        assert "the icon of 'evil' is not a PNG image; its name is kept" in error["message"]
        sync(ws)  # the connection stays
    apps = {a["app"]: a for a in shared.get("/api/v1/app-names")["apps"]}
    assert apps["gimp"]["icon"] == "/app-icon?app=gimp"
    assert (apps["evil"]["name"], apps["evil"]["icon"]) == ("Evil", None)
    with urllib.request.urlopen(shared.url + "/app-icon?app=gimp", timeout=WAIT) as r:
        assert r.headers["Content-Type"] == "image/png"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.read() == icon
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(shared.url + "/app-icon?app=evil", timeout=WAIT)
    assert missing.value.code == 404
    missing.value.close()
