"""What each part of a process counts, as plain numbers read at scrape time.

The parts count with plain ints on their hot paths (a heartbeat costs microseconds;
a prometheus-client ``Counter.inc`` takes a lock) and hand these snapshots to the
metrics' collector (ops/metrics.py) only when ``/metrics`` is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# A batch whose newest span ended this long before it arrived is back-fill (an agent
# sending what its journal kept while it was away), not live traffic...
BACKFILL_BEHIND_MS = 60_000
# ... and the agent counts as back-filling until this long after such a batch: back-fill
# sends batch after batch (agent/link.py, backfill_rate), live traffic a batch a span.
BACKFILL_QUIET_MS = 10_000


def backfilling(last_batch_ms: int, behind_ms: int, now_ms: int) -> bool:
    """Whether an agent whose last batch came at ``last_batch_ms``, its newest span
    ``behind_ms`` old then, is still back-filling at ``now_ms``."""
    return behind_ms > BACKFILL_BEHIND_MS and now_ms - last_batch_ms < BACKFILL_QUIET_MS


@dataclass(frozen=True, slots=True)
class GatewayCounts:
    """The agents' side of a process (gateway/gateway.py, gateway/ingest.py)."""

    agents_connected: int
    agents_backfilling: int
    commits_pending: int
    heartbeats: int
    spans_stored: int
    spans_refused: int
    # Agent connections the gateway refused or closed for a fault, by close code.
    refused: Mapping[int, int] = field(default_factory=dict)
    # Agent websockets admitted, by what served them ("picows", "aiohttp").
    transports: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PanelCounts:
    """The people's side of a process (panel/dashboards.py)."""

    dashboards_connected: int
    dashboards_refused: int


@dataclass(frozen=True, slots=True)
class BusCounts:
    """Messages through the bus (bus/counted.py)."""

    published: int
    delivered: int
    errors: int
