"""Importing ActivityWatch's history: exports written by the real aw-server,
from sessions driven by the real aw-client, imported with `officepulse
import-aw` and with POST /api/0/import. Importing again counts nothing twice."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from officepulse.activitywatch.importer import import_file
from officepulse.store import store_from_url
from tests.support.aw import (
    CODE,
    DATA,
    OFFICE_DAY_SPANS,
    OFFICE_DAY_USAGE,
    STORES,
    T0,
    AwServer,
    at,
    aw_server,
    drive,
    env_home,
    events,
    make_database,
    needs_aw,
    office_day,
    officepulse,
    request,
    stored_spans,
    usage,
    window_watcher,
)
from tests.support.processes import OFFICEPULSE, clean_env

pytest_plugins = ["tests.support.postgres"]


@pytest.fixture(params=STORES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A new officepulse database on each store."""
    return make_database(request.param, tmp_path, request)


def import_aw(file: Path, database: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            OFFICEPULSE,
            "--env-file",
            "/dev/null",
            "import-aw",
            str(file),
            "--database",
            str(database),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AwServer, Path]]:
    """A day of bob-desktop's watchers in a real aw-server, and its export."""
    tmp = tmp_path_factory.mktemp("aw-import")
    with aw_server(tmp) as aw:
        drive(aw.url, office_day("bob-desktop", T0), env_home(tmp, "bob"))
        export = tmp / "aw-buckets-export.json"
        with urllib.request.urlopen(aw.url + "/api/0/export") as response:
            export.write_bytes(response.read())
        yield aw, export


@needs_aw
def test_importing_an_export_twice_counts_it_once(
    recorded: tuple[AwServer, Path], tmp_path: Path, database: Path | str
) -> None:
    _, export = recorded
    first = import_aw(export, database)
    assert first.returncode == 0, first.stderr
    assert "3 bucket(s) created" in first.stdout
    assert "agents: aw-bob-desktop" in first.stdout
    again = import_aw(export, database)
    assert again.returncode == 0, again.stderr
    assert "0 bucket(s) created, 3 already there; 0 event(s) added" in again.stdout

    assert stored_spans(database, "aw-bob-desktop", T0) == OFFICE_DAY_SPANS
    with officepulse(tmp_path, database) as op:
        assert usage(op.url, T0, "aw-bob-desktop") == OFFICE_DAY_USAGE
        bob = next(a for a in op.get("/api/v1/agents")["agents"] if a["id"] == "aw-bob-desktop")
        assert bob["online"] is False
        assert bob["last_seen"] == at(T0, 599).replace("+00:00", "Z")  # its last span's end
        assert (bob["current"]["app"], bob["current"]["title"]) == ("Code", CODE)
        # What officepulse now exports is what aw-server exported, to the byte's meaning.
        ours = request("GET", op.url + "/api/0/export")[1]
    assert ours == json.loads(export.read_text())


@needs_aw
def test_importing_through_the_api(
    recorded: tuple[AwServer, Path], tmp_path: Path, database: Path | str
) -> None:
    aw, export = recorded
    body = export.read_bytes()
    with officepulse(tmp_path, database) as op:
        for _ in range(2):
            status, answer, _ = request(
                "POST",
                op.url + "/api/0/import",
                raw=body,
                headers={"Content-Type": "application/json"},
            )
            assert (status, answer) == (200, None)
        # The web UI's form: the file as multipart/form-data.
        boundary = "officepulse-test-boundary"
        form = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="buckets.json"; '
                f'filename="aw-buckets-export.json"\r\nContent-Type: application/json\r\n\r\n'
            ).encode()
            + body
            + f"\r\n--{boundary}--\r\n".encode()
        )
        status, _, _ = request(
            "POST",
            op.url + "/api/0/import",
            raw=form,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert status == 200
        for bucket in json.loads(body)["buckets"]:
            assert [(e["timestamp"], e["duration"], e["data"]) for e in events(op.url, bucket)] == [
                (e["timestamp"], e["duration"], e["data"]) for e in events(aw.url, bucket)
            ]
        assert usage(op.url, T0, "aw-bob-desktop") == OFFICE_DAY_USAGE


@pytest.fixture(scope="module")
def two_exports(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[Path], list[dict[str, Any]]]:
    """Two exports of one computer from a real aw-server, the second taken while its
    window event was still growing; and the events aw-server ends with."""
    tmp = tmp_path_factory.mktemp("aw-two-exports")
    script = [(0, "Code", CODE), (300, "Google-chrome", "YouTube - Google Chrome")]
    exports = []
    with aw_server(tmp) as aw:
        for n, (start, end) in enumerate(((0, 200), (200, 400))):
            watcher = window_watcher("hana-desktop", T0, script, end, start=start)
            drive(aw.url, [watcher], env_home(tmp, f"hana-{n}"))
            exports.append(tmp / f"export-{n}.json")
            with urllib.request.urlopen(aw.url + "/api/0/export") as response:
                exports[-1].write_bytes(response.read())
        return exports, events(aw.url, "aw-watcher-window_hana-desktop")


@needs_aw
def test_a_later_export_adds_only_what_is_new(
    two_exports: tuple[list[Path], list[dict[str, Any]]], tmp_path: Path, database: Path | str
) -> None:
    """The second export's growing event is lengthened, not added twice."""
    exports, final = two_exports
    assert (
        len(
            json.loads(exports[0].read_text())["buckets"]["aw-watcher-window_hana-desktop"][
                "events"
            ]
        )
        == 1
    )
    assert import_aw(exports[0], database).returncode == 0
    second = import_aw(exports[1], database)
    assert "1 event(s) added, 1 lengthened, 0 already there" in second.stdout
    with officepulse(tmp_path, database) as op:
        ours = events(op.url, "aw-watcher-window_hana-desktop")
        assert usage(op.url, T0, "aw-hana-desktop") == {
            "Code": (300.0, 0.0),
            "Google-chrome": (99.0, 0.0),
        }
    assert [(e["timestamp"], e["duration"], e["data"]) for e in ours] == [
        (e["timestamp"], e["duration"], e["data"]) for e in final
    ]


async def test_the_checked_in_export(database: Path | str) -> None:
    """tests/data/aw/aw-buckets-export.json: aw-server 0.12's export of the same
    day (carol-desktop, from 2026-03-02 09:00 UTC), driven by tests/data/aw/drive.py."""
    report = await import_file(DATA / "aw-buckets-export.json", database)
    assert (report.buckets_created, report.events_added) == (3, 8)
    store = store_from_url(str(database))
    await store.open()
    try:
        t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        start = int(t0.timestamp() * 1000)
        rows = await store.usage(start, start + 3_600_000, ["agent", "app"])
        assert {(r.agent_id, r.app): (r.active_ms, r.idle_ms) for r in rows} == {
            ("aw-carol-desktop", app): (int(a * 1000), int(i * 1000))
            for app, (a, i) in OFFICE_DAY_USAGE.items()
        }
        carol = await store.agent("aw-carol-desktop")
        assert carol is not None
        assert carol.info.name == "carol-desktop"
        assert carol.info.online is False
        assert carol.info.last_seen_ms == start + 599_000
    finally:
        await store.close()
    assert stored_spans(database, "aw-carol-desktop", t0) == OFFICE_DAY_SPANS


def test_a_file_that_is_not_an_export_is_refused_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"buckets": {"b": {"id": "b", "type": "t", "client": "c"}}}))
    done = import_aw(bad, tmp_path / "db.sqlite3")
    assert done.returncode == 2
    assert "bucket 'b': 'hostname' must be a string" in done.stderr
    missing = import_aw(tmp_path / "nope.json", tmp_path / "db.sqlite3")
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr


def test_a_database_that_cannot_be_opened_is_named_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://bob:s3cret@/officepulse?host={tmp_path}"  # no server there
    done = import_aw(DATA / "aw-buckets-export.json", url)
    assert done.returncode == 1
    assert "cannot open the PostgreSQL store at postgresql://bob:***@" in done.stderr
    assert "s3cret" not in done.stderr + done.stdout
