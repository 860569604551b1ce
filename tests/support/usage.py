"""Totals recomputed from stored spans: what every answer from the rollups must equal."""

from __future__ import annotations

from typing import Any


def usage_from_spans(
    stored: list[tuple[str, Any]], lo: int, hi: int
) -> dict[tuple[str, str], list[int]]:
    """{(agent, app): [active_ms, idle_ms]} recomputed from stored (agent, Span) pairs
    clipped to [lo, hi): what every answer from the rollups must equal."""
    expected: dict[tuple[str, str], list[int]] = {}
    for who, span in stored:
        ms = min(span.end_ms, hi) - max(span.start_ms, lo)
        if ms > 0:
            slot = expected.setdefault((who, span.activity.app), [0, 0])
            slot[1 if span.activity.idle else 0] += ms
    return expected
