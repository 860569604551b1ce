"""Makes tests/data/schema10/: a store written by the code of schema 10 (officepulse before
rollup keys and weeks, commit 8a0a339), and what that code answered about it.

tests/test_store_contract.py loads it into SQLite and PostgreSQL, opens it with today's
code (which migrates it) and checks every answer against the ones recorded here: nothing
lost, nothing counted twice. Run it with the old code on the path, never today's (it
refuses to):

    PYTHONPATH=<a checkout of 8a0a339>/src .venv/bin/python tests/data/schema10/make_store.py

It writes ``store.sql`` (the SQLite file as SQL, ``iterdump``), and ``expected.json``: the
statements another writer (the ActivityWatch API's own connection) ran afterwards, which the
store had not folded into its rollups yet, and ``usage`` for a list of ranges, groupings and
agents, before those statements ("folded") and after them ("pending"). The history has long
spans (whole hours as runs), idle time, an app in two categories, rules changed after the
fact, spans pruned by retention (their time only in the rollups) and an erased agent.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from officepulse.core.categories import Rule
from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.store import sqlite as old
from officepulse.store.base import AgentInfo, GroupKey, Store

HERE = Path(__file__).parent
M, H, D = 60_000, 3_600_000, 86_400_000
BASE = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1000)  # a Monday
AGENTS = {"ana": "Europe/Berlin", "ben": "Asia/Kolkata", "cy": "UTC", "gone": "UTC"}
APPS = [
    Activity(app="Code", title="store.py - officepulse"),
    Activity(app="firefox", title="cats - YouTube", url="https://youtube.com/watch?v=1"),
    Activity(app="firefox", title="Python docs", url="https://docs.python.org/3/"),
    Activity(app="xterm", title="vim notes.txt"),
    Activity(app="Slack", title="general", url="https://app.slack.com/"),
]
RULES = [
    Rule(category="Fun", pattern="youtube", fields=("url",)),
    Rule(category="Work > Making", pattern="^(Code|xterm)$", fields=("app",)),
]
GROUPINGS: list[list[GroupKey]] = [
    ["agent", "app"],
    ["agent", "app", "category"],
    ["agent"],
    ["app"],
    ["category"],
    ["app", "category"],
    [],
]


def spans_of(rng: random.Random, tz: str) -> list[Span]:
    """Three weeks of a few short spans a day (minute rows), an idle stretch, and now and
    then a span of many whole hours (a run), some idle."""
    out: list[Span] = []
    for day in range(21):
        if rng.random() < 0.5:
            continue
        t = BASE + day * D + rng.randrange(6 * H, 10 * H) + rng.randrange(60_000)
        for _ in range(rng.randrange(2, 4)):
            length = rng.choice([rng.randrange(5_000, 59_000), rng.randrange(M, 150_000)])
            out.append(Span(t, t + length, rng.choice(APPS), tz))
            t += length + rng.choice([0, 0, rng.randrange(1_000, 90_000)])
        if rng.random() < 0.3:
            # Edges of a few minutes around its whole hours: few minute rows to keep here.
            t = -(-t // H) * H - rng.randrange(5_000, 3 * M)
            length = rng.randrange(2, 30) * H + rng.randrange(5_000, 3 * M)
            idle = rng.random() < 0.4
            activity = rng.choice(APPS)
            if idle:
                activity = Activity(app=activity.app, title=activity.title, idle=True)
            out.append(Span(t, t + length, activity, tz))
    return out


def cases() -> list[tuple[int, int, list[GroupKey], list[str] | None]]:
    ranges = [
        (BASE - 30 * D, BASE + 60 * D),  # everything
        (BASE, BASE + 21 * D),  # three weeks from a Monday: weeks from Thursday, days around
        (BASE + 3 * D, BASE + 17 * D),  # two whole weeks (Thursday to Thursday)
        (BASE + 5 * D - 2 * H, BASE + 6 * D - 2 * H),  # a day in Berlin (summer time over)
        (BASE + 9 * D - 5 * H - 30 * M, BASE + 16 * D + 18 * H + 30 * M),  # Kolkata days
        (BASE + 2 * D + 7 * H + 13 * M + 5, BASE + 19 * D + 3 * H + 2 * M + 17),  # ragged
        (BASE + 11 * D + 8 * H + 7, BASE + 11 * D + 8 * H + 59_000),  # inside a minute
    ]
    out: list[tuple[int, int, list[GroupKey], list[str] | None]] = []
    for lo, hi in ranges:
        out += [(lo, hi, g, None) for g in GROUPINGS]
        out += [(lo, hi, ["app"], ["ana", "cy"]), (lo, hi, ["agent", "category"], ["ben"])]
    return out


async def answers(path: Path) -> list[dict[str, Any]]:
    store: Store = old.SQLiteStore(path)
    await store.open()
    try:
        out = []
        for lo, hi, group_by, agent_ids in cases():
            rows = await store.usage(lo, hi, group_by, agent_ids)
            out.append(
                {
                    "lo": lo,
                    "hi": hi,
                    "group_by": group_by,
                    "agent_ids": agent_ids,
                    "rows": sorted(
                        [r.agent_id, r.app, r.category, r.active_ms, r.idle_ms] for r in rows
                    ),
                }
            )
        return out
    finally:
        await store.close()


async def write(path: Path) -> None:
    rng = random.Random(10)
    store = old.SQLiteStore(path, recategorize_chunk=7)
    await store.open()
    try:
        histories = {agent: spans_of(rng, tz) for agent, tz in AGENTS.items()}
        for agent, tz in AGENTS.items():
            store.save_agent(AgentInfo(agent, agent.title(), "host", "Linux", "0.1", tz, False, 0))
            spans = histories[agent]
            half = len(spans) // 2
            await store.commit_spans(agent, spans[:half], 1)
            await store.commit_spans(agent, spans[half:], 2)
        # Rewritten as ingest rewrites them: a span extended, another one's app changed.
        for agent in ("ana", "ben"):
            first, second = histories[agent][0], histories[agent][3]
            await store.commit_spans(
                agent,
                [
                    Span(first.start_ms, first.end_ms + 2 * M, first.activity, first.tz),
                    Span(second.start_ms, second.end_ms, APPS[3], second.tz),
                ],
                3,
            )
        await store.set_categories(RULES)  # re-categorises what is stored
        await store.commit_spans(
            "cy", [Span(BASE + 20 * D + H, BASE + 20 * D + 3 * H + 7 * M, APPS[1], "UTC")], 3
        )
        assert await store.prune(BASE + 6 * D) > 0  # the first week's spans: rollups only
        assert await store.remove_agent("gone", erase=True, now_ms=BASE + 30 * D)
    finally:
        await store.close()


# What the ActivityWatch API's own connection wrote afterwards (as activitywatch/sqlite.py
# does): the store's triggers leave it in rollup_pending until its next write.
OTHER_WRITER = [
    "INSERT INTO spans (agent_id, start_ms, end_ms, app, title, url, idle) VALUES "
    f"('aw-laptop', {BASE + 12 * D + 9 * H + 5_000}, {BASE + 12 * D + 13 * H + 7 * M}, "
    "'firefox', 'cats - YouTube', 'https://youtube.com/', 0)",
    "INSERT INTO spans (agent_id, start_ms, end_ms, app, title, url, idle) VALUES "
    f"('aw-laptop', {BASE + 12 * D + 13 * H + 7 * M}, {BASE + 12 * D + 13 * H + 9 * M}, "
    "'Code', 'x', NULL, 1)",
    f"UPDATE spans SET end_ms = end_ms + 45000 WHERE agent_id = 'cy' AND start_ms = "
    f"(SELECT MAX(start_ms) FROM spans WHERE agent_id = 'cy' AND start_ms < {BASE + 15 * D})",
]


async def main() -> None:
    if old.SCHEMA_VERSION != 10:
        sys.exit("run this with the code of schema 10 on PYTHONPATH (see its docstring)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v10.sqlite3"
        await write(path)
        with sqlite3.connect(path) as db:
            dump = "\n".join(db.iterdump())
        db.close()
        folded = await answers(path)
        with sqlite3.connect(path, isolation_level=None) as db:
            for statement in OTHER_WRITER:
                db.execute(statement)
            (pending,) = db.execute("SELECT count(*) FROM rollup_pending").fetchone()
        db.close()
        assert pending == 4, pending
        with_pending = await answers(path)
    (HERE / "store.sql").write_text(dump + "\n")
    expected = {"other_writer": OTHER_WRITER, "folded": folded, "pending": with_pending}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=0) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
