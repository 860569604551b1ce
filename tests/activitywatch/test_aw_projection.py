"""How ActivityWatch events become officepulse spans (activitywatch/projection.py, operations.py):
the pure rules, and that recomputing only what a change touched always leaves
exactly the spans a recomputation of everything would give, with exact totals, on
SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from officepulse.activitywatch.model import (
    AFK,
    PROJECTED_TYPES,
    WEB,
    WINDOW,
    AwBucket,
    AwEvent,
    agent_id_for,
)
from officepulse.activitywatch.operations import (
    do_create_bucket,
    do_delete_bucket,
    do_delete_event,
    do_heartbeat,
    do_insert,
)
from officepulse.activitywatch.projection import GAP_MS, HostEvent, is_browser, project
from officepulse.activitywatch.sqlite import AW_SCHEMA, SQLiteAwTables
from officepulse.activitywatch.stores import aw_store_for
from officepulse.activitywatch.tables import AwStore, AwTables
from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.store.base import Store
from officepulse.store.postgres import PostgresStore
from officepulse.store.sqlite import MIGRATIONS, SCHEMA, SQLiteStore

pytest_plugins = ["tests.support.postgres"]

S = 1_000_000  # µs in a second


def ev(
    kind: str, start: float, length: float, data: dict[str, Any], n: int = 0, bucket: str = ""
) -> HostEvent:
    return HostEvent(
        kind,
        bucket or {WINDOW: "w", AFK: "a", WEB: "aw-watcher-web-chrome_h"}[kind],
        "test",
        AwEvent(int(start * S), int(length * S), data, n),
    )


def spans(
    events: list[HostEvent], lo: float = 0, hi: float = 1000
) -> list[tuple[float, float, str, str, str | None, bool]]:
    return [
        (
            s.start_ms / 1000,
            s.end_ms / 1000,
            s.activity.app,
            s.activity.title,
            s.activity.url,
            s.activity.idle,
        )
        for s in project(events, int(lo * 1000), int(hi * 1000))
    ]


def win(app: str, title: str = "") -> dict[str, Any]:
    return {"app": app, "title": title}


def tab(title: str, url: str, incognito: bool = False) -> dict[str, Any]:
    return {"url": url, "title": title, "audible": False, "incognito": incognito, "tabCount": 1}


def test_agent_ids_fit_the_agent_id_alphabet() -> None:
    assert agent_id_for("alice-laptop") == "aw-alice-laptop"
    dotted = agent_id_for("alice.local")
    assert dotted.startswith("aw-alice-local-")
    assert dotted != agent_id_for("alice-local")
    assert len(agent_id_for("x" * 300)) <= 64
    assert agent_id_for("x" * 300) != agent_id_for("x" * 299)
    assert agent_id_for("Ünïcode host") != agent_id_for("-n-code host")


def test_browser_windows_are_recognised() -> None:
    assert is_browser("Google-chrome", "chrome")
    assert is_browser("chrome.exe", "chrome")
    assert is_browser("Chromium-browser", "chrome")
    assert is_browser("firefox", "firefox")
    assert is_browser("Firefox Developer Edition", "firefox")
    assert is_browser("msedge.exe", "edge")
    assert is_browser("Brave-browser", "brave")
    assert not is_browser("Code", "chrome")
    assert not is_browser("Google-chrome", "firefox")


def test_windows_and_afk() -> None:
    events = [
        ev(WINDOW, 0, 100, win("Code", "a")),
        ev(WINDOW, 100, 50, win("Slack", "b")),
        ev(AFK, 0, 80, {"status": "not-afk"}),
        ev(AFK, 80, 40, {"status": "afk"}),
        ev(AFK, 120, 60, {"status": "not-afk"}),
    ]
    assert spans(events) == [
        (0, 80, "Code", "a", None, False),
        (80, 100, "Code", "a", None, True),
        (100, 120, "Slack", "b", None, True),
        (120, 150, "Slack", "b", None, False),
    ]


def test_without_an_afk_watcher_time_is_active_and_afk_alone_is_nothing() -> None:
    assert spans([ev(WINDOW, 0, 10, win("Code"))]) == [(0, 10, "Code", "", None, False)]
    assert spans([ev(AFK, 0, 10, {"status": "afk"})]) == []


def test_short_gaps_belong_to_the_earlier_event() -> None:
    events = [
        ev(WINDOW, 0, 10, win("A")),
        ev(WINDOW, 11, 10, win("B")),  # 1 s gap: A's
        ev(WINDOW, 21 + GAP_MS / 1000, 5, win("C")),  # exactly GAP: B's
        ev(WINDOW, 40, 5, win("C")),  # longer: nobody's; C and C are not joined
        ev(WINDOW, 48, 2, win("C")),  # 3 s between equal data: one span
    ]
    assert spans(events) == [
        (0, 11, "A", "", None, False),
        (11, 26, "B", "", None, False),
        (26, 31, "C", "", None, False),
        (40, 50, "C", "", None, False),
    ]


def test_the_latest_starting_event_wins_where_events_overlap() -> None:
    events = [ev(WINDOW, 0, 100, win("Long"), n=1), ev(WINDOW, 10, 10, win("Short"), n=2)]
    assert spans(events) == [
        (0, 10, "Long", "", None, False),
        (10, 20, "Short", "", None, False),
        (20, 100, "Long", "", None, False),
    ]
    # Same start: the one stored later.
    same = [ev(WINDOW, 0, 10, win("First"), n=1), ev(WINDOW, 0, 5, win("Second"), n=2)]
    assert spans(same) == [(0, 5, "Second", "", None, False), (5, 10, "First", "", None, False)]


def test_tabs_refine_the_browser_window_only() -> None:
    events = [
        ev(WINDOW, 0, 10, win("Code", "main.py")),
        ev(WINDOW, 10, 20, win("Google-chrome", "YouTube - Google Chrome")),
        ev(WINDOW, 30, 10, win("firefox", "Docs — Mozilla Firefox")),
        ev(WEB, 0, 25, tab("Cats", "https://cats.example/")),
        ev(WEB, 25, 20, tab("Secret", "https://secret.example/", incognito=True)),
    ]
    assert spans(events) == [
        (0, 10, "Code", "main.py", None, False),  # a tab open behind the editor is not in front
        (10, 25, "Google-chrome", "Cats", "https://cats.example/", False),
        (25, 30, "Google-chrome", "YouTube - Google Chrome", None, False),  # incognito: not used
        (30, 40, "firefox", "Docs — Mozilla Firefox", None, False),  # another browser's tab
        # No window event any more: the browser is all there is (incognito: no title, no URL).
        (40, 45, "chrome", "", None, False),
    ]


def test_the_browser_alone() -> None:
    events = [
        ev(WEB, 0, 10, tab("Cats", "https://cats.example/")),
        ev(WEB, 10, 10, tab("Secret", "https://secret.example/", incognito=True)),
        ev(AFK, 5, 100, {"status": "afk"}),
    ]
    assert spans(events) == [
        (0, 5, "chrome", "Cats", "https://cats.example/", False),
        (5, 10, "chrome", "Cats", "https://cats.example/", True),
        (10, 20, "chrome", "", None, True),
    ]


def test_window_data_with_a_url_keeps_it() -> None:
    """aw-watcher-window on macOS sends the browser's URL itself."""
    data = {"app": "Safari", "title": "Apple", "url": "https://apple.com/", "incognito": False}
    assert spans([ev(WINDOW, 0, 5, data)]) == [
        (0, 5, "Safari", "Apple", "https://apple.com/", False)
    ]


# -- incremental = everything ----------------------------------------------------------


def tables() -> SQLiteAwTables:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(SCHEMA)
    for step in sorted(MIGRATIONS):
        conn.execute(MIGRATIONS[step])
    conn.executescript(AW_SCHEMA)
    tx = SQLiteAwTables(conn)
    for bucket_id, kind in (
        ("w", WINDOW),
        ("a", AFK),
        ("aw-watcher-web-chrome_h", WEB),
        ("x", "other"),
    ):
        do_create_bucket(tx, AwBucket(bucket_id, kind, "test", "h", 0))
    return tx


def stored(tx: SQLiteAwTables) -> list[Span]:
    rows = tx.conn.execute(
        "SELECT start_ms, end_ms, app, title, url, idle FROM spans WHERE agent_id = 'aw-h' "
        "ORDER BY start_ms"
    ).fetchall()
    return [Span(s, e, Activity(app=a, title=t, url=u, idle=bool(i))) for s, e, a, t, u, i in rows]


def everything(tx: SQLiteAwTables) -> list[Span]:
    events = tx.host_events("h", PROJECTED_TYPES, -(10**15), 10**15)
    return project(events, -(10**9), 10**9)


datas = {
    "w": st.sampled_from([win("Code", "a"), win("Google-chrome", "t"), win("Slack", "b")]),
    "a": st.sampled_from([{"status": "afk"}, {"status": "not-afk"}]),
    "aw-watcher-web-chrome_h": st.sampled_from(
        [tab("Cats", "https://c/"), tab("Dogs", "https://d/")]
    ),
    "x": st.just({"anything": 1}),
}
bucket_ids = st.sampled_from(["w", "w", "a", "aw-watcher-web-chrome_h", "x"])


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, Any]]:
    ops: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 30))):
        bucket = draw(bucket_ids)
        kind = draw(st.sampled_from(["heartbeat", "heartbeat", "heartbeat", "insert", "delete"]))
        ts = draw(st.integers(0, 120)) * 500_000 + draw(st.sampled_from([0, 1000, 999_000]))
        duration = draw(st.sampled_from([0, 0, 1, 2, 7, 30])) * S + draw(
            st.sampled_from([0, 1, 999])
        )
        event = AwEvent(ts, duration, draw(datas[bucket]))
        ops.append((kind, (bucket, event, draw(st.sampled_from([0, 1, 2, 6])) * S)))
    return ops


@settings(max_examples=100, deadline=None)
@given(operations())
def test_recomputing_what_changed_equals_recomputing_everything(ops: list[tuple[str, Any]]) -> None:
    tx = tables()
    for kind, (bucket, event, pulsetime) in ops:
        change(tx, kind, bucket, event, pulsetime)
        assert stored(tx) == everything(tx)
    do_delete_bucket(tx, "a")
    assert stored(tx) == everything(tx)
    assert agent_id_for("h") == "aw-h"


# -- on each store: the spans, and the totals the store's rollups give --------------------

H_MS = 3_600_000
# Usage ranges that read day, hour and minute rollups and raw edges (events lie in 0–90 s).
RANGES = [(-86_400_000, 86_400_000), (-H_MS, H_MS), (1_234, 95_678), (59_999, 60_001)]


def random_operations(rng: random.Random, n: int) -> list[tuple[str, str, AwEvent, int]]:
    """As ``operations`` draws them: (kind, bucket, event, pulsetime µs)."""
    choices = {
        "w": [win("Code", "a"), win("Google-chrome", "t"), win("Slack", "b")],
        "a": [{"status": "afk"}, {"status": "not-afk"}],
        "web": [tab("Cats", "https://c/"), tab("Dogs", "https://d/")],
        "x": [{"anything": 1}],
    }
    ops = []
    for _ in range(n):
        bucket = rng.choice(["w", "w", "a", "web", "x"])
        kind = rng.choice(["heartbeat", "heartbeat", "heartbeat", "insert", "delete"])
        ts = rng.randint(0, 120) * 500_000 + rng.choice([0, 1000, 999_000])
        duration = rng.choice([0, 0, 1, 2, 7, 30]) * S + rng.choice([0, 1, 999])
        event = AwEvent(ts, duration, rng.choice(choices[bucket]))
        ops.append((kind, bucket, event, rng.choice([0, 1, 2, 6]) * S))
    return ops


def bucket_of(name: str, host: str) -> str:
    return f"aw-watcher-web-chrome_{host}" if name == "web" else f"{name}_{host}"


def apply(tx: AwTables, host: str, op: tuple[str, str, AwEvent, int]) -> None:
    kind, name, event, pulsetime = op
    change(tx, kind, bucket_of(name, host), event, pulsetime)


def change(tx: AwTables, kind: str, bucket: str, event: AwEvent, pulsetime: int) -> None:
    """A heartbeat, an insert, or the deletion of the bucket's newest event."""
    if kind == "heartbeat":
        do_heartbeat(tx, bucket, event, pulsetime)
    elif kind == "insert":
        do_insert(tx, bucket, [event])
    else:
        newest = tx.newest_event(bucket)
        if newest is not None and newest.id is not None:
            do_delete_event(tx, bucket, newest.id)


def raw_usage(spans: list[tuple[str, Span]], lo: int, hi: int) -> dict[tuple[str, str], list[int]]:
    totals: dict[tuple[str, str], list[int]] = {}
    for agent, s in spans:
        ms = min(s.end_ms, hi) - max(s.start_ms, lo)
        if ms > 0:
            slot = totals.setdefault((agent, s.activity.app), [0, 0])
            slot[1 if s.activity.idle else 0] += ms
    return totals


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_projected_spans_and_totals_are_exact_on_every_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Random heartbeats, inserts and deletions on three computers through each store's
    AwStore: after every change the spans are what projecting every event gives, and
    usage() (from the store's rollups) is what those spans add up to."""
    store: Store
    if kind == "postgresql":
        store = PostgresStore(request.getfixturevalue("postgres_url"))
    else:
        store = SQLiteStore(tmp_path / "officepulse.sqlite3")
    await store.open()
    aw = aw_store_for(store)
    assert aw is not None
    await aw.open()
    try:
        hosts = ["h1", "h2", "h3"]
        for host in hosts:
            for name, type_ in (("w", WINDOW), ("a", AFK), ("web", WEB), ("x", "other")):
                bucket = AwBucket(bucket_of(name, host), type_, "test", host, 0)
                await aw.aw_transaction(
                    functools.partial(do_create_bucket, bucket=bucket), write=True
                )
        rng = random.Random(20261130)
        for step in range(60):
            host = rng.choice(hosts)
            for op in random_operations(rng, 1):
                await aw.aw_transaction(functools.partial(apply, host=host, op=op), write=True)
            if step % 5 == 4:
                await check_exact(aw, store, hosts)
        await aw.aw_transaction(lambda tx: do_delete_bucket(tx, "a_h1"), write=True)
        await check_exact(aw, store, hosts)
    finally:
        await aw.close()
        await store.close()


async def check_exact(aw: AwStore, store: Store, hosts: list[str]) -> None:
    for host in hosts:
        every = await aw.aw_transaction(
            lambda tx, host=host: tx.host_events(host, PROJECTED_TYPES, -(10**15), 10**15),
            write=False,
        )
        spans = [s for _, s in await store.spans(-(10**9), 10**9, agent_id_for(host))]
        assert spans == project(every, -(10**9), 10**9), host
    everything = await store.spans(-(10**9), 10**9)
    assert everything, "the operations made no spans at all"
    for lo, hi in RANGES:
        want = raw_usage(everything, lo, hi)
        got = await store.usage(lo, hi, ["agent", "app"])
        assert {(r.agent_id, r.app): [r.active_ms, r.idle_ms] for r in got} == want, (lo, hi)
        by_app: dict[str | None, list[int]] = {}
        for (_, app), (active, idle) in want.items():
            slot = by_app.setdefault(app, [0, 0])
            slot[0] += active
            slot[1] += idle
        got_apps = await store.usage(lo, hi, ["app"])
        assert {r.app: [r.active_ms, r.idle_ms] for r in got_apps} == {
            app: v for app, v in by_app.items() if v != [0, 0]
        }, (lo, hi)
