"""Once people have accounts, the Agents page, enrollment tokens and the category rules
are an admin's: a member is refused over HTTP with a real session, and every change an
admin makes (from the dashboard) or anyone makes from the CLI is in the audit log with
who made it. A real server process (agent_auth = required), agents enrolled over a real
websocket, people made with the real CLI."""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from officepulse.core.categories import default_rules, rules_to_json
from tests.support.enrollment import db, enroll, new_token
from tests.support.people_office import add_people, csrf_of, session, sign_in
from tests.support.servers import ServerProcess, admin, start_server

# The OS user at this terminal, as the CLI names them in the audit log.
CLI_ACTOR = f"cli:{getpass.getuser()}@{socket.gethostname()}"


@pytest.fixture
def team(tmp_path: Path) -> Iterator[ServerProcess]:
    """Two enrolled agents, alice and bert; ann (admin), bob and cat (members)."""
    server = start_server(tmp_path, "--agent-auth", "required")
    enroll(server, "alice", new_token(server))
    enroll(server, "bert", new_token(server))
    add_people(server.database, assign=False)
    yield server
    server.stop()


def audit(server: ServerProcess, *actions: str) -> list[tuple[str, str, str, str]]:
    """(actor, action, target, detail) of the audit log's entries of ``actions``, in order."""
    marks = ", ".join("?" for _ in actions)
    return [
        (str(a), str(b), str(c), str(d))
        for a, b, c, d in db(
            server,
            f"SELECT actor, action, target, detail FROM audit WHERE action IN ({marks}) "
            "ORDER BY id",
            *actions,
        )
    ]


AGENT_ACTIONS = ("agent.block", "agent.unblock", "agent.revoke", "agent.remove", "agent.erase")
TOKEN_ACTIONS = ("token.create", "token.revoke")
CATEGORY_ACTIONS = ("categories.set", "categories.reset")


@asynccontextmanager
async def signed_in(url: str, login: str) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """A session of ``login`` and its CSRF token."""
    async with session() as http:
        assert await sign_in(http, url, login) == 303
        yield http, await csrf_of(http, url)


async def put_rules(
    http: aiohttp.ClientSession, url: str, csrf: str, rules: list[object]
) -> tuple[int, str]:
    async with http.put(
        url + "/api/v1/categories",
        data=json.dumps({"rules": rules}),
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    ) as r:
        return r.status, await r.text()


async def post(http: aiohttp.ClientSession, url: str, csrf: str, **form: str) -> tuple[int, str]:
    """A change as the Agents and Categories pages make it (htmx: the header and CSRF)."""
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf}
    async with http.post(url, data=form, headers=headers) as r:
        return r.status, await r.text()


async def test_a_member_gets_403_on_the_agents_page_tokens_and_rule_changes(
    team: ServerProcess,
) -> None:
    url = team.url
    async with signed_in(url, "bob") as (http, csrf):
        async with http.get(url + "/agents") as r:
            assert r.status == 403
            assert "only an admin" in (await r.json())["error"]
        for path, form in [
            ("/agents/alice/block", {"reason": "member says so"}),
            ("/agents/alice/unblock", {}),
            ("/agents/alice/revoke", {}),
            ("/agents/alice/remove", {"erase": "1"}),
            ("/tokens", {"label": "sneaky"}),
            ("/tokens/anything/revoke", {}),
            ("/categories/edit", {"count": "0", "op": "add"}),
            ("/categories/save", {"count": "0"}),
            ("/categories/reset", {}),
            ("/api/v1/categories/reset", {}),
        ]:
            status, _ = await post(http, url + path, csrf, **form)
            assert status == 403, path
        assert (await put_rules(http, url, csrf, []))[0] == 403
        # Members read the rules, read-only.
        async with http.get(url + "/categories") as r:
            assert r.status == 200
            assert "Only an admin can change the rules." in await r.text()
        async with http.get(url + "/api/v1/categories") as r:
            assert r.status == 200
            assert len((await r.json())["rules"]) == len(default_rules())
    # Nothing happened, and the page does not link the member to it.
    assert db(team, "SELECT blocked_ms FROM agents WHERE id = 'alice'") == [(None,)]
    assert db(team, "SELECT COUNT(*) FROM agent_credentials WHERE revoked_ms IS NULL") == [(2,)]
    assert db(team, "SELECT COUNT(*) FROM enrollment_tokens") == [(2,)]
    assert audit(team, *AGENT_ACTIONS, *CATEGORY_ACTIONS) == []
    async with session() as http:
        assert await sign_in(http, url, "bob") == 303
        async with http.get(url + "/") as r:
            assert 'href="/agents"' not in await r.text()
        # Nor does the office a dashboard is sent when it connects.
        ws = await http.ws_connect(team.browser_url)
        first = await ws.receive(timeout=30)
        assert 'id="people-empty"' in first.data
        assert 'href="/agents"' not in first.data
        await ws.close()


async def test_dashboard_changes_are_audited_with_the_signed_in_admin(
    team: ServerProcess,
) -> None:
    url = team.url
    async with signed_in(url, "ann") as (http, csrf):
        async with http.get(url + "/") as r:
            assert 'href="/agents"' in await r.text()
        ws = await http.ws_connect(team.browser_url)
        first = await ws.receive(timeout=30)
        assert 'href="/agents"' in first.data
        await ws.close()
        for path, form in [
            ("/agents/alice/block", {"reason": "lost laptop"}),
            ("/agents/alice/unblock", {}),
            ("/agents/alice/revoke", {}),
            ("/agents/alice/remove", {}),
            ("/agents/bert/remove", {"erase": "1"}),
            ("/tokens", {"label": "Cat's laptop"}),
        ]:
            status, page = await post(http, url + path, csrf, **form)
            assert status == 200, (path, page)
        (token_id,) = db(team, "SELECT id FROM enrollment_tokens WHERE label = ?", "Cat's laptop")
        status, _ = await post(http, url + f"/tokens/{token_id[0]}/revoke", csrf)
        assert status == 200
        rules = [*default_rules()][:3]
        status, answer = await put_rules(http, url, csrf, json.loads(rules_to_json(rules)))
        assert status == 202, answer
        status, _ = await post(http, url + "/categories/reset", csrf)
        assert status == 200
    assert audit(team, *AGENT_ACTIONS) == [
        ("ann", "agent.block", "alice", "lost laptop"),
        ("ann", "agent.unblock", "alice", ""),
        ("ann", "agent.revoke", "alice", ""),
        ("ann", "agent.remove", "alice", ""),
        ("ann", "agent.erase", "bert", ""),
    ]
    assert audit(team, *TOKEN_ACTIONS)[-2:] == [
        ("ann", "token.create", token_id[0], "Cat's laptop"),
        ("ann", "token.revoke", token_id[0], ""),
    ]
    changes = audit(team, *CATEGORY_ACTIONS)
    assert [(actor, action, target) for actor, action, target, _ in changes] == [
        ("ann", "categories.set", "categories"),
        ("ann", "categories.reset", "categories"),
    ]
    assert changes[0][3].startswith("3 rules; ")
    assert changes[1][3].startswith(f"{len(default_rules())} rules; ")


def test_cli_changes_are_audited_with_the_os_user_and_host(team: ServerProcess) -> None:
    def ok(*args: str) -> str:
        done = admin(team.database, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    ok("agents", "block", "alice", "--reason", "on leave")
    ok("agents", "unblock", "alice")
    ok("agents", "revoke", "alice")
    ok("agents", "remove", "alice")
    ok("agents", "remove", "bert", "--erase")
    token_id = ok("tokens", "create", "--label", "spare").split()[1]
    ok("tokens", "revoke", token_id)
    assert audit(team, *AGENT_ACTIONS) == [
        (CLI_ACTOR, "agent.block", "alice", "on leave"),
        (CLI_ACTOR, "agent.unblock", "alice", ""),
        (CLI_ACTOR, "agent.revoke", "alice", ""),
        (CLI_ACTOR, "agent.remove", "alice", ""),
        (CLI_ACTOR, "agent.erase", "bert", ""),
    ]
    # Every token here was made at the CLI: the fixture's two, then "spare".
    tokens = audit(team, *TOKEN_ACTIONS)
    assert {actor for actor, *_ in tokens} == {CLI_ACTOR}
    assert tokens[-2:] == [
        (CLI_ACTOR, "token.create", token_id, "spare"),
        (CLI_ACTOR, "token.revoke", token_id, ""),
    ]
    # The people CLI names the same actor.
    assert audit(team, "person.add")[0][0] == CLI_ACTOR
