"""Team-wide category totals never use what a person keeps from others: a real server app
on a real store (SQLite, and a real PostgreSQL), over real HTTP. Bob shows others the app
only; his Firefox hour on YouTube is "Entertainment > Video" by a rule on its URL, which
others must not learn: to them it is in the category Firefox alone gives (none). Every
answer by category is checked: usage (JSON, CSV, per day), the team's chart by category,
the Categories page's tree and its list of what no rule categorises."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
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
from officepulse.store.accounts import NewPerson, Person, PersonChange
from officepulse.store.base import AgentInfo, Store
from officepulse.store.postgres import PostgresStore
from officepulse.store.sqlite import SQLiteStore

pytest_plugins = ["tests.support.postgres"]

H = 3_600_000
DAY0 = 1_790_812_800_000  # 2026-10-01T00:00Z
DAY = "start=2026-10-01T00:00:00Z&end=2026-10-02T00:00:00Z"
CODE = Activity(app="Code", title="main.py")
TUBE = Activity(app="Firefox", title="cats - YouTube", url="https://www.youtube.com/watch?v=1")
BOB_SITE = Activity(app="Firefox", title="plans", url="https://bob.example/private")
VIDEO = "Entertainment > Video"


@dataclass
class Office:
    client: TestClient[Any, Any]
    server: Server
    store: Store
    ann: Person  # an admin: Code for two hours
    bob: Person  # a member at "app": Code, YouTube and a site of his own, an hour each

    async def as_(self, who: Person | None) -> dict[str, str]:
        if who is None:
            return {}
        return {"Cookie": f"{COOKIE}={await self.server.access.new_session(who)}"}

    async def get(self, who: Person | None, path: str) -> Any:
        r = await self.client.get(path, headers=await self.as_(who))
        assert r.status == 200, await r.text()
        return await r.json() if r.content_type == "application/json" else await r.text()


@pytest.fixture(params=["sqlite", "postgres"])
async def office(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Office]:
    store: Store
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        store, database = PostgresStore(url), url
    else:
        path = tmp_path / "o.sqlite3"
        store, database = SQLiteStore(path), str(path)
    server = Server(ServerSettings(database=database), store=store)
    async with TestClient(TestServer(server.app())) as client:
        for agent_id, name, spans in (
            ("a-ann", "Ann", [Span(DAY0 + 9 * H, DAY0 + 11 * H, CODE, "UTC")]),
            (
                "a-bob",
                "Bob",
                [
                    Span(DAY0 + 9 * H, DAY0 + 10 * H, CODE, "UTC"),
                    Span(DAY0 + 10 * H, DAY0 + 11 * H, TUBE, "UTC"),
                    Span(DAY0 + 11 * H, DAY0 + 12 * H, BOB_SITE, "UTC"),
                ],
            ),
        ):
            store.save_agent(AgentInfo(agent_id, name, "h", "Linux", "0.1", "UTC", False, 0))
            await store.commit_spans(agent_id, spans, 1)
        now = int(time.time() * 1000)
        ann = await store.add_person(NewPerson("ann", "Ann", "admin", "x", "app", now))
        bob = await store.add_person(NewPerson("bob", "Bob", "member", "x", "app", now))
        await store.assign_agent("a-ann", ann.id)
        await store.assign_agent("a-bob", bob.id)
        yield Office(client, server, store, ann, bob)


async def by_category(
    office: Office, who: Person | None, group_by: str
) -> dict[tuple[Any, ...], float]:
    rows = (await office.get(who, f"/api/v1/usage?{DAY}&group_by={group_by}"))["rows"]
    keys = group_by.split(",")
    return {tuple(row[k] for k in keys): row["seconds"] for row in rows}


async def test_others_see_the_category_of_an_app_level_persons_time_by_the_app_alone(
    office: Office,
) -> None:
    ann, bob = office.ann, office.bob
    # Ann sees Bob's Firefox hours in no category (no rule takes Firefox by its name),
    # never in the category the URL gives, whether the team is summed or not.
    assert await by_category(office, ann, "category") == {
        ("Work > Programming",): 3 * 3600.0,
        ("Uncategorized",): 2 * 3600.0,
    }
    assert await by_category(office, ann, "app,category") == {
        ("Code", "Work > Programming"): 3 * 3600.0,
        ("Firefox", "Uncategorized"): 2 * 3600.0,
    }
    assert await by_category(office, ann, "agent,category") == {
        ("a-ann", "Work > Programming"): 2 * 3600.0,
        ("a-bob", "Work > Programming"): 3600.0,
        ("a-bob", "Uncategorized"): 2 * 3600.0,
    }
    days = "/api/v1/usage/days?from=2026-10-01&to=2026-10-01&tz=UTC&group_by=category"
    rows = (await office.get(ann, days))["rows"]
    assert {r["category"]: r["seconds"] for r in rows} == {
        "Work > Programming": 3 * 3600.0,
        "Uncategorized": 2 * 3600.0,
    }
    csv = await office.get(ann, f"/api/v1/usage?{DAY}&group_by=category&format=csv")
    assert "Entertainment" not in csv
    assert "Uncategorized,7200.0" in csv
    # Bob sees all of his own; so would anyone in open mode (no accounts: everything).
    assert await by_category(office, bob, "agent,category") == {
        ("a-ann", "Work > Programming"): 2 * 3600.0,
        ("a-bob", "Work > Programming"): 3600.0,
        ("a-bob", VIDEO): 3600.0,
        ("a-bob", "Uncategorized"): 3600.0,
    }
    assert await by_category(office, bob, "category") == {
        ("Work > Programming",): 3 * 3600.0,
        (VIDEO,): 3600.0,
        ("Uncategorized",): 3600.0,
    }


async def test_the_pages_by_category_keep_it_too(office: Office) -> None:
    ann, bob = office.ann, office.bob
    team = await office.get(ann, "/time?from=2026-10-01&to=2026-10-01&tz=UTC&by=category")
    person = await office.get(ann, "/people/a-bob?from=2026-10-01&to=2026-10-01&tz=UTC")
    for html in (team, person):
        assert "Entertainment" not in html
    assert "Entertainment" in await office.get(
        bob, "/time?from=2026-10-01&to=2026-10-01&tz=UTC&by=category"
    )
    # What no rule categorises, as each may see it: Ann sees Bob's Firefox time in no
    # category, but none of his sites (his URLs are his); Bob sees his own site.
    path = f"/api/v1/categories/uncategorized?{DAY}"
    seen = await office.get(ann, path)
    assert [(a["app"], a["seconds"]) for a in seen["apps"]] == [("Firefox", 2 * 3600.0)]
    assert seen["domains"] == []
    own = await office.get(bob, path)
    assert [(a["app"], a["seconds"]) for a in own["apps"]] == [("Firefox", 3600.0)]
    assert own["domains"] == [{"domain": "bob.example", "seconds": 3600.0}]


async def test_at_full_others_see_the_category_and_at_category_its_top_level(
    office: Office,
) -> None:
    ann, bob = office.ann, office.bob
    await office.store.update_person(bob.id, PersonChange(visibility="full"))
    assert await by_category(office, ann, "category") == {
        ("Work > Programming",): 3 * 3600.0,
        (VIDEO,): 3600.0,
        ("Uncategorized",): 3600.0,
    }
    # His sites too: nothing of his is kept from others now.
    listed = await office.get(ann, f"/api/v1/categories/uncategorized?{DAY}")
    assert [d["domain"] for d in listed["domains"]] == ["bob.example"]
    # A person on "category" chose to show the top level of what the rules make of it.
    await office.store.update_person(bob.id, PersonChange(visibility="category"))
    assert await by_category(office, ann, "category") == {
        ("Work > Programming",): 2 * 3600.0,
        ("Work",): 3600.0,
        ("Entertainment",): 3600.0,
        ("Uncategorized",): 3600.0,
    }
