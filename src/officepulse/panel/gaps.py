"""Honest gaps of one agent over a stretch of time (core/gaps.py), read from what it told
(store/agent_facts.py) and its spans: for the person's page and GET /api/v1/gaps, which
show the same to the person and to admins."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from officepulse.builds import build_hash
from officepulse.core.gaps import Gap, Jump, Run, Sleep, find_gaps
from officepulse.settings import ServerSettings
from officepulse.store.agent_facts import Fact, RunDetail
from officepulse.store.base import Store

# Spans read before the window, to find where the run before a gap last recorded.
LOOK_BACK_MS = 2 * 86_400_000
_detail = msgspec.json.Decoder(RunDetail).decode


def known_builds(settings: ServerSettings) -> frozenset[str]:
    """The server's own build and those its operator listed (``agent_builds``)."""
    own = build_hash()
    return frozenset([*(settings.agent_builds or ()), *([own] if own else [])])


def _run(fact: Fact) -> Run:
    try:
        detail = _detail(fact.detail)
    except msgspec.DecodeError:  # written by this module's writer only; never fails
        detail = RunDetail(version="unknown")
    return Run(
        started_ms=fact.start_ms,
        last_ms=fact.end_ms,
        boot_ms=detail.boot_ms,
        asleep_ms=detail.asleep_ms,
        asleep_last_ms=fact.value,
        build=detail.build,
        version=detail.version,
        journal_begun_ms=detail.journal_begun_ms,
    )


def split(facts: Iterable[Fact]) -> tuple[list[Run], list[Sleep], list[Jump]]:
    runs: dict[int, Run] = {}
    sleeps, jumps = [], []
    for fact in facts:
        if fact.kind == "run":
            runs[fact.start_ms] = _run(fact)
        elif fact.kind == "sleep":
            sleeps.append(Sleep(fact.start_ms, fact.end_ms))
        else:
            jumps.append(Jump(fact.start_ms, fact.value or 0))
    return sorted(runs.values(), key=lambda r: r.started_ms), sleeps, jumps


class Gaps:
    def __init__(self, store: Store, known: frozenset[str], shortest_ms: int) -> None:
        self.store = store
        self.known = known
        self.shortest_ms = shortest_ms

    async def between(self, agent_id: str, lo_ms: int, hi_ms: int) -> list[Gap]:
        """The agent's gaps that touch [lo_ms, hi_ms), clipped to it."""
        runs, sleeps, jumps = split(await self.store.facts(agent_id, lo_ms, hi_ms))
        first = min([lo_ms, *(r.started_ms for r in runs)])
        rows = await self.store.spans(max(first, lo_ms - LOOK_BACK_MS), hi_ms, agent_id)
        spans = [span for _, span in rows]
        return find_gaps(
            lo_ms, hi_ms, runs, sleeps, jumps, spans, self.known, shortest_ms=self.shortest_ms
        )
