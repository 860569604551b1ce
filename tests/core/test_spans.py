"""The heartbeat merge rule, by example and by property."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from officepulse.core.spans import Merged, Span, Stale, continued, iso_utc, merge, to_ms
from officepulse.protocol.messages import Activity

CODE = Activity(app="Code", title="main.py")
CHROME = Activity(app="Google-chrome", title="YouTube")
PULSE = 25_000


def test_first_heartbeat_opens_a_span() -> None:
    result = merge(None, 1000, CODE, PULSE)
    assert isinstance(result, Merged)
    assert result.current == Span(1000, 1000, CODE)
    assert result.switched


def test_same_activity_within_pulsetime_extends() -> None:
    result = merge(Span(0, 10_000, CODE), 20_000, CODE, PULSE)
    assert isinstance(result, Merged)
    assert result.current == Span(0, 20_000, CODE)
    assert result.closed is None
    assert not result.switched


def test_a_switch_ends_the_span_exactly_where_the_next_begins() -> None:
    result = merge(Span(0, 10_000, CODE), 17_000, CHROME, PULSE)
    assert isinstance(result, Merged)
    assert result.closed == Span(0, 17_000, CODE)
    assert result.current == Span(17_000, 17_000, CHROME)


def test_a_late_idle_change_cuts_the_span_back_to_the_last_input() -> None:
    away = Activity(app="Code", title="main.py", idle=True)
    result = merge(Span(0, 200_000, CODE), 20_000, away, PULSE)
    assert isinstance(result, Merged)
    assert result.closed == Span(0, 20_000, CODE)
    assert result.current == Span(20_000, 20_000, away)


def test_a_gap_longer_than_pulsetime_starts_a_new_span_and_keeps_the_old() -> None:
    result = merge(Span(0, 10_000, CODE), 60_000, CODE, PULSE)
    assert isinstance(result, Merged)
    assert result.closed is None
    assert result.current == Span(60_000, 60_000, CODE)


def test_a_heartbeat_before_the_span_is_stale() -> None:
    assert isinstance(merge(Span(5_000, 10_000, CODE), 4_999, CODE, PULSE), Stale)


def test_a_replayed_heartbeat_changes_nothing() -> None:
    result = merge(Span(0, 10_000, CODE), 5_000, CODE, PULSE)
    assert isinstance(result, Merged)
    assert not result.changed


def test_a_switch_at_the_same_instant_replaces_the_empty_span() -> None:
    result = merge(Span(5_000, 5_000, CODE), 5_000, CHROME, PULSE)
    assert isinstance(result, Merged)
    assert result.closed is None
    assert result.current == Span(5_000, 5_000, CHROME)


def test_milliseconds_are_exact() -> None:
    ts = datetime(2026, 3, 29, 1, 59, 59, 999_000, tzinfo=timezone(timedelta(hours=1)))
    assert to_ms(ts) == int(datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC).timestamp()) * 1000 + 999
    assert iso_utc(to_ms(ts)) == "2026-03-29T00:59:59.999000Z"


@given(
    st.lists(
        st.tuples(st.integers(1, 20_000), st.sampled_from([CODE, CHROME])),
        min_size=1,
        max_size=80,
    )
)
def test_heartbeats_closer_than_pulsetime_cover_time_exactly_once(
    steps: list[tuple[int, Activity]],
) -> None:
    """Every millisecond between the first and the last heartbeat belongs to
    exactly one stored span, and to the activity that was reported for it."""
    spans: dict[int, Span] = {}
    current = None
    ts = 0
    first = None
    expected = {CODE: 0, CHROME: 0}
    previous: tuple[int, Activity] | None = None
    for gap, activity in steps:
        ts += gap
        if first is None:
            first = ts
        if previous is not None:
            expected[previous[1]] += ts - previous[0]
        previous = (ts, activity)
        result = merge(current, ts, activity, PULSE)
        assert isinstance(result, Merged)
        if result.closed is not None:
            spans[result.closed.start_ms] = result.closed
        spans[result.current.start_ms] = result.current
        current = result.current
    ordered = sorted(spans.values(), key=lambda s: s.start_ms)
    assert ordered[0].start_ms == first
    assert ordered[-1].end_ms == ts
    for a, b in itertools.pairwise(ordered):
        assert a.end_ms == b.start_ms
    totals = {CODE: 0, CHROME: 0}
    for span in ordered:
        totals[span.activity] += span.duration_ms
    assert totals == expected


@given(
    st.integers(0, 2**41),
    st.integers(0, 2**41),
    st.sampled_from([CODE, CHROME]),
    st.one_of(st.none(), st.sampled_from(["UTC", "Europe/Paris"])),
)
def test_a_span_extended_is_the_span_made_anew_and_as_frozen(
    start: int, end: int, activity: Activity, tz: str | None
) -> None:
    made = Span(start, start + 1, activity, tz).extended_to(end)
    assert made == Span(start, end, activity, tz)
    assert hash(made) == hash(Span(start, end, activity, tz))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.end_ms = end + 1  # type: ignore[misc]


@given(
    st.one_of(
        st.none(),
        st.builds(
            lambda start, length, activity, tz: Span(start, start + length, activity, tz),
            st.integers(0, 100_000),
            st.integers(0, 50_000),
            st.sampled_from([CODE, CHROME]),
            st.sampled_from([None, "UTC"]),
        ),
    ),
    st.data(),
    st.sampled_from([CODE, CHROME, Activity(app="Code", title="main.py")]),  # equal to CODE, not it
)
def test_a_heartbeat_that_continues_the_span_is_what_merge_makes_of_it(
    current: Span | None, data: st.DataObject, activity: Activity
) -> None:
    """``continued`` (ingest's fast path) answers for exactly the heartbeats that leave
    the span open with its start, and leaves what ``merge`` would."""
    # The edges of the rule are where a fast path goes wrong: drawn often.
    edges = (
        []
        if current is None
        else [
            current.start_ms - 1,
            current.start_ms,
            current.end_ms,
            current.end_ms + 1,
            current.end_ms + PULSE,
            current.end_ms + PULSE + 1,
        ]
    )
    ts = data.draw(st.one_of(st.integers(0, 200_000), *map(st.just, edges)))
    result = merge(current, ts, activity, PULSE)
    span = continued(current, ts, activity, PULSE)
    continues = (
        isinstance(result, Merged)
        and current is not None
        and result.closed is None
        and not result.switched
        and result.current.start_ms == current.start_ms
    )
    assert (span is not None) == continues
    if span is not None:
        assert isinstance(result, Merged)
        assert span == result.current
        assert span.tz == result.current.tz
        # Unchanged is the very span: the caller stores nothing.
        assert (span is current) == (not result.changed)
