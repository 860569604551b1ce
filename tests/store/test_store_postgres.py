"""What only PostgreSQL has: migrations under concurrency, a real server restart, the pool.
The contract every store keeps is tests/store/test_store_contract.py. Each test gets a fresh
database on the session's server (tests/support/postgres.py); the restart tests stop and start
that server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from officepulse.core.categories import DEFAULT_RULES, compile_rules, rules_to_json
from officepulse.core.spans import Span
from officepulse.core.zones import ZoneRun
from officepulse.protocol.messages import Activity
from officepulse.store import postgres, sqlite
from officepulse.store.base import AgentInfo
from officepulse.store.pool_check import check_if_stirred
from officepulse.store.postgres import MIGRATIONS, PostgresStore, redact

if TYPE_CHECKING:
    from tests.support.postgres import PostgresCluster

pytest_plugins = ["tests.support.postgres"]

CODE = Activity(app="Code", title="main.py", process="code", pid=42)
TUBE = Activity(app="Google-chrome", title="YouTube", url="https://youtube.com/")


def agent(id_: str = "a1", *, online: bool = True) -> AgentInfo:
    return AgentInfo(id_, f"name-{id_}", "host", "Linux", "0.1", "UTC", online, 0)


# Every step this build has, in order.
STEPS = sorted(MIGRATIONS)


def versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


def make_old_database(url: str, version: int) -> None:
    """A database as an older officepulse left it, with an agent and a span in it."""
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at "
                     "TIMESTAMPTZ NOT NULL DEFAULT now())")  # fmt: skip
        for step in STEPS:
            if step > version:
                break
            conn.execute(MIGRATIONS[step])
            if step == postgres.CATEGORY_STEP and version >= 11:  # what the step runs after
                conn.execute(postgres.CATEGORY_REBUILD)  # its SQL, which later steps need
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (step,))
        conn.execute("INSERT INTO agents VALUES ('a1', 'A', 'h', 'p', 'v', 'UTC', true, 5)")
        rules = compile_rules(DEFAULT_RULES)
        category = rules.categorize("Code", "main.py", None)
        conn.execute(
            "INSERT INTO spans (agent_id, start_ms, end_ms, app, title, url, process, pid, idle"
            + (", category) " if version >= 11 else ") ")
            + "VALUES ('a1', 0, 10, 'Code', 'main.py', NULL, NULL, NULL, false"
            + (", %s)" if version >= 11 else ")"),
            (category,) if version >= 11 else (),
        )
        if version >= 6:  # zones (schema 6): the span's zone and the agent's run, as written
            conn.execute("UPDATE spans SET tz = 'UTC'")
            conn.execute("INSERT INTO zone_runs VALUES ('a1', 0, 10, 'UTC')")
        if version >= 7:  # categories (schema 7): the rules in force and the span's category
            conn.execute(
                "INSERT INTO categories (id, version, rules) VALUES (0, 1, %s)",
                (rules_to_json(rules.rules),),
            )
            conn.execute("UPDATE spans SET category = %s", (category,))
            if version < 11:  # rollups of the span (schema 11 keys them by id: none then)
                conn.execute(postgres.CATEGORY_REBUILD)


MIGRATED = Span(0, 10, Activity(app="Code", title="main.py"), "UTC")


# make_old_database runs the category rebuild last, which step 11 needs before it: it
# cannot make a schema 11 database. From schema 10 every later step is run, 11 and 12.
@pytest.mark.parametrize("old", [step for step in STEPS[:-1] if step < 11])
async def test_an_older_schema_is_migrated_with_its_data(postgres_url: str, old: int) -> None:
    make_old_database(postgres_url, old)
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        # Spans from before zones were kept are in the agent's zone at the upgrade.
        assert await store.last_span("a1") == MIGRATED
        assert await store.zones(None, 0, 100) == {"a1": [ZoneRun(0, 10, "UTC")]}
        status = await store.agent("a1")
        assert status is not None
        assert (status.info.name, status.info.online, status.info.last_seen_ms) == ("A", True, 5)
        assert await store.acked_seq("a1") == 0
        await store.commit_spans("a1", [Span(10, 20, TUBE)], 4)  # the new columns work
        assert await store.acked_seq("a1") == 4
    finally:
        await store.close()
    assert versions(postgres_url) == STEPS


async def test_stores_opening_together_migrate_once(postgres_url: str) -> None:
    # Without the advisory lock, concurrent CREATE TABLE / ALTER TABLE fail here.
    make_old_database(postgres_url, 1)
    stores = [PostgresStore(postgres_url) for _ in range(6)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert versions(postgres_url) == STEPS
        await asyncio.gather(*(s.commit_spans("a1", [], i + 1) for i, s in enumerate(stores)))
        for s in stores:
            assert await s.last_span("a1") == MIGRATED
            assert await s.acked_seq("a1") == len(stores)
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_new_databases_opened_together_get_one_schema(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(6)]
    await asyncio.gather(*(s.open() for s in stores))
    await asyncio.gather(*(s.close() for s in stores))
    assert versions(postgres_url) == STEPS


async def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at "
                     "TIMESTAMPTZ NOT NULL DEFAULT now())")  # fmt: skip
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    store = PostgresStore(postgres_url)
    with pytest.raises(RuntimeError, match="schema version 99"):
        await store.open()


async def test_an_unreachable_server_is_named_without_its_password(
    postgres_cluster: PostgresCluster,
) -> None:
    url = f"postgresql://postgres:s3cret@/nope?host={postgres_cluster.root}"
    store = PostgresStore(url, connect_timeout=0.5)
    with pytest.raises(RuntimeError, match="cannot open the PostgreSQL store") as caught:
        await store.open()
    assert "s3cret" not in str(caught.value)
    assert "postgres:***@" in str(caught.value)
    assert 'database "nope" does not exist' in str(caught.value)


def test_redact() -> None:
    assert redact("postgresql://u:pw@db:5432/x?sslmode=require") == (
        "postgresql://u:***@db:5432/x?sslmode=require"
    )
    assert redact("postgresql://u@db/x") == "postgresql://u@db/x"
    assert redact("postgresql:///x?host=/tmp") == "postgresql:///x?host=/tmp"


async def test_everything_saved_survives_a_close(postgres_url: str) -> None:
    first = PostgresStore(postgres_url, flush_interval=3600)  # nothing flushes on its own
    await first.open()
    first.save_agent(agent())
    first.save_span("a1", Span(0, 7, CODE))
    await first.close()
    second = PostgresStore(postgres_url)
    await second.open()
    assert await second.last_span("a1") == Span(0, 7, CODE)
    await second.close()


async def test_committed_spans_are_durable_and_remember_the_sequence(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, flush_interval=3600)
    await store.open()
    store.save_agent(agent())
    assert await store.acked_seq("a1") == 0
    await store.commit_spans("a1", [Span(0, 10, CODE), Span(10, 20, TUBE)], 2)
    await store.commit_spans("a1", [Span(10, 30, TUBE)], 3)  # extends the span at 10
    await store.commit_spans("a1", [], 1)  # an old, replayed sequence never goes back
    # Committed at once: another connection sees it before any flush or close.
    with psycopg.connect(postgres_url) as raw:
        rows = raw.execute("SELECT start_ms, end_ms FROM spans ORDER BY start_ms").fetchall()
        seq = raw.execute("SELECT acked_seq FROM agents").fetchone()
    assert rows == [(0, 10), (10, 30)]
    assert seq == (3,)
    assert await store.acked_seq("a1") == 3
    await store.close()


async def test_commits_of_one_transaction_keep_their_order(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, flush_interval=3600)
    await store.open()
    store.save_agent(agent())
    store.save_span("a1", Span(0, 5, CODE))  # queued, then committed over
    # Queued together, written in one transaction: the later one wins, the seq is the max.
    await asyncio.gather(
        store.commit_spans("a1", [Span(0, 10, CODE), Span(0, 20, CODE)], 7),
        store.commit_spans("a1", [Span(0, 30, TUBE)], 5),
    )
    assert await store.last_span("a1") == Span(0, 30, TUBE)
    assert await store.acked_seq("a1") == 7
    await store.close()


async def test_more_concurrent_commits_than_slots_all_land(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, max_pending_commits=2)
    await store.open()
    store.save_agent(agent())
    done = await asyncio.gather(
        *(store.commit_spans("a1", [Span(i * 10, i * 10 + 10, CODE)], i + 1) for i in range(20))
    )
    assert len(done) == 20
    assert await store.acked_seq("a1") == 20
    assert len(await store.usage(0, 1000, ["agent"])) == 1
    await store.close()


async def test_text_postgresql_cannot_hold_does_not_stop_writes(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    store.save_agent(agent())
    store.save_span("a1", Span(0, 5, Activity(app="x\x00y", title="\x00")))
    store.save_span("a1", Span(5, 9, CODE))
    last = await store.last_span("a1")
    assert last == Span(5, 9, CODE)
    (row,) = await store.usage(0, 5, ["app"])
    assert row.app == "x\ufffdy"
    await store.close()


async def test_a_cancelled_read_leaves_the_write_to_the_writer(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, flush_interval=3600)
    await store.open()
    store.save_agent(agent())
    store.save_span("a1", Span(0, 5, CODE))
    read = asyncio.create_task(store.agents())
    await asyncio.sleep(0)
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    await store.close()
    again = PostgresStore(postgres_url)
    await again.open()
    assert await again.last_span("a1") == Span(0, 5, CODE)
    await again.close()


async def test_mark_all_offline_keeps_agents_saved_after_it(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, flush_interval=3600)
    await store.open()
    store.save_agent(agent("before"))
    marking = asyncio.create_task(store.mark_all_offline())
    await asyncio.sleep(0)  # the call has begun: what comes now is newer than it
    store.save_agent(agent("after"))
    await marking
    online = {s.info.id: s.info.online for s in await store.agents()}
    assert online == {"before": False, "after": True}
    await store.close()


@contextlib.contextmanager
def stopped(cluster: PostgresCluster, mode: Literal["fast", "immediate"]) -> Iterator[None]:
    """The session's server, stopped for the block and started again after it, whatever
    happens (the tests after this one need it)."""
    cluster.stop(mode)
    try:
        yield
    finally:
        cluster.start()


async def test_a_commit_survives_a_server_crash(
    postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    # The worst a database can be told: commits return before their WAL is written. The
    # store overrules it for its own sessions; without that, this crash loses the commit.
    name = conninfo_to_dict(postgres_url)["dbname"]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    store = PostgresStore(postgres_url, flush_interval=3600)
    await store.open()
    store.save_agent(agent())
    await store.flush()
    await store.commit_spans("a1", [Span(0, 10, CODE), Span(10, 20, TUBE)], 2)
    # Killed at once, no checkpoint: only what reached the write-ahead log comes back.
    with stopped(postgres_cluster, "immediate"):
        pass
    fresh = PostgresStore(postgres_url)
    await fresh.open()
    assert await fresh.last_span("a1") == Span(10, 20, TUBE)
    assert await fresh.acked_seq("a1") == 2
    await fresh.close()
    # The first store's pooled connections died with the server; it reconnects.
    await store.commit_spans("a1", [Span(20, 30, CODE)], 3)
    assert await store.acked_seq("a1") == 3
    await store.close()


async def test_writes_wait_out_a_server_that_is_down_logged_once(
    postgres_cluster: PostgresCluster, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(postgres_url, flush_interval=0.01, connect_timeout=1)
    await store.open()
    store.save_agent(agent())
    await store.flush()
    with caplog.at_level(logging.INFO, logger="officepulse.store.postgres"):
        with stopped(postgres_cluster, "fast"):
            store.save_span("a1", Span(0, 10, CODE))
            # Kept while the database is away: acknowledged once it is back, not failed
            # (which would make every agent reconnect and send again meanwhile).
            commit = asyncio.create_task(store.commit_spans("a1", [Span(10, 20, TUBE)], 2))
            deadline = time.monotonic() + 30
            while store.failures.attempts < 3:
                assert time.monotonic() < deadline, "the store did not keep trying"
                assert not commit.done()
                await asyncio.sleep(0.05)
            assert not commit.done()
        # Back: the commit lands, with the span queued before it.
        await asyncio.wait_for(commit, 60)
    assert await store.last_span("a1") == Span(10, 20, TUBE)
    assert (await store.spans(0, 20))[0] == ("a1", Span(0, 10, CODE))
    assert await store.acked_seq("a1") == 2
    await store.close()
    said = [r.getMessage() for r in caplog.records if r.name == "officepulse.store.postgres"]
    failing = [m for m in said if " failing: " in m]
    recovered = [m for m in said if " recovered after " in m]
    # Once per episode, however many attempts; never a traceback.
    assert len(failing) == 1, said
    assert len(recovered) == 1, said
    attempts = int(recovered[0].split(" recovered after ")[1].split()[0])
    assert attempts >= 3
    assert not [r for r in caplog.records if r.exc_info], said


def test_the_schema_steps_are_numbered_as_planned() -> None:
    # Every step from 1 to the version, on both stores.
    assert STEPS[-1] == postgres.SCHEMA_VERSION == sqlite.SCHEMA_VERSION
    assert set(range(1, postgres.SCHEMA_VERSION + 1)) == set(STEPS)
    assert set(STEPS) - {1} == set(sqlite.MIGRATIONS)  # SQLite's step 1 is its SCHEMA


def last_query(url: str, conn: psycopg.AsyncConnection[Any]) -> str:
    """What ``conn``'s backend ran last, as PostgreSQL's statistics show it."""
    with psycopg.connect(url, autocommit=True) as other:
        row = other.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s", (conn.info.backend_pid,)
        ).fetchone()
    assert row is not None, "the connection's backend is not listed"
    return str(row[0])


async def test_the_pools_check_asks_the_server_only_when_the_socket_stirs(
    postgres_url: str,
) -> None:
    conn = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
    async with conn:
        await conn.execute("SELECT 'the last query'")
        # Open and silent: handed out with no round trip (psycopg_pool's own check sends
        # an empty query, which the statistics would show).
        await check_if_stirred(conn)
        assert last_query(postgres_url, conn) == "SELECT 'the last query'"
        await AsyncConnectionPool.check_connection(conn)
        assert last_query(postgres_url, conn) == ""
        # Its backend ended (as in a restart): the check fails, so the pool drops it.
        with psycopg.connect(postgres_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s, 10000)", (conn.info.backend_pid,))
        with pytest.raises(psycopg.OperationalError):
            await check_if_stirred(conn)


async def test_pooled_connections_whose_backends_ended_are_never_handed_out(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url, flush_interval=0.01)
    await store.open()
    store.save_agent(agent())
    await store.flush()
    # Reads at once: the pool grows to several connections, idle once they return.
    for names in await asyncio.gather(*(store.agent_names() for _ in range(4))):
        assert names == {"a1": "name-a1"}
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    assert len(ended) >= 2, ended
    assert all(row[0] for row in ended), ended
    # Every read and write after it answers, on connections the pool made anew.
    assert await store.agent_names() == {"a1": "name-a1"}
    store.save_agent(agent("a2"))
    await store.commit_spans("a2", [Span(0, 10, CODE)], 1)
    assert await store.acked_seq("a2") == 1
    assert await store.agent_names() == {"a1": "name-a1", "a2": "name-a2"}
    await store.close()
