"""What an agent tells of itself and its computer (its hello's run facts, its ``facts``
messages), as the rows store/agent_facts.py keeps for honest gaps (core/gaps.py). Pure:
the server's time is a parameter."""

from __future__ import annotations

import msgspec

from officepulse.core.plausible import instant_refusal
from officepulse.core.spans import iso_utc, to_ms
from officepulse.protocol.messages import Facts, Hello
from officepulse.store.agent_facts import Fact, RunDetail

_encode = msgspec.json.Encoder().encode


def run_of(hello: Hello, now_ms: int) -> Fact | None:
    """The run a hello tells of; None from agents that predate run facts (no ``started``)
    and for a start before 2000. A start more than 5 minutes ahead of the server's clock
    is taken as now: a clock set wrong is no reason to lose the run."""
    if hello.started is None:
        return None
    started_ms = to_ms(hello.started)
    if instant_refusal(started_ms, now_ms) is not None:
        if started_ms < now_ms:
            return None
        started_ms = now_ms
    asleep_ms = None if hello.asleep is None else round(hello.asleep * 1000)
    detail = RunDetail(
        version=hello.agent_version,
        boot_ms=None if hello.boot is None else to_ms(hello.boot),
        asleep_ms=asleep_ms,
        build=hello.build,
        journal_begun_ms=None if hello.journal_begun is None else to_ms(hello.journal_begun),
    )
    return Fact("run", started_ms, max(started_ms, now_ms), asleep_ms, _encode(detail).decode())


def facts_of(run: Fact | None, facts: Facts, now_ms: int) -> tuple[list[Fact], list[str]]:
    """The rows a ``facts`` message adds (its sleeps and jumps, and the run heard of now),
    and what was refused in it, in words (a sleep that ends before it starts)."""
    rows: list[Fact] = []
    refused: list[str] = []
    for sleep in facts.sleeps:
        start, end = to_ms(sleep.start), to_ms(sleep.end)
        said = f"sleep from {iso_utc(start)} to {iso_utc(end)}"
        if end < start:
            refused.append(f"{said} ends before it starts")
            continue
        implausible = instant_refusal(start, now_ms) or instant_refusal(end, now_ms)
        if implausible is not None:
            refused.append(f"{said} refused: {implausible}")
            continue
        rows.append(Fact("sleep", start, end))
    for jump in facts.clock_jumps:
        # Told at the clock's new time, which may be one no clock can read (reset to
        # 1970, set hours ahead): then it is dated when the server heard of it.
        at = to_ms(jump.at)
        if instant_refusal(at, now_ms) is not None:
            at = now_ms
        rows.append(Fact("clock", at, at, round(jump.by * 1000)))
    if run is not None:
        rows.append(heard(run, now_ms, round(facts.asleep * 1000)))
    return rows, refused


def heard(run: Fact, now_ms: int, asleep_ms: int | None = None) -> Fact:
    """The run, last heard of at ``now_ms`` (having slept ``asleep_ms`` since boot by then,
    when told)."""
    value = run.value if asleep_ms is None else asleep_ms
    return Fact("run", run.start_ms, max(run.end_ms, now_ms), value, run.detail)
