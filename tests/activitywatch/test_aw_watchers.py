"""ActivityWatch's watchers on officepulse: the real aw-client library sends
what aw-watcher-window, aw-watcher-afk and aw-watcher-web send, to a real
officepulse server and to a real aw-server. The events come out identical, and
officepulse shows the computer live and counts its time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.support.aw import (
    CODE,
    OFFICE_DAY_SPANS,
    OFFICE_DAY_USAGE,
    STORES,
    T0,
    AwServer,
    at,
    aw_server,
    drive,
    drive_all,
    env_home,
    events,
    make_database,
    needs_aw,
    office_day,
    officepulse,
    request,
    stored_spans,
    usage,
    web_watcher,
    window_watcher,
    without_ids,
)
from tests.support.processes import WAIT
from tests.support.servers import ServerProcess

pytestmark = needs_aw
pytest_plugins = ["tests.support.postgres"]


Servers = tuple[AwServer, ServerProcess, Path, Path | str]


@pytest.fixture(scope="module", params=STORES)
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    """aw-server, officepulse on each store, a scratch folder, officepulse's database."""
    tmp = tmp_path_factory.mktemp("aw-watchers")
    database = make_database(request.param, tmp, request)
    with aw_server(tmp) as aw, officepulse(tmp, database) as op:
        yield aw, op, tmp, database


def test_a_day_of_watchers_gives_aw_servers_events_and_officepulse_time(
    servers: Servers,
) -> None:
    aw, op, tmp, database = servers
    plan = office_day("alice-laptop", T0)
    drive_all(
        [(aw.url, plan, env_home(tmp, "alice-aw")), (op.url, plan, env_home(tmp, "alice-op"))]
    )

    for watcher in plan:
        bucket = watcher["bucket"]
        ours, theirs = events(op.url, bucket), events(aw.url, bucket)
        assert len(theirs) >= 2
        assert without_ids(ours) == without_ids(theirs), bucket
        # Ids differ between databases; which event is newer does not.
        assert sorted(ours, key=lambda e: e["id"]) == [ours[i] for i in _order(theirs)]
        mine = request("GET", f"{op.url}/api/0/buckets/{bucket}")[1]
        theirs_meta = request("GET", f"{aw.url}/api/0/buckets/{bucket}")[1]
        assert {k: v for k, v in mine.items() if k != "created"} == {
            k: v for k, v in theirs_meta.items() if k != "created"
        }

    assert stored_spans(database, "aw-alice-laptop", T0) == OFFICE_DAY_SPANS
    assert usage(op.url, T0, "aw-alice-laptop") == OFFICE_DAY_USAGE
    agents = {a["id"]: a for a in op.get("/api/v1/agents")["agents"]}
    alice = agents["aw-alice-laptop"]
    assert alice["name"] == alice["host"] == "alice-laptop"
    assert alice["platform"] == "ActivityWatch"
    assert alice["version"] == "aw-client-web, aw-watcher-afk, aw-watcher-window"
    assert alice["online"] is True
    current = alice["current"]
    assert (current["app"], current["title"], current["idle"]) == ("Code", CODE, False)
    assert current["since"] == at(T0, 540).replace("+00:00", "Z")


def _order(theirs: list[dict[str, object]]) -> list[int]:
    """Positions of aw-server's events (newest first) sorted by its ids."""
    return sorted(range(len(theirs)), key=lambda i: int(theirs[i]["id"]))  # type: ignore[call-overload]


def test_a_watcher_shows_up_live_on_the_dashboard(
    servers: Servers,
) -> None:
    _, op, tmp, _ = servers
    with connect(op.browser_url) as dashboard:
        dashboard.recv(timeout=WAIT)  # the office as it is
        drive(
            op.url,
            [window_watcher("dave-desktop", T0, [(0, "Alacritty", "vim notes.md")], 12)],
            env_home(tmp, "dave"),
        )
        seen = ""
        while "Alacritty" not in seen or "dave-desktop" not in seen:
            seen += dashboard.recv(timeout=WAIT)
    assert "vim notes.md" in seen


def test_the_browser_extension_alone_counts_browser_time(
    servers: Servers,
) -> None:
    """No window watcher on that computer: the tab is what is in front."""
    aw, op, tmp, database = servers
    plan = [
        web_watcher(
            "erin-laptop",
            T0,
            [(0, "Inbox", "https://mail.example/"), (90, "News", "https://news.example/")],
            200,
            browser="firefox",
        )
    ]
    drive_all([(aw.url, plan, env_home(tmp, "erin-aw")), (op.url, plan, env_home(tmp, "erin-op"))])
    bucket = plan[0]["bucket"]
    assert without_ids(events(op.url, bucket)) == without_ids(events(aw.url, bucket))
    assert stored_spans(database, "aw-erin-laptop", T0) == [
        (0, 90, "firefox", "Inbox", "https://mail.example/", False),
        (90, 150, "firefox", "News", "https://news.example/", False),  # the last heartbeat
    ]
    assert usage(op.url, T0, "aw-erin-laptop") == {"firefox": (150.0, 0.0)}
