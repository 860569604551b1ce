"""The activity in progress, counted up to now. Pure: ``now_ms`` is a parameter.

An agent holds its open span back until the idle threshold has passed (so that going
idle can still be dated at the last input), so its stored spans trail what is in front
by minutes. The gateway knows what is in front and since when (the agent's presence,
``AgentView.current`` with ``live``), so the reports add, for each online agent, the
stretch from where its stored spans end (or from when its activity began, if later) up
to now: its *in-progress* span.

Why this never counts anything twice nor loses it: the in-progress span is never
stored, and it starts where the agent's stored spans end, read *after* the stored rows
it is added to (stored ends only grow), so the two never overlap. When the agent's
spans arrive, the stored end moves on and the in-progress span shrinks
by exactly what was stored. When the agent learns that the person had gone idle a while
ago (the open span is cut back to the last input), its presence says "idle since then":
the in-progress span becomes idle time from then, and the stored span of the app ends
there, so the active total shrinks to what really happened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from officepulse.bus.presence import AgentView
from officepulse.core.spans import Span
from officepulse.store.base import GroupKey, UsageRow

Categorize = Callable[[str, str, str | None], str]

# The longest stretch counted as in progress. An agent hands its open span on once it is
# older than its idle threshold (3 min by default) plus a minute, so what is in progress
# is minutes long; a longer one means the agent is not handing its spans on as it goes
# (it is catching up after an outage, or replaying a recorded timeline), and its spans,
# when they come, say what happened: nothing is guessed meanwhile.
MAX_IN_PROGRESS_MS = 30 * 60_000


@dataclass(frozen=True, slots=True)
class Live:
    """What one request counts as in progress: the agents whose activity the gateway
    reports as in progress, and the request's now (one for all its reads, so that its
    figures agree with one another)."""

    views: tuple[AgentView, ...]
    now_ms: int

    @classmethod
    def of(cls, views: Iterable[AgentView], now_ms: int) -> Live:
        return cls(tuple(v for v in views if reports_progress(v)), now_ms)

    def reaching(
        self, start_ms: int, end_ms: int, agent_ids: Sequence[str] | None
    ) -> tuple[AgentView, ...]:
        """The agents (of ``agent_ids``, or all) whose in-progress span can overlap
        ``[start_ms, end_ms)``: one starts no earlier than its activity did and ends now,
        so past ranges read nothing more."""
        if start_ms >= self.now_ms:
            return ()
        wanted = None if agent_ids is None else set(agent_ids)
        return tuple(
            v
            for v in self.views
            if v.current is not None
            and v.current.start_ms < end_ms
            and (wanted is None or v.id in wanted)
        )

    def stored_window(self) -> tuple[int, int]:
        """Where a stored span must reach to move an in-progress span's start: from the
        longest one counted back from now, to the latest a span may end (the door lets
        in spans 5 minutes ahead of the clock)."""
        return self.now_ms - MAX_IN_PROGRESS_MS, self.now_ms + 10 * 60_000


NOTHING_LIVE = Live((), 0)


def reports_progress(view: AgentView) -> bool:
    """Whether the agent reports an activity in progress: online, listed, with an
    activity in front as its presence says (not a v1 agent's latest stored span)."""
    return view.online and view.live and view.listed and view.current is not None


def in_progress(
    views: Iterable[AgentView], stored_ends: Mapping[str, int], now_ms: int
) -> dict[str, Span]:
    """Each online agent's in-progress span: its activity in front, from the later of
    when it began and where its stored spans end (``stored_ends``), to ``now_ms``.
    Agents that report no activity in progress (offline, nothing in front, or a v1
    agent whose heartbeats are stored as they come) have none, nor does one whose span
    would be longer than ``MAX_IN_PROGRESS_MS``."""
    out: dict[str, Span] = {}
    for view in views:
        current = view.current
        if current is None or not reports_progress(view):
            continue
        start = max(current.start_ms, stored_ends.get(view.id, current.start_ms))
        if 0 < now_ms - start <= MAX_IN_PROGRESS_MS:
            out[view.id] = Span(start, now_ms, current.activity, view.tz)
    return out


def overlapping(
    live: Mapping[str, Span], start_ms: int, end_ms: int, agent_id: str | None = None
) -> list[tuple[str, Span]]:
    """The in-progress spans that overlap ``[start_ms, end_ms)``, whole (as the store
    gives spans), of one agent or all."""
    return [
        (a, span)
        for a, span in live.items()
        if (agent_id is None or a == agent_id) and span.start_ms < end_ms and span.end_ms > start_ms
    ]


def usage_rows(
    live: Mapping[str, Span],
    start_ms: int,
    end_ms: int,
    agent_ids: Sequence[str] | None,
    categorize: Categorize,
) -> list[UsageRow]:
    """The in-progress spans' time within ``[start_ms, end_ms)``, a row per agent, app
    and category, counted as the store's rollups count a span (idle apart from active,
    the category by the rules in force)."""
    wanted = None if agent_ids is None else set(agent_ids)
    rows = []
    for agent_id, span in live.items():
        if wanted is not None and agent_id not in wanted:
            continue
        ms = min(span.end_ms, end_ms) - max(span.start_ms, start_ms)
        if ms <= 0:
            continue
        a = span.activity
        category = categorize(a.app, a.title, a.url)
        active, idle = (0, ms) if a.idle else (ms, 0)
        rows.append(UsageRow(agent_id, a.app, active, idle, category))
    return rows


def grouped(rows: Iterable[UsageRow], group_by: Sequence[GroupKey]) -> list[UsageRow]:
    """Rows summed to the keys of ``group_by`` (the others None), in first-seen order."""
    out: dict[tuple[str | None, str | None, str | None], list[int]] = {}
    for row in rows:
        key = (
            row.agent_id if "agent" in group_by else None,
            row.app if "app" in group_by else None,
            row.category if "category" in group_by else None,
        )
        slot = out.setdefault(key, [0, 0])
        slot[0] += row.active_ms
        slot[1] += row.idle_ms
    return [UsageRow(k[0], k[1], v[0], v[1], k[2]) for k, v in out.items()]
