"""What a viewer may see of an agent's activity, applied on the server before anything
is sent to a browser or an API client. Pure: no I/O, no clock.

A person chooses what others see of them (store/accounts.py ``Visibility``): everything,
the app only, or a category only. They always see all of their own; so does everyone in
open mode (no accounts yet: the office is as open as it was). Admins see others at the
level each person chose: the privacy is the person's to set, not the admin's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import msgspec

from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity
from officepulse.server.presence import AgentView
from officepulse.store.accounts import DEFAULT_VISIBILITY, Person, Visibility
from officepulse.store.base import UsageRow

# Shown for a person on "category" until categories exist (the categories branch will
# extend present_activity to name the category, e.g. "Coding").
ACTIVE, AWAY = "active", "away"


def present_activity(activity: Activity, level: Visibility) -> Activity:
    """The activity as it may be shown at ``level``. The one place that decides it."""
    if level == "full":
        return activity
    if level == "app":
        return Activity(app=activity.app, idle=activity.idle, private=activity.private)
    return Activity(app=AWAY if activity.idle else ACTIVE, idle=activity.idle)


def present_view(view: AgentView, level: Visibility) -> AgentView:
    if level == "full" or view.current is None:
        return view
    current = msgspec.structs.replace(
        view.current, activity=present_activity(view.current.activity, level)
    )
    return msgspec.structs.replace(view, current=current)


def present_span(span: Span, level: Visibility) -> Span:
    return (
        span if level == "full" else replace(span, activity=present_activity(span.activity, level))
    )


def present_usage(
    rows: Iterable[UsageRow], level_of: Callable[[str | None], Visibility]
) -> list[UsageRow]:
    """Usage rows with each app as its agent's level shows it; rows that become one
    (several apps of a person on "category") are summed, in first-seen order."""
    out: dict[tuple[str | None, str | None], UsageRow] = {}
    for row in rows:
        app = row.app
        if app is not None:
            app = present_activity(Activity(app=app), level_of(row.agent_id)).app
        key = (row.agent_id, app)
        seen = out.get(key)
        out[key] = (
            UsageRow(row.agent_id, app, row.active_ms, row.idle_ms)
            if seen is None
            else UsageRow(
                row.agent_id, app, seen.active_ms + row.active_ms, seen.idle_ms + row.idle_ms
            )
        )
    return list(out.values())


@dataclass(frozen=True, slots=True)
class Directory:
    """Who owns which agent, and what each person lets others see: read from the store
    (server/access.py) and used for every decision of one request or one fan-out."""

    owners: Mapping[str, int]  # agent id -> person id
    people: Mapping[int, Person]

    def owner(self, agent_id: str) -> Person | None:
        person_id = self.owners.get(agent_id)
        return self.people.get(person_id) if person_id is not None else None

    def agents_of(self, person: Person) -> frozenset[str]:
        return frozenset(a for a, p in self.owners.items() if p == person.id)

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
