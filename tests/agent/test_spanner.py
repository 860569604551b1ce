"""Spans at the source, by example and by property."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from officepulse.agent.spanner import Spanner
from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity

CODE = Activity(app="Code")
TUBE = Activity(app="Google-chrome")
AWAY = Activity(app="Code", idle=True)


def test_a_switch_closes_the_span_where_the_next_starts() -> None:
    s = Spanner(max_gap_ms=25_000)
    assert s.observe(0, CODE).switched
    assert s.observe(10_000, CODE).closed == ()
    seen = s.observe(14_500, TUBE)
    assert seen.closed == (Span(0, 14_500, CODE),)
    assert seen.switched
    assert s.open == Span(14_500, 14_500, TUBE)


def test_a_gap_ends_the_span_where_it_was_last_seen() -> None:
    s = Spanner(max_gap_ms=25_000)
    s.observe(0, CODE)
    s.observe(10_000, CODE)
    assert s.observe(3_600_000, CODE).closed == (Span(0, 10_000, CODE),)


def test_going_idle_at_the_last_input_cuts_the_open_span_back() -> None:
    s = Spanner(max_gap_ms=25_000)
    s.observe(0, CODE)
    for t in range(10_000, 190_001, 10_000):
        s.observe(t, CODE)
    seen = s.observe(10_000, AWAY)  # noticed at 190 s, last input at 10 s
    assert seen.closed == (Span(0, 10_000, CODE),)
    assert s.open == Span(10_000, 10_000, AWAY)


def test_long_spans_are_handed_on_in_chunks_that_leave_room_to_cut_back() -> None:
    s = Spanner(max_gap_ms=25_000, checkpoint_ms=60_000, hold_ms=200_000)
    chunks = []
    for t in range(0, 600_001, 10_000):
        chunks.extend(s.observe(t, CODE).closed)
    assert chunks[0] == Span(0, 60_000, CODE)
    assert all(a.end_ms == b.start_ms for a, b in itertools.pairwise(chunks))
    assert s.open is not None
    assert s.open.end_ms - s.open.start_ms >= 200_000


def test_stale_observations_change_nothing() -> None:
    s = Spanner(max_gap_ms=25_000)
    s.observe(10_000, CODE)
    s.observe(20_000, CODE)
    assert s.observe(5_000, TUBE) == s.observe(15_000, CODE)
    assert s.open == Span(10_000, 20_000, CODE)


@given(
    st.lists(
        st.tuples(st.integers(1, 20_000), st.sampled_from([CODE, TUBE, AWAY])),
        min_size=1,
        max_size=200,
    )
)
def test_every_moment_is_in_exactly_one_span(steps: list[tuple[int, Activity]]) -> None:
    s = Spanner(max_gap_ms=25_000, checkpoint_ms=30_000, hold_ms=40_000)
    spans: list[Span] = []
    expected: dict[Activity, int] = {}
    t = 0
    prev: tuple[int, Activity] | None = None
    for gap, activity in steps:
        t += gap
        if prev is not None:
            expected[prev[1]] = expected.get(prev[1], 0) + t - prev[0]
        prev = (t, activity)
        spans.extend(s.observe(t, activity).closed)
    spans.extend(s.close())
    got: dict[Activity, int] = {}
    for a, b in itertools.pairwise(spans):
        assert a.end_ms == b.start_ms
    for span in spans:
        got[span.activity] = got.get(span.activity, 0) + span.duration_ms
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}


def test_a_restart_after_a_clean_stop_counts_nothing_twice_and_loses_nothing() -> None:
    first = Spanner(max_gap_ms=25_000)
    spans = []
    timeline = [(t, CODE if t < 50_000 else TUBE) for t in range(0, 100_001, 10_000)]
    for t, a in timeline[:7]:  # stopped after the observation at 60 s
        spans.extend(first.observe(t, a).closed)
    spans.extend(first.close())
    again = Spanner(max_gap_ms=25_000, floor_ms=spans[-1].end_ms)
    for t, a in timeline:  # a replay starts over from the beginning
        spans.extend(again.observe(t, a).closed)
    spans.extend(again.close())
    assert spans == [Span(0, 50_000, CODE), Span(50_000, 60_000, TUBE), Span(60_000, 100_000, TUBE)]


def test_a_new_zone_closes_the_span_without_a_switch() -> None:
    s = Spanner(max_gap_ms=25_000)
    s.observe(0, CODE, "Europe/Berlin")
    s.observe(10_000, CODE, "Europe/Berlin")
    seen = s.observe(20_000, CODE, "Asia/Tokyo")
    assert seen.closed == (Span(0, 20_000, CODE, "Europe/Berlin"),)
    assert not seen.switched  # the same app is still in front: presence stays as it is
    assert s.open == Span(20_000, 20_000, CODE, "Asia/Tokyo")
    assert s.close() == ()
