from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from officepulse.core.columns import day_columns, day_text, scale, short
from officepulse.core.reports import OTHER

H = 3_600_000
M = 60_000
WEEK = [date(2026, 11, 30) + timedelta(days=n) for n in range(7)]  # Monday to Sunday


def paint(label: str) -> str:
    return f"colour of {label}"


def test_columns_stack_the_periods_top_labels_and_the_rest_as_other() -> None:
    rows = [
        (WEEK[0], "Code", 3 * H),
        (WEEK[0], "Slack", H),
        (WEEK[0], "Zoom", 30 * M),
        (WEEK[1], "Code", 2 * H),
        (WEEK[1], "Firefox", 2 * H),
        (WEEK[1], "Code", H),  # rows of one day and label add up
        (WEEK[2], "Zoom", 15 * M),
    ]
    cols = day_columns(WEEK, rows, 2, paint, height=100)
    # Code (6 h) and Firefox (2 h) lead the week; Slack and Zoom are "other".
    assert cols.labels == ("Code", "Firefox", OTHER)
    assert cols.totals == {"Code": 6 * H, "Firefox": 2 * H, OTHER: H + 45 * M}
    monday, tuesday, wednesday = cols.columns[:3]
    assert [(p.label, p.ms) for p in monday.pieces] == [("Code", 3 * H), (OTHER, H + 30 * M)]
    assert [(p.label, p.ms) for p in tuesday.pieces] == [("Code", 3 * H), ("Firefox", 2 * H)]
    assert [(p.label, p.ms) for p in wednesday.pieces] == [(OTHER, 15 * M)]
    assert [c.total_ms for c in cols.columns] == [
        4 * H + 30 * M, 5 * H, 15 * M, 0, 0, 0, 0,
    ]  # fmt: skip
    assert monday.pieces[0].colour == "colour of Code"
    # The tallest day (5 h) on a scale of 2-hour steps up to 6 h: a 6 h column would fill it.
    assert (cols.scale_ms, [line.text for line in cols.lines]) == (
        6 * H,
        ["0", "2 h", "4 h", "6 h"],
    )
    assert [line.y for line in cols.lines] == [100.0, 66.67, 33.33, 0.0]
    # Pieces stand on one another, from the bottom up; a column's top is its total.
    code, firefox = tuesday.pieces
    assert code.y + code.height == 100.0
    assert firefox.y + firefox.height == code.y
    assert firefox.y == round(100 * (1 - 5 / 6), 2)
    # Columns are side by side across the width, weekends marked.
    assert [c.weekend for c in cols.columns] == [False] * 5 + [True] * 2
    assert cols.columns[0].x < cols.columns[1].x
    assert cols.columns[-1].x + cols.columns[-1].width < 100


def test_an_empty_period_still_has_its_days_and_a_scale() -> None:
    cols = day_columns(WEEK, [], 5, paint)
    assert [c.day for c in cols.columns] == WEEK
    assert all(c.pieces == () and c.total_ms == 0 for c in cols.columns)
    assert cols.labels == ()
    assert cols.scale_ms > 0


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=6),
            st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]),
            st.integers(min_value=0, max_value=30 * H),
        ),
        max_size=40,
    ),
    st.integers(min_value=1, max_value=6),
)
def test_each_column_adds_up_to_its_days_time_and_all_to_the_periods(
    raw: list[tuple[int, str, int]], top: int
) -> None:
    rows = [(WEEK[i], label, ms) for i, label, ms in raw]
    cols = day_columns(WEEK, rows, top, paint, height=160)
    for column in cols.columns:
        assert column.total_ms == sum(ms for d, _, ms in rows if d == column.day)
        assert sum(p.ms for p in column.pieces) == column.total_ms
        bottom = 160.0
        for piece in column.pieces:  # no gap, no overlap, never above the plot
            assert abs(piece.y + piece.height - bottom) < 0.011
            bottom = piece.y
        assert bottom >= 0
    assert sum(cols.totals.values()) == sum(ms for _, _, ms in rows)
    assert len(cols.labels) <= top + 1


def test_the_scale_takes_round_steps() -> None:
    assert scale(0) == (H, H)
    assert scale(1) == (M, M)
    assert scale(50 * M) == (15 * M, H)
    assert scale(5 * H) == (2 * H, 6 * H)
    assert scale(38 * H) == (12 * H, 48 * H)
    step, top = scale(300 * H)  # a team's week of days
    assert top >= 300 * H
    assert top // step <= 4
    assert [short(ms) for ms in (0, 15 * M, 2 * H, 90 * M)] == ["0", "15 min", "2 h", "1 h 30"]


def test_labels_under_the_columns_by_how_many_there_are() -> None:
    assert day_text(date(2026, 12, 7), 7) == ("Mon 7", True)
    assert day_text(date(2026, 12, 7), 30) == ("7", True)  # a Monday
    assert day_text(date(2026, 12, 8), 30) == ("8", False)
    assert day_text(date(2026, 12, 1), 90) == ("Dec", True)
    assert day_text(date(2026, 12, 2), 90) == ("", False)


def test_a_short_periods_columns_stand_in_the_middle_no_wider_than_a_weeks() -> None:
    week = day_columns(WEEK, [], 5, paint).columns
    one = day_columns(WEEK[:1], [(WEEK[0], "Code", H)], 5, paint).columns
    assert one[0].width == week[0].width
    assert abs(one[0].x + one[0].width / 2 - 50) < 1e-3
