"""Status at a glance as each viewer may see it (panel/office_status.py): read from what
the viewer's level shows of the person and nothing else: a Google Meet tab is a meeting
to whoever may see its URL, a browser to whoever sees apps only; a stretch of GitHub is
programming at "full", nothing at "app", "Work" at "category"."""

from __future__ import annotations

from officepulse.bus.presence import AgentView
from officepulse.core.categories import DEFAULT_RULES, Rule, compile_rules
from officepulse.panel.office_status import OfficeStatus, shown_category
from officepulse.protocol.messages import Activity
from tests.support.live import view as live_view

MIN = 60_000
NOW = 1_800_000_000_000
RULES = compile_rules(DEFAULT_RULES)
MEET = Activity(
    app="firefox", title="Meet - abc-defg-hij", url="https://meet.google.com/abc-defg-hij"
)
ZOOM = Activity(app="zoom", title="Zoom Meeting")
GITHUB = Activity(app="firefox", title="PR #42", url="https://github.com/o/officepulse/pull/42")


def view(activity: Activity, since: int, agent_id: str = "ann") -> AgentView:
    return live_view(agent_id, since, activity)


def test_the_category_each_level_may_know() -> None:
    assert shown_category(MEET, "full", RULES) == "Comms > Meetings"
    assert shown_category(MEET, "app", RULES) == "Uncategorized"  # the app alone: a browser
    assert shown_category(MEET, "category", RULES) == "Comms"
    assert shown_category(ZOOM, "app", RULES) == "Comms > Meetings"


def test_in_a_meeting_only_where_the_level_shows_it() -> None:
    status = OfficeStatus()
    meet, zoom = view(MEET, NOW - 5 * MIN), view(ZOOM, NOW - 5 * MIN, "bob")
    for v in (meet, zoom):
        status.observe(v, RULES)
    assert status.glance(meet, "full", RULES).meeting
    assert not status.glance(meet, "app", RULES).meeting
    assert not status.glance(meet, "category", RULES).meeting
    assert status.glance(zoom, "app", RULES).meeting
    assert not status.glance(zoom, "category", RULES).meeting  # "Comms" says no more


def test_focus_only_from_what_the_level_shows() -> None:
    status = OfficeStatus()
    github = view(GITHUB, NOW - 30 * MIN)
    status.observe(github, RULES)
    full = status.glance(github, "full", RULES).focus
    assert full is not None
    assert (full.key, full.start_ms) == ("Work > Programming", NOW - 30 * MIN)
    assert status.glance(github, "app", RULES).focus is None  # a browser is not work
    shown = status.glance(github, "category", RULES).focus
    assert shown is not None
    assert shown.key == "Work"  # what a viewer of categories sees all along


def test_new_rules_start_every_stretch_again_from_what_is_in_front() -> None:
    status = OfficeStatus()
    status.observe(view(Activity(app="Code"), NOW - 50 * MIN), RULES)
    status.observe(view(Activity(app="Slack"), NOW - 30 * MIN), RULES)
    later = view(Activity(app="Code"), NOW - 29 * MIN)
    status.observe(later, RULES)
    before = status.glance(later, "full", RULES).focus
    assert before is not None
    assert before.start_ms == NOW - 50 * MIN
    # Slack is work now: the runs kept were of other rules.
    rules = compile_rules([Rule(category="Work > Chat", pattern="^slack$"), *DEFAULT_RULES])
    after = status.glance(later, "full", rules).focus
    assert after is not None
    assert after.start_ms == NOW - 29 * MIN


def test_paused_idle_and_offline_say_nothing_at_a_glance() -> None:
    status = OfficeStatus()
    paused = view(Activity(app="paused", paused=True), NOW - 40 * MIN)
    idle = view(Activity(app="Code", idle=True), NOW - 40 * MIN)
    assert status.glance(paused, "full", RULES).focus is None
    assert status.glance(idle, "full", RULES).focus is None
    # In a meeting while idle (listening, hands off the keyboard) is still a meeting.
    assert status.glance(view(Activity(app="zoom", idle=True), NOW), "full", RULES).meeting
