"""Honest gaps: the stretches of a day an agent did not record, each with its reason, for
the person's page and the API (the same for the person and for admins).

What the agent told (docs/protocol.md, "Honest gaps"): each run of the agent process
(its start, the computer's boot, the seconds the computer had slept since boot, its build,
when its journal was begun, and when the server last heard of it), the sleeps and clock
jumps it saw while it ran; and its spans, some of them paused or private. From these:

- **not running**: between two runs on one boot, the time from the last thing the first
  run recorded to the second's start, less the time the computer slept in between (the
  growth of its suspended seconds); after a reboot, the time from the boot to the agent's
  start, less its sleeps. The first run an agent ever made has nothing before it to
  compare with: it is not marked.
- **journal gap**: a run whose journal was begun after the run before it was last heard
  of: the journal was begun anew, and what the old one had not sent is lost.
- **asleep**: the computer slept (the agent saw it wake).
- **clock jump**: the computer's clock was set forward or back.
- **paused**, **private**: runs of paused spans, and of spans the person's own privacy
  lists kept private (nothing of what was private is shown: it never left the computer).
- **unknown build**: a run whose build is not one the server knows (its own, or one its
  operator listed), or that told none.

Pure: the day, what was stored, the known builds and the shortest gap worth showing are
parameters.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from officepulse.core.spans import Span

GapKind = Literal[
    "not-running", "journal-gap", "asleep", "clock-jump", "paused", "private", "unknown-build"
]
GAP_KINDS: tuple[GapKind, ...] = (
    "not-running",
    "journal-gap",
    "asleep",
    "clock-jump",
    "paused",
    "private",
    "unknown-build",
)
# Two runs whose boot times differ by less than this were on one boot: a boot time is
# reckoned from the wall clock, which NTP moves a little.
BOOT_SLACK_MS = 120_000
# Paused or private spans less than this apart are one stretch.
JOIN_MS = 1_000
SHORT_BUILD = 12


@dataclass(frozen=True, slots=True)
class Run:
    """One run of the agent process, as its hello told (times in epoch ms)."""

    started_ms: int
    last_ms: int  # when the server last heard of it (a message, its disconnection)
    boot_ms: int | None
    asleep_ms: int | None  # suspended since boot, at its start
    asleep_last_ms: int | None  # suspended since boot, at last_ms
    build: str | None
    version: str
    journal_begun_ms: int | None


@dataclass(frozen=True, slots=True)
class Sleep:
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Jump:
    at_ms: int
    by_ms: int


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch (or, for a clock jump, an instant: start = end) and why it is marked."""

    kind: GapKind
    start_ms: int
    end_ms: int
    reason: str


def duration_words(ms: int) -> str:
    """``45 s``, ``20 min``, ``2 h``, ``2 h 5 min`` (``under a second``): rounded to what a
    reader needs."""
    seconds = round(abs(ms) / 1000)
    if seconds == 0:
        return "under a second"
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" if rest == 0 else f"{hours} h {rest} min"


def _known(build: str | None, known: frozenset[str]) -> bool:
    return build is not None and build in known


def _stretches(spans: Iterable[Span], want: Literal["paused", "private"]) -> list[Sleep]:
    out: list[Sleep] = []
    for span in sorted(spans, key=lambda s: s.start_ms):
        a = span.activity
        if not (a.paused if want == "paused" else a.private and not a.paused):
            continue
        if out and span.start_ms - out[-1].end_ms <= JOIN_MS:
            out[-1] = Sleep(out[-1].start_ms, max(out[-1].end_ms, span.end_ms))
        else:
            out.append(Sleep(span.start_ms, span.end_ms))
    return out


def _not_running(
    prev: Run, cur: Run, spans: Sequence[Span], shortest_ms: int
) -> tuple[list[Gap], int]:
    """Between two runs; also returns the last instant the earlier run is known to have
    run until."""
    evidence = max(
        [prev.last_ms] + [s.end_ms for s in spans if prev.started_ms <= s.end_ms <= cur.started_ms]
    )
    gaps: list[Gap] = []
    if cur.boot_ms is None or prev.boot_ms is None:
        if cur.started_ms - evidence >= shortest_ms:
            gaps.append(
                Gap(
                    "not-running",
                    evidence,
                    cur.started_ms,
                    "agent not running; whether the computer was on is not known (its "
                    "agent did not tell when it booted)",
                )
            )
        return gaps, evidence
    rebooted = abs(cur.boot_ms - prev.boot_ms) > BOOT_SLACK_MS
    start = max(cur.boot_ms, evidence) if rebooted else evidence
    slept_before = 0 if rebooted else (prev.asleep_last_ms or prev.asleep_ms or 0)
    slept = max(0, (cur.asleep_ms or 0) - slept_before)
    length = cur.started_ms - start
    if length - slept >= shortest_ms:
        on = duration_words(length - slept)
        why = f"agent not running while the computer was on ({on}"
        if rebooted:
            why += ", from when it started"
        if slept:
            why += f"; it slept {duration_words(slept)} of this stretch"
        gaps.append(Gap("not-running", start, cur.started_ms, why + ")"))
    return gaps, evidence


def find_gaps(
    lo_ms: int,
    hi_ms: int,
    runs: Sequence[Run],
    sleeps: Sequence[Sleep],
    jumps: Sequence[Jump],
    spans: Sequence[Span],
    known_builds: frozenset[str],
    shortest_ms: int = 60_000,
) -> list[Gap]:
    """The gaps that touch [lo_ms, hi_ms), clipped to it, in order of their start.
    ``runs`` should include the run before the first that starts in the window (the one
    it is compared with); ``shortest_ms``: not-running stretches shorter are not marked."""
    gaps: list[Gap] = []
    ordered = sorted(runs, key=lambda r: r.started_ms)
    for prev, cur in itertools.pairwise(ordered):
        found, evidence = _not_running(prev, cur, spans, shortest_ms)
        gaps += found
        begun = cur.journal_begun_ms
        # The earlier run's journal was begun before it was last heard of; one begun
        # after that was made by the later run: the old one is gone.
        if begun is not None and begun > evidence:
            gaps.append(
                Gap(
                    "journal-gap",
                    min(evidence, begun),
                    begun,
                    "journal gap: the agent's journal was begun anew; what it had recorded "
                    "but not sent before then is lost",
                )
            )
    for run in ordered:
        if not _known(run.build, known_builds):
            what = (
                f"unknown build {run.build[:SHORT_BUILD]}"
                if run.build is not None
                else "unknown build: the agent did not tell its build"
            )
            gaps.append(
                Gap(
                    "unknown-build",
                    run.started_ms,
                    max(run.started_ms, run.last_ms),
                    f"{what} (agent {run.version}): not a build this server knows",
                )
            )
    for sleep in sleeps:
        gaps.append(
            Gap(
                "asleep",
                sleep.start_ms,
                sleep.end_ms,
                f"the computer was asleep {duration_words(sleep.end_ms - sleep.start_ms)}",
            )
        )
    for jump in jumps:
        way = "forward" if jump.by_ms > 0 else "back"
        gaps.append(
            Gap(
                "clock-jump",
                jump.at_ms,
                jump.at_ms,
                f"clock jumped {duration_words(jump.by_ms)} {way}",
            )
        )
    for stretch in _stretches(spans, "paused"):
        length = duration_words(stretch.end_ms - stretch.start_ms)
        gaps.append(Gap("paused", stretch.start_ms, stretch.end_ms, f"paused {length}"))
    for stretch in _stretches(spans, "private"):
        length = duration_words(stretch.end_ms - stretch.start_ms)
        gaps.append(
            Gap(
                "private",
                stretch.start_ms,
                stretch.end_ms,
                f"private: {length} kept by their own lists",
            )
        )
    return sorted(
        (_clip(g, lo_ms, hi_ms) for g in gaps if _touches(g, lo_ms, hi_ms)),
        key=lambda g: (g.start_ms, GAP_KINDS.index(g.kind)),
    )


def _touches(gap: Gap, lo_ms: int, hi_ms: int) -> bool:
    if gap.start_ms == gap.end_ms:
        return lo_ms <= gap.start_ms < hi_ms
    return gap.start_ms < hi_ms and gap.end_ms > lo_ms


def _clip(gap: Gap, lo_ms: int, hi_ms: int) -> Gap:
    if gap.start_ms >= lo_ms and gap.end_ms <= hi_ms:
        return gap
    return Gap(gap.kind, max(gap.start_ms, lo_ms), min(gap.end_ms, hi_ms), gap.reason)
