"""Python's cyclic garbage collector, set for a server that holds many connections.

By default a young collection runs every 700 net allocations of container objects, and
now and then, once enough objects have lived through two of them, one walks every object
the process holds. An ingesting server makes a few such objects per message (futures,
events, spans); most are freed at once by reference counting, a few live a fraction of a
second. At 10,000 heartbeats/s over 1,000 agents it collected 40 times a second and every
3 s walked 150,000 objects or more (about 100 ms each, finding no garbage): a fifth of its
CPU, and a pause of every connection each time (docs/performance.md, "The gateway's own
cost").

With the young generation let grow to ``YOUNG_THRESHOLD`` objects first, what a message
makes is gone before the next collection, and walks of every object become rare. Cycles
are still collected; they only wait for more allocations to pile up (a few MB at most).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Collect the young generation every ``YOUNG_THRESHOLD`` net allocations (the older
    generations keep their thresholds, counted in young collections)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
