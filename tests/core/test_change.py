from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from officepulse.core.change import Previous, change, previous_days

H = 3_600_000
M = 60_000


def test_a_week_so_far_is_compared_with_the_same_weekdays_of_the_week_before() -> None:
    # Wednesday 2026-12-09: this week is Monday to Wednesday.
    got = previous_days("week", date(2026, 12, 7), date(2026, 12, 9))
    assert got == Previous(date(2026, 11, 30), date(2026, 12, 2), "the same days last week")
    whole = previous_days("week", date(2026, 12, 7), date(2026, 12, 13))
    assert whole == Previous(date(2026, 11, 30), date(2026, 12, 6), "last week")


def test_a_month_so_far_is_compared_with_the_same_dates_of_the_month_before() -> None:
    got = previous_days("month", date(2026, 12, 1), date(2026, 12, 7))
    assert got == Previous(date(2026, 11, 1), date(2026, 11, 7), "the same days last month")
    # A whole 30-day month after a 31-day one: the first 30 days of it.
    june = previous_days("month", date(2026, 6, 1), date(2026, 6, 30))
    assert june == Previous(date(2026, 5, 1), date(2026, 5, 30), "the same days last month")
    # Both whole and as long: the month before, named so.
    august = previous_days("month", date(2026, 8, 1), date(2026, 8, 31))
    assert august == Previous(date(2026, 7, 1), date(2026, 7, 31), "last month")
    # 31 days of March so far, February has 28: as many days just before instead.
    march = previous_days("month", date(2026, 3, 1), date(2026, 3, 31))
    assert march == Previous(date(2026, 1, 29), date(2026, 2, 28), "the previous 31 days")


def test_other_ranges_are_compared_with_as_many_days_just_before() -> None:
    assert previous_days("today", date(2026, 12, 7), date(2026, 12, 7)) == Previous(
        date(2026, 12, 6), date(2026, 12, 6), "yesterday"
    )
    assert previous_days("yesterday", date(2026, 12, 6), date(2026, 12, 6)) == Previous(
        date(2026, 12, 5), date(2026, 12, 5), "the day before"
    )
    assert previous_days("7d", date(2026, 12, 1), date(2026, 12, 7)) == Previous(
        date(2026, 11, 24), date(2026, 11, 30), "the previous 7 days"
    )
    assert previous_days("custom", date(2026, 1, 1), date(2026, 1, 3)) == Previous(
        date(2025, 12, 29), date(2025, 12, 31), "the previous 3 days"
    )


@given(
    st.sampled_from(["today", "yesterday", "week", "7d", "month", "30d", "custom"]),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    st.integers(min_value=0, max_value=60),
)
def test_the_previous_period_is_as_long_and_wholly_before(name: str, first: date, n: int) -> None:
    last = first + timedelta(days=n)
    got = previous_days(name, first, last)
    assert (got.last - got.first) == (last - first)
    assert got.last < first


def test_total_average_and_change_in_milliseconds_and_percent() -> None:
    days = {date(2026, 12, 1): 8 * H, date(2026, 12, 2): 6 * H, date(2026, 11, 30): 99 * H}
    before = previous_days("7d", date(2026, 12, 1), date(2026, 12, 7))
    got = change(days, date(2026, 12, 1), date(2026, 12, 7), before, 12 * H + 30 * M)
    assert got.total_ms == 14 * H  # the day before the period is not in it
    assert (got.days, got.active_days) == (7, 2)
    assert got.average_ms == 2 * H  # over every day of the period
    assert got.delta_ms == H + 30 * M
    assert got.percent == 12  # 1.5 / 12.5 = 12 %
    fewer = change(days, date(2026, 12, 1), date(2026, 12, 7), before, 16 * H)
    assert (fewer.delta_ms, fewer.percent) == (-2 * H, -13)  # -12.5 % rounds away from zero
    new = change(days, date(2026, 12, 1), date(2026, 12, 7), before, 0)
    assert (new.delta_ms, new.percent) == (14 * H, None)  # nothing before: no ratio
