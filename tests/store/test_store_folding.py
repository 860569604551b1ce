"""SQLite folds what heartbeats' writes change into the rollups every ``fold_interval``
(store/base.py, FOLD_INTERVAL), not at every write: a span heartbeats extend keeps two
notes in ``rollup_pending`` however often it is rewritten, every read counts them, a
committed batch is folded as it is written, and a change whose fold can never succeed is
refused alone, holding up no other write. Real SQLite files, real writer threads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.store.base import WEEK_MS, AgentInfo
from officepulse.store.sqlite import SQLiteStore
from tests.support.usage import usage_from_spans

CODE = Activity(app="Code", title="main.py")
TUBE = Activity(app="Google-chrome", title="YouTube", url="https://youtube.com/")
M = 60_000
H = 60 * M
WEEK = WEEK_MS
NEVER = 10**9  # a fold interval no test lives to see


def agent(id_: str) -> AgentInfo:
    return AgentInfo(id_, f"name-{id_}", "host", "Linux", "0.1", "UTC", True, 0)


@contextlib.asynccontextmanager
async def opened(
    path: Path, fold_interval: float, flush_interval: float = NEVER
) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(path, flush_interval=flush_interval, fold_interval=fold_interval)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def notes(path: Path) -> list[tuple[int, str, int, int]]:
    """What ``rollup_pending`` holds, in order: (sign, agent, start, end)."""
    with contextlib.closing(sqlite3.connect(path)) as raw:
        return [
            (int(s), str(a), int(b), int(e))
            for s, a, b, e in raw.execute(
                "SELECT sign, agent_id, start_ms, end_ms FROM rollup_pending ORDER BY rowid"
            )
        ]


async def assert_totals_are_the_spans(store: SQLiteStore) -> None:
    """Every answer (rollups, runs, notes not folded yet and raw edges) equals the spans."""
    stored = await store.spans(-WEEK, 40 * WEEK)
    for lo, hi in [(-WEEK, 40 * WEEK), (0, 3 * H), (17 * M, 2 * H + 3 * M), (H, 2 * H)]:
        rows = await store.usage(lo, hi, ["agent", "app"])
        got = {(r.agent_id, r.app): [r.active_ms, r.idle_ms] for r in rows}
        assert got == usage_from_spans(stored, lo, hi), (lo, hi)
        team = {r.app: r.active_ms for r in await store.usage(lo, hi, ["app"])}
        assert team == {
            app: sum(v[0] for (_, a), v in usage_from_spans(stored, lo, hi).items() if a == app)
            for (_, app) in usage_from_spans(stored, lo, hi)
        }, (lo, hi)


async def test_a_span_heartbeats_extend_keeps_two_notes_and_is_folded_when_due(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite3"
    async with opened(path, NEVER) as store:
        store.save_agent(agent("a"))
        store.save_span("a", Span(0, 7 * M, CODE))
        await store.written()  # the first write folds what an earlier run may have left
        assert notes(path) == []
        # Extended across whole hours, one write each time (as a read makes it write):
        # one note taking away what the rollups hold, one adding the span as it is now.
        for end in range(14 * M, 3 * H, 7 * M):
            store.save_span("a", Span(0, end, CODE))
            await store.written()
            assert notes(path) == [(-1, "a", 0, 7 * M), (1, "a", 0, end)]
            await assert_totals_are_the_spans(store)
        # A new span after it: one note, rewritten in place as it grows.
        store.save_span("a", Span(3 * H, 3 * H + M, TUBE))
        await store.written()
        store.save_span("a", Span(3 * H, 3 * H + 2 * M, TUBE))
        await store.written()
        assert notes(path)[2:] == [(1, "a", 3 * H, 3 * H + 2 * M)]
        await assert_totals_are_the_spans(store)
        # flush() folds everything: nothing noted, the same answers from the rollups.
        await store.flush()
        assert notes(path) == []
        await assert_totals_are_the_spans(store)


async def test_every_write_folds_when_the_interval_is_zero_and_the_writer_folds_when_due(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite3"
    async with opened(path, 0) as store:
        store.save_agent(agent("a"))
        for end in (M, 2 * M, 3 * M):
            store.save_span("a", Span(0, end, CODE))
            await store.written()
            assert notes(path) == []
    # Due while heartbeats keep coming: the writer thread's own write folds.
    async with opened(path, 0.2, flush_interval=0.05) as store:
        store.save_span("a", Span(0, 4 * M, CODE))
        await store.written()
        store.save_span("a", Span(0, 5 * M, CODE))
        await store.written()
        # Within the interval of the last fold: noted. Then the writer's write folds.
        for _ in range(200):
            if not notes(path):
                break
            await asyncio.sleep(0.05)
        assert notes(path) == []
        await assert_totals_are_the_spans(store)


async def test_close_folds_and_a_later_run_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    async with opened(path, NEVER) as store:
        store.save_agent(agent("a"))
        store.save_span("a", Span(0, H, CODE))
        await store.written()
        store.save_span("a", Span(0, 2 * H + 5 * M, CODE))
        await store.written()
        assert notes(path) != []
    assert notes(path) == []
    async with opened(path, NEVER) as store:
        assert await store.spans(0, 3 * H) == [("a", Span(0, 2 * H + 5 * M, CODE))]
        await assert_totals_are_the_spans(store)


def poison_week(path: Path, bucket_ms: int) -> None:
    """Every write of that week's rollup rows fails, for ever (a constraint)."""
    with contextlib.closing(sqlite3.connect(path)) as raw, raw:
        raw.execute(
            "CREATE TRIGGER poison_rollups BEFORE INSERT ON rollups "
            f"WHEN new.size_ms = {WEEK} AND new.bucket_ms = {bucket_ms} "
            "BEGIN SELECT RAISE(ABORT, 'poisoned week'); END"
        )


async def test_a_change_that_can_never_be_folded_is_refused_alone_and_holds_up_no_commit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.sqlite3"
    async with opened(path, NEVER) as store:
        for who in ("x", "y", "z"):
            store.save_agent(agent(who))
        store.save_span("x", Span(14 * WEEK, 14 * WEEK + 5 * M, CODE))
        store.save_span("y", Span(20 * WEEK, 20 * WEEK + 5 * M, TUBE))
        await store.written()  # folded: the first write
        # Both grow, noted, not folded yet; then x's week can no longer be written.
        store.save_span("x", Span(14 * WEEK, 14 * WEEK + 9 * M, CODE))
        store.save_span("y", Span(20 * WEEK, 20 * WEEK + 9 * M, TUBE))
        await store.written()
        poison_week(path, 14 * WEEK)
        with caplog.at_level(logging.INFO, logger="officepulse.store"):
            # A commit folds as it is written, with what was noted before it: x's change
            # is refused on its own and the commit lands.
            await store.commit_spans("z", [Span(30 * WEEK, 30 * WEEK + 7 * M, TUBE)], 1)
            assert await store.acked_seq("z") == 1
            # x is back to what the rollups counted; y's growth is folded.
            assert await store.spans(-WEEK, 40 * WEEK) == [
                ("x", Span(14 * WEEK, 14 * WEEK + 5 * M, CODE)),
                ("y", Span(20 * WEEK, 20 * WEEK + 9 * M, TUBE)),
                ("z", Span(30 * WEEK, 30 * WEEK + 7 * M, TUBE)),
            ]
            assert notes(path) == []
            await assert_totals_are_the_spans(store)
            # The writer goes on: another commit, another heartbeat write, a fold.
            await store.commit_spans("z", [Span(31 * WEEK, 31 * WEEK + M, TUBE)], 2)
            store.save_span("y", Span(20 * WEEK, 20 * WEEK + 11 * M, TUBE))
            await store.flush()
            await assert_totals_are_the_spans(store)
        lines = [r.getMessage() for r in caplog.records]
        refusals = [m for m in lines if "refused the change to agent x's span at" in m]
        assert len(refusals) == 1
        assert "poisoned week" in refusals[0]
        assert not [m for m in lines if " failing: " in m]
        assert not store.failures.failing


async def test_a_new_span_that_can_never_be_folded_is_taken_back_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.sqlite3"
    async with opened(path, NEVER) as store:
        store.save_agent(agent("x"))
        store.save_span("x", Span(0, 5 * M, CODE))
        await store.written()
        poison_week(path, 14 * WEEK)
        # Written (the span row is there, read raw) but not folded yet.
        store.save_span("x", Span(14 * WEEK, 14 * WEEK + 5 * M, TUBE))
        await store.written()
        assert len(await store.spans(-WEEK, 40 * WEEK)) == 2
        with caplog.at_level(logging.INFO, logger="officepulse.store"):
            await store.flush()
        # It came after the last fold: refused, it goes; the first span stays.
        assert await store.spans(-WEEK, 40 * WEEK) == [("x", Span(0, 5 * M, CODE))]
        assert notes(path) == []
        await assert_totals_are_the_spans(store)
        assert [r for r in caplog.records if "refused the change" in r.getMessage()]


# Operations on a few spans' keys, by this store (heartbeats' writes, not folded) and by
# another writer on the same file (its own connection, as the ActivityWatch importer or a
# CLI writes): rewrites, deletes, moves to another key, folds between.
KEYS = [("a", 0), ("a", 50 * M), ("b", 2 * H)]
operation = st.one_of(
    st.tuples(st.just("save"), st.sampled_from(KEYS), st.integers(1, 200), st.booleans()),
    st.tuples(st.just("other-end"), st.sampled_from(KEYS), st.integers(1, 200), st.booleans()),
    st.tuples(st.just("other-delete"), st.sampled_from(KEYS), st.just(0), st.just(False)),
    st.tuples(st.just("other-move"), st.sampled_from(KEYS), st.sampled_from(KEYS), st.just(False)),
    st.tuples(st.just("fold"), st.just(KEYS[0]), st.just(0), st.just(False)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(operation, min_size=1, max_size=12))
async def test_notes_kept_in_place_count_like_every_rewrite_by_any_writer(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, tuple[str, int], object, bool]]
) -> None:
    path = tmp_path_factory.mktemp("fold") / "s.sqlite3"
    async with opened(path, NEVER) as store:
        for who in ("a", "b"):
            store.save_agent(agent(who))
        await store.written()
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("PRAGMA busy_timeout=5000")
            for kind, (who, start), arg, flag in ops:
                app = TUBE if flag else CODE
                if kind == "save":
                    assert isinstance(arg, int)
                    store.save_span(who, Span(start, start + arg * M, app))
                    await store.written()
                elif kind == "other-end":
                    other.execute(
                        "UPDATE spans SET end_ms = ?, app = ? WHERE agent_id = ? AND start_ms = ?",
                        (start + int(str(arg)) * M, app.app, who, start),
                    )
                elif kind == "other-delete":
                    other.execute(
                        "DELETE FROM spans WHERE agent_id = ? AND start_ms = ?", (who, start)
                    )
                elif kind == "other-move":
                    to_who, to_start = arg  # type: ignore[misc]
                    with contextlib.suppress(sqlite3.IntegrityError):  # the key is taken
                        other.execute(
                            "UPDATE spans SET agent_id = ?, start_ms = ?, "
                            "end_ms = MAX(end_ms, ? + 1) WHERE agent_id = ? AND start_ms = ?",
                            (to_who, to_start, to_start, who, start),
                        )
                else:
                    await store.flush()
                await assert_totals_are_the_spans(store)
        await store.flush()
        assert notes(path) == []
        await assert_totals_are_the_spans(store)


async def test_a_change_that_cannot_even_be_put_back_is_left_out_and_holds_up_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.sqlite3"
    async with opened(path, NEVER) as store:
        store.save_agent(agent("x"))
        store.save_agent(agent("z"))
        store.save_span("x", Span(14 * WEEK, 14 * WEEK + 5 * M, CODE))
        await store.written()
        store.save_span("x", Span(14 * WEEK, 14 * WEEK + 9 * M, CODE))
        await store.written()
        poison_week(path, 14 * WEEK)
        with contextlib.closing(sqlite3.connect(path)) as raw, raw:
            raw.execute(
                "CREATE TRIGGER frozen BEFORE UPDATE ON spans WHEN old.agent_id = 'x' "
                "BEGIN SELECT RAISE(ABORT, 'frozen span'); END"
            )
        with caplog.at_level(logging.INFO, logger="officepulse.store"):
            await store.commit_spans("z", [Span(30 * WEEK, 30 * WEEK + 7 * M, TUBE)], 1)
        assert await store.acked_seq("z") == 1
        assert notes(path) == []
        assert not store.failures.failing
        lines = [r.getMessage() for r in caplog.records]
        assert [m for m in lines if "refused the change to agent x's span at" in m]
        (left_out,) = [m for m in lines if "could not put agent x's span at" in m]
        assert "frozen span" in left_out
        assert "left out of the totals" in left_out
