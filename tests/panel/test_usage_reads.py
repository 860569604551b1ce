"""What GET /api/v1/usage reads from the store (a real server app on a real SQLite store,
over real HTTP): never the agent list with each agent's current span, the agents' names
only when rows are grouped by agent, and the team's rows rather than a row per agent
unless someone's activity is shown to the viewer as its category only."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.security.access import COOKIE
from officepulse.server.app import Server
from officepulse.settings import ServerSettings
from officepulse.store.accounts import NewPerson, PersonChange
from officepulse.store.base import AgentInfo, AgentStatus, GroupKey, UsageRow
from officepulse.store.sqlite import SQLiteStore

H = 3_600_000
DAY0 = 1_790_812_800_000  # 2026-10-01T00:00Z
RANGE = "start=2026-10-01T00:00:00Z&end=2026-10-02T00:00:00Z"
CODE = Activity(app="Code", title="main.py")
TUBE = Activity(app="Firefox", title="cats", url="https://www.youtube.com/watch?v=1")


class RecordingStore(SQLiteStore):
    """A real SQLite store that notes which of its reads the server made."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.listings = 0  # agents(): every agent with its current span
        self.name_reads = 0
        self.usage_reads: list[tuple[list[GroupKey], list[str] | None]] = []
        self.statements: list[str] = []  # every read, as its SQL

    async def _read(
        self, sql: str, params: Sequence[object] = (), *, fresh: bool = True
    ) -> list[tuple[object, ...]]:
        self.statements.append(sql)
        return await super()._read(sql, params, fresh=fresh)

    async def agents(self) -> list[AgentStatus]:
        self.listings += 1
        return await super().agents()

    async def agent_names(self) -> dict[str, str]:
        self.name_reads += 1
        return await super().agent_names()

    async def usage(self, *args: Any, **kwargs: Any) -> list[UsageRow]:
        # (start_ms, end_ms, group_by, agent_ids=None), as the server passes them
        group_by, agent_ids = (*args[2:], kwargs.get("agent_ids"))[:2]
        self.usage_reads.append((list(group_by), None if agent_ids is None else list(agent_ids)))
        return await super().usage(*args, **kwargs)

    def forget(self) -> None:
        self.listings = self.name_reads = 0
        self.usage_reads.clear()
        self.statements.clear()


@dataclass
class Office:
    client: TestClient[Any, Any]
    server: Server
    store: RecordingStore


@pytest.fixture
async def office(tmp_path: Path) -> AsyncIterator[Office]:
    store = RecordingStore(tmp_path / "o.sqlite3")
    server = Server(ServerSettings(database=str(store.path)), store=store)
    async with TestClient(TestServer(server.app())) as client:
        # Ann: two hours of Code; Bob: an hour of Code and an hour of YouTube.
        for agent_id, name, spans in (
            ("a-ann", "Ann", [Span(DAY0 + 9 * H, DAY0 + 11 * H, CODE, "UTC")]),
            (
                "a-bob",
                "Bob",
                [
                    Span(DAY0 + 9 * H, DAY0 + 10 * H, CODE, "UTC"),
                    Span(DAY0 + 10 * H, DAY0 + 11 * H, TUBE, "UTC"),
                ],
            ),
        ):
            store.save_agent(AgentInfo(agent_id, name, "h", "Linux", "0.1", "UTC", False, 0))
            await store.commit_spans(agent_id, spans, 1)
        store.forget()
        yield Office(client, server, store)


async def usage(office: Office, group_by: str, cookie: str | None = None) -> list[dict[str, Any]]:
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    r = await office.client.get(f"/api/v1/usage?{RANGE}&group_by={group_by}", headers=headers)
    assert r.status == 200, await r.text()
    rows: list[dict[str, Any]] = (await r.json())["rows"]
    return rows


def seconds(rows: list[dict[str, Any]], *keys: str) -> dict[tuple[Any, ...], float]:
    return {tuple(row.get(k) for k in keys): row["seconds"] for row in rows}


async def test_usage_never_lists_the_agents_and_reads_names_only_for_rows_by_agent(
    office: Office,
) -> None:
    rows = await usage(office, "app")
    assert seconds(rows, "app") == {("Code",): 3 * 3600.0, ("Firefox",): 3600.0}
    assert all("agent" not in row and "name" not in row for row in rows)
    # One read of the team's rows: no agent list, no names.
    assert (office.store.listings, office.store.name_reads) == (0, 0)
    assert office.store.usage_reads == [(["app"], None)]

    rows = await usage(office, "agent,app")
    assert seconds(rows, "agent", "name", "app") == {
        ("a-ann", "Ann", "Code"): 2 * 3600.0,
        ("a-bob", "Bob", "Code"): 3600.0,
        ("a-bob", "Bob", "Firefox"): 3600.0,
    }
    assert (office.store.listings, office.store.name_reads) == (0, 1)

    r = await office.client.get(
        "/api/v1/usage/days?from=2026-10-01&to=2026-10-01&tz=UTC&group_by=agent"
    )
    assert r.status == 200
    assert {(row["name"], row["seconds"]) for row in (await r.json())["rows"]} == {
        ("Ann", 2 * 3600.0),
        ("Bob", 2 * 3600.0),
    }
    assert office.store.listings == 0


async def test_a_signed_in_viewer_reads_per_agent_only_when_someone_shows_a_category(
    office: Office,
) -> None:
    store = office.store
    now = int(time.time() * 1000)
    ann = await store.add_person(NewPerson("ann", "Ann", "admin", "x", "app", now))
    bob = await store.add_person(NewPerson("bob", "Bob", "member", "x", "app", now))
    await store.assign_agent("a-ann", ann.id)
    await store.assign_agent("a-bob", bob.id)
    cookie = await office.server.access.new_session(ann)
    store.forget()

    # Everyone shows the app: the team's rows, as stored.
    rows = await usage(office, "app", cookie)
    assert seconds(rows, "app") == {("Code",): 3 * 3600.0, ("Firefox",): 3600.0}
    assert store.usage_reads == [(["app"], None)]

    # Bob shows only his category: read per agent and category, so that his apps are not
    # revealed even summed over the team ("Firefox" on YouTube is "Entertainment" by the
    # default rules, Code is "Work").
    await store.update_person(bob.id, PersonChange(visibility="category"))
    store.forget()
    rows = await usage(office, "app", cookie)
    assert seconds(rows, "app") == {
        ("Code",): 2 * 3600.0,
        ("Work",): 3600.0,
        ("Entertainment",): 3600.0,
    }
    assert store.usage_reads == [(["agent", "category", "app"], None)]

    # Bob sees all of his own, and Ann shows the app: as stored again.
    cookie = await office.server.access.new_session(bob)
    store.forget()
    rows = await usage(office, "app", cookie)
    assert seconds(rows, "app") == {("Code",): 3 * 3600.0, ("Firefox",): 3600.0}
    assert store.usage_reads == [(["app"], None)]


@pytest.mark.parametrize("signed_in", [False, True])
async def test_a_call_reads_the_viewer_and_directory_in_one_statement(
    office: Office, signed_in: bool
) -> None:
    # Every page and API request reads who the viewer is and the directory (owners,
    # people, category rules): one statement, then the totals and the apps' names. On
    # PostgreSQL each statement is a round trip; they used to be six.
    store = office.store
    cookie = None
    if signed_in:
        ann = await store.add_person(NewPerson("ann", "Ann", "admin", "x", "app", 0))
        await store.assign_agent("a-ann", ann.id)
        cookie = await office.server.access.new_session(ann)
    await usage(office, "app", cookie)  # warm: whatever is read once has been
    store.forget()
    rows = await usage(office, "app", cookie)
    assert seconds(rows, "app") == {("Code",): 3 * 3600.0, ("Firefox",): 3600.0}
    assert len(store.statements) == 3, store.statements
    assert sum("FROM sessions" in sql and "FROM people" in sql for sql in store.statements) == 1
    # A session that is not one (expired, revoked, forged) is nobody's.
    if signed_in:
        r = await office.client.get(
            f"/api/v1/usage?{RANGE}&group_by=app", headers={"Cookie": f"{COOKIE}=forged"}
        )
        assert r.status == 401, await r.text()
