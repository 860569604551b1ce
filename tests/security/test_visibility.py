"""What each viewer may see (security/visibility.py), and the hub rendering once per
audience rather than once per browser."""

from __future__ import annotations

import asyncio

from officepulse.bus.presence import AgentView, CurrentSpan, encode_view
from officepulse.core.categories import DEFAULT_RULES, compile_rules
from officepulse.core.spans import Span
from officepulse.panel.hub import Hub
from officepulse.protocol.messages import Activity, Media
from officepulse.security.visibility import (
    Directory,
    present_activity,
    present_span,
    present_usage,
    present_view,
    team_by_category,
)
from officepulse.store.accounts import NewPerson, Person, Visibility
from officepulse.store.base import UsageRow
from tests.support.processes import WAIT

FULL = Activity(
    app="Firefox",
    title="Bank — statement",
    url="https://bank.example/",
    process="firefox",
    pid=7,
    program="vim",
    project="p",
    file="f",
    media=Media(player="spotify", title="t", artist="a"),
)


RULES = compile_rules(DEFAULT_RULES)
CODE = Activity(app="Code", title="secret-project/main.py")
TUBE = Activity(app="Firefox", title="Cats — YouTube", url="https://www.youtube.com/watch?v=1")


def person(id_: int, visibility: Visibility, role: str = "member") -> Person:
    return NewPerson(
        f"p{id_}", f"P{id_}", "admin" if role == "admin" else "member", "h", visibility, 0
    ).with_id(id_)


def busy_view() -> AgentView:
    return AgentView(
        id="a",
        name="A",
        host="h",
        platform="linux",
        version="1",
        tz="UTC",
        online=True,
        last_seen_ms=0,
        current=CurrentSpan(start_ms=0, end_ms=10, activity=FULL),
    )


def test_present_activity_keeps_only_what_the_level_allows() -> None:
    assert present_activity(FULL, "full", RULES) == FULL
    assert present_activity(FULL, "app", RULES) == Activity(app="Firefox")
    # "category": the top level of the category the rules give, and nothing else.
    assert present_activity(FULL, "category", RULES) == Activity(app="Uncategorized")
    assert present_activity(CODE, "category", RULES) == Activity(app="Work")
    assert present_activity(TUBE, "category", RULES) == Activity(app="Entertainment")
    away = Activity(app="Code", title="x", idle=True)
    assert present_activity(away, "category", RULES) == Activity(app="Work", idle=True)
    assert present_activity(Activity(app="private", private=True), "app", RULES).private
    hidden = Activity(app="private", private=True)
    assert present_activity(hidden, "category", RULES) == Activity(app="Private")
    # Everyone may see that a person paused the agent, at every level.
    paused = Activity(app="paused", paused=True)
    assert present_activity(paused, "app", RULES) == paused
    assert present_activity(paused, "category", RULES) == Activity(app="Paused", paused=True)


def test_levels_per_viewer() -> None:
    ann, bob, cat = person(1, "category", "admin"), person(2, "app"), person(3, "full")
    directory = Directory({"a-ann": 1, "a-bob": 2, "a-cat": 3}, {1: ann, 2: bob, 3: cat})
    assert directory.level(bob, "a-bob") == "full"  # one's own
    assert directory.level(bob, "a-ann") == "category"  # the admin's own choice
    assert directory.level(ann, "a-bob") == "app"  # admins see the chosen level
    assert directory.level(bob, "a-cat") == "full"
    assert directory.level(bob, "nobodys") == "app"  # unowned: no titles
    assert directory.level(None, "a-ann") == "full"  # open mode
    assert directory.agents_of(ann) == {"a-ann"}


def test_usage_rows_merge_when_apps_are_hidden() -> None:
    rows = [
        UsageRow("a", "Code", 10, 1, "Work > Programming"),
        UsageRow("a", "Firefox", 5, 0, "Work > Docs"),
        UsageRow("a", "Firefox", 4, 0, "Entertainment > Video"),
        UsageRow("b", "Code", 7, 0, "Work > Programming"),
    ]

    def level(agent: str | None) -> Visibility:
        return "category" if agent == "a" else "app"

    shown = present_usage(rows, level, ["agent", "app"], RULES)
    assert shown == [
        UsageRow("a", "Work", 15, 1),
        UsageRow("a", "Entertainment", 4, 0),
        UsageRow("b", "Code", 7, 0),
    ]
    # Team-wide: a's apps stay hidden in the sum; b's category is b's to show.
    assert present_usage(rows, level, ["app"], RULES) == [
        UsageRow(None, "Work", 15, 1),
        UsageRow(None, "Entertainment", 4, 0),
        UsageRow(None, "Code", 7, 0),
    ]
    assert present_usage(rows, level, ["category"], RULES) == [
        UsageRow(None, None, 15, 1, "Work"),
        UsageRow(None, None, 4, 0, "Entertainment"),
        UsageRow(None, None, 7, 0, "Work > Programming"),
    ]


def test_at_app_the_category_is_the_apps_alone_team_wide_too() -> None:
    # Stored: a's Firefox hour is "Entertainment > Video" by its URL. a shows the app.
    team = [
        UsageRow(None, "Firefox", 7, 0, "Entertainment > Video"),  # a's 4 and me's 3
        UsageRow(None, "Code", 10, 2, "Work > Programming"),
    ]
    mine = [UsageRow("me", "Firefox", 3, 0, "Entertainment > Video")]
    live = [
        UsageRow("a", "Firefox", 1, 0, "Entertainment > Video"),
        UsageRow("me", "Firefox", 1, 0, "Entertainment > Video"),
    ]

    def level(agent: str | None) -> Visibility:
        return "full" if agent == "me" else "app"

    assert team_by_category(team, mine, live, level, ["category"], RULES) == [
        UsageRow(None, None, 5, 0, "Uncategorized"),
        UsageRow(None, None, 10, 2, "Work > Programming"),
        UsageRow(None, None, 4, 0, "Entertainment > Video"),
    ]
    assert team_by_category(team, mine, live, level, ["app", "category"], RULES) == [
        UsageRow(None, "Firefox", 5, 0, "Uncategorized"),
        UsageRow(None, "Code", 10, 2, "Work > Programming"),
        UsageRow(None, "Firefox", 4, 0, "Entertainment > Video"),
    ]
    # Per agent, likewise; at "full" the stored category, at "category" its top level.
    rows = [*mine, UsageRow("a", "Firefox", 4, 0, "Entertainment > Video")]
    assert present_usage(rows, level, ["agent", "category"], RULES) == [
        UsageRow("me", None, 3, 0, "Entertainment > Video"),
        UsageRow("a", None, 4, 0, "Uncategorized"),
    ]
    assert present_usage(rows, lambda _: "category", ["category"], RULES) == [
        UsageRow(None, None, 7, 0, "Entertainment")
    ]


def test_who_is_seen_in_full() -> None:
    me, shows_all, shows_app = person(1, "app"), person(2, "full"), person(3, "app")
    directory = Directory(
        {"mine": 1, "theirs": 2, "hidden": 3, "gone": 9},
        {p.id: p for p in (me, shows_all, shows_app)},
    )
    assert directory.shown_in_full(me) == {"mine", "theirs"}
    assert directory.shown_in_full(shows_app) == {"theirs", "hidden"}
    assert directory.shown_in_full(None) is None  # open mode: everyone


def test_spans_and_views_lose_titles_below_full() -> None:
    span = Span(0, 10, FULL)
    assert present_span(span, "app", RULES) == Span(0, 10, Activity(app="Firefox"))
    assert present_span(Span(0, 10, CODE), "category", RULES) == Span(0, 10, Activity(app="Work"))
    view = busy_view()
    shown = present_view(view, "category", RULES)
    assert shown.current is not None
    assert shown.current.activity == Activity(app="Uncategorized")
    assert present_view(view, "full", RULES) is view


async def test_the_hub_renders_one_fragment_per_level_not_per_browser() -> None:
    rendered: list[Visibility] = []

    def render(view: AgentView, level: Visibility) -> str:
        rendered.append(level)
        activity = present_view(view, level, RULES).current
        return f"[{level}:{activity.activity.title if activity else ''}]"

    hub = Hub(render, lambda views: "", send_timeout=5)
    inboxes: dict[str, list[str]] = {}
    queues = []
    for name, level in [("own", "full"), ("m1", "app"), ("m2", "app"), ("m3", "app")]:
        inbox: list[str] = []
        inboxes[name] = inbox

        async def send(text: str, inbox: list[str] = inbox) -> None:
            inbox.append(text)

        queue = hub.attach(send, lambda agent_id, level=level: level)
        queues.append(asyncio.create_task(queue.run()))
    view = busy_view()
    await hub.on_presence(encode_view(view))
    await asyncio.sleep(0)
    assert sorted(rendered) == ["app", "full"]  # four browsers, two renderings
    async with asyncio.timeout(WAIT):
        while not all(inboxes.values()):  # noqa: ASYNC110 - lists the senders fill
            await asyncio.sleep(0.01)
    assert "Bank" in "".join(inboxes["own"])
    for name in ("m1", "m2", "m3"):
        assert "Bank" not in "".join(inboxes[name])
        assert "[app:]" in "".join(inboxes[name])
    for queue in list(hub.browsers):
        hub.detach(queue)
    await asyncio.gather(*queues)
