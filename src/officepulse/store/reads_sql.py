"""Spans, zones, usage and the category rules read from either SQL store, written once
(the protocols: store/spans.py ``UsageReads``, ``CategoryStore``): each store gives its
``Dialect`` (store/sql.py), its ``_read`` and the raw-span part of a usage query, which is
where the two truly differ (on SQLite other writers' spans may be waiting to be folded
into the rollups)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from officepulse.core.categories import Rule, rules_from_json
from officepulse.core.spans import Span
from officepulse.core.zones import ZoneRun, by_agent
from officepulse.store.base import (
    GroupKey,
    KeyNames,
    UsagePlan,
    UsageRow,
    check_group_by,
    usage_from,
    usage_plan,
)
from officepulse.store.rows import SPAN_COLUMNS, span_from
from officepulse.store.sql import Dialect

# Raw spans that overlap [?, ?) (params hi, lo, lo): bounded on both sides by the start
# index, as no span is longer than the longest ever stored.
OVERLAP = "start_ms < ? AND end_ms > ? AND start_ms >= ? - (SELECT max_span_ms FROM span_stats)"
# The column of each key usage() groups by.
COLUMNS: dict[GroupKey, str] = {"agent": "agent_id", "app": "app", "category": "category"}


class SQLReads:
    """``categories``, ``spans``, ``zones`` and ``usage`` of a SQL store."""

    dialect: ClassVar[Dialect]
    # What the key ids that usage() reads name (store/base.py), for every reader.
    names: KeyNames

    # Provided by each store.
    async def _read(
        self, sql: Any, params: Sequence[object] = (), *, fresh: bool = True
    ) -> list[Any]:
        raise NotImplementedError

    def _raw_usage(
        self, plan: UsagePlan, only: str, only_param: list[object]
    ) -> tuple[list[str], list[object]]:
        """The usage query's parts from raw spans, each (agent_id, app, category,
        active_ms, idle_ms), and their parameters: the plan's raw edges, filtered by
        ``only`` (its parameter ``only_param``)."""
        raise NotImplementedError

    async def categories(self) -> list[Rule]:
        rows = await self._read("SELECT rules FROM categories", fresh=False)
        return rules_from_json(str(rows[0][0]))

    async def spans(
        self, start_ms: int, end_ms: int, agent_id: str | None = None, limit: int = 100_000
    ) -> list[tuple[str, Span]]:
        d = self.dialect
        where = OVERLAP + (" AND agent_id = ?" if agent_id else "")
        params: list[object] = [end_ms, start_ms, start_ms, *([agent_id] if agent_id else [])]
        params.append(limit)
        rows = await self._read(
            d.sql(
                f"SELECT agent_id, {SPAN_COLUMNS} FROM spans WHERE {where} "
                f"ORDER BY start_ms, agent_id{d.binary} LIMIT ?"
            ),
            params,
        )
        return [(str(row[0]), span_from(row[1:])) for row in rows]

    async def zones(
        self, agent_ids: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> dict[str, list[ZoneRun]]:
        d = self.dialect
        where = "start_ms < ? AND end_ms > ?"
        params: list[object] = [end_ms, start_ms]
        if agent_ids is not None:
            where += " AND " + d.agent_in
            params.append(d.ids(list(agent_ids)))
        rows = await self._read(
            d.sql(
                f"SELECT agent_id, start_ms, end_ms, tz FROM zone_runs WHERE {where} "
                f"ORDER BY agent_id{d.binary}, start_ms"
            ),
            params,
        )
        return by_agent(rows)

    async def usage(
        self,
        start_ms: int,
        end_ms: int,
        group_by: Sequence[GroupKey],
        agent_ids: Sequence[str] | None = None,
    ) -> list[UsageRow]:
        check_group_by(group_by)
        if agent_ids is not None and not agent_ids:
            return []
        d = self.dialect
        # Only these agents: every part of the query is filtered by one parameter.
        only = "" if agent_ids is None else " AND " + d.agent_in
        only_keys = (
            ""
            if agent_ids is None
            else f" AND key_id IN (SELECT id FROM rollup_keys WHERE {d.agent_in})"
        )
        only_param: list[object] = [] if agent_ids is None else [d.ids(list(agent_ids))]
        # Exactly the raw answer, mostly from rollups: whole weeks, days, hours, then whole
        # minutes at the edges from their buckets (plus the runs over all of them), the
        # rest from raw spans. Grouped by agent (or for some agents), the rollup rows are
        # summed per key id, named and grouped by usage_from; otherwise the team rollups
        # answer, a row per app and category.
        plan = usage_plan(start_ms, end_ms)
        rolled = plan.rolled()
        if rolled is None and not plan.raw:
            return []
        per_agent = "agent" in group_by or agent_ids is not None
        where = "WHERE size_ms = ? AND bucket_ms >= ? AND bucket_ms < ?"
        # Each part: (agent_id, app, category, active_ms, idle_ms).
        parts: list[str] = []
        params: list[object] = []
        # By key id: (key_id, active_ms, idle_ms).
        keyed: list[str] = []
        keyed_params: list[object] = []
        for size, ranges in plan.by_size():
            for lo, hi in ranges:
                if per_agent:
                    keyed.append(
                        f"SELECT key_id, active_ms, idle_ms FROM rollups {where}{only_keys}"
                    )
                    keyed_params += [size, lo, hi, *only_param]
                else:
                    parts.append(
                        "SELECT '' AS agent_id, app, category, active_ms, idle_ms "
                        f"FROM team_rollups {where}"
                    )
                    params += [size, lo, hi]
        if rolled is not None:
            # Whole hours kept as runs (store/base.py), by arithmetic over the range the
            # rollup parts tile.
            lo, hi = rolled
            overlap = f"({d.least}(end_ms, ?) - {d.greatest}(start_ms, ?))"
            counts = f"active_n * {overlap} AS active_ms, idle_n * {overlap} AS idle_ms"
            if per_agent:
                keyed.append(f"SELECT key_id, {counts} FROM rollup_runs WHERE {OVERLAP}{only_keys}")
                keyed_params += [hi, lo, hi, lo, hi, lo, lo, *only_param]
            else:
                parts.append(
                    f"SELECT '' AS agent_id, k.app, k.category, {counts} FROM rollup_runs "
                    f"JOIN rollup_keys k ON k.id = key_id WHERE {OVERLAP}"
                )
                params += [hi, lo, hi, lo, hi, lo, lo]
        raw, raw_params = self._raw_usage(plan, only, only_param)
        parts += raw
        params += raw_params
        # (key id, agent, app, category, active ms, idle ms): by key, then by name.
        sums = f"{d.cast('SUM(active_ms)', 'bigint')}, {d.cast('SUM(idle_ms)', 'bigint')}"
        text = d.cast("NULL", "text")
        selects: list[str] = []
        if keyed:
            selects.append(
                f"SELECT key_id, {text}, {text}, {text}, {sums} "
                f"FROM ({' UNION ALL '.join(keyed)}) k GROUP BY key_id"
            )
        if parts:
            # Summed by the keys asked for alone: not by agent, the raw edges' thousands of
            # rows (a span per agent) are a row per app.
            columns = [c if k in group_by else text for k, c in COLUMNS.items()]
            grouped = [c for k, c in COLUMNS.items() if k in group_by]
            totals = (
                f"{d.cast('COALESCE(SUM(active_ms), 0)', 'bigint')}, "
                f"{d.cast('COALESCE(SUM(idle_ms), 0)', 'bigint')}"
            )
            selects.append(
                f"SELECT {d.cast('NULL', 'bigint')}, {', '.join(columns)}, {totals} "
                f"FROM ({' UNION ALL '.join(parts)}) n"
                + (f" GROUP BY {', '.join(grouped)}" if grouped else "")
            )
        rows = await self._read(d.sql(" UNION ALL ".join(selects)), [*keyed_params, *params])
        missing = self.names.missing(rows)
        # The names read now are handed on too: another read may forget what is kept.
        fresh = (
            self.names.learn(
                await self._read(
                    d.sql(f"SELECT id, agent_id, app, category FROM rollup_keys WHERE {d.key_in}"),
                    (d.ids(missing),),
                    fresh=False,
                )
            )
            if missing
            else None
        )
        return usage_from(rows, self.names, group_by, fresh)
