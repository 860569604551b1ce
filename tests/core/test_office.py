"""core/office.py: the office's groups, initials and avatar colours, and time today
counted up to now, with time a parameter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from officepulse.core.office import (
    AWAY_AFTER_MS,
    GROUPS,
    Today,
    avatar,
    contrast,
    counting,
    initials,
    state_of,
)
from officepulse.core.palette import TOL_MUTED
from officepulse.protocol.messages import Activity

NOW = 1_800_000_000_000
CODE = Activity(app="Code", title="main.py")
IDLE = Activity(app="Code", title="main.py", idle=True)
PAUSED = Activity(app="paused", paused=True)
PRIVATE = Activity(app="private", private=True)


def test_each_presence_is_in_one_group() -> None:
    assert state_of(True, CODE, NOW - 3_600_000, NOW) == "active"
    assert state_of(True, PRIVATE, NOW, NOW) == "active"
    assert state_of(True, IDLE, NOW - 60_000, NOW) == "idle"
    assert state_of(True, PAUSED, NOW - 3_600_000, NOW) == "paused"
    assert state_of(True, None, NOW, NOW) == "unseen"
    assert state_of(False, CODE, NOW, NOW) == "offline"
    assert state_of(False, None, NOW, NOW) == "offline"


def test_idle_long_enough_is_away() -> None:
    since = NOW - AWAY_AFTER_MS
    assert state_of(True, IDLE, since + 1, NOW) == "idle"
    assert state_of(True, IDLE, since, NOW) == "away"
    assert GROUPS.index("away") > GROUPS.index("idle")


def test_initials() -> None:
    assert initials("Ann Smith") == "AS"
    assert initials("alice") == "A"
    assert initials("Mary Ann  Smith") == "MS"
    assert initials("Jean-Luc Picard") == "JP"
    assert initials("  ") == "?"
    assert initials("(( ))") == "?"
    assert initials("Émile zola") == "ÉZ"


def test_an_avatar_is_the_same_for_an_agent_and_readable_on_every_colour() -> None:
    one = avatar("demo-alice", "Alice")
    assert one == avatar("demo-alice", "Alice")
    assert one.background in TOL_MUTED
    for colour in TOL_MUTED:
        best = max(contrast(colour, "#000000"), contrast(colour, "#FFFFFF"))
        assert best >= 4.5, colour
    assert len({avatar(f"agent-{i}", "X").background for i in range(60)}) == len(TOL_MUTED)


def test_contrast_is_wcags() -> None:
    assert round(contrast("#000000", "#FFFFFF"), 1) == 21.0
    assert contrast("#777777", "#777777") == 1.0


def test_today_grows_while_counting_and_starts_again_with_the_next_day() -> None:
    today = Today(active_ms=3_600_000, at_ms=NOW, day_end_ms=NOW + 600_000)
    assert today.at(NOW, counting_since=NOW - 60_000) == 3_600_000
    assert today.at(NOW + 60_000, counting_since=NOW - 60_000) == 3_660_000
    assert today.at(NOW + 60_000, counting_since=None) == 3_600_000
    assert today.at(NOW + 660_000, counting_since=NOW) == 60_000  # a minute into tomorrow
    assert today.at(NOW + 660_000, counting_since=None) == 0


def test_today_counts_from_when_the_person_began_not_from_when_it_was_read() -> None:
    # Read at NOW while they were idle; back at work five minutes later.
    today = Today(active_ms=3_600_000, at_ms=NOW, day_end_ms=NOW + 10**9)
    assert today.at(NOW + 360_000, counting_since=NOW + 300_000) == 3_660_000


@given(st.integers(0, 10**8), st.integers(0, 10**8), st.one_of(st.none(), st.integers(0, 10**8)))
def test_today_never_goes_back_within_a_day(first: int, second: int, since: int | None) -> None:
    today = Today(active_ms=5, at_ms=NOW, day_end_ms=NOW + 10**9)
    a, b = sorted((first, second))
    going = None if since is None else NOW + since
    assert today.at(NOW + a, going) <= today.at(NOW + b, going)


def test_counting_is_the_time_in_progress_that_is_not_idle() -> None:
    assert counting(True, True, CODE)
    assert counting(True, True, PAUSED)  # the Time page counts paused time as its own app
    assert not counting(True, True, IDLE)
    assert not counting(True, False, CODE)  # a v1 agent: its heartbeats are stored
    assert not counting(False, True, CODE)
    assert not counting(True, True, None)
