"""Re-categorising history as a job: the job, what the stores do with it (``CategoryJobs``),
and the statements on its table both stores share (each runs a job's batches its own way:
store/sqlite.py, store/postgres.py; the reads are in store/categorising_sql.py).

A change of the rules stores them with a new version and starts a job named by that
version (``category_jobs``, step 14 of store/migrations.py), superseding the one running:
the newest rules decide every span, so a pass by older ones is moot. The job goes through
the spans in key order (agent, start), a batch per transaction (``recategorize_step``): the
spans of the batch whose category changes rewritten, their time moved in the rollups, and
the job's cursor and counts moved on, all in that one transaction. So a job cut short (a
restart) goes on from its last batch, and whatever reads meanwhile sees each span in one
category, by the new rules (behind the cursor, and everything written since the change) or
by the ones before (ahead of it), with totals over all categories exact throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import msgspec

from officepulse.core.categories import Rule

JobState = Literal["running", "done", "superseded"]
# A job's cursor: the key (agent, start) of the last span it went through.
Cursor = tuple[str, int] | None

_COLUMNS = "version, state, total, done, changed, started_ms, finished_ms, after_agent, after_start"
JOB = f"SELECT {_COLUMNS} FROM category_jobs WHERE version = ?"
LATEST_JOB = f"SELECT {_COLUMNS} FROM category_jobs ORDER BY version DESC LIMIT 1"
# A change of the rules: the job running (if any) gives way to the new one.
SUPERSEDE = "UPDATE category_jobs SET state = 'superseded', finished_ms = ? WHERE state = 'running'"
START = (
    "INSERT INTO category_jobs (version, state, done, changed, started_ms) "
    "VALUES (?, 'running', 0, 0, ?)"
)
# A batch done: counts and cursor moved on; the state ``running`` or ``done``.
ADVANCE = (
    "UPDATE category_jobs SET total = COALESCE(total, ?), done = done + ?, "
    "changed = changed + ?, after_agent = ?, after_start = ?, state = ?, finished_ms = ? "
    "WHERE version = ?"
)
END = "UPDATE category_jobs SET state = ?, finished_ms = ? WHERE version = ?"
COUNT_SPANS = "SELECT count(*) FROM spans"


class CategoryJob(msgspec.Struct, frozen=True, kw_only=True):
    """Re-categorising history by the rules of one version (``id``): ``running`` (batch
    after batch, in the background), ``done``, or ``superseded`` by newer rules, whose
    own job goes through every span."""

    id: int
    state: JobState
    total: int | None  # the spans there were when it began; None until counted
    done: int  # the spans it has gone through
    changed: int  # of those, the ones whose category changed
    started_ms: int
    finished_ms: int | None = None

    @property
    def percent(self) -> int:
        """How far it has got, 0-100; 100 only once done (spans written meanwhile may
        make ``done`` pass ``total``)."""
        if self.state == "done":
            return 100
        if not self.total:
            return 0
        return min(99, self.done * 100 // self.total)


def job_from(row: Sequence[Any]) -> tuple[CategoryJob, Cursor]:
    """A ``category_jobs`` row (``_COLUMNS``) as a job and its cursor."""
    version, state, total, done, changed, started, finished, after_agent, after_start = row
    job = CategoryJob(
        id=int(version),
        state=state,
        total=None if total is None else int(total),
        done=int(done),
        changed=int(changed),
        started_ms=int(started),
        finished_ms=None if finished is None else int(finished),
    )
    cursor = None if after_agent is None else (str(after_agent), int(after_start))
    return job, cursor


def advance(
    job: CategoryJob, total: int | None, read: int, changed: int, last: Cursor, now_ms: int
) -> tuple[str, tuple[object, ...]]:
    """The statement that records a batch of ``read`` spans (``changed`` of them
    rewritten) ending at ``last`` (None: the last batch, the job is done)."""
    state = "running" if last is not None else "done"
    after_agent, after_start = last if last is not None else (None, None)
    finished = None if last is not None else now_ms
    params = (total, read, changed, after_agent, after_start, state, finished, job.id)
    return ADVANCE, params


def advanced(
    job: CategoryJob, total: int | None, read: int, changed: int, last: Cursor, now_ms: int
) -> CategoryJob:
    """The job as ``advance`` leaves it."""
    return msgspec.structs.replace(
        job,
        total=job.total if job.total is not None else total,
        done=job.done + read,
        changed=job.changed + changed,
        state="running" if last is not None else "done",
        finished_ms=None if last is not None else now_ms,
    )


class CategoryJobs(Protocol):
    """The store as changing the rules uses it (panel/category_rules.py,
    panel/recategorising.py)."""

    async def categories(self) -> list[Rule]:
        """The category rules in force, in order (core/categories.py)."""
        ...

    async def set_categories(self, rules: Sequence[Rule], now_ms: int) -> CategoryJob:
        """Check and store ``rules`` (CategoryError names a bad one; nothing changes
        then): every span written from now on is categorised by them. Returns at once
        with the job that re-categorises the spans stored before (run by
        ``recategorize_step``), which supersedes any job still running."""
        ...

    async def category_job(self, job_id: int | None = None) -> CategoryJob | None:
        """The job of that id (None: the latest), or None."""
        ...

    async def recategorize_step(
        self, job_id: int, now_ms: int, batch: int | None = None
    ) -> CategoryJob:
        """One batch of the job (``batch`` spans; None: the store's default) in one
        transaction, and the job as it is then: ``done`` after its last batch,
        ``superseded`` if newer rules came. A job that is not running is left as it is.
        Ingest and reads wait for one batch at most."""
        ...


class UncategorizedUrls(Protocol):
    async def uncategorized_urls(
        self, start_ms: int, end_ms: int, agent_ids: Sequence[str] | None
    ) -> list[tuple[str, int]]:
        """(URL, active ms within [start_ms, end_ms)) of the stored spans in no category
        that have a URL, per URL; only those agents' (None: everyone's)."""
        ...


async def recategorize_all(
    store: CategoryJobs, rules: Sequence[Rule], now_ms: int, batch: int | None = None
) -> CategoryJob:
    """Change the rules and run their job to its end here (tests, benchmarks, a command
    that waits): the job as it ended."""
    job = await store.set_categories(rules, now_ms)
    while job.state == "running":
        job = await store.recategorize_step(job.id, now_ms, batch)
    return job
