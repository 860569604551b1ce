"""The reads of re-categorising both SQL stores share, written once: a job
(store/categorising.py), and the web addresses of spans in no category (the Categories
page's list of sites, core/uncategorized.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from officepulse.core.categories import UNCATEGORIZED
from officepulse.store.categorising import JOB, LATEST_JOB, CategoryJob, job_from
from officepulse.store.reads_sql import OVERLAP
from officepulse.store.sql import Dialect


class SQLCategorising:
    """``category_job`` and ``uncategorized_urls`` of a SQL store (the reads; each store
    writes jobs in its own transactions)."""

    dialect: ClassVar[Dialect]
    # The category of a span in SQL (SQLite: decided on the fly for a span another
    # writer left without one).
    span_category: ClassVar[str] = "category"

    async def _read(
        self, sql: Any, params: Sequence[object] = (), *, fresh: bool = True
    ) -> list[Any]:
        raise NotImplementedError

    async def category_job(self, job_id: int | None = None) -> CategoryJob | None:
        d = self.dialect
        sql, params = (LATEST_JOB, ()) if job_id is None else (JOB, (job_id,))
        rows = await self._read(d.sql(sql), params, fresh=False)
        return job_from(rows[0])[0] if rows else None

    async def uncategorized_urls(
        self, start_ms: int, end_ms: int, agent_ids: Sequence[str] | None
    ) -> list[tuple[str, int]]:
        d = self.dialect
        if agent_ids is not None and not agent_ids:
            return []
        only = "" if agent_ids is None else " AND " + d.agent_in
        ms = f"{d.least}(end_ms, ?) - {d.greatest}(start_ms, ?)"
        rows = await self._read(
            d.sql(
                f"SELECT url, {d.cast(f'SUM({ms})', 'bigint')} FROM spans "
                f"WHERE {OVERLAP} AND url IS NOT NULL AND NOT idle "
                f"AND {self.span_category} = ?{only} GROUP BY url"
            ),
            [
                end_ms,
                start_ms,
                end_ms,
                start_ms,
                start_ms,
                UNCATEGORIZED,
                *([] if agent_ids is None else [d.ids(list(agent_ids))]),
            ],
        )
        return [(str(url), int(total)) for url, total in rows]
