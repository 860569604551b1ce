"""Status at a glance on the office's cards: "in a meeting", "focused for …"
(core/focus.py), as each viewer may see it.

Each viewer reads the status from what their level shows of the person
(security/visibility.py): on "full", from the category of the app, title and URL; on
"app", from the app alone (a Google Meet tab is a browser, not a meeting); on
"category", from the top-level category alone. Nothing a level hides from a viewer is
used to tell them anything.

What was in front over time comes from presence as it reaches the hub: a stretch of
focus is kept as runs per level (core/focus.py), from a person's first change seen by
this process (after a restart, from the start of what is in front: the agent says since
when). New category rules start everyone's runs again from what is in front now.
"""

from __future__ import annotations

from dataclasses import dataclass

from officepulse.bus.presence import AgentView
from officepulse.core.categories import Rule, RuleSet
from officepulse.core.focus import (
    FOCUS,
    Focus,
    FocusRule,
    Run,
    advance,
    ended,
    focus,
    is_meeting,
    work_key,
)
from officepulse.protocol.messages import Activity
from officepulse.security.visibility import present_activity
from officepulse.store.accounts import VISIBILITIES, Visibility


def shown_category(activity: Activity, level: Visibility, rules: RuleSet) -> str:
    """The category of ``activity`` as a viewer at ``level`` may know it: from what
    ``present_activity`` shows them, and only that."""
    shown = present_activity(activity, level, rules)
    if level == "category":
        return shown.app  # the top-level category itself
    return rules.categorize(shown.app, shown.title, shown.url)


@dataclass(frozen=True, slots=True)
class Glance:
    """What a card says at a glance: in a meeting, or focused (shown from
    ``focus.shown_from_ms``), or neither."""

    meeting: bool = False
    focus: Focus | None = None


NOTHING = Glance()


class OfficeStatus:
    def __init__(self, rule: FocusRule = FOCUS) -> None:
        self.rule = rule
        self._runs: dict[str, dict[Visibility, tuple[Run, ...]]] = {}
        self._rules: tuple[Rule, ...] | None = None

    def _same_rules(self, rules: RuleSet) -> None:
        if rules.rules != self._rules:
            self._rules = rules.rules
            self._runs.clear()  # keys of other rules: everyone starts again

    def observe(self, view: AgentView, rules: RuleSet) -> None:
        """An agent's view as it reaches the hub."""
        self._same_rules(rules)
        if not view.listed:
            self._runs.pop(view.id, None)
            return
        runs = self._runs.get(view.id) or dict.fromkeys(VISIBILITIES, ())
        current = view.current
        if not view.online:
            self._runs[view.id] = {lv: ended(r, view.last_seen_ms) for lv, r in runs.items()}
        elif current is None:
            # Nothing to show, from when it was said (such a presence has no start).
            start = view.last_seen_ms
            self._runs[view.id] = {lv: advance(r, start, None, self.rule) for lv, r in runs.items()}
        else:
            activity = current.activity
            self._runs[view.id] = {
                lv: advance(r, current.start_ms, self._key(activity, lv, rules), self.rule)
                for lv, r in runs.items()
            }

    @staticmethod
    def _key(activity: Activity, level: Visibility, rules: RuleSet) -> str | None:
        if activity.idle or activity.paused:
            return None
        return work_key(shown_category(activity, level, rules))

    def glance(self, view: AgentView, level: Visibility, rules: RuleSet) -> Glance:
        """What the card of ``view`` says at a glance to a viewer at ``level``."""
        self._same_rules(rules)
        current = view.current
        if not view.online or current is None or current.activity.paused:
            return NOTHING
        if view.id not in self._runs:
            self.observe(view, rules)  # first seen since a restart or new rules
        activity = current.activity
        if is_meeting(shown_category(activity, level, rules)):
            return Glance(meeting=True)
        if activity.idle:
            return NOTHING
        return Glance(focus=focus(self._runs[view.id][level], self.rule))
