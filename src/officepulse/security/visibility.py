"""What a viewer may see of an agent's activity, applied on the server before anything
is sent to a browser or an API client. Pure: no I/O, no clock.

A person chooses what others see of them (store/accounts.py ``Visibility``): everything,
the app only, or the top level of the category the rules in force give their activity
(core/categories.py). At "app", their time is in the category their app alone gives
(``RuleSet.categorize_app``): rules on titles and URLs, which would tell what those are,
play no part in what others see, team-wide totals included. They always see all of their
own; so does everyone in open mode (no accounts yet: the office is as open as it was).
Admins see others at the level each person chose: the privacy is the person's to set, not
the admin's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import msgspec

from officepulse.bus.presence import AgentView
from officepulse.core.categories import (
    DEFAULT_RULES,
    SEPARATOR,
    UNCATEGORIZED,
    RuleSet,
    compile_rules,
)
from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.store.accounts import DEFAULT_VISIBILITY, Person, Visibility
from officepulse.store.base import GroupKey, UsageRow


def top_category(path: str) -> str:
    """What a person on "category" shows: the top level of their category ("Work" of
    "Work > Programming"). Sub-categories often name the app or site itself ("Media >
    YouTube"), which is what this level keeps to the person."""
    return path.split(SEPARATOR, 1)[0]


def present_activity(activity: Activity, level: Visibility, rules: RuleSet) -> Activity:
    """The activity as it may be shown at ``level``, ``rules`` being the category rules
    in force. The one place that decides it."""
    if level == "full":
        return activity
    if level == "app":
        return Activity(
            app=activity.app, idle=activity.idle, private=activity.private, paused=activity.paused
        )
    category = rules.categorize(activity.app, activity.title, activity.url)
    return Activity(app=top_category(category), idle=activity.idle, paused=activity.paused)


def present_view(view: AgentView, level: Visibility, rules: RuleSet) -> AgentView:
    if level == "full" or view.current is None:
        return view
    current = msgspec.structs.replace(
        view.current, activity=present_activity(view.current.activity, level, rules)
    )
    return msgspec.structs.replace(view, current=current)


def present_span(span: Span, level: Visibility, rules: RuleSet) -> Span:
    if level == "full":
        return span
    return replace(span, activity=present_activity(span.activity, level, rules))


def present_usage(
    rows: Iterable[UsageRow],
    level_of: Callable[[str | None], Visibility],
    group_by: Sequence[GroupKey],
    rules: RuleSet,
) -> list[UsageRow]:
    """Usage rows read per agent and category (and app, when ``group_by`` names the
    category or the app), each shown at its agent's level, then summed to the keys of
    ``group_by`` (the others None) in first-seen order. On "category" both the app and
    the category are the top level of the row's category: rows that become one are
    summed, so a team-wide sum does not reveal a hidden app either. On "app" the
    category is the one the app alone gives (``rules``)."""
    out: dict[tuple[str | None, str | None, str | None], UsageRow] = {}
    for row in rows:
        app, category = row.app, row.category
        level = level_of(row.agent_id)
        if level == "category":
            top = top_category(category or UNCATEGORIZED)
            app, category = (top if app is not None else None), top
        elif level == "app" and app is not None and category is not None:
            category = rules.categorize_app(app)
        key = (
            row.agent_id if "agent" in group_by else None,
            app if "app" in group_by else None,
            category if "category" in group_by else None,
        )
        seen = out.get(key)
        active, idle = row.active_ms, row.idle_ms
        if seen is not None:
            active, idle = active + seen.active_ms, idle + seen.idle_ms
        out[key] = UsageRow(key[0], key[1], active, idle, key[2])
    return [r for r in out.values() if r.active_ms or r.idle_ms]


def team_by_category(
    team: Iterable[UsageRow],
    in_full: Iterable[UsageRow],
    live: Iterable[UsageRow],
    level_of: Callable[[str | None], Visibility],
    group_by: Sequence[GroupKey],
    rules: RuleSet,
) -> list[UsageRow]:
    """Team-wide usage by category (not by agent) for a viewer who sees no one as a
    category only, from few rows: ``team``, the stored time of everyone per app and
    category (the team's rollups); ``in_full``, that of the agents the viewer sees in
    full, per agent, app and category; ``live``, the time in progress per agent. The
    rest of the team shows the viewer the app: its time is in the category its app alone
    gives, whatever the stored category (decided by titles and URLs too) says. Read the
    agents in full before the team: a write between the two only adds to the team's."""
    rest: dict[tuple[str | None, str | None], list[int]] = {}
    for row in team:
        slot = rest.setdefault((row.app, row.category), [0, 0])
        slot[0] += row.active_ms
        slot[1] += row.idle_ms
    for row in in_full:
        slot = rest.setdefault((row.app, row.category), [0, 0])
        slot[0] -= row.active_ms
        slot[1] -= row.idle_ms
    others = [
        UsageRow(None, app, max(active, 0), max(idle, 0), category)
        for (app, category), (active, idle) in rest.items()
    ]

    def level(agent_id: str | None) -> Visibility:
        return "app" if agent_id is None else level_of(agent_id)

    return present_usage([*others, *in_full, *live], level, group_by, rules)


@dataclass(frozen=True, slots=True)
class Directory:
    """Who owns which agent, and what each person lets others see: read from the store
    (security/access.py) and used for every decision of one request or one fan-out."""

    owners: Mapping[str, int]  # agent id -> person id
    people: Mapping[int, Person]
    # The category rules in force: what a person on "category" shows.
    rules: RuleSet = field(default_factory=lambda: compile_rules(DEFAULT_RULES))

    def owner(self, agent_id: str) -> Person | None:
        person_id = self.owners.get(agent_id)
        return self.people.get(person_id) if person_id is not None else None

    def agents_of(self, person: Person) -> frozenset[str]:
        return frozenset(a for a, p in self.owners.items() if p == person.id)

    def anyone_as_category(self, viewer: Person | None) -> bool:
        """Whether ``viewer`` sees any agent's activity as its category only. When nobody
        is ("full" and "app" show usage as stored), usage is read as the store keeps it,
        summed over the team, rather than per agent and category (``present_usage``)."""
        if viewer is None:
            return False
        if DEFAULT_VISIBILITY == "category":
            return True  # the level of agents nobody owns
        shown = {p.id for p in self.people.values() if p.visibility == "category"}
        shown.discard(viewer.id)  # their own agents they see in full
        return any(person_id in shown for person_id in self.owners.values())

    def shown_in_full(self, viewer: Person | None) -> frozenset[str] | None:
        """The agents whose activity ``viewer`` sees in full: their own, and those of
        people who show everything (None: every agent, open mode)."""
        if viewer is None:
            return None
        full = {p.id for p in self.people.values() if p.visibility == "full"} | {viewer.id}
        return frozenset(a for a, person_id in self.owners.items() if person_id in full)

    def level(self, viewer: Person | None, agent_id: str | None) -> Visibility:
        """What ``viewer`` (None: open mode, no accounts) may see of the agent. An agent
        nobody owns shows the default level (no titles without a person's say-so)."""
        if viewer is None:
            return "full"
        owner = self.owner(agent_id) if agent_id is not None else None
        if owner is None:
            return DEFAULT_VISIBILITY
        return "full" if owner.id == viewer.id else owner.visibility


EMPTY = Directory({}, {})
