"""The activity in progress as a viewer may see it (panel/visible_reads.py on a real
SQLite store): it starts where the stored spans end, and what a person shows others of
it is what they show of their stored time — the app only, or its top-level category —
while their own time and paused time are shown as they are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from officepulse.bus.presence import AgentView
from officepulse.core.categories import DEFAULT_RULES, compile_rules
from officepulse.core.spans import Span
from officepulse.panel.live import Live
from officepulse.panel.visible_reads import VisibleReads
from officepulse.protocol.messages import Activity
from officepulse.store.accounts import Visibility
from officepulse.store.base import AgentInfo
from officepulse.store.sqlite import SQLiteStore
from tests.support.live import view

S = 1000
DAY0 = 1_790_812_800_000  # 2026-10-01T00:00Z
NOW = DAY0 + 9 * 3_600_000
CODE = Activity(app="Code", title="secret-plan.py")
TUBE = Activity(app="Firefox", title="cats", url="https://www.youtube.com/watch?v=1")
PAUSED = Activity(app="paused", paused=True)
RULES = compile_rules(DEFAULT_RULES)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """Ann stored Code up to 60 s ago; Bob stored nothing today."""
    db = SQLiteStore(tmp_path / "live.sqlite3")
    await db.open()
    for agent_id in ("ann", "bob"):
        db.save_agent(AgentInfo(agent_id, agent_id.title(), "h", "Linux", "1", "UTC", True, NOW))
    await db.commit_spans("ann", [Span(NOW - 300 * S, NOW - 60 * S, CODE, "UTC")], 1)
    yield db
    await db.close()


def reads(store: SQLiteStore, level: Visibility, *views: AgentView) -> VisibleReads:
    return VisibleReads(
        store,
        lambda agent_id: level,
        RULES,
        sees_all=False,
        usage_as_stored=level != "category",
        live=Live.of(views, NOW),
    )


async def test_in_progress_follows_the_stored_spans_and_is_marked(store: SQLiteStore) -> None:
    # Ann's Code is stored up to 60 s ago (the tail is on its way); her agent reports
    # YouTube in front since 30 s ago: that much is in progress.
    got = reads(store, "full", view("ann", NOW - 30 * S, TUBE))
    rows = await got.usage(DAY0, DAY0 + 86_400_000, ["agent", "app"])
    assert {(r.agent_id, r.app): r.active_ms for r in rows} == {
        ("ann", "Code"): 240 * S,
        ("ann", "Firefox"): 30 * S,
    }
    live = await got.live_only().usage(DAY0, DAY0 + 86_400_000, ["agent", "app"])
    assert [(r.app, r.active_ms) for r in live] == [("Firefox", 30 * S)]
    spans = await got.spans(DAY0, DAY0 + 86_400_000, "ann")
    assert [(s.activity.app, got.in_progress("ann", s.start_ms, s.end_ms)) for _, s in spans] == [
        ("Code", False),
        ("Firefox", True),
    ]
    # The same activity since before the stored end: only what is not stored yet counts.
    same = reads(store, "full", view("ann", NOW - 400 * S, CODE))
    (row,) = await same.usage(DAY0, DAY0 + 86_400_000, ["agent", "app"])
    assert row.active_ms == 300 * S  # 240 s stored, 60 s in progress
    # A range that ended before now reads nothing in progress.
    past = await same.usage(DAY0, NOW - 60 * S, ["agent", "app"])
    assert [r.active_ms for r in past] == [240 * S]


async def test_what_others_see_of_the_time_in_progress(store: SQLiteStore) -> None:
    bob = view("bob", NOW - 30 * S, TUBE)
    by_category = reads(store, "category", bob)
    rows = await by_category.usage(DAY0, DAY0 + 86_400_000, ["agent", "app"])
    assert {(r.agent_id, r.app): r.active_ms for r in rows} == {
        ("ann", "Work"): 240 * S,
        ("bob", "Entertainment"): 30 * S,
    }
    (_, span) = (await by_category.spans(DAY0, DAY0 + 86_400_000, "bob"))[0]
    assert (span.activity.app, span.activity.title, span.activity.url) == (
        "Entertainment",
        "",
        None,
    )
    app_only = reads(store, "app", bob)
    (_, span) = (await app_only.spans(DAY0, DAY0 + 86_400_000, "bob"))[0]
    assert (span.activity.app, span.activity.title, span.activity.url) == ("Firefox", "", None)
    (row,) = await app_only.usage(DAY0, DAY0 + 86_400_000, ["app"], ["bob"])
    assert (row.app, row.active_ms) == ("Firefox", 30 * S)
    # Paused time stays paused, in progress too.
    paused = reads(store, "category", view("bob", NOW - 30 * S, PAUSED))
    (row,) = await paused.usage(DAY0, DAY0 + 86_400_000, ["app"], ["bob"])
    assert (row.app, row.active_ms + row.idle_ms) == ("Paused", 30 * S)
