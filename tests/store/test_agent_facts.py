"""What agents told of themselves (store/agent_facts.py), on SQLite and PostgreSQL: each
fact stored once however often told, a run's end and sleep count moving on but never
back, and a window's facts read with the run before it."""

from __future__ import annotations

from officepulse.store.agent_facts import Fact
from officepulse.store.base import AgentInfo, Store
from tests.support.postgres import postgres_cluster, postgres_url
from tests.support.stores import store

__all__ = ["postgres_cluster", "postgres_url", "store"]  # fixtures, used by name

DETAIL = '{"version":"0.1.0","boot_ms":1000}'


async def test_facts_are_stored_once_and_runs_move_on_but_never_back(store: Store) -> None:
    run = Fact("run", 10_000, 20_000, 5, DETAIL)
    await store.save_facts(
        "a1", [run, Fact("sleep", 12_000, 13_000), Fact("clock", 15_000, 15_000, 7_200_000)]
    )
    # Told again (a reconnection), and later: the sleep and jump once, the run extended
    # with its newest sleep count; its first hello's detail kept.
    await store.save_facts(
        "a1", [Fact("sleep", 12_000, 13_000), Fact("run", 10_000, 30_000, 9, "{}")]
    )
    # A late message of the same run (out of order) moves nothing back.
    await store.save_facts("a1", [Fact("run", 10_000, 25_000, 7, "{}")])
    await store.save_facts("other", [Fact("run", 11_000, 12_000, 0, DETAIL)])
    assert await store.facts("a1", 0, 100_000) == [
        Fact("run", 10_000, 30_000, 9, DETAIL),
        Fact("sleep", 12_000, 13_000, None, ""),
        Fact("clock", 15_000, 15_000, 7_200_000, ""),
    ]


async def test_a_window_is_read_with_the_run_before_it(store: Store) -> None:
    await store.save_facts(
        "a1",
        [
            Fact("run", 1_000, 2_000, 0, DETAIL),
            Fact("run", 3_000, 4_000, 0, DETAIL),
            Fact("sleep", 3_500, 3_600),
            Fact("run", 50_000, 60_000, 0, DETAIL),
        ],
    )
    found = await store.facts("a1", 40_000, 70_000)
    assert [(f.kind, f.start_ms) for f in found] == [("run", 3_000), ("run", 50_000)]


async def test_erasing_an_agent_erases_what_it_told_removing_keeps_it(store: Store) -> None:
    for agent_id in ("kept", "erased"):
        store.save_agent(AgentInfo(agent_id, agent_id, "h", "Linux", "1", "UTC", False, 1_000))
        await store.save_facts(agent_id, [Fact("run", 1_000, 2_000, 0, DETAIL)])
    await store.flush()
    assert await store.remove_agent("kept", False, 5_000)
    assert await store.remove_agent("erased", True, 5_000)
    assert await store.facts("kept", 0, 10_000) == [Fact("run", 1_000, 2_000, 0, DETAIL)]
    assert await store.facts("erased", 0, 10_000) == []


async def test_retention_prunes_old_facts_but_each_agents_latest_run(store: Store) -> None:
    await store.save_facts(
        "a1",
        [
            Fact("run", 1_000, 2_000, 0, DETAIL),
            Fact("sleep", 1_500, 1_600),
            Fact("run", 3_000, 4_000, 0, DETAIL),  # before the horizon, but a1's latest
        ],
    )
    await store.save_facts(
        "a2", [Fact("run", 1_000, 2_000, 0, DETAIL), Fact("run", 8_000, 9_000, 0, DETAIL)]
    )
    await store.save_facts("a3", [Fact("clock", 4_500, 4_500, 60_000), Fact("sleep", 6_000, 7_000)])
    assert await store.prune_facts(5_000) == 4
    assert await store.prune_facts(5_000) == 0
    assert await store.facts("a1", 0, 100_000) == [Fact("run", 3_000, 4_000, 0, DETAIL)]
    assert await store.facts("a2", 0, 100_000) == [Fact("run", 8_000, 9_000, 0, DETAIL)]
    assert await store.facts("a3", 0, 100_000) == [Fact("sleep", 6_000, 7_000, None, "")]
