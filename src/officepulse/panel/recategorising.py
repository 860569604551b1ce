"""Re-categorising history in the background: a change of the rules returns at once with
its job (store/categorising.py), and this runs the job, batch after batch, in a task of
the panel's, while pages, the API and ingest go on; a pause between batches
(``recategorize_pause``) spreads it out further. One job at a time: a newer change
supersedes the one running (the newest rules decide every span anyway), and this goes on
with the newer one.

The job's progress lives in the store, a batch at a time, so a process that starts finds
a job cut short (a restart, a crash) and goes on from its last batch; in a scaled-out
deployment every panel process looks for one now and then (``recheck``), and their batches
take turns in the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from officepulse.store.categorising import CategoryJob, CategoryJobs
from officepulse.store.failures import FailureLog, backoff

log = logging.getLogger(__name__)


class Recategoriser:
    def __init__(
        self,
        store: CategoryJobs,
        now_ms: Callable[[], int],
        *,
        batch: int | None = None,
        pause: float = 0.0,
        recheck: float = 30.0,
    ) -> None:
        """``batch``: spans per transaction (None: the store's default); ``pause``: seconds
        between batches; ``recheck``: seconds between looks for a job another process
        started or left unfinished."""
        self.store = store
        self.now_ms = now_ms
        self.batch = batch
        self.pause = pause
        self.recheck = recheck
        self.failures = FailureLog("re-categorising history", log)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._step: asyncio.Future[CategoryJob] | None = None  # the batch under way

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="recategorising")

    async def stop(self) -> None:
        """Stops between batches (a batch under way completes: the store's transaction
        is not cut short); the job goes on at the next start."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        step, self._step = self._step, None
        if step is not None:
            with contextlib.suppress(Exception):  # it counts as failed; the next start retries
                await step

    def started(self) -> None:
        """A change of the rules here started a job: run it now."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self.failures.attempt(self._work)
            wait = backoff(self.failures.attempts) if self.failures.failing else self.recheck
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()

    async def _work(self) -> None:
        """Every running job to its end (the latest's, once a newer change supersedes
        the one under way)."""
        while True:
            self._wake.clear()
            job = await self.store.category_job()
            if job is None or job.state != "running":
                return
            await self._finish(job)

    async def _finish(self, job: CategoryJob) -> None:
        began = time.monotonic()
        while job.state == "running":
            # Shielded, and kept: a stop waits for the batch under way rather than close
            # the store under it (SQLite's runs on a thread that a cancel cannot stop).
            self._step = asyncio.ensure_future(
                self.store.recategorize_step(job.id, self.now_ms(), self.batch)
            )
            job = await asyncio.shield(self._step)
            self._step = None
            if job.state == "running" and self.pause:
                await asyncio.sleep(self.pause)
        log.info(
            "category rules version %d: history %s, %d of %d spans changed category (%.1f s here)",
            job.id,
            "re-categorised" if job.state == "done" else "left to newer rules",
            job.changed,
            job.done,
            time.monotonic() - began,
        )
