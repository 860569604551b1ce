"""A store whose writes fail (store/failures.py): the episode logged once, with a count and
a recovery, never a traceback per attempt; nothing accepted lost; the server serving all
along. Disks fill for real here: SQLite's own page limit, and a server process whose
files may not grow (RLIMIT_FSIZE, what the kernel does to a full disk's writer). A write
that can never be made is refused alone and the agent told (both stores:
tests/store/test_store_contract.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import sqlite3
import time
from pathlib import Path

import pytest

from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.store.base import AgentInfo
from officepulse.store.failures import MAX_BACKOFF_S, FailureLog, backoff
from officepulse.store.sqlite import SQLiteStore
from tests.support.agent_messages import spans
from tests.support.servers import start_server
from tests.support.store_failures import answer, said_once, usage, welcomed

LOGGER = "officepulse.store.sqlite"


def said(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


def test_a_failing_episode_is_logged_once_then_counted_then_its_end() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("tests.failures")
    logger.addHandler(handler := Keep())
    try:
        failures = FailureLog("the store", logger, every_s=60)
        failures.succeeded(0.0)  # nothing was failing: nothing to say
        for second in range(0, 150, 2):  # an attempt every 2 s for 150 s
            failures.failed("OperationalError: database or disk is full", 1000.0 + second)
        assert failures.failing
        failures.succeeded(1150.0)
        failures.succeeded(1151.0)
        failures.failed("OperationalError: database is locked", 2000.0)
    finally:
        logger.removeHandler(handler)
    assert records == [
        "the store failing: OperationalError: database or disk is full; retrying",
        "the store still failing: 31 failed attempts over 60 s; the last: "
        "OperationalError: database or disk is full",
        "the store still failing: 61 failed attempts over 120 s; the last: "
        "OperationalError: database or disk is full",
        "the store recovered after 75 failed attempts over 150.0 s",
        "the store failing: OperationalError: database is locked; retrying",
    ]


def test_attempts_back_off_up_to_a_limit() -> None:
    waits = [backoff(n) for n in range(1, 40)]
    assert waits == sorted(waits)
    assert waits[0] == pytest.approx(0.2)
    assert waits[-1] == MAX_BACKOFF_S


def agent(id_: str) -> AgentInfo:
    return AgentInfo(id_, id_, "host", "Linux", "0.1", "UTC", True, 0)


async def test_a_full_sqlite_database_keeps_every_commit_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "full.sqlite3")
    await store.open()
    store.save_agent(agent("a"))
    await store.commit_spans("a", [Span(0, 1000, Activity(app="Code"))], 1)
    # The limit is the writer's connection's own; the writer thread uses it too (the lock).
    writer = store._writer
    assert writer is not None
    # A full disk, for real: SQLite may not grow the file by one more page, so every write
    # that needs one fails with SQLITE_FULL ("database or disk is full").
    with store._write_lock:
        (pages,) = writer.execute("PRAGMA page_count").fetchone()
        writer.execute(f"PRAGMA max_page_count = {pages}")
    titled = [Activity(app="Code", title=f"{i:0>300}") for i in range(1, 400)]
    spans = [Span(i * 1000, i * 1000 + 1000, a) for i, a in enumerate(titled, start=1)]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        commit = asyncio.create_task(store.commit_spans("a", spans, 2))
        deadline = time.monotonic() + 30
        while store.failures.attempts < 3:
            assert time.monotonic() < deadline, "the writer did not keep trying"
            await asyncio.sleep(0.05)
        # Not acknowledged while it cannot be stored, and reads go on meanwhile.
        assert not commit.done()
        assert [s.info.id for s in await store.agents()] == ["a"]
        (row,) = await store.usage(0, 10**6, [])
        assert row.active_ms == 1000
        with store._write_lock:
            writer.execute("PRAGMA max_page_count = 1073741823")  # room again
        await asyncio.wait_for(commit, 30)
    assert await store.acked_seq("a") == 2
    (row,) = await store.usage(0, 10**6, [])
    assert row.active_ms == 400 * 1000
    await store.close()
    lines = said(caplog, LOGGER)
    assert [m for m in lines if " failing: " in m] == [
        f"the SQLite store at {store.path} failing: OperationalError: database or disk is "
        "full; retrying"
    ]
    (recovered,) = [m for m in lines if " recovered after " in m]
    assert int(recovered.split(" recovered after ")[1].split()[0]) >= 3
    assert not [r for r in caplog.records if r.exc_info]


def test_a_server_whose_disk_fills_keeps_serving_and_loses_nothing(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        with welcomed(server, "full") as ws:
            assert answer(ws, spans(1, 10)) == {"type": "ack", "seq": 10}
            # The server's files may not grow by a byte: its store's writes fail as on a
            # full disk (the kernel refuses them), until the limit goes.
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
            try:
                ws.send(spans(11, 100))
                server.wait_for_log("failing: ", timeout=30)
                # Serving meanwhile: the API answers, from what is stored.
                (listed,) = server.get("/api/v1/agents")["agents"]
                assert listed["id"] == "full"
                with pytest.raises(TimeoutError):
                    ws.recv(timeout=0)  # and nothing is acknowledged that is not stored
            finally:
                unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
                resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, unlimited)
            assert json.loads(ws.recv(timeout=30)) == {"type": "ack", "seq": 110}
        server.wait_for_log(" recovered after ", timeout=10)
        assert usage(server) == {"Code": 110 * 30}
    finally:
        server.stop()
    (failing,) = said_once(server.log)
    assert "the SQLite store at " in failing


async def test_text_sqlite_cannot_hold_is_refused_and_the_writer_goes_on(tmp_path: Path) -> None:
    # A lone surrogate cannot be encoded for SQLite (the protocol's decoders refuse one; a
    # caller of the store must not stop its writer with one either).
    store = SQLiteStore(tmp_path / "bad.sqlite3")
    await store.open()
    store.save_agent(agent("a"))
    store.save_agent(agent("b"))
    code = Activity(app="Code")
    results = await asyncio.gather(
        store.commit_spans("a", [Span(0, 10, Activity(app="Code", title="\ud800"))], 1),
        store.commit_spans("b", [Span(0, 10, code)], 1),
        return_exceptions=True,
    )
    assert results[1] is None
    assert "agent a's spans up to sequence number 1 could not be stored" in str(results[0])
    assert await store.acked_seq("a") == 1  # taken: the agent's journal moves on
    await store.commit_spans("a", [Span(10, 20, code)], 2)
    assert await store.spans(0, 100) == [("b", Span(0, 10, code)), ("a", Span(10, 20, code))]
    await store.close()


def test_an_agent_is_told_of_a_batch_the_store_can_never_write_and_moves_on(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path)
    try:
        # A constraint of the database itself: spans of the app "poison" can never be stored.
        with sqlite3.connect(server.database) as db:
            db.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON spans WHEN new.app = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned span'); END"
            )
        db.close()
        with welcomed(server, "p") as ws:
            assert answer(ws, spans(1, 2, "poison")) == {
                "type": "error",
                "code": "store-refused",
                "message": "spans up to sequence number 2 could not be stored and were "
                "dropped; the server's log says why",
                "fatal": False,
            }
            # Acknowledged all the same: the agent's journal moves on, and so does it.
            assert json.loads(ws.recv(timeout=10)) == {"type": "ack", "seq": 2}
            assert answer(ws, spans(3, 1, "Slack")) == {"type": "ack", "seq": 3}
        assert usage(server) == {"Slack": 30}
        server.wait_for_log("refused agent p's spans up to sequence number 2: IntegrityError")
    finally:
        server.stop()
    assert not [line for line in server.log if " failing: " in line]
