"""People's accounts over real connections: a real server process, agents on real
websockets, people made by the real CLI, sign-in with aiohttp's ClientSession."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from yarl import URL

from tests.support.people_office import (
    ANN_TITLE,
    ANN_URL,
    BOB_TITLE,
    PASSWORDS,
    Office,
    add_people,
    around_now,
    cli,
    cli_ok,
    create_admin,
    csrf_of,
    office,
    post_form,
    session,
    sign_in,
)
from tests.support.processes import OFFICEPULSE, clean_env
from tests.support.servers import start_server

__all__ = ["office"]  # the fixture, used by name


async def test_open_until_the_first_admin_then_every_route_needs_a_sign_in(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path)
    try:
        server.wait_for_log("open mode")
        async with session() as http:
            async with http.get(server.url + "/") as r:
                assert r.status == 200
                assert "Open mode" in await r.text()
            async with http.get(server.url + "/admin/people") as r:
                assert r.status == 403
                assert "officepulse admin create" in (await r.json())["error"]
            create_admin(server.database)
            async with http.get(server.url + "/api/v1/agents") as r:
                assert r.status == 401
                assert "sign in" in (await r.json())["error"]
            async with http.get(
                server.url + "/time?x=1", headers={"Accept": "text/html"}, allow_redirects=False
            ) as r:
                assert r.status == 303
                location = URL(r.headers["Location"])
                assert (location.path, location.query["next"]) == ("/signin", "/time?x=1")
            async with http.get(server.url + "/static/officepulse.css") as r:
                assert r.status == 200  # static assets stay public
            with pytest.raises(InvalidStatus) as refused:
                connect(server.browser_url, open_timeout=10, proxy=None)
            assert refused.value.response.status_code == 401
            assert await sign_in(http, server.url, "ann") == 303
            async with http.get(server.url + "/") as r:
                assert r.status == 200
                assert "Open mode" not in await r.text()
    finally:
        server.stop()


async def test_session_cookie_is_httponly_lax_and_dies_at_sign_out(office: Office) -> None:
    async with session() as http:
        async with http.post(
            office.url + "/signin",
            data={"login": "bob", "password": PASSWORDS["bob"], "next": "//evil.example/"},
            allow_redirects=False,
        ) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/"  # never off-site
            cookie = r.cookies["officepulse_session"]
            assert cookie["httponly"] is True
            assert cookie["samesite"] == "Lax"
            assert not cookie["secure"]  # plain http here; Secure over https
        stolen = cookie.value
        token = await csrf_of(http, office.url)
        async with http.post(office.url + "/signout", data={"csrf": token}) as r:
            assert r.status == 200  # redirected to the sign-in page
        async with (
            aiohttp.ClientSession(cookies={"officepulse_session": stolen}) as replay,
            replay.get(office.url + "/api/v1/agents") as r,
        ):
            assert r.status == 401  # revoked in the store, not only forgotten by the browser


async def test_member_sees_the_office_at_each_persons_level(office: Office) -> None:
    async with session() as http:
        assert await sign_in(http, office.url, "bob") == 303
        async with http.get(office.url + "/") as r:
            page = await r.text()
        assert "Code" in page  # Ann's app...
        assert ANN_TITLE not in page  # ...but not her title: she shows the app only
        assert ANN_URL not in page
        assert BOB_TITLE in page  # Bob sees all of his own
        async with http.get(office.url + "/api/v1/agents") as r:
            agents = {a["id"]: a for a in (await r.json())["agents"]}
        assert agents["a-ann"]["current"]["app"] == "Code"
        assert agents["a-ann"]["current"]["title"] == ""
        assert "url" not in agents["a-ann"]["current"]
        assert agents["a-bob"]["current"]["title"] == BOB_TITLE
        # Ann chooses "category": Bob then sees the top level of her category (Code with
        # the default rules is "Work > Programming"), never the app or the title.
        cli_ok(office.database, "people", "set-visibility", "ann", "category")
        async with http.get(office.url + "/api/v1/agents") as r:
            agents = {a["id"]: a for a in (await r.json())["agents"]}
        assert agents["a-ann"]["current"]["app"] == "Work"
        assert agents["a-ann"]["current"]["title"] == ""
        async with http.get(office.url + "/") as r:
            page = await r.text()
        assert "Work" in page
        assert "Code" not in page
        async with http.get(office.url + "/api/v1/usage?" + around_now() + "&group_by=app") as r:
            apps = {row["app"] for row in (await r.json())["rows"]}
        assert "Code" not in apps  # not even summed over the team
        assert "Work" in apps
        async with http.get(
            office.url + "/api/v1/usage?" + around_now() + "&group_by=agent,category"
        ) as r:
            mine = {row["agent"]: row["category"] for row in (await r.json())["rows"]}
        assert mine["a-ann"] == "Work"  # the top level only, not "Work > Programming"
        today = datetime.now(UTC).date().isoformat()
        async with http.get(
            office.url + f"/api/v1/usage/days?from={today}&to={today}&group_by=agent,app"
        ) as r:
            days = (await r.json())["rows"]
        assert {row["app"] for row in days if row["agent"] == "a-ann"} == {"Work"}  # by day too
        for whose in ("viewer", "person"):  # the team on Bob's days, and on each one's own
            async with http.get(office.url + f"/time?range=today&tz=UTC&day={whose}") as r:
                report = await r.text()
            assert r.status == 200, whose
            assert "Work" in report, whose
            assert "Code" not in report, whose
            assert ANN_TITLE not in report, whose
        # Ann sees her own at full detail.
    async with session() as http:
        assert await sign_in(http, office.url, "ann") == 303
        async with http.get(office.url + "/api/v1/agents") as r:
            agents = {a["id"]: a for a in (await r.json())["agents"]}
        assert agents["a-ann"]["current"]["title"] == ANN_TITLE
        assert agents["a-bob"]["current"]["title"] == ""  # an admin sees Bob's chosen level


async def test_spans_export_members_get_their_own_admins_the_chosen_level(office: Office) -> None:
    query = "/api/v1/spans?" + around_now()
    async with session() as http:
        assert await sign_in(http, office.url, "bob") == 303
        async with http.get(office.url + query) as r:
            spans = (await r.json())["spans"]
        assert {s["agent"] for s in spans} == {"a-bob"}
        assert spans[0]["title"] == BOB_TITLE
        async with http.get(office.url + query + "&agent=a-ann") as r:
            assert r.status == 403
            assert "own detail" in (await r.json())["error"]
    async with session() as http:
        assert await sign_in(http, office.url, "ann") == 303
        async with http.get(office.url + query + "&agent=a-bob") as r:
            spans = (await r.json())["spans"]
        assert [(s["app"], s.get("title")) for s in spans] == [("Firefox", None)]
    async with session() as http:
        assert await sign_in(http, office.url, "bob") == 303
        async with http.get(office.url + "/account") as r:
            page = await r.text()
        # Bob sees that Ann looked at his detail.
        assert 'data-action="detail.view"' in page
        assert '<td data-label="Who">ann</td>' in page
        async with http.get(office.url + "/admin/audit") as r:
            assert r.status == 403


async def test_csrf_token_required_and_cross_site_posts_refused(office: Office) -> None:
    async with session() as http:
        assert await sign_in(http, office.url, "bob") == 303
        form = {"visibility": "full"}
        async with http.post(office.url + "/account/visibility", data=form) as r:
            assert r.status == 403
            assert "CSRF" in (await r.json())["error"]
        async with http.post(
            office.url + "/account/visibility", data={**form, "csrf": "0" * 64}
        ) as r:
            assert r.status == 403
        token = await csrf_of(http, office.url)
        # The right token, from another site: refused whichever way the browser says so.
        for header in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            async with http.post(
                office.url + "/account/visibility", data={**form, "csrf": token}, headers=header
            ) as r:
                assert r.status == 403, header
                assert "cross-site" in (await r.json())["error"]
        listed = cli_ok(office.database, "people", "list")
        assert "bob\tBob\tmember\tapp" in listed  # nothing changed so far
        async with http.post(
            office.url + "/account/visibility", data=form, headers={"X-CSRF-Token": token}
        ) as r:
            assert r.status == 200  # the htmx header works as well as the field
        assert "bob\tBob\tmember\tfull" in cli_ok(office.database, "people", "list")
    async with (
        session() as http,
        http.post(
            office.url + "/signin",
            data={"login": "bob", "password": PASSWORDS["bob"]},
            headers={"Origin": "http://evil.example"},
            allow_redirects=False,
        ) as r,
    ):
        assert r.status == 403  # nobody is signed in from another site's form


async def test_wrong_passwords_are_limited_per_login_and_audited(office: Office) -> None:
    async with session() as http:
        for _ in range(5):
            assert await sign_in(http, office.url, "cat", "wrong-password") == 401
        # The right password no longer helps for a while; other logins are not affected.
        assert await sign_in(http, office.url, "cat") == 429
        assert await sign_in(http, office.url, "nobody-at-all", "x") == 401
    async with session() as http:
        assert await sign_in(http, office.url, "bob") == 303
    async with session() as http:
        assert await sign_in(http, office.url, "ann") == 303
        async with http.get(office.url + "/admin/audit") as r:
            page = await r.text()
    assert page.count('data-action="sign-in.failed"') == 6
    assert 'data-action="sign-in.refused"' in page
    assert page.count('data-action="sign-in"') == 2


async def test_admin_adds_a_person_assigns_an_agent_and_resets_a_password(office: Office) -> None:
    async with session() as http:
        assert await sign_in(http, office.url, "ann") == 303
        token = await csrf_of(http, office.url)
        add = office.url + "/admin/people"
        status, page = await post_form(
            http, add, token, login="dan", name="Dan", role="member", password="dan-password-4"
        )
        assert (status, "Added dan" in page) == (200, True)
        status, page = await post_form(
            http, add, token, login="dan", role="member", password="x" * 8
        )
        assert (status, "taken" in page) == (400, True)
        status, page = await post_form(
            http, add, token, login="eve", role="owner", password="x" * 8
        )
        assert (status, "role must be one of admin, member" in page) == (400, True)
        people = {
            line.split("\t")[0]: line
            for line in cli_ok(office.database, "people", "list").splitlines()
        }
        dan_id = await _person_id(http, office.url, "dan")
        owner = office.url + "/admin/agents/a-bob/owner"
        assert (await post_form(http, owner, token, person=str(dan_id)))[0] == 200
        reset = office.url + f"/admin/people/{dan_id}/password"
        assert (await post_form(http, reset, token, password="dan-new-password"))[0] == 200
    assert "dan" in people
    assert "dan\tDan\tmember\tapp\ta-bob" in cli_ok(office.database, "people", "list")
    async with session() as http:
        assert await sign_in(http, office.url, "dan", "dan-password-4") == 401
        assert await sign_in(http, office.url, "dan", "dan-new-password") == 303
        async with http.get(office.url + "/api/v1/agents") as r:
            agents = {a["id"]: a for a in (await r.json())["agents"]}
        assert agents["a-bob"]["current"]["title"] == BOB_TITLE  # Dan's agent now
    async with session() as http:
        assert await sign_in(http, office.url, "bob") == 303
        async with http.get(office.url + "/api/v1/agents") as r:
            agents = {a["id"]: a for a in (await r.json())["agents"]}
        assert agents["a-bob"]["current"]["title"] == ""  # no longer Bob's


async def _person_id(http: aiohttp.ClientSession, url: str, login: str) -> int:
    import re

    async with http.get(url + "/admin/people") as r:
        page = await r.text()
    found = re.search(rf'<tr id="person-(\d+)">\s*<td[^>]*>{login}</td>', page)
    assert found, page
    return int(found.group(1))


def test_cli_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite3"
    short = cli(db, "admin", "create", "--login", "ann", "--password-stdin", stdin="short")
    assert short.returncode == 1
    assert "at least 8 characters" in short.stderr
    cli_ok(db, "admin", "create", "--login", "ann", "--password-stdin", stdin="long-enough")
    again = cli(db, "admin", "create", "--login", "ann", "--password-stdin", stdin="long-enough")
    assert again.returncode == 1
    assert "'ann' is taken" in again.stderr
    last = cli(db, "people", "set-role", "ann", "member")
    assert last.returncode == 1
    assert "last admin" in last.stderr
    assert cli(db, "people", "remove", "nobody").stderr.splitlines() == [
        f"officepulse people remove: database {db} (from --database)",
        "officepulse: nobody has the login 'nobody'",
    ]
    agent = cli(db, "people", "assign-agent", "no-such-agent", "ann")
    assert "no agent 'no-such-agent'" in agent.stderr
    assert cli_ok(db, "people", "list").splitlines()[1].startswith("ann\tann\tadmin\tapp")


def _public_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address: str = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


async def test_activitywatch_api_from_loopback_only_once_accounts_exist(tmp_path: Path) -> None:
    address = _public_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to call from")
    server = start_server(tmp_path, "--host", "0.0.0.0")
    try:
        port = server.url.rsplit(":", 1)[1]
        outside = f"http://{address}:{port}/api/0/info"
        async with aiohttp.ClientSession() as http:
            async with http.get(outside) as r:
                assert r.status == 200  # open mode: as before
            add_people(server.database, assign=False)
            async with http.get(outside) as r:
                assert r.status == 403
                assert "loopback" in json.loads(await r.text())["error"]
            async with http.get(f"http://127.0.0.1:{port}/api/0/info") as r:
                assert r.status == 200  # watchers on this machine keep working
    finally:
        server.stop()


async def test_changing_ones_password_ends_every_other_session(office: Office) -> None:
    async with session() as other:
        assert await sign_in(other, office.url, "bob") == 303
        async with session() as http:
            assert await sign_in(http, office.url, "bob") == 303
            token = await csrf_of(http, office.url)
            change = office.url + "/account/password"
            status, page = await post_form(http, change, token, current="not-it", new="x" * 8)
            assert (status, "current password is not right" in page) == (400, True)
            status, page = await post_form(
                http, change, token, current=PASSWORDS["bob"], new="short"
            )
            assert (status, "at least 8 characters" in page) == (400, True)
            status, _ = await post_form(
                http, change, token, current=PASSWORDS["bob"], new="bob-new-password"
            )
            assert status == 200
            async with http.get(office.url + "/api/v1/agents") as r:
                assert r.status == 200  # this browser got a new session
        async with other.get(office.url + "/api/v1/agents") as r:
            assert r.status == 401  # the other one is signed out
    async with session() as http:
        assert await sign_in(http, office.url, "bob") == 401
        assert await sign_in(http, office.url, "bob", "bob-new-password") == 303


async def test_person_pages_are_the_persons_own_or_an_admins_at_the_chosen_level(
    office: Office,
) -> None:
    today = datetime.now(UTC).date().isoformat()
    pages = (
        "/people/a-bob?range=today&tz=UTC",
        "/people/a-bob/titles?range=today&tz=UTC&app=Firefox",
        "/people/a-bob/timeline?range=today&tz=UTC",
        f"/api/v1/timeline?agent=a-bob&date={today}&tz=UTC",
        f"/api/v1/titles?agent=a-bob&app=Firefox&{around_now()}",
    )
    async with session() as http:
        assert await sign_in(http, office.url, "bob") == 303
        for path in pages:
            async with http.get(office.url + path) as r:
                assert r.status == 200, path
                assert BOB_TITLE in await r.text(), path  # all of his own
    async with session() as http:
        assert await sign_in(http, office.url, "ann") == 303
        for path in pages:
            async with http.get(office.url + path) as r:
                body = await r.text()
                assert r.status == 200, path
                assert BOB_TITLE not in body, path  # Bob shows others the app only
        async with http.get(office.url + pages[0]) as r:
            assert "Firefox" in await r.text()
        async with http.get(office.url + "/admin/audit") as r:
            audit = await r.text()
    assert audit.count('data-action="detail.view"') == len(pages) + 1  # each look


async def test_over_https_the_session_cookie_is_secure(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--dev-tls", XDG_DATA_HOME=str(tmp_path / "data"))
    try:
        line = server.wait_for_log("--ca-file")
        trusting = ssl.create_default_context(cafile=line.rsplit("--ca-file ", 1)[1].strip())
        create_admin(server.database)
        assert server.url.startswith("https://")
        async with (
            session() as http,
            http.post(
                server.url + "/signin",
                data={"login": "ann", "password": PASSWORDS["ann"]},
                allow_redirects=False,
                ssl=trusting,
            ) as r,
        ):
            assert r.status == 303
            cookie = r.cookies["officepulse_session"]
            assert cookie["secure"] is True
            assert cookie["httponly"] is True
    finally:
        server.stop()


def _on_a_terminal(database: Path, typed: list[str]) -> tuple[int, str]:
    """`officepulse admin create` on a real pseudo-terminal (getpass reads /dev/tty):
    each string in ``typed`` is typed at the next prompt. The exit status and the screen."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its controlling tty
        os.execve(
            OFFICEPULSE,
            [
                OFFICEPULSE,
                "--env-file",
                "/dev/null",
                "admin",
                "create",
                "--login",
                "zed",
                "--database",
                str(database),
            ],
            clean_env(),
        )
    screen = b""
    answered = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child has gone: the terminal is closed
            break
        if not chunk:
            break
        screen += chunk
        # Answer each prompt once it is shown (getpass flushes what was typed before).
        prompts = screen.count(b"assword")
        if answered < min(prompts, len(typed)) and screen.rstrip().endswith(b":"):
            os.write(fd, typed[answered].encode() + b"\n")
            answered += 1
    else:
        os.kill(pid, signal.SIGKILL)  # stuck at a prompt: the test fails on its status
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), screen.decode(errors="replace")


def test_admin_create_asks_for_the_password_twice(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite3"
    status, screen = _on_a_terminal(db, ["first-password", "other-password"])
    assert status == 1
    assert "Password again:" in screen
    assert "the two passwords differ" in screen
    status, screen = _on_a_terminal(db, ["same-password", "same-password"])
    assert status == 0, screen
    assert "first-password" not in screen  # never echoed
    assert "zed can sign in now (admin)" in screen
