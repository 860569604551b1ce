"""Heartbeats merge in officepulse exactly as in aw-server 0.12: the same
heartbeats are posted to both, and every answer and every stored event is
compared field by field. Hand-made edge cases first, then a long random
sequence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aw import (
    STORES,
    T0,
    AwServer,
    at,
    aw_server,
    events,
    make_database,
    needs_aw,
    officepulse,
    request,
)
from tests.support.aw_heartbeats import A, B, Beat, C, post_all, random_beats, shape
from tests.support.servers import ServerProcess

pytestmark = needs_aw
pytest_plugins = ["tests.support.postgres"]


CASES: dict[str, list[Beat]] = {
    # Within [last.timestamp, last end + pulsetime], both ends included.
    "pulse-window": [
        (0, 0, A, 5),
        (5, 0, A, 5),
        (10, 0, A, 5),
        (15.001, 0, A, 5),
        (20.001, 0, A, 5.0),
        (25.002, 0, A, 5.0),
    ],
    "switches": [(0, 0, A, 2), (1, 0, A, 2), (2, 0, B, 2), (3, 0, A, 2), (4, 0, A, 2)],
    # aw-watcher-afk: the same timestamp again and again, with a growing duration;
    # a shorter duration does not shorten the event (max).
    "durations": [
        (0, 0, A, 21),
        (0, 20, A, 21),
        (0, 25, A, 21),
        (0, 3, A, 21),
        (10, 4, A, 21),
        (40, 0, A, 21),
        (47, 0, A, 21),
    ],
    # An older heartbeat is never merged backwards: it becomes an event of its own.
    "out-of-order": [
        (100, 0, A, 5),
        (101, 0, A, 5),
        (50, 0, B, 5),
        (120, 0, C, 5),
        (121, 0, C, 5),
        (99, 0, C, 5),
        (130, 0, A, 5),
    ],
    # Data are compared as Python compares them: 1 == 1.0 == True, key order aside.
    "equal-data": [
        (0, 0, {"n": 1, "k": "x"}, 5),
        (1, 0, {"k": "x", "n": 1.0}, 5),
        (2, 0, {"k": "x", "n": True}, 5),
        (3, 0, {"k": "x", "n": 2}, 5),
        (4, 0, {"k": "x", "n": [1, {"a": None}]}, 5),
        (5, 0, {"n": [1.0, {"a": None}], "k": "x"}, 5),
    ],
    # Sub-millisecond parts: timestamps are cut to milliseconds, durations kept to
    # the microsecond.
    "precision": [
        (0.0004, 0.0000004, A, 0.0015),
        (0.0019, 0.0001234, A, 0.0015),
        (0.0031, 0.1234567, A, 0.0015),
        (0.2, 1e-7, A, 0.0777),
    ],
    # A last event of negative duration is not merged into.
    "negative": [(0, -1, A, 5), (2, 0, A, 5), (3, 0, A, 5)],
    "zero-pulsetime": [(0, 0, A, 0), (0, 0, A, 0), (0.001, 0, A, 0), (1, 2, A, 0), (3, 0, A, 0)],
    "same-timestamp-other-data": [(5, 0, A, 5), (5, 0, B, 5), (6, 0, B, 5), (6, 0, A, 5)],
}


@pytest.fixture(scope="module", params=STORES)
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AwServer, ServerProcess]]:
    """aw-server, and officepulse on each store."""
    tmp = tmp_path_factory.mktemp("aw-heartbeats")
    database = make_database(request.param, tmp, request)
    with aw_server(tmp) as aw, officepulse(tmp, database) as op:
        yield aw, op


def compare(
    servers: tuple[AwServer, ServerProcess], bucket: str, beats: list[Beat], kind: str
) -> None:
    aw, op = servers
    theirs = post_all(aw.url, bucket, beats, kind)
    ours = post_all(op.url, bucket, beats, kind)
    assert shape(ours) == shape(theirs)
    stored_theirs, stored_ours = events(aw.url, bucket), events(op.url, bucket)
    assert [{k: e[k] for k in ("timestamp", "duration", "data")} for e in stored_ours] == [
        {k: e[k] for k in ("timestamp", "duration", "data")} for e in stored_theirs
    ]


@pytest.mark.parametrize("case", list(CASES))
def test_heartbeats_merge_as_in_aw_server(
    servers: tuple[AwServer, ServerProcess], case: str
) -> None:
    compare(servers, f"case-{case}", CASES[case], "test.heartbeat")


def test_a_long_random_sequence_merges_as_in_aw_server(
    servers: tuple[AwServer, ServerProcess],
) -> None:
    compare(servers, "random-window", random_beats(20261127, 300), "currentwindow")


@pytest.fixture(params=STORES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    return make_database(request.param, tmp_path, request)


def test_heartbeats_after_a_restart_merge_as_before(tmp_path: Path, database: Path | str) -> None:
    """The last event is kept in the database, not in the server's memory: a
    heartbeat sent after a restart extends the event as it would have before."""
    with officepulse(tmp_path, database) as op:
        post_all(op.url, "restart", [(0, 0, A, 5), (50, 0, B, 5), (10, 0, C, 5)], "test.heartbeat")
    with officepulse(tmp_path, database) as op:
        request(
            "POST",
            f"{op.url}/api/0/buckets/restart/heartbeat?pulsetime=5",
            {"timestamp": at(T0, 12), "data": C},
        )
        stored = events(op.url, "restart")
    assert [(e["timestamp"], e["duration"], e["data"]) for e in stored] == [
        (at(T0, 50), 0.0, B),
        (at(T0, 10), 2.0, C),  # the last heartbeat's event, not the newest one
        (at(T0, 0), 0.0, A),
    ]


def test_an_older_heartbeat_extended_later_loses_nothing(
    servers: tuple[AwServer, ServerProcess],
) -> None:
    """The one place officepulse differs on purpose (docs/activitywatch.md):
    aw-server writes the extended older event over its newest event."""
    aw, op = servers
    beats: list[Beat] = [(100, 0, A, 5), (50, 0, B, 5), (52, 0, B, 5)]
    post_all(aw.url, "older-then-extended", beats, "test.heartbeat")
    post_all(op.url, "older-then-extended", beats, "test.heartbeat")

    def stored(url: str) -> list[tuple[str, float, Any]]:
        return [
            (e["timestamp"], e["duration"], e["data"]) for e in events(url, "older-then-extended")
        ]

    assert stored(aw.url) == [(at(T0, 50), 0.0, B), (at(T0, 50), 2.0, B)]  # A is gone
    assert stored(op.url) == [(at(T0, 100), 0.0, A), (at(T0, 50), 2.0, B)]
