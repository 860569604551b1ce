"""Honest gaps, the pure core: what is marked between runs, for a reboot, a sleep, a new
journal, an unknown build, paused and private time, and a clock jump; clipped to the day."""

from __future__ import annotations

from officepulse.core.gaps import Gap, Jump, Run, Sleep, duration_words, find_gaps
from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity

MIN = 60_000
H = 60 * MIN
DAY = 24 * H
T0 = 1_796_000_000_000 - 1_796_000_000_000 % DAY  # a midnight, UTC
BOOT = T0 + 8 * H
OWN = "a" * 64
KNOWN = frozenset({OWN})
EDITOR = Activity(app="Code")


def run(started: int, last: int, **kw: object) -> Run:
    fields: dict[str, object] = {
        "boot_ms": BOOT,
        "asleep_ms": 0,
        "asleep_last_ms": 0,
        "build": OWN,
        "version": "0.1.0",
        "journal_begun_ms": T0,
    }
    fields.update(kw)
    return Run(started_ms=started, last_ms=last, **fields)  # type: ignore[arg-type]


def at(hours: float) -> int:
    return T0 + round(hours * H)


def gaps(runs: list[Run], spans: list[Span] = (), **kw: object) -> list[Gap]:  # type: ignore[assignment]
    args: dict[str, object] = {"sleeps": [], "jumps": [], "known_builds": KNOWN}
    args.update(kw)
    return find_gaps(T0, T0 + DAY, runs, spans=spans, **args)  # type: ignore[arg-type]


def test_agent_stopped_on_one_boot_is_marked_from_its_last_span_to_its_restart() -> None:
    first = run(at(9), at(9.1))  # its connection ended at 9:06 ...
    spans = [Span(at(9), at(9.2), EDITOR)]  # ... but its journal held spans to 9:12
    second = run(at(9.4), at(12), asleep_ms=0)
    (gap,) = gaps([first, second], spans)
    assert (gap.kind, gap.start_ms, gap.end_ms) == ("not-running", at(9.2), at(9.4))
    assert gap.reason == "agent not running while the computer was on (12 min)"


def test_the_time_the_computer_slept_meanwhile_is_not_counted_as_on() -> None:
    first = run(at(9), at(10), asleep_last_ms=5 * MIN)
    second = run(at(11), at(12), asleep_ms=5 * MIN + 40 * MIN)
    (gap,) = gaps([first, second])
    assert gap.reason == (
        "agent not running while the computer was on (20 min; it slept 40 min of this stretch)"
    )


def test_a_stretch_spent_asleep_or_shorter_than_the_minimum_is_not_marked() -> None:
    first = run(at(9), at(10))
    asleep = run(at(11), at(12), asleep_ms=H - 30_000)
    assert gaps([first, asleep]) == []
    assert gaps([run(at(9), at(10)), run(at(10) + 59_000, at(12))]) == []
    assert len(gaps([run(at(9), at(10)), run(at(10) + 59_000, at(12))], shortest_ms=1000)) == 1


def test_after_a_reboot_the_stretch_runs_from_the_boot_to_the_agents_start() -> None:
    first = run(at(9), at(10))
    second = run(at(13.5), at(15), boot_ms=at(13), asleep_ms=0)
    (gap,) = gaps([first, second])
    assert (gap.start_ms, gap.end_ms) == (at(13), at(13.5))
    assert (
        gap.reason == "agent not running while the computer was on (30 min, from when it started)"
    )


def test_the_first_run_is_compared_with_nothing() -> None:
    assert gaps([run(at(9), at(10), boot_ms=at(1))]) == []


def test_a_journal_begun_anew_is_a_journal_gap() -> None:
    first = run(at(9), at(10))
    second = run(at(10) + 10_000, at(12), journal_begun_ms=at(10) + 5_000)
    (gap,) = gaps([first, second])
    assert gap.kind == "journal-gap"
    assert (gap.start_ms, gap.end_ms) == (at(10), at(10) + 5_000)
    assert "journal was begun anew" in gap.reason


def test_an_unknown_or_untold_build_is_flagged_with_its_short_hash() -> None:
    stranger = run(at(9), at(10), build="b" * 64, version="0.0.9")
    untold = run(at(11), at(11) + 30_000, build=None, boot_ms=at(11) - 10_000)
    found = gaps([stranger, untold])
    assert [g.kind for g in found] == ["unknown-build", "unknown-build"]
    assert (
        found[0].reason == "unknown build bbbbbbbbbbbb (agent 0.0.9): not a build this server knows"
    )
    assert (found[0].start_ms, found[0].end_ms) == (at(9), at(10))
    assert "did not tell its build" in found[1].reason


def test_paused_and_private_runs_are_told_by_their_length_only() -> None:
    spans = [
        Span(at(9), at(9.1), Activity(app="paused", paused=True)),
        Span(at(9.1), at(9) + 20 * MIN, Activity(app="paused", paused=True)),
        Span(at(9) + 20 * MIN, at(10), EDITOR),
        Span(at(10), at(10) + 35 * MIN, Activity(app="private", private=True)),
    ]
    found = gaps([], spans)
    assert [(g.kind, g.reason) for g in found] == [
        ("paused", "paused 20 min"),
        ("private", "private: 35 min kept by their own lists"),
    ]


def test_sleeps_and_clock_jumps_are_told() -> None:
    found = gaps(
        [],
        sleeps=[Sleep(at(12), at(13))],
        jumps=[Jump(at(14), 2 * H), Jump(at(15), -90_000)],
    )
    assert [(g.kind, g.reason) for g in found] == [
        ("asleep", "the computer was asleep 1 h"),
        ("clock-jump", "clock jumped 2 h forward"),
        ("clock-jump", "clock jumped 2 min back"),
    ]
    assert found[1].start_ms == found[1].end_ms == at(14)


def test_gaps_are_clipped_to_the_day_and_others_left_out() -> None:
    first = run(at(-3), at(-2), boot_ms=at(-4))
    second = run(at(1), at(2), boot_ms=at(-4))
    found = gaps([first, second], jumps=[Jump(at(-1), H), Jump(at(25), H)])
    assert [(g.kind, g.start_ms, g.end_ms) for g in found] == [("not-running", T0, at(1))]


def test_an_agent_that_did_not_tell_its_boot_is_marked_without_saying_the_computer_was_on() -> None:
    (gap,) = gaps([run(at(9), at(10), boot_ms=None), run(at(11), at(12), boot_ms=None)])
    assert "whether the computer was on is not known" in gap.reason


def test_durations_read_as_people_say_them() -> None:
    spoken = [duration_words(ms) for ms in (400, 4_000, 20 * MIN, 2 * H, 2 * H + 5 * MIN, -3 * H)]
    assert spoken == [
        "under a second",
        "4 s",
        "20 min",
        "2 h",
        "2 h 5 min",
        "3 h",
    ]


def test_a_journal_kept_from_the_run_before_is_no_gap() -> None:
    first = run(at(9), at(10), journal_begun_ms=at(9) + 300)  # made just after it started
    second = run(at(10) + 30_000, at(12), journal_begun_ms=at(9) + 300)
    assert gaps([first, second]) == []
