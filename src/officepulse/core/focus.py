"""Status at a glance, pure (now is a parameter): "in a meeting" and "focused for 1 h
20 min", read from the categories (core/categories.py) of what a person has in front.

- **In a meeting**: the category in front has a part named "Meetings" (the default rules
  put Zoom, Webex, Jitsi, Google Meet, Teams meetings... in "Comms > Meetings"; an admin
  who moves them keeps the name, or the status goes with it).
- **A work category** is one under "Work", taken to its second level: "Work >
  Programming > Terminal" is "Work > Programming", so moving between an editor and a
  terminal is one stretch of programming; "Work" alone is itself.
- **Focused**: an unbroken stretch in one work category, up to now, of ``least_ms`` or
  more. Unbroken: every interruption (other categories, idle time, a pause, nothing
  shown, time not known) is shorter than ``break_ms``. The stretch counts from the
  start of its first run, its short interruptions included.

What is in front over time is kept as ``Run``s, each from a change to the next, with
the work category it was in (None: any other time). ``advance`` adds a change;
``focus`` reads the stretch. Runs are few: consecutive runs of one category are one,
and nothing before a break every category shares (a long non-work stretch, a long
unknown gap) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from officepulse.core.categories import SEPARATOR

MEETINGS = "meetings"
WORK = "Work"


def is_meeting(category: str) -> bool:
    """Whether time in ``category`` is a meeting ("Comms > Meetings", "Meetings")."""
    return any(part.casefold() == MEETINGS for part in category.split(SEPARATOR))


def work_key(category: str) -> str | None:
    """The work category ``category`` counts in for focus, or None when it is not work."""
    parts = category.split(SEPARATOR)
    if parts[0] != WORK:
        return None
    return SEPARATOR.join(parts[:2])


@dataclass(frozen=True, slots=True)
class FocusRule:
    least_ms: int = 20 * 60_000
    break_ms: int = 2 * 60_000
    # Runs kept at most: a stretch that alternates between two work categories for
    # hours drops its oldest runs first.
    keep: int = 200


FOCUS = FocusRule()


@dataclass(frozen=True, slots=True)
class Run:
    """From ``start_ms`` to ``end_ms`` (None: still going) in work category ``key``
    (None: any other time)."""

    start_ms: int
    key: str | None
    end_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Focus:
    """An unbroken stretch in work category ``key`` since ``start_ms``; ``shown_from_ms``
    is when it has lasted long enough to be called focus."""

    key: str
    start_ms: int
    shown_from_ms: int


def advance(
    runs: tuple[Run, ...], start_ms: int, key: str | None, rule: FocusRule = FOCUS
) -> tuple[Run, ...]:
    """``runs`` after a change: from ``start_ms`` on, the time is in ``key``. A change
    dated back (idle since the last input, minutes ago) replaces what was said of the
    time since; the same change told again changes nothing."""
    kept: list[Run] = []
    for run in runs:
        if run.start_ms >= start_ms:
            break
        end = start_ms if run.end_ms is None else min(run.end_ms, start_ms)
        kept.append(Run(run.start_ms, run.key, end))
    if kept and kept[-1].key == key and kept[-1].end_ms == start_ms:
        kept[-1] = Run(kept[-1].start_ms, key)
    else:
        kept.append(Run(start_ms, key))
    return _trim(kept, rule)


def _trim(runs: list[Run], rule: FocusRule) -> tuple[Run, ...]:
    # Before a break of every category (a long stretch of no work, or of nothing known)
    # no stretch can reach: drop it. Only closed runs: the last is still going.
    cut = 0
    for i in range(len(runs) - 1):
        run, after = runs[i], runs[i + 1]
        assert run.end_ms is not None
        long_other = run.key is None and run.end_ms - run.start_ms >= rule.break_ms
        long_unknown = after.start_ms - run.end_ms >= rule.break_ms
        if long_other or long_unknown:
            cut = i + 1
    return tuple(runs[max(cut, len(runs) - rule.keep) :])


def ended(runs: tuple[Run, ...], end_ms: int) -> tuple[Run, ...]:
    """``runs`` when what was in front stopped being known at ``end_ms`` (the agent went
    offline): the last run ends there."""
    if not runs or runs[-1].end_ms is not None:
        return runs
    last = runs[-1]
    return (*runs[:-1], Run(last.start_ms, last.key, max(last.start_ms, end_ms)))


def focus(runs: tuple[Run, ...], rule: FocusRule = FOCUS) -> Focus | None:
    """The unbroken stretch in the work category in front now, or None when what is in
    front now is not work (or nothing is known to be in front)."""
    if not runs or runs[-1].end_ms is not None or runs[-1].key is None:
        return None
    key = runs[-1].key
    start = runs[-1].start_ms
    for run in reversed(runs[:-1]):
        assert run.end_ms is not None
        if run.key == key:
            # Everything between this run's end and the stretch's start was something else.
            if start - run.end_ms >= rule.break_ms:
                break
            start = run.start_ms
        elif start - run.start_ms >= rule.break_ms:
            break
    return Focus(key, start, start + rule.least_ms)
