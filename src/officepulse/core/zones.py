"""An agent's time-zone history as runs: [start_ms, end_ms) spent in one IANA zone.

Pure interval logic; the stores keep the runs (``zone_runs``) in the same
transaction as the spans that paint them.

Runs are kept sorted, disjoint, and with no two neighbours in the same zone: a
span of zone Z *paints* its interval Z, splitting whatever run it lands in, and
then neighbours of one zone are joined, across a gap too (no span lies in a
gap, so which zone covers it does not matter, and joining keeps one run per
stay rather than one per working session). Painting in any order gives every
instant covered by a span the zone of the last span written over it, which is
why late and back-filled spans keep the history right.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@functools.lru_cache(maxsize=1024)
def known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone known here (cached: every span of a batch
    names one)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True, order=True)
class ZoneRun:
    start_ms: int
    end_ms: int
    tz: str


def paint(runs: Sequence[ZoneRun], start_ms: int, end_ms: int, tz: str) -> list[ZoneRun]:
    """``runs`` (sorted, disjoint) with [start_ms, end_ms) set to ``tz``."""
    if end_ms <= start_ms:
        return list(runs)
    if all(run.tz == tz for run in runs):
        # All of one zone (an agent that stays put: nearly every span written), so all
        # of it joins into one run, across gaps too: nothing to cut, sort or join.
        lo = runs[0].start_ms if runs and runs[0].start_ms < start_ms else start_ms
        hi = max(end_ms, runs[-1].end_ms) if runs else end_ms  # sorted, disjoint
        return [ZoneRun(lo, hi, tz)]
    pieces: list[ZoneRun] = [ZoneRun(start_ms, end_ms, tz)]
    for run in runs:
        if run.end_ms <= start_ms or run.start_ms >= end_ms:
            pieces.append(run)
            continue
        if run.start_ms < start_ms:
            pieces.append(ZoneRun(run.start_ms, start_ms, run.tz))
        if run.end_ms > end_ms:
            pieces.append(ZoneRun(end_ms, run.end_ms, run.tz))
    return join(sorted(pieces))


def paint_all(runs: Sequence[ZoneRun], marks: Iterable[tuple[int, int, str]]) -> list[ZoneRun]:
    """``runs`` with each (start_ms, end_ms, tz) painted in turn."""
    out = list(runs)
    for start_ms, end_ms, tz in marks:
        out = paint(out, start_ms, end_ms, tz)
    return out


def join(runs: Sequence[ZoneRun]) -> list[ZoneRun]:
    """Sorted, disjoint runs with neighbours of one zone joined (across gaps too)."""
    out: list[ZoneRun] = []
    for run in runs:
        if out and out[-1].tz == run.tz:
            out[-1] = ZoneRun(out[-1].start_ms, max(out[-1].end_ms, run.end_ms), run.tz)
        else:
            out.append(run)
    return out


def cover(runs: Sequence[ZoneRun], start_ms: int, end_ms: int, fallback: str) -> list[ZoneRun]:
    """[start_ms, end_ms) cut into zones: the runs where there are any, ``fallback``
    (the agent's current zone) between and around them. Spans written before zones
    were recorded, or by writers that do not know them, are counted in the fallback."""
    out: list[ZoneRun] = []
    cursor = start_ms
    for run in runs:
        lo, hi = max(run.start_ms, start_ms), min(run.end_ms, end_ms)
        if lo >= hi:
            continue
        if cursor < lo:
            out.append(ZoneRun(cursor, lo, fallback))
        out.append(ZoneRun(lo, hi, run.tz))
        cursor = hi
    if cursor < end_ms:
        out.append(ZoneRun(cursor, end_ms, fallback))
    return out


def repaint(
    near: Mapping[str, Sequence[ZoneRun]], marks: Mapping[str, Sequence[tuple[int, int, str]]]
) -> tuple[list[tuple[str, int]], list[tuple[str, int, int, str]]]:
    """A store's rows to change when ``marks`` (see ``marks_by_agent``) are painted on
    the agents' stored runs ``near`` them: (agent, start_ms) rows to delete first,
    then (agent, start_ms, end_ms, tz) rows to insert."""
    deletes: list[tuple[str, int]] = []
    inserts: list[tuple[str, int, int, str]] = []
    for agent_id, agent_marks in marks.items():
        old = near.get(agent_id, ())
        gone, added = changes(old, paint_all(old, agent_marks))
        deletes += [(agent_id, r.start_ms) for r in gone]
        inserts += [(agent_id, r.start_ms, r.end_ms, r.tz) for r in added]
    return deletes, inserts


def in_place(
    deletes: Sequence[tuple[str, int]], inserts: Sequence[tuple[str, int, int, str]]
) -> tuple[list[tuple[str, int]], list[tuple[str, int, int, str]], list[tuple[str, int, int, str]]]:
    """``repaint``'s rows as (deletes, updates, inserts): a run deleted and inserted again
    at the same (agent, start_ms) (a run that grew, the common case) is one update."""
    again = {(agent_id, start_ms) for agent_id, start_ms, _, _ in inserts}
    gone = set(deletes)
    return (
        [d for d in deletes if d not in again],
        [i for i in inserts if (i[0], i[1]) in gone],
        [i for i in inserts if (i[0], i[1]) not in gone],
    )


def hull(marks: Sequence[tuple[int, int, str]]) -> tuple[int, int]:
    """The smallest range holding every mark."""
    return min(m[0] for m in marks), max(m[1] for m in marks)


def changes(old: Sequence[ZoneRun], new: Sequence[ZoneRun]) -> tuple[list[ZoneRun], list[ZoneRun]]:
    """What a store does to turn rows ``old`` into ``new``: (rows to delete, rows to
    insert). Deletes go first: a new run may start where a deleted one did."""
    old_set, new_set = set(old), set(new)
    return [r for r in old if r not in new_set], [r for r in new if r not in old_set]


def marks_by_agent(
    rows: Iterable[tuple[str, int, int, str | None]],
) -> dict[str, list[tuple[int, int, str]]]:
    """(agent, start_ms, end_ms, tz) of written spans, per agent in write order; spans
    without a zone paint nothing."""
    out: dict[str, list[tuple[int, int, str]]] = {}
    for agent_id, start_ms, end_ms, tz in rows:
        if tz is not None and end_ms > start_ms:
            out.setdefault(agent_id, []).append((start_ms, end_ms, tz))
    return out


def by_agent(rows: Iterable[Sequence[object]]) -> dict[str, list[ZoneRun]]:
    """Store rows (agent_id, start_ms, end_ms, tz), in order, as runs per agent."""
    out: dict[str, list[ZoneRun]] = {}
    for agent_id, start_ms, end_ms, tz in rows:
        assert isinstance(start_ms, int)
        assert isinstance(end_ms, int)
        out.setdefault(str(agent_id), []).append(ZoneRun(start_ms, end_ms, str(tz)))
    return out


def zone_at(runs: Sequence[ZoneRun], ms: int, fallback: str) -> str:
    """The zone of the run holding instant ``ms`` (sorted, disjoint runs), else
    ``fallback``."""
    i = bisect.bisect_right([r.start_ms for r in runs], ms) - 1
    return runs[i].tz if i >= 0 and ms < runs[i].end_ms else fallback
