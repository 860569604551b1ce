"""Each person's time today for the office's cards: their active time on their own day
(the date where their computer is now), stored and in progress, read as the Time page
reads it (panel/report_data.py's ``usage_over`` over the same ``Days``), so that the two
show the same figure.

A card is rendered on every presence change, which cannot wait for the store, so the
figures are read now and then (``refresh``) and a card counts on from the figure it has
while its person is active (core/office.py's ``Today``: from when they began, if after
the read), as the browser does between changes. A switch from one app to another
while active changes nothing of that (the time in progress moves into stored spans,
its sum stays); starting or stopping (idle is dated back to the last input: the figure
stops there) and any change of someone whose time does not grow do: those agents are
read again soon (``touched``). ``refresh`` says whose figure moved from what their
cards show, so only those are sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from officepulse.bus.presence import AgentView
from officepulse.core.days import Days, day_range
from officepulse.core.office import Today, counting
from officepulse.core.zones import known_zone
from officepulse.panel.day_usage import usage_over
from officepulse.panel.reads import Reads

UTC_ZONE = ZoneInfo("UTC")
# A figure that moved less than this from what the card counted is not sent again.
MOVED_MS = 1_000


def zone_of(view: AgentView) -> ZoneInfo:
    return ZoneInfo(view.tz) if known_zone(view.tz) else UTC_ZONE


def own_date(view: AgentView, now_ms: int) -> date:
    """The date where the person's computer is now."""
    return datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(zone_of(view)).date()


def is_counting(view: AgentView) -> bool:
    activity = view.current.activity if view.current is not None else None
    return counting(view.online, view.live, activity)


class TodayTotals:
    def __init__(self, reads: Callable[[int], Reads]) -> None:
        """``reads(now_ms)``: the store with the activity in progress up to ``now_ms``,
        everything visible (a person's total shows none of their apps)."""
        self.reads = reads
        self._figures: dict[str, Today] = {}
        self._since: dict[str, int] = {}  # agent id -> counting since (ms)
        self._touched: set[str] = set()
        self._before: set[str] = set()

    def figure(self, agent_id: str) -> Today | None:
        return self._figures.get(agent_id)

    def counting_since(self, agent_id: str) -> int | None:
        """Since when the agent's time today has been growing (None: it is not)."""
        return self._since.get(agent_id)

    def observe(self, view: AgentView) -> None:
        """Its view as it reaches the hub: whether (and since when) its time grows. Its
        figure is read again soon when that changed, or when it does not grow: what it
        does then (an agent that sends no presence, whose spans are stored as they
        come; spans sent before the idle presence) is not counted on."""
        since = self._since.get(view.id)
        if is_counting(view):
            assert view.current is not None
            self._since.setdefault(view.id, view.current.start_ms)
            if since is None:
                self._touched.add(view.id)
            return
        self._touched.add(view.id)
        if since is None:
            return
        del self._since[view.id]
        before = self._figures.get(view.id)
        if before is not None:
            # It stopped growing where the change is dated (idle: at the last input):
            # the figure up to there, until it is read again.
            stop = view.current.start_ms if view.current is not None else view.last_seen_ms
            at = max(before.at_ms, stop)
            self._figures[view.id] = Today(before.at(at, since), at, before.day_end_ms)

    def touched(self) -> set[str]:
        """The agents touched before the last time this was asked: the spans that close
        what was in front before a change reach the store a moment after the change
        (the agent sends them within a second), so a figure is read once they are in,
        not at once (it would dip by what is in flight)."""
        touched, self._touched = self._touched, set()
        before, self._before = self._before, touched
        return before

    def forget(self, keep: Iterable[str]) -> None:
        wanted = set(keep)
        for agent_id in [a for a in self._figures if a not in wanted]:
            del self._figures[agent_id]
        for agent_id in [a for a in self._since if a not in wanted]:
            del self._since[agent_id]

    async def refresh(self, views: Sequence[AgentView], now_ms: int) -> list[str]:
        """Reads the figures of ``views``' agents as of ``now_ms``; the agents whose
        figure moved from what their cards counted."""
        by_date: dict[date, list[AgentView]] = {}
        for view in views:
            by_date.setdefault(own_date(view, now_ms), []).append(view)
        reads = self.reads(now_ms)
        moved = []
        for day, dated in by_date.items():
            ids = [v.id for v in dated]
            rows = await usage_over(reads, Days(day, day, "person", UTC_ZONE), ["agent"], ids)
            active = {r.agent_id: r.active_ms for r in rows}
            for view in dated:
                figure = Today(active.get(view.id, 0), now_ms, day_range(day, zone_of(view))[1])
                before = self._figures.get(view.id)
                since = self._since.get(view.id)
                shown = before.at(now_ms, since) if before is not None else None
                if shown is None or abs(shown - figure.active_ms) >= MOVED_MS:
                    moved.append(view.id)
                self._figures[view.id] = figure
        return moved
