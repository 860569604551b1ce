"""Re-categorising history as a job (store/categorising.py), on SQLite and on a real
PostgreSQL: a change of the rules returns at once, its job goes batch by batch with each
span in one category throughout, a newer change supersedes it, a job cut short goes on
after the store is opened again; and the URLs of spans in no category."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from officepulse.core.categories import DEFAULT_RULES, Rule, compile_rules
from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.store.base import AgentInfo, Store
from officepulse.store.postgres import PostgresStore
from officepulse.store.sqlite import SQLiteStore
from tests.support.stores import store as store

pytest_plugins = ["tests.support.postgres"]

M = 60_000
CODE = Activity(app="Code", title="main.py")
TUBE = Activity(app="firefox", title="cats", url="https://www.youtube.com/watch?v=1")
NEWS = Activity(app="firefox", title="front page", url="https://news.example.org/today")
FUN = [
    Rule(category="Work", pattern="^code$", fields=("app",)),
    Rule(category="Fun > Video", pattern="youtube", fields=("url",)),
]


def minute(i: int, activity: Activity) -> Span:
    return Span(i * M, (i + 1) * M, activity)


async def fill(store: Store, n: int) -> None:
    """``n`` spans of a minute each, alternately Code and YouTube, over two agents."""
    for agent_id in ("a", "b"):
        store.save_agent(AgentInfo(agent_id, agent_id, "h", "Linux", "0.1", "UTC", False, 0))
    for i in range(n):
        await store.commit_spans("ab"[i % 2], [minute(i, (CODE, TUBE)[i // 2 % 2])], i + 1)


async def categories_of_minutes(store: Store, n: int) -> list[str]:
    """The category each minute's span counts in now (one span a minute)."""
    found = []
    for i in range(n):
        rows = await store.usage(i * M, (i + 1) * M, ["category"])
        assert [r.active_ms for r in rows] == [M], (i, rows)  # in one category, whole
        found.append(str(rows[0].category))
    return found


async def test_a_change_returns_at_once_and_its_job_goes_batch_by_batch(store: Store) -> None:
    await fill(store, 8)
    old = await categories_of_minutes(store, 8)
    assert old[:4] == ["Work > Programming"] * 2 + ["Entertainment > Video"] * 2
    job = await store.set_categories(FUN, 1_000)
    assert (job.state, job.total, job.done, job.changed, job.started_ms) == (
        "running",
        None,
        0,
        0,
        1_000,
    )
    assert await store.categories() == FUN
    assert await store.category_job() == job == await store.category_job(job.id)
    # Nothing stored has moved yet; a span written now is categorised by the new rules.
    assert await categories_of_minutes(store, 8) == old
    await store.commit_spans("a", [minute(8, CODE)], 99)
    assert (await categories_of_minutes(store, 9))[8] == "Work"

    job = await store.recategorize_step(job.id, 2_000, 4)
    assert (job.state, job.total, job.done) == ("running", 9, 4)
    assert await store.category_job(job.id) == job
    # The first four spans in key order (agent, start), agent a's, are in their new
    # categories, the rest in their old: every span counts once, whole.
    now = await categories_of_minutes(store, 9)
    want = compile_rules(FUN)
    reached = {0, 2, 4, 6}
    for i in range(8):
        a = (CODE, TUBE)[i // 2 % 2]
        expected = want.categorize(a.app, a.title, a.url) if i in reached else old[i]
        assert now[i] == expected, i
    while job.state == "running":
        job = await store.recategorize_step(job.id, 3_000, 4)
    assert (job.state, job.done, job.finished_ms) == ("done", 9, 3_000)
    assert job.changed == 8  # every span stored before the change; the new one was already
    assert job.percent == 100
    assert await categories_of_minutes(store, 9) == ["Work"] * 2 + ["Fun > Video"] * 2 + [
        "Work"
    ] * 2 + ["Fun > Video"] * 2 + ["Work"]
    # A job that is over is left as it is.
    assert await store.recategorize_step(job.id, 4_000) == job == await store.category_job()


async def test_a_newer_change_supersedes_the_running_job(store: Store) -> None:
    await fill(store, 6)
    first = await store.set_categories(FUN, 1)
    first = await store.recategorize_step(first.id, 2, 2)
    assert first.state == "running"
    second = await store.set_categories(DEFAULT_RULES, 3)
    assert second.id > first.id
    gone = await store.category_job(first.id)
    assert gone is not None
    assert (gone.state, gone.finished_ms, gone.done) == ("superseded", 3, 2)
    assert await store.recategorize_step(first.id, 4) == gone  # no more batches for it
    assert await store.category_job() == second
    while second.state == "running":
        second = await store.recategorize_step(second.id, 5, 2)
    # The first job's batch is undone by the newer job: everything by the defaults again.
    assert second.changed == 2
    assert await categories_of_minutes(store, 6) == (
        ["Work > Programming"] * 2 + ["Entertainment > Video"] * 2 + ["Work > Programming"] * 2
    )


Opened = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Opened:
    """A new store object on one database each time it is called."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        return lambda: PostgresStore(url)
    return lambda: SQLiteStore(tmp_path / "s.sqlite3")


@pytest.fixture
async def first(opened: Opened) -> AsyncIterator[Store]:
    one = opened()
    await one.open()
    yield one
    await one.close()


async def test_a_job_cut_short_goes_on_where_it_was_after_reopening(
    opened: Opened, first: Store
) -> None:
    await fill(first, 7)
    job = await first.set_categories(FUN, 1)
    job = await first.recategorize_step(job.id, 2, 3)
    await first.close()  # a restart mid-job
    again = opened()
    await again.open()
    try:
        found = await again.category_job()
        assert found == job
        assert (found.state, found.done, found.total) == ("running", 3, 7)
        # Spans written after the restart are categorised by the new rules too.
        await again.commit_spans("b", [minute(7, CODE)], 50)
        while found.state == "running":
            found = await again.recategorize_step(found.id, 3, 3)
        assert (found.done, found.changed) == (8, 7)
        cats = await categories_of_minutes(again, 8)
        assert cats == ["Work"] * 2 + ["Fun > Video"] * 2 + ["Work"] * 2 + ["Fun > Video", "Work"]
    finally:
        await again.close()
        await first.open()  # for the fixture to close


async def test_the_urls_of_spans_in_no_category(store: Store) -> None:
    store.save_agent(AgentInfo("a", "a", "h", "Linux", "0.1", "UTC", False, 0))
    await store.commit_spans(
        "a",
        [
            Span(0, 2 * M, NEWS),
            Span(2 * M, 3 * M, TUBE),  # in a category by the defaults
            Span(3 * M, 4 * M, Activity(app="firefox", title="x", url=NEWS.url, idle=True)),
            Span(4 * M, 5 * M, Activity(app="mystery", title="no url")),
            Span(5 * M, 6 * M, Activity(app="firefox", title="y", url="https://a.test/")),
        ],
        1,
    )
    await store.commit_spans("b", [Span(0, M, NEWS)], 1)
    assert sorted(await store.uncategorized_urls(0, 10 * M, None)) == [
        ("https://a.test/", M),
        (NEWS.url, 3 * M),  # idle time left out
    ]
    # Clipped to the range; only the agents asked for.
    assert sorted(await store.uncategorized_urls(M, 10 * M, ["a"])) == [
        ("https://a.test/", M),
        (NEWS.url, M),
    ]
    assert await store.uncategorized_urls(0, 10 * M, []) == []
    # By the stored categories: once a rule takes the site (and its job is done), gone.
    job = await store.set_categories([*DEFAULT_RULES, Rule(category="N", pattern="news")], 1)
    while job.state == "running":
        job = await store.recategorize_step(job.id, 2)
    assert await store.uncategorized_urls(0, 10 * M, None) == [("https://a.test/", M)]
