"""The office's cards, grouped (core/office.py), each as its viewer may see it: the whole
office for a page or a dashboard that connects, one card for each change the hub fans
out, and the groups' counts. What a card shows besides the agent's view (its group, the
avatar, time today, the status at a glance) is a ``Card``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from officepulse.bus.presence import AgentView
from officepulse.core.office import GROUP_LABELS, GROUPS, Avatar, State, Today, avatar, state_of
from officepulse.panel.office_status import Glance, OfficeStatus
from officepulse.panel.today import TodayTotals
from officepulse.panel.viewers import Viewers
from officepulse.panel.views import Views
from officepulse.panel.visible_reads import Level
from officepulse.store.accounts import Visibility

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Card:
    state: str
    avatar: Avatar
    sort: str  # the card's place in its group (by name): officepulse.js keeps it there
    today: Today | None  # None until the first read
    counting_since: int | None  # time today grows while the card is shown, from then
    glance: Glance


@dataclass(frozen=True, slots=True)
class Group:
    state: State
    label: str
    cards: list[tuple[AgentView, Card]]


def sort_key(view: AgentView) -> str:
    return f"{view.name.casefold()}\x00{view.host.casefold()}\x00{view.id}"


class OfficeCards:
    def __init__(
        self,
        views: Views,
        viewers: Viewers,
        status: OfficeStatus,
        today: TodayTotals,
        now_ms: Callable[[], int],
    ) -> None:
        self.views = views
        self.viewers = viewers
        self.status = status
        self.today = today
        self.now_ms = now_ms

    def group_of(self, view: AgentView) -> State:
        current = view.current
        activity = current.activity if current is not None else None
        since = current.start_ms if current is not None else view.last_seen_ms
        return state_of(view.online, activity, since, self.now_ms())

    def observe(self, view: AgentView) -> None:
        """Every view as it reaches the hub: the status keeps its runs, time today
        whether it grows."""
        self.status.observe(view, self.viewers.directory.rules)
        self.today.observe(view)

    def card(self, view: AgentView, level: Visibility, group: str | None) -> Card:
        """``view`` as stored (not yet as ``level`` shows it) in ``group``."""
        return Card(
            state=group or self.group_of(view),
            avatar=avatar(view.id, view.name),
            sort=sort_key(view),
            today=self.today.figure(view.id),
            counting_since=self.today.counting_since(view.id),
            glance=self.status.glance(view, level, self.viewers.directory.rules),
        )

    def person(self, view: AgentView, level: Visibility, group: str | None) -> str:
        """One card, for the hub's fan-out."""
        card = self.card(view, level, group)
        shown = self.viewers.present(view, level)
        return self.views.person(shown, card, self.now_ms(), UTC_ZONE)

    def groups(
        self, views: Iterable[AgentView], level: Level, groups: Mapping[str, str]
    ) -> list[Group]:
        """Every group in order, each with its cards by name; ``groups``: the group each
        agent is in on dashboards now (the hub's)."""
        members: dict[str, list[tuple[AgentView, Card]]] = {g: [] for g in GROUPS}
        for view in sorted(views, key=sort_key):
            lv = level(view.id)
            card = self.card(view, lv, groups.get(view.id))
            members.setdefault(card.state, []).append((self.viewers.present(view, lv), card))
        return [Group(g, GROUP_LABELS[g], members[g]) for g in GROUPS]

    def people(
        self,
        views: Iterable[AgentView],
        level: Level,
        groups: Mapping[str, str],
        *,
        manages: bool,
    ) -> str:
        """The whole office, for a dashboard that connects (``manages``: Viewer.may_manage)."""
        return self.views.people(
            self.groups(views, level, groups), self.now_ms(), UTC_ZONE, manages=manages
        )

    def page(
        self,
        views: Iterable[AgentView],
        level: Level,
        groups: Mapping[str, str],
        counts: Mapping[str, int],
        **chrome: object,
    ) -> str:
        return self.views.office_page(
            self.groups(views, level, groups), counts, self.now_ms(), UTC_ZONE, **chrome
        )
