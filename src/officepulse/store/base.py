"""The Store seam: where agents and their spans are kept.

Writes are queued and coalesced (many heartbeats that extend one span become
one row update); reads see every write queued before them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from officepulse.store.accounts import Accounts
from officepulse.store.agent_facts import AgentFacts
from officepulse.store.agents import AgentRecords
from officepulse.store.app_names import AppNames
from officepulse.store.categorising import CategoryJobs, UncategorizedUrls
from officepulse.store.enrollment import Enrollment
from officepulse.store.moment import Written
from officepulse.store.records import GROUP_KEYS as GROUP_KEYS
from officepulse.store.records import AgentEvent as AgentEvent
from officepulse.store.records import AgentEventKind as AgentEventKind
from officepulse.store.records import AgentInfo as AgentInfo
from officepulse.store.records import AgentStatus as AgentStatus
from officepulse.store.records import Blocked as Blocked
from officepulse.store.records import Credential as Credential
from officepulse.store.records import EnrollmentToken as EnrollmentToken
from officepulse.store.records import GroupKey as GroupKey
from officepulse.store.records import UsageRow as UsageRow
from officepulse.store.records import enroll_refusal as enroll_refusal
from officepulse.store.spans import CategoryStore, Pruning, SpanWrites, UsageReads

_K = TypeVar("_K")

# Rollups: milliseconds of active and of idle time per (agent, app, category) in minute,
# hour, (UTC) day and week buckets, a bucket named by the UTC epoch milliseconds of its
# start (weeks count from the epoch's, a Thursday 00:00 UTC); and the same summed over
# every agent (team rollups: per (app, category)), which answer usage() not grouped by
# agent without reading a row per agent. Both stores keep them in the same transaction as
# the spans they sum (see rollup_delta, team_delta) and answer usage() from them.
#
# A rollup row is (size, bucket, key id, active ms, idle ms): the (agent, app, category)
# it counts is a row of the key dictionary (``rollup_keys``), so that totals by agent
# over a month read about a row per key and week, a few integers each, and group by
# one integer (schema 11; before it, a row per key, idle flag and bucket, keyed by text,
# and no weeks: 375,000 rows to sort for 1,000 agents × 30 days). A key's id never
# changes while its row exists and is never given again (``KeyIds``).
#
# A span's whole hours (from its first whole hour to the end of its last) are not cut
# into buckets: they are one *run* row (key, start, end, active and idle counts; see
# run_delta), which every answer from the rollups adds by arithmetic (its overlap with
# the range asked, times the count). So a span costs at most two partial hours of buckets
# (a minute row each, an hour, a day and a week row) and one run, whatever its length: a
# year-long span is as cheap to store, extend or re-categorise as an hour-long one.
# Rollups written before runs existed (schema < 10) have every bucket of every span; both
# forms add up to the same answers, so a run's count may be < 0 where such a span was
# rewritten since.
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
BUCKET_SIZES: tuple[int, ...] = (MINUTE_MS, HOUR_MS, DAY_MS, WEEK_MS)
# What a rollup_keys row names: (agent_id, app, category).
RollupKey = tuple[str, str, str]
# A rollup row of one size: (agent_id, app, category, bucket_ms) -> [active ms, idle ms]
BucketKey = tuple[str, str, str, int]
# A team row of one size: (app, category, bucket_ms) -> [active ms, idle ms], every agent's
TeamKey = tuple[str, str, int]
# What a span row contributes to rollups: (agent_id, start_ms, end_ms, app, category, idle).
Contribution = tuple[str, int, int, str, str, bool]
# A run: (agent_id, start_ms, end_ms, app, category) -> [active count, idle count], both
# ends on whole hours.
RunKey = tuple[str, int, int, str, str]
# Spans re-categorised per transaction by a job's batch (store/categorising.py), unless
# asked otherwise: ingest waits at most one batch.
RECATEGORIZE_CHUNK = 1_000
# How often the stores write what is queued (save_span, save_agent) when nothing else
# makes them: commits are written at once, and every read writes what is queued first.
# A span that heartbeats extend is written once per interval with its net change, so the
# longer the interval, the fewer times each span, rollup and zone run is rewritten; the
# price is what a crash loses of heartbeats' time (never a committed batch).
FLUSH_INTERVAL = 1.0
# How often the SQLite store folds into the rollups what heartbeats' writes changed (an
# open span grows at every write; committed batches are folded as they are written). The
# rows not folded yet are counted by every read (store/sqlite.py, ``_raw_usage``), and the
# update trigger keeps them to about two per span changed since the last fold, so reads
# stay exact and cheap; the longer the interval, the fewer times a growing span's
# rollups are rewritten (ten times a second's heartbeats, folded once in ten seconds).
FOLD_INTERVAL = 10.0


def split(start_ms: int, end_ms: int, size: int) -> Iterator[tuple[int, int]]:
    """[start_ms, end_ms) cut at multiples of ``size``: (bucket start, milliseconds)."""
    if end_ms <= start_ms:
        return
    bucket = start_ms - start_ms % size  # Python's % floors, so this holds before 1970 too
    while bucket < end_ms:
        yield bucket, min(end_ms, bucket + size) - max(start_ms, bucket)
        bucket += size


def whole_hours(start_ms: int, end_ms: int) -> tuple[int, int] | None:
    """The whole hours inside [start_ms, end_ms), from the first to the end of the last
    (a span's run), or None when it holds no whole hour."""
    lo, hi = _ceil(start_ms, HOUR_MS), _floor(end_ms, HOUR_MS)
    return (lo, hi) if lo < hi else None


def bucketed(start_ms: int, end_ms: int) -> tuple[tuple[int, int], ...]:
    """The parts of [start_ms, end_ms) that go into buckets: all of it when it holds no
    whole hour (then it lies within two hours), else the edges around its whole hours
    (each within one hour). Never more than two hours' worth of minutes."""
    run = whole_hours(start_ms, end_ms)
    if run is None:
        return ((start_ms, end_ms),) if start_ms < end_ms else ()
    return tuple(r for r in ((start_ms, run[0]), (run[1], end_ms)) if r[0] < r[1])


def _nonzero(table: dict[_K, list[int]]) -> dict[_K, list[int]]:
    return {k: v for k, v in table.items() if v[0] or v[1]}


def rollup_delta(
    old: Iterable[Contribution], new: Iterable[Contribution]
) -> dict[int, dict[BucketKey, list[int]]]:
    """What to add to each size's rollup rows when the rows ``old`` are replaced by
    ``new``: per (agent, app, category, bucket), [active ms, idle ms], the old rows' time
    taken away and the new rows' added, except their whole hours (``run_delta``). Keys
    whose change adds up to zero (a span rewritten as it was) are left out."""
    delta: dict[int, dict[BucketKey, list[int]]] = {size: {} for size in BUCKET_SIZES}
    tables = tuple(delta.items())

    def add(
        agent_id: str, app: str, category: str, column: int, lo: int, hi: int, sign: int
    ) -> None:
        for size, table in tables:
            bucket = lo - lo % size  # Python's % floors, so this holds before 1970 too
            while bucket < hi:
                top = bucket + size
                key = (agent_id, app, category, bucket)
                pair = table.get(key)
                if pair is None:
                    pair = table[key] = [0, 0]
                pair[column] += sign * ((hi if hi < top else top) - (lo if lo > bucket else bucket))
                bucket = top

    old_rest, new_rest, moved = moved_ends(old, new)
    for agent_id, app, category, idle, lo, hi, sign in moved:
        add(agent_id, app, category, 1 if idle else 0, lo, hi, sign)
    for rows, sign in ((old_rest, -1), (new_rest, 1)):
        for agent_id, start_ms, end_ms, app, category, idle in rows:
            for lo, hi in bucketed(start_ms, end_ms):
                add(agent_id, app, category, 1 if idle else 0, lo, hi, sign)
    return {size: _nonzero(table) for size, table in delta.items()}


# A row whose end alone moved: (agent_id, app, category, idle, lo, hi, sign), the stretch
# [lo, hi) it gained (sign 1) or lost (-1).
Moved = tuple[str, str, str, bool, int, int, int]


def moved_ends(
    old: Iterable[Contribution], new: Iterable[Contribution]
) -> tuple[list[Contribution], list[Contribution], list[Moved]]:
    """``old`` and ``new`` rows paired where a row was rewritten with only its end moved
    and the same whole hours (a span that heartbeats extend: nearly every row a second's
    write holds). Such a pair changes the buckets by the stretch between its two ends
    alone, which is all ``rollup_delta`` then cuts, instead of both rows whole (the rest
    of the two rows cancels out). Returns the rows left unpaired, old and new, and the
    moved stretches (none for a row rewritten as it was)."""
    ends: dict[tuple[str, int, str, str, bool], list[int]] = {}
    for agent_id, start_ms, end_ms, app, category, idle in old:
        ends.setdefault((agent_id, start_ms, app, category, idle), []).append(end_ms)
    new_rest: list[Contribution] = []
    moved: list[Moved] = []
    for row in new:
        agent_id, start_ms, end_ms, app, category, idle = row
        was = ends.get((agent_id, start_ms, app, category, idle))
        if (
            was
            and start_ms <= end_ms
            and start_ms <= was[-1]
            and whole_hours(start_ms, was[-1]) == whole_hours(start_ms, end_ms)
        ):
            old_end = was.pop()
            if end_ms > old_end:
                moved.append((agent_id, app, category, idle, old_end, end_ms, 1))
            elif end_ms < old_end:
                moved.append((agent_id, app, category, idle, end_ms, old_end, -1))
        else:
            new_rest.append(row)
    old_rest = [
        (agent_id, start_ms, end_ms, app, category, idle)
        for (agent_id, start_ms, app, category, idle), left in ends.items()
        for end_ms in left
    ]
    return old_rest, new_rest, moved


def run_delta(old: Iterable[Contribution], new: Iterable[Contribution]) -> dict[RunKey, list[int]]:
    """What to add to the runs' [active, idle] counts when the rows ``old`` are replaced
    by ``new``: the rest of ``rollup_delta``'s answer. Zeros (a run kept as it was) are
    left out."""
    delta: dict[RunKey, list[int]] = {}
    for rows, sign in ((old, -1), (new, 1)):
        for agent_id, start_ms, end_ms, app, category, idle in rows:
            run = whole_hours(start_ms, end_ms)
            if run is not None:
                pair = delta.setdefault((agent_id, run[0], run[1], app, category), [0, 0])
                pair[1 if idle else 0] += sign
    return _nonzero(delta)


def team_delta(
    delta: dict[int, dict[BucketKey, list[int]]],
) -> dict[int, dict[TeamKey, list[int]]]:
    """The team rollups' share of a ``rollup_delta``: summed over agents, zeros left out."""
    team: dict[int, dict[TeamKey, list[int]]] = {}
    for size, table in delta.items():
        out: dict[TeamKey, list[int]] = {}
        for (_, app, category, bucket), (active, idle) in table.items():
            pair = out.setdefault((app, category, bucket), [0, 0])
            pair[0] += active
            pair[1] += idle
        team[size] = _nonzero(out)
    return team


def keys_of(
    delta: dict[int, dict[BucketKey, list[int]]], runs: dict[RunKey, list[int]]
) -> set[RollupKey]:
    """Every (agent, app, category) a rollup delta and a run delta write."""
    keys = {key[:3] for table in delta.values() for key in table}
    keys.update((agent_id, app, category) for agent_id, _, _, app, category in runs)
    return keys


def shrank(pair: Sequence[int]) -> bool:
    """Whether a row that had this added may have come to nothing (then it is deleted)."""
    return pair[0] < 0 or pair[1] < 0


class KeyIds:
    """The ids of the rollup keys (agent, app, category) a writer has used, kept from one
    write to the next so that writing a rollup row costs no look-up of its key.

    An id never changes while its key's row exists and is never given again (SQLite's
    AUTOINCREMENT, PostgreSQL's identity). Keys are deleted only when an agent is erased,
    and that transaction raises the dictionary's version (``rollup_keys_version``): each
    write reads it, after taking whatever serialises it with an erasure of the agents it
    writes (SQLite's one writer; PostgreSQL's per-agent locks), and asks ``known`` for the
    ids that hold at that version. At most ``limit`` ids are kept (then all are
    forgotten)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._ids: dict[RollupKey, int] = {}
        self._version = -1

    def forget(self) -> None:
        """A write transaction failed: ids it added to the dictionary were rolled back
        (and SQLite may give them again), so none kept is trusted any more. Called before
        the transaction's locks are released."""
        self._ids, self._version = {}, -1

    def known(self, version: int) -> dict[RollupKey, int]:
        """The ids known at ``version`` (read in the writing transaction). The caller adds
        what it looks up to this dict and keeps using it to the end of its transaction,
        even if a write that began later has moved on to a newer version meanwhile (a
        PostgreSQL store's writes interleave on its event loop)."""
        if version < self._version:
            return {}  # a transaction older than the ids kept: it looks its own up
        if version > self._version or len(self._ids) > self.limit:
            self._ids, self._version = {}, version
        return self._ids


def missing_keys(ids: dict[RollupKey, int], wanted: Iterable[RollupKey]) -> list[RollupKey]:
    """The keys among ``wanted`` without an id in ``ids``, in a stable order."""
    return sorted(k for k in wanted if k not in ids)


def learn_keys(ids: dict[RollupKey, int], rows: Iterable[Sequence[object]]) -> None:
    """Add rows of (id, agent_id, app, category) read from the dictionary to ``ids``."""
    for id_, agent_id, app, category in rows:
        assert isinstance(id_, int)
        ids[(str(agent_id), str(app), str(category))] = id_


@dataclass(frozen=True, slots=True)
class UsagePlan:
    """[start_ms, end_ms) cut into what each source answers exactly: whole weeks from the
    week rollups, whole UTC days from the day rollups, whole hours from the hour rollups,
    whole minutes from the minute rollups, the rest (under a minute at each edge) from raw
    spans."""

    raw: tuple[tuple[int, int], ...]
    minutes: tuple[tuple[int, int], ...]
    hours: tuple[tuple[int, int], ...]
    days: tuple[tuple[int, int], ...] = ()
    weeks: tuple[tuple[int, int], ...] = ()

    def by_size(self) -> tuple[tuple[int, tuple[tuple[int, int], ...]], ...]:
        """The rollup parts: (bucket size, ranges)."""
        return (
            (MINUTE_MS, self.minutes),
            (HOUR_MS, self.hours),
            (DAY_MS, self.days),
            (WEEK_MS, self.weeks),
        )

    def rolled(self) -> tuple[int, int] | None:
        """The one range the rollup parts tile (they meet end to end), over which the
        runs are added; None when every part is raw."""
        parts = [*self.minutes, *self.hours, *self.days, *self.weeks]
        if not parts:
            return None
        return min(lo for lo, _ in parts), max(hi for _, hi in parts)


def _ceil(ms: int, size: int) -> int:
    return -(-ms // size) * size


def _floor(ms: int, size: int) -> int:
    return ms // size * size


def _edges(lo: int, inner_lo: int, inner_hi: int, hi: int) -> tuple[tuple[int, int], ...]:
    """What [lo, hi) holds around [inner_lo, inner_hi), the empty parts left out."""
    return tuple(r for r in ((lo, inner_lo), (inner_hi, hi)) if r[0] < r[1])


def usage_plan(start_ms: int, end_ms: int) -> UsagePlan:
    if end_ms <= start_ms:
        return UsagePlan((), (), ())
    m0, m1 = _ceil(start_ms, MINUTE_MS), _floor(end_ms, MINUTE_MS)
    if m0 > m1:  # within one minute
        return UsagePlan(((start_ms, end_ms),), (), ())
    if m0 == m1:  # across one minute boundary, no whole minute inside
        return UsagePlan(_edges(start_ms, m0, m0, end_ms), (), ())
    raw = _edges(start_ms, m0, m1, end_ms)
    h0, h1 = _ceil(m0, HOUR_MS), _floor(m1, HOUR_MS)
    if h0 >= h1:
        return UsagePlan(raw, ((m0, m1),), ())
    minutes = _edges(m0, h0, h1, m1)
    d0, d1 = _ceil(h0, DAY_MS), _floor(h1, DAY_MS)
    if d0 >= d1:
        return UsagePlan(raw, minutes, ((h0, h1),))
    hours = _edges(h0, d0, d1, h1)
    w0, w1 = _ceil(d0, WEEK_MS), _floor(d1, WEEK_MS)
    if w0 >= w1:
        return UsagePlan(raw, minutes, hours, ((d0, d1),))
    return UsagePlan(raw, minutes, hours, _edges(d0, w0, w1, d1), ((w0, w1),))


class Store(
    SpanWrites,
    UsageReads,
    CategoryStore,
    Pruning,
    AgentRecords,
    Enrollment,
    Accounts,
    AgentFacts,
    AppNames,
    CategoryJobs,
    UncategorizedUrls,
    Written,
    Protocol,
):
    """Everything a store keeps, as both stores implement it (store/sqlite.py,
    store/postgres.py). Callers depend on the narrow protocols they use (store/spans.py,
    store/agents.py, store/enrollment.py, store/accounts.py; the ActivityWatch tables'
    own in activitywatch/tables.py); only the wiring that opens a store and hands it on
    holds the whole of it."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def schema_version(self) -> tuple[int, int]:
        """(the database's schema version, the one this code writes), read from the
        database each time: /readyz (ops/health.py) is not ready while they differ."""
        ...


def check_group_by(group_by: Sequence[str]) -> None:
    for key in group_by:
        if key not in GROUP_KEYS:
            raise ValueError(f"cannot group by {key!r}; choose from {', '.join(GROUP_KEYS)}")


class KeyNames:
    """What each rollup key id names, as usage reads learn it: an id names one key for
    ever (ids are never given again), so what is kept never goes stale; a key deleted
    since (its agent erased) has no rows left to be asked about. Also each id's group in
    each grouping asked for (``usage_from``), kept as long as its name. At most ``limit``
    names are kept (then all are forgotten and read again as they are needed)."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self.names: dict[int, RollupKey] = {}
        # (positions of the grouped keys in (agent, app, category)) -> key id -> group
        self.groups: dict[tuple[int, ...], dict[int, tuple[Any, ...]]] = {}

    def missing(self, rows: Iterable[Sequence[Any]]) -> list[int]:
        """The key ids in ``rows`` (``usage_from``'s) not known yet, in order."""
        ids: set[int | None] = {r[0] for r in rows}
        ids.discard(None)
        return sorted(i for i in ids - self.names.keys() if i is not None)

    def learn(self, rows: Iterable[Sequence[object]]) -> dict[int, RollupKey]:
        """Rows of (id, agent_id, app, category) read from the dictionary; returns them
        as names, for the answer that read them (``usage_from``'s ``fresh``): another
        read may forget what is kept meanwhile."""
        if len(self.names) > self.limit:
            self.names, self.groups = {}, {}
        fresh: dict[int, RollupKey] = {}
        for id_, agent_id, app, category in rows:
            assert isinstance(id_, int)
            fresh[id_] = (str(agent_id), str(app), str(category))
        self.names.update(fresh)
        return fresh


def usage_from(
    rows: Iterable[Sequence[Any]],
    names: KeyNames,
    group_by: Sequence[GroupKey],
    fresh: Mapping[int, RollupKey] | None = None,
) -> list[UsageRow]:
    """One UsageRow per group of ``group_by``, in its order, from the stores' usage rows
    (key id, agent, app, category, active ms, idle ms): each either a rollup key's id,
    named by ``names`` (its agent, app and category NULL), or the agent, app and category
    themselves (the id NULL). Summed here, not in SQL: grouped by agent, the rows are one
    per key (ten thousand for 1,000 agents), and naming them from memory costs less than
    joining and sorting them by name. A key id ``names`` lacks was erased after the rows
    were read: its rows are left out, as the erasure says. Groups with no time too.
    ``fresh``: the names the caller has just read for these rows (``KeyNames.learn``).

    It allocates as little as it can (sums as ints, each id's group kept from one call to
    the next): the rows are many, and a server's garbage collector walks its whole heap
    when enough new container objects survive."""
    order = tuple(GROUP_KEYS.index(k) for k in group_by)
    pick = _picker(order)
    groups = names.groups.setdefault(order, {})
    known = names.names
    active: dict[tuple[Any, ...], int] = {}
    idle: dict[tuple[Any, ...], int] = {}
    for key_id, agent, app, category, active_ms, idle_ms in rows:
        if key_id is None:
            group = pick((agent, app, category))
        else:
            cached = groups.get(key_id)
            if cached is None:
                key = known.get(key_id)
                if key is None and fresh is not None:
                    key = fresh.get(key_id)
                if key is None:
                    continue
                cached = groups[key_id] = pick(key)
            group = cached
        active[group] = active.get(group, 0) + active_ms
        idle[group] = idle.get(group, 0) + idle_ms
    # Where agent, app and category are in a group (-1: not grouped by).
    at = [order.index(i) if i in order else -1 for i in range(3)]
    agent_at, app_at, category_at = at
    out: list[UsageRow] = []
    # Tuples of one grouping hold None at the same places, so they sort.
    for group in sorted(active):
        active_ms, idle_ms = active[group], idle[group]
        if active_ms or idle_ms:
            # Names are text already (the dictionary's, or the database's columns).
            out.append(
                UsageRow(
                    None if agent_at < 0 else group[agent_at],
                    None if app_at < 0 else group[app_at],
                    active_ms,
                    idle_ms,
                    None if category_at < 0 else group[category_at],
                )
            )
    return out


def _picker(order: Sequence[int]) -> Callable[[Sequence[object]], tuple[Any, ...]]:
    """What picks the grouped columns out of (agent, app, category), as a tuple."""
    if len(order) > 1:
        return operator.itemgetter(*order)
    if order:
        (index,) = order

        def one(key: Sequence[object]) -> tuple[object, ...]:
            return (key[index],)

        return one
    return lambda key: ()
