"""core/focus.py: "in a meeting" and "focused for …" from the categories in front, with
time a parameter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from officepulse.core.categories import DEFAULT_RULES, compile_rules
from officepulse.core.focus import (
    FocusRule,
    Run,
    advance,
    ended,
    focus,
    is_meeting,
    work_key,
)

MIN = 60_000
CODE = "Work > Programming"
DOCS = "Work > Docs"
RULE = FocusRule(least_ms=20 * MIN, break_ms=2 * MIN)


def runs_of(*changes: tuple[int, str | None]) -> tuple[Run, ...]:
    """Runs after each (minute, key) change in turn."""
    runs: tuple[Run, ...] = ()
    for minute, key in changes:
        runs = advance(runs, minute * MIN, key, RULE)
    return runs


def test_meetings_are_any_category_with_a_part_named_meetings() -> None:
    assert is_meeting("Comms > Meetings")
    assert is_meeting("Meetings")
    assert is_meeting("Work > meetings > Standup")
    assert not is_meeting("Comms > Chat")
    assert not is_meeting("Work > Meetingsroom booking")


def test_the_default_rules_put_meeting_apps_and_sites_in_meetings() -> None:
    rules = compile_rules(DEFAULT_RULES)
    for app, title, url in [
        ("zoom", "Zoom Meeting", None),
        ("Webex", "", None),
        ("firefox", "Meet - abc-defg-hij", "https://meet.google.com/abc-defg-hij"),
        ("Google-chrome", "Jitsi Meet", "https://meet.jit.si/office"),
        ("teams", "Meeting with Ann | Microsoft Teams", None),
        ("ms-teams", "Call with Bob | Microsoft Teams", None),
    ]:
        assert is_meeting(rules.categorize(app, title, url)), (app, title)
    # Teams' chat is chat, not a meeting.
    assert not is_meeting(rules.categorize("teams", "Chat | General | Microsoft Teams", None))


def test_work_categories_count_to_their_second_level() -> None:
    assert work_key("Work > Programming > Terminal") == CODE
    assert work_key(CODE) == CODE
    assert work_key("Work") == "Work"
    assert work_key("Comms > Meetings") is None
    assert work_key("Uncategorized") is None
    assert work_key("Workout") is None


def test_an_unbroken_stretch_counts_from_its_first_run() -> None:
    runs = runs_of((0, CODE), (30, CODE), (50, CODE))
    assert len(runs) == 1  # one category, one run
    found = focus(runs, RULE)
    assert found is not None
    assert (found.key, found.start_ms, found.shown_from_ms) == (CODE, 0, 20 * MIN)


def test_short_interruptions_do_not_break_it_a_long_one_does() -> None:
    # Slack for a minute, idle for 1.5 minutes: both shorter than the 2 minutes.
    short = runs_of((0, CODE), (30, None), (31, CODE), (40, None), (41.5, CODE))
    found = focus(short, RULE)
    assert found is not None
    assert found.start_ms == 0
    # Two short interruptions back to back are one interruption of 2 minutes: a break.
    long = runs_of((0, CODE), (30, None), (31, DOCS), (32, CODE))
    found = focus(long, RULE)
    assert found is not None
    assert found.start_ms == 32 * MIN


def test_another_work_category_is_an_interruption_too() -> None:
    runs = runs_of((0, CODE), (10, DOCS), (40, CODE))
    found = focus(runs, RULE)
    assert found is not None
    assert found.start_ms == 40 * MIN
    # Now in Docs: its own stretch, from 10 (the 30 minutes of it), not Code's.
    runs = runs_of((0, CODE), (10, DOCS), (40, CODE), (41, DOCS))
    found = focus(runs, RULE)
    assert found is not None
    assert (found.key, found.start_ms) == (DOCS, 10 * MIN)


def test_nothing_when_what_is_in_front_is_not_work() -> None:
    assert focus(runs_of((0, CODE), (50, None)), RULE) is None
    assert focus((), RULE) is None


def test_offline_time_is_unknown_and_breaks_it_when_long() -> None:
    runs = runs_of((0, CODE))
    runs = ended(runs, 30 * MIN)  # the agent went offline
    assert focus(runs, RULE) is None
    back = advance(runs, 31 * MIN, CODE, RULE)  # back a minute later: one stretch
    found = focus(back, RULE)
    assert found is not None
    assert found.start_ms == 0
    later = advance(runs, 40 * MIN, CODE, RULE)  # ten minutes later: a new one
    found = focus(later, RULE)
    assert found is not None
    assert found.start_ms == 40 * MIN
    assert later == (Run(40 * MIN, CODE),)  # and nothing before it is kept


def test_a_change_dated_back_replaces_what_was_said_since() -> None:
    # At 30 the agent says the person went idle at 25 (the last input).
    runs = runs_of((0, CODE), (28, None), (29, CODE), (25, None))
    assert runs == (Run(0, CODE, 25 * MIN), Run(25 * MIN, None))
    # The same change told again changes nothing.
    assert advance(runs, 25 * MIN, None, RULE) == runs


def test_runs_are_few_a_long_day_of_switching_keeps_only_what_can_matter() -> None:
    changes: list[tuple[int, str | None]] = []
    for minute in range(0, 600, 3):  # Code for 2 minutes, Slack for 1, all day
        changes += [(minute, CODE), (minute + 2, None)]
    changes += [(600, None), (605, CODE)]  # a 5-minute break, then Code again
    runs = runs_of(*changes)
    assert runs == (Run(605 * MIN, CODE),)


def test_runs_are_capped() -> None:
    rule = FocusRule(least_ms=20 * MIN, break_ms=2 * MIN, keep=10)
    runs: tuple[Run, ...] = ()
    for minute in range(100):
        runs = advance(runs, minute * MIN, CODE if minute % 2 else DOCS, rule)
    assert len(runs) == 10


@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.sampled_from([CODE, DOCS, None])),
        min_size=1,
        max_size=40,
    )
)
def test_runs_stay_in_order_and_the_stretch_is_within_them(
    steps: list[tuple[int, str | None]],
) -> None:
    runs: tuple[Run, ...] = ()
    at = 0
    for gap, key in steps:
        at += gap * 20_000
        runs = advance(runs, at, key, RULE)
        starts = [r.start_ms for r in runs]
        assert starts == sorted(starts)
        assert len(set(starts)) == len(starts)
        assert all(r.end_ms is not None for r in runs[:-1])
        assert runs[-1].end_ms is None
        found = focus(runs, RULE)
        if key is None:
            assert found is None
        else:
            assert found is not None
            assert found.key == key
            assert runs[0].start_ms <= found.start_ms <= runs[-1].start_ms
