"""Error pages in the dashboard's layout, over the server's real app on a real port: a
page that fails is a 500 page of the dashboard that names the request id of its log
line (while API clients keep aiohttp's plain answer), and every action the audit log
is given has words on the Audit page."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import officepulse
from officepulse.panel.audit_words import ACTION_WORDS, action_words
from officepulse.security.access import ROUTES, Access
from officepulse.server.app import Server
from officepulse.settings import ServerSettings
from officepulse.store.accounts import agent_action

HTML = {"Accept": "text/html,application/xhtml+xml"}


async def test_a_failing_page_is_a_500_page_of_the_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = Server(ServerSettings(database=str(tmp_path / "o.sqlite3"))).app()

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug in a page")

    app.router.add_get("/broken", broken)
    # The route table is the one place that lets a route be served at all.
    monkeypatch.setitem(ROUTES, ("GET", "/broken"), Access.SIGNED_IN)
    async with TestClient(TestServer(app)) as client:
        with caplog.at_level(logging.ERROR, logger="officepulse.panel.pages.errors"):
            r = await client.get("/broken", headers={**HTML, "X-Request-ID": "req-42"})
            page = await r.text()
        assert r.status == 500
        assert r.content_type == "text/html"
        assert "<h1>Something went wrong</h1>" in page
        assert "log (request id req-42)." in page
        assert 'href="/static/vendor/pico.min.css"' in page  # the dashboard's layout
        assert "a bug in a page" not in page  # what failed stays in the log
        assert any("a bug in a page" in (r.exc_text or "") for r in caplog.records)

        r = await client.get("/broken", headers={"Accept": "application/json"})
        assert r.status == 500
        assert "Something went wrong" not in await r.text()

        r = await client.get("/no/such/page", headers=HTML)
        assert r.status == 404
        assert "There is no page at /no/such/page." in await r.text()
        r = await client.get("/api/v1/no-such-thing")  # a script's 404 stays plain
        assert r.status == 404
        assert "<html" not in await r.text()


def audited_actions() -> set[str]:
    """Every action written to the audit log by name in the source: the second argument
    of each call of a function named ``audit`` or ``_audit``, and the categories' own."""
    found: set[str] = set()
    for path in Path(officepulse.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            action = node.args[1]
            if name.endswith("audit") and isinstance(action, ast.Constant):
                found.add(str(action.value))
    return found


def test_every_audited_action_has_words() -> None:
    actions = audited_actions() | {"categories.set", "categories.reset", "categories.add"}
    actions |= {agent_action(a) for a in ("block", "unblock", "remove", "revoke")}
    actions.add(agent_action("remove", erase=True))
    assert {"sign-in.failed", "detail.view", "person.add", "token.create"} <= actions
    assert sorted(actions - ACTION_WORDS.keys()) == []
    assert action_words("sign-in.failed") == "Failed sign-in"
    assert action_words("made.up") == "made.up"  # shown, not hidden
