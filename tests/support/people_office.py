"""An office with people's accounts, for the access-control tests: a real server process,
real agent connections (JSON websockets), people made with the real CLI, and sign-in
with a real HTTP client (aiohttp's ClientSession and its cookie jar)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from tests.support.fake_agent import FakeAgent, fake_agent
from tests.support.processes import OFFICEPULSE, clean_env
from tests.support.servers import ServerProcess, start_server

PASSWORDS = {"ann": "ann-password-1", "bob": "bob-password-2", "cat": "cat-password-3"}
# What each person's own agent has in front; the titles and URL are what nobody but the
# person may see while their visibility is "app".
ANN_TITLE = "Ann-secret-plan.txt"
BOB_TITLE = "Bob-private-diary.md"
ANN_URL = "https://ann.example/secret-url"


def cli(database: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", *args, "--database", str(database)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )


def cli_ok(database: Path, *args: str, stdin: str = "") -> str:
    done = cli(database, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Office:
    server: ServerProcess
    database: Path
    agents: dict[str, FakeAgent]

    @property
    def url(self) -> str:
        return self.server.url


def create_admin(database: Path) -> None:
    """ann, the first admin, made as a person would: `officepulse admin create`."""
    cli_ok(
        database, "admin", "create", "--login", "ann", "--password-stdin", stdin=PASSWORDS["ann"]
    )


def add_people(database: Path, *, assign: bool = True) -> None:
    """ann (admin, owns a-ann), bob (member, owns a-bob), cat (member, owns nothing);
    everyone shows others the app only (the default)."""
    create_admin(database)
    for login in ("bob", "cat"):
        cli_ok(
            database,
            "people",
            "add",
            "--login",
            login,
            "--name",
            login.title(),
            "--password-stdin",
            stdin=PASSWORDS[login],
        )
    if assign:
        cli_ok(database, "people", "assign-agent", "a-ann", "ann")
        cli_ok(database, "people", "assign-agent", "a-bob", "bob")


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    with running_office(tmp_path) as opened:
        yield opened


@contextmanager
def running_office(tmp_path: Path) -> Iterator[Office]:
    """The office of ``office``, for a fixture of another scope."""
    server = start_server(tmp_path)
    with ExitStack() as stack:
        ann = stack.enter_context(fake_agent(server, "a-ann", "Ann"))
        bob = stack.enter_context(fake_agent(server, "a-bob", "Bob"))
        # Two minutes of each (heartbeats closer than the pulsetime merge into one span),
        # so that reports and timelines have something to show.
        for ago in range(120, -1, -20):
            ann.send(heartbeat("Code", ANN_TITLE, ago, url=ANN_URL))
            bob.send(heartbeat("Firefox", BOB_TITLE, ago))
        ann.sync()
        bob.sync()
        add_people(server.database)
        yield Office(server, server.database, {"a-ann": ann, "a-bob": bob})
    server.stop()


def heartbeat(app: str, title: str, seconds_ago: float, **more: str) -> dict[str, object]:
    ts = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()
    return {"type": "heartbeat", "ts": ts, "activity": {"app": app, "title": title, **more}}


def around_now() -> str:
    """start and end query parameters for the day around now."""
    now = datetime.now(UTC)
    start, end = (now + timedelta(days=d) for d in (-1, 1))
    return f"start={start.isoformat()}&end={end.isoformat()}".replace("+", "%2B")


def session() -> aiohttp.ClientSession:
    # An unsafe cookie jar keeps cookies of a bare IP address (127.0.0.1).
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(
    http: aiohttp.ClientSession, url: str, login: str, password: str | None = None
) -> int:
    async with http.post(
        url + "/signin",
        data={"login": login, "password": password or PASSWORDS[login], "next": "/"},
        allow_redirects=False,
    ) as response:
        await response.read()
        return response.status


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    """The CSRF token the server put in the signed-in person's pages."""
    async with http.get(url + "/account") as response:
        html = await response.text()
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


async def post_form(
    http: aiohttp.ClientSession, url: str, token: str, **fields: str
) -> tuple[int, str]:
    """A signed-in form post (with the CSRF token): the status and the page."""
    async with http.post(url, data={"csrf": token, **fields}) as response:
        return response.status, await response.text()


def session_cookie(url: str, login: str) -> str:
    """A Cookie header of a fresh session of ``login`` (for websocket clients)."""

    async def sign_in_once() -> str:
        async with session() as http:
            assert await sign_in(http, url, login) == 303
            return http.cookie_jar.filter_cookies(URL(url))["officepulse_session"].value

    return f"officepulse_session={asyncio.run(sign_in_once())}"
