"""The agent's journal on a real SQLite file."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from officepulse.agent.journal import HOUR_MS, Journal
from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity

CODE = Activity(app="Code", title="main.py")
TUBE = Activity(app="Google-chrome", title="YouTube", url="https://youtube.com")


def test_spans_stay_until_acknowledged_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    j = Journal(path)
    assert j.append([Span(0, 10, CODE), Span(10, 20, TUBE)], Span(20, 25, CODE)) == 2
    j.mark_sent(2)
    j.close()
    again = Journal(path)
    assert [(e.seq, e.span) for e in again.read(0, 10)] == [
        (1, Span(0, 10, CODE)),
        (2, Span(10, 20, TUBE)),
    ]
    assert again.open_span() == Span(20, 25, CODE)
    assert again.sent_seq == 2
    again.ack(1)
    assert [e.seq for e in again.read(0, 10)] == [2]
    assert again.stats().acked_seq == 1
    again.ack(2)
    assert again.read(0, 10) == []
    # Numbers keep growing after everything was acknowledged.
    assert again.append([Span(25, 30, CODE)], None) == 3
    assert again.open_span() is None
    again.close()


def _totals(j: Journal) -> dict[tuple[int, str, bool, str | None], int]:
    """Milliseconds per (hour, app, idle, zone) in the journal."""
    out: dict[tuple[int, str, bool, str | None], int] = {}
    for e in j.read(0, 10**9):
        t = e.span.start_ms
        while t < e.span.end_ms:
            hour = t - t % HOUR_MS
            end = min(e.span.end_ms, hour + HOUR_MS)
            key = (hour, e.span.activity.app, e.span.activity.idle, e.span.tz)
            out[key] = out.get(key, 0) + end - t
            t = end
    return out


def test_compaction_fits_the_budget_and_keeps_every_hourly_total(tmp_path: Path) -> None:
    rng = random.Random(3)
    j = Journal(tmp_path / "j.sqlite3", budget_bytes=10**9)
    apps = ["Code", "Google-chrome", "Slack", "xterm"]
    t = 0
    spans = []
    while t < 30 * HOUR_MS:
        length = rng.randint(1_000, 400_000)
        app = rng.choice(apps)
        spans.append(
            Span(
                t,
                t + length,
                Activity(app=app, title=f"{app} {rng.random()}", idle=rng.random() < 0.1),
                # The person flies half way through an hour: zones are kept apart too.
                "Europe/Berlin" if t < 20 * HOUR_MS + HOUR_MS // 2 else "Asia/Tokyo",
            )
        )
        t += length
    j.append(spans[:50], None)
    j.mark_sent(50)  # these may already be on the server: hands off
    sent_before = [e for e in j.read(0, 50)]
    j.append(spans[50:], None)
    before = _totals(j)
    full = j.stats().bytes
    j.budget_bytes = full // 3
    removed = j.compact()
    assert removed > 0
    assert j.stats().bytes <= j.budget_bytes
    assert _totals(j) == before
    assert j.read(0, 50) == sent_before
    entries = j.read(0, 10**9)
    for a, b in itertools.pairwise(entries):
        assert a.seq < b.seq
        assert a.span.end_ms <= b.span.start_ms  # still in time order, no overlap
    j.close()


def test_a_new_journal_for_a_known_agent_follows_on_from_the_server(tmp_path: Path) -> None:
    j = Journal(tmp_path / "fresh.sqlite3")
    j.append([Span(0, 10, CODE), Span(10, 20, TUBE)], None)
    j.continue_after(500)  # the server already has 1..500 from this agent id
    j.ack(500)
    assert [(e.seq, e.span) for e in j.read(0, 10)] == [
        (501, Span(0, 10, CODE)),
        (502, Span(10, 20, TUBE)),
    ]
    assert j.append([Span(20, 30, CODE)], None) == 503
    j.continue_after(3)  # an ordinary resume changes nothing
    assert [e.seq for e in j.read(0, 10)] == [501, 502, 503]
    j.close()


def test_a_journal_from_before_zones_is_migrated_and_keeps_its_spans(tmp_path: Path) -> None:
    import sqlite3

    import msgspec

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE spans (seq INTEGER PRIMARY KEY, start_ms INTEGER NOT NULL, "
            "end_ms INTEGER NOT NULL, activity BLOB NOT NULL, level INTEGER NOT NULL DEFAULT 0);"
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB);"
        )
        blob = msgspec.msgpack.encode(CODE)
        old.execute(
            "INSERT INTO spans (seq, start_ms, end_ms, activity) VALUES (1, 0, 10, ?)", (blob,)
        )
        old.execute(
            "INSERT INTO meta VALUES ('open', ?)", (msgspec.msgpack.encode((10, 15, TUBE)),)
        )
    old.close()
    j = Journal(path)
    assert [e.span for e in j.read(0, 10)] == [Span(0, 10, CODE)]  # zone unknown: None
    assert j.open_span() == Span(10, 15, TUBE)
    j.append([Span(10, 20, TUBE, "Asia/Tokyo")], Span(20, 21, CODE, "Asia/Tokyo"))
    j.close()
    again = Journal(path)
    assert [e.span.tz for e in again.read(0, 10)] == [None, "Asia/Tokyo"]
    assert again.open_span() == Span(20, 21, CODE, "Asia/Tokyo")
    again.close()
