"""The report core: a day's blocks, title totals, people's totals, colours, and the
chart geometry the SVG is drawn from. Pure functions; times and zones are given."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from officepulse.core.charts import bar_width, stacked_bar, timeline
from officepulse.core.periods import midnight_ms
from officepulse.core.reports import (
    OTHER,
    Block,
    TitleTotal,
    Total,
    colour,
    day_blocks,
    is_web_url,
    merge_title_totals,
    sort_totals,
    title_totals,
    top_and_other,
    totals_by_person,
)
from officepulse.core.spans import Span, to_ms
from officepulse.core.zones import ZoneRun
from officepulse.protocol.messages import Activity

H = 3_600_000
M = 60_000


def span(
    start: int, end: int, app: str, title: str = "", url: str | None = None, idle: bool = False
) -> Span:
    return Span(start, end, Activity(app=app, title=title, url=url, idle=idle))


def test_day_blocks_are_clipped_to_the_day_and_in_time_order() -> None:
    day = (24 * H, 48 * H)
    spans = [
        span(30 * H, 31 * H, "Code", "b.py"),
        span(23 * H, 25 * H, "Code", "a.py"),  # began the evening before
        span(47 * H, 49 * H, "Slack", idle=True),  # ends the next morning
        span(10 * H, 11 * H, "Mail"),  # another day
        span(40 * H, 40 * H, "Zero"),  # no length
    ]
    assert day_blocks(spans, *day) == [
        Block(24 * H, 25 * H, "Code", "a.py", None, False),
        Block(30 * H, 31 * H, "Code", "b.py", None, False),
        Block(47 * H, 48 * H, "Slack", "", None, True),
    ]


def test_title_totals_by_title_and_url_clipped_most_active_first() -> None:
    spans = [
        span(0, 10 * M, "Chrome", "Docs", "https://a.example/"),
        span(10 * M, 40 * M, "Chrome", "Cats", "https://b.example/"),
        span(40 * M, 50 * M, "Chrome", "Docs", "https://c.example/"),  # same title, other page
        span(50 * M, 70 * M, "Chrome", "Docs", "https://a.example/"),
        span(70 * M, 75 * M, "Chrome", "Docs", "https://a.example/", idle=True),
        span(75 * M, 90 * M, "Code", "main.py"),  # another app
    ]
    rows = title_totals(spans, "Chrome", 5 * M, 65 * M)
    assert [(r.title, r.url, r.active_ms, r.idle_ms) for r in rows] == [
        ("Cats", "https://b.example/", 30 * M, 0),
        ("Docs", "https://a.example/", 20 * M, 0),  # 5 of the first, 15 of the fourth
        ("Docs", "https://c.example/", 10 * M, 0),
    ]
    whole = title_totals(spans, "Chrome", 0, 90 * M)
    # A tie on active time goes to the one with more idle time.
    assert [(r.url, r.active_ms, r.idle_ms) for r in whole[:2]] == [
        ("https://a.example/", 30 * M, 5 * M),
        ("https://b.example/", 30 * M, 0),
    ]
    assert title_totals(spans, "Nope", 0, 90 * M) == []


def test_people_sorted_by_active_time_with_their_apps_sorted() -> None:
    rows = [
        ("a", "Code", 10, 5),
        ("b", "Slack", 30, 0),
        ("a", "Chrome", 25, 0),
        ("c", "Code", 0, 7),
    ]
    people = totals_by_person(rows, {"a": ("Alice", "laptop"), "b": ("Bob", "pc")})
    assert [(p.id, p.name, p.active_ms, p.idle_ms) for p in people] == [
        ("a", "Alice", 35, 5),
        ("b", "Bob", 30, 0),
        ("c", "c", 0, 7),  # an agent the store does not know is shown by its id
    ]
    assert [t.label for t in people[0].items] == ["Chrome", "Code"]


def test_top_labels_and_the_rest_as_other() -> None:
    items = sort_totals([Total(f"app{i}", 10 * i, i) for i in range(1, 8)])
    top = top_and_other(items, 3)
    assert [t.label for t in top] == ["app7", "app6", "app5", OTHER]
    assert top[-1] == Total(OTHER, 10 + 20 + 30 + 40, 1 + 2 + 3 + 4)
    assert top_and_other(items[:3], 3) == items[:3]  # nothing left over: no "other"


def test_colours_are_stable_and_tell_apps_apart() -> None:
    assert colour("Code") == colour("Code") == f"hsl({zlib.crc32(b'Code') % 360} 62% 48%)"
    assert colour("Code") != colour("Slack")
    assert colour(OTHER) != colour("Code")


def test_a_stacked_bar_puts_active_labels_side_by_side_then_idle() -> None:
    items = [Total("Code", 3 * H, 0), Total("Slack", H, 30 * M), Total("other", 0, 30 * M)]
    segments = stacked_bar(items, 10 * H, "grey")
    assert [(s.label, s.ms, s.x, s.width, s.idle) for s in segments] == [
        ("Code", 3 * H, 0.0, 30.0, False),
        ("Slack", H, 30.0, 10.0, False),
        ("idle", H, 40.0, 10.0, True),
    ]
    assert segments[-1].colour == "grey"
    assert segments[0].colour == colour("Code")
    assert bar_width(H, 3 * H) == 33.3333
    assert bar_width(0, 0) == 0.0


@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=30))
def test_stacked_segments_meet_without_gaps_or_overlaps(values: list[int]) -> None:
    items = [Total(f"app{i}", v, 0) for i, v in enumerate(values)]
    segments = stacked_bar(items, sum(values), "grey")
    for left, right in pairwise(segments):
        assert abs(left.x + left.width - right.x) < 1e-6
    assert abs(segments[-1].x + segments[-1].width - 100) < 1e-6


def test_a_timeline_places_blocks_on_two_rows_with_an_hour_tick_each() -> None:
    zone = ZoneInfo("UTC")
    start = midnight_ms(datetime(2026, 6, 1).date(), zone)
    blocks = [
        Block(start + 6 * H, start + 12 * H, "Code", "main.py", None, False),
        Block(start + 12 * H, start + 13 * H, "Code", "main.py", None, True),
    ]
    tl = timeline(blocks, [ZoneRun(start, start + 24 * H, "UTC")])
    assert tl.hours == 24
    assert [(p.x, p.width) for p in tl.active] == [(25.0, 25.0)]
    assert [(p.x, p.width) for p in tl.idle] == [(50.0, 4.1667)]
    assert tl.active[0].colour == colour("Code")
    assert [t.label for t in tl.ticks] == [f"{h:02d}" for h in range(24)]


def test_daylight_saving_days_are_drawn_with_23_and_25_hours() -> None:
    paris = ZoneInfo("Europe/Paris")
    for day, hours, labels in (
        (datetime(2026, 3, 29).date(), 23, ["00", "01", "03", "04"]),
        (datetime(2026, 10, 25).date(), 25, ["00", "01", "02", "02", "03"]),
    ):
        start = midnight_ms(day, paris)
        end = midnight_ms(day + timedelta(days=1), paris)
        # 03:00 local, whatever the day's offset: placed by real time, not by wall-clock hour
        three = int(datetime(day.year, day.month, day.day, 3, tzinfo=paris).timestamp() * 1000)
        tl = timeline(
            [Block(three, end, "Code", "", None, False)], [ZoneRun(start, end, paris.key)]
        )
        assert tl.hours == hours
        assert len(tl.ticks) == hours
        assert [t.label for t in tl.ticks][: len(labels)] == labels
        assert tl.ticks[-1].label == "23"
        assert tl.active[0].x == round(100 * (three - start) / (end - start), 4)
        assert tl.active[0].x + tl.active[0].width == 100.0


def test_a_zone_half_an_hour_off_utc_still_ticks_on_its_own_hours() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    day = datetime(2026, 6, 1).date()
    start = midnight_ms(day, kolkata)
    assert datetime.fromtimestamp(start / 1000, UTC).minute == 30
    tl = timeline([], [ZoneRun(start, start + 24 * H, kolkata.key)])
    assert [t.label for t in tl.ticks] == [f"{h:02d}" for h in range(24)]


def test_a_flight_east_is_a_shorter_band_on_both_wall_clocks() -> None:
    # Berlin midnight to 13:00 (12:00 UTC), then Tokyo from 21:00 to midnight: 16 hours.
    flight = to_ms(datetime(2026, 11, 25, 12, tzinfo=UTC))
    berlin = ZoneRun(to_ms(datetime(2026, 11, 24, 23, tzinfo=UTC)), flight, "Europe/Berlin")
    tokyo = ZoneRun(flight, to_ms(datetime(2026, 11, 25, 15, tzinfo=UTC)), "Asia/Tokyo")
    blocks = [Block(flight - H, flight + H, "Code", "", None, False)]
    tl = timeline(blocks, [berlin, tokyo])
    assert (tl.start_ms, tl.end_ms, tl.hours) == (berlin.start_ms, tokyo.end_ms, 16)
    assert [t.label for t in tl.ticks] == [f"{h:02d}" for h in [*range(13), 21, 22, 23]]
    assert [(j.x, j.tz, j.gap) for j in tl.joins] == [(81.25, "Asia/Tokyo", False)]
    assert (tl.active[0].x, tl.active[0].width) == (75.0, 12.5)


def test_a_day_in_two_pieces_is_drawn_side_by_side() -> None:
    # Tokyo until 03:00 on the 26th (18:00 UTC on the 25th), then the rest of the 25th
    # again in Los Angeles: the time between the pieces is another day's.
    tokyo = ZoneRun(
        to_ms(datetime(2026, 11, 24, 15, tzinfo=UTC)),
        to_ms(datetime(2026, 11, 25, 15, tzinfo=UTC)),
        "Asia/Tokyo",
    )
    flight = to_ms(datetime(2026, 11, 25, 18, tzinfo=UTC))
    la = ZoneRun(flight, to_ms(datetime(2026, 11, 26, 8, tzinfo=UTC)), "America/Los_Angeles")
    tl = timeline([Block(flight, flight + H, "Slack", "", None, False)], [tokyo, la])
    assert tl.hours == 24 + 14
    assert [(j.tz, j.gap) for j in tl.joins] == [("America/Los_Angeles", True)]
    assert tl.active[0].x == round(100 * 24 / 38, 4)
    assert [t.label for t in tl.ticks][22:27] == ["22", "23", "10", "11", "12"]


def test_a_zone_a_quarter_hour_off_ticks_on_its_own_hours_after_a_flight() -> None:
    # Tokyo (+9) to Kathmandu (+5:45) at 06:00 UTC: 15:00 in Tokyo, 11:45 in Kathmandu.
    flight = to_ms(datetime(2026, 11, 26, 6, tzinfo=UTC))
    tokyo = ZoneRun(to_ms(datetime(2026, 11, 25, 15, tzinfo=UTC)), flight, "Asia/Tokyo")
    ktm = ZoneRun(flight, to_ms(datetime(2026, 11, 26, 18, 15, tzinfo=UTC)), "Asia/Kathmandu")
    tl = timeline([], [tokyo, ktm])
    labels = [t.label for t in tl.ticks]
    assert labels == [f"{h:02d}" for h in [*range(15), *range(12, 24)]]
    # 12:00 in Kathmandu is 15 minutes after the flight, not an hour.
    assert tl.ticks[15].x == round(100 * (15 * H + H // 4) / (tl.end_ms - tl.start_ms), 4)


def test_title_totals_of_a_day_in_pieces_add_up() -> None:
    spans = [span(0, 10 * H, "Code", "a.py"), span(10 * H, 20 * H, "Code", "b.py", idle=True)]
    parts = [title_totals(spans, "Code", 0, 5 * H), title_totals(spans, "Code", 8 * H, 12 * H)]
    assert merge_title_totals(parts) == [
        TitleTotal("a.py", None, 7 * H, 0),
        TitleTotal("b.py", None, 0, 2 * H),
    ]


def test_only_web_urls_become_links() -> None:
    assert is_web_url("https://example.com/a")
    assert is_web_url("HTTP://example.com")
    for url in (None, "", "javascript:alert(1)", "data:text/html,hi", "file:///etc/passwd"):
        assert not is_web_url(url), url
