"""Honest gaps are the same for the person and for admins, and nobody else's: with people
signed in (real server, real sessions), GET /api/v1/gaps and the person's page show the
person and an admin one and the same list, and another member gets 403."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tests.support.people_office import Office, office, session, sign_in

__all__ = ["office"]  # a fixture, used by name


def paused_beat(at: datetime) -> dict[str, Any]:
    return {
        "type": "heartbeat",
        "ts": at.isoformat(),
        "activity": {"app": "paused", "paused": True},
    }


async def as_person(office: Office, login: str, path: str) -> tuple[int, str]:
    async with session() as http:
        assert await sign_in(http, office.url, login) == 303
        async with http.get(office.url + path) as response:
            return response.status, await response.text()


def test_the_person_and_an_admin_see_the_same_gaps_and_other_members_none(
    office: Office,
) -> None:
    bob = office.agents["a-bob"]
    start = datetime.now(UTC).replace(microsecond=0)
    for seconds in (0, 5, 10):  # bob paused the agent for ten seconds
        bob.send(paused_beat(start + timedelta(seconds=seconds)))
    bob.sync()
    day = start.date().isoformat()
    api = "/api/v1/gaps?" + urlencode({"agent": "a-bob", "date": day, "tz": "UTC"})
    page = "/people/a-bob?" + urlencode({"date": day, "tz": "UTC"})

    async def look() -> dict[str, tuple[int, str]]:
        return {
            f"{login} {what}": await as_person(office, login, path)
            for login in ("bob", "ann", "cat")
            for what, path in (("api", api), ("page", page))
        }

    seen = asyncio.run(look())
    assert seen["bob api"][0] == seen["ann api"][0] == 200
    assert seen["bob api"][1] == seen["ann api"][1]  # the admin's answer is the person's
    assert '"kind":"paused"' in seen["bob api"][1]
    assert '"reason":"paused 10 s"' in seen["bob api"][1]
    for who in ("bob page", "ann page"):
        status, html = seen[who]
        assert status == 200
        assert "paused 10 s" in html, who
    assert seen["cat api"][0] == 403
    assert seen["cat page"][0] == 403
    assert "paused 10 s" not in seen["cat api"][1] + seen["cat page"][1]
