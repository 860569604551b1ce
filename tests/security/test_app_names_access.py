"""App names once people have accounts: every app any agent named is an admin's to read
and to rename (as others' spans are); a member sees the Apps page read-only, listing
only the apps they may see, and is refused the changes. Each change is audited. A real
server process, people made with the real CLI, real sessions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.enrollment import db
from tests.support.people_office import add_people, csrf_of, session, sign_in
from tests.support.servers import ServerProcess, start_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def team(tmp_path: Path) -> Iterator[ServerProcess]:
    """ann (admin), bob and cat (members); no agents."""
    server = start_server(tmp_path)
    add_people(server.database, assign=False)
    yield server
    server.stop()


async def test_names_are_an_admins_to_read_and_change(team: ServerProcess) -> None:
    url = team.url
    body = json.dumps({"app": "SecretApp", "name": "Something private"})
    async with session() as http:
        assert await sign_in(http, url, "ann") == 303
        csrf = await csrf_of(http, url)
        headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
        async with http.put(url + "/api/v1/app-names", data=body, headers=headers) as r:
            assert r.status == 200, await r.text()
        async with http.get(url + "/api/v1/app-names") as r:
            assert [a["app"] for a in (await r.json())["apps"]] == ["SecretApp"]
        async with http.get(url + "/apps") as r:
            assert 'data-app="SecretApp"' in await r.text()
    async with session() as http:
        assert await sign_in(http, url, "bob") == 303
        csrf = await csrf_of(http, url)
        headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
        async with http.get(url + "/api/v1/app-names") as r:
            assert r.status == 403
        async with http.put(url + "/api/v1/app-names", data=body, headers=headers) as r:
            assert r.status == 403
        form = {"app": "SecretApp", "name": "mine now", "csrf": csrf}
        async with http.post(url + "/apps/name", data=form, allow_redirects=False) as r:
            assert r.status == 403
        async with http.get(url + "/apps") as r:
            page = await r.text()
        assert r.status == 200
        assert "Only an admin can change the names." in page
        assert "SecretApp" not in page  # nobody bob may see used it
    actions = db(
        team, "SELECT actor, action, target, detail FROM audit WHERE action LIKE 'app-name%'"
    )
    assert actions == [("ann", "app-name.set", "SecretApp", "shown as 'Something private'")]
