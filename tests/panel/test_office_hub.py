"""The hub's groups (panel/hub.py): each agent's card in its group, counts kept as changes
come and sent only when a card changed group, a card moved between groups (taken out,
put in) even on a dashboard whose queue coalesced the steps, and time alone moving
idle to away (``regroup``). In process: the hub is sans-I/O but for its senders."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import msgspec

from officepulse.bus.presence import AgentView, encode_view
from officepulse.core.office import AWAY_AFTER_MS, state_of
from officepulse.panel.hub import BrowserQueue, Fragment, Hub
from officepulse.protocol.messages import Activity
from tests.support.live import view as live_view
from tests.support.processes import WAIT

NOW = 1_800_000_000_000
CODE = Activity(app="Code")


def view(
    agent_id: str, activity: Activity | None, since: int = NOW, online: bool = True
) -> AgentView:
    if activity is None:  # nothing in front
        return msgspec.structs.replace(
            live_view(agent_id, since, CODE, online=online), current=None
        )
    return live_view(agent_id, since, activity, online=online)


class Office:
    """A hub whose clock the test moves, and one dashboard's messages."""

    def __init__(self, *views: AgentView) -> None:
        self.now = NOW
        self.counted: list[dict[str, int]] = []
        self.hub = Hub(
            lambda v, level: f"<article id=agent-{v.id}>{state_of(*self.state(v))}</article>",
            self.count,
            5.0,
            group_of=lambda v: state_of(*self.state(v)),
        )
        self.hub.seed(list(views))
        self.sent: list[str] = []

    def state(self, v: AgentView) -> tuple[bool, Activity | None, int, int]:
        current = v.current
        since = current.start_ms if current is not None else v.last_seen_ms
        return v.online, current.activity if current is not None else None, since, self.now

    def count(self, counts: Mapping[str, int]) -> str:
        self.counted.append(dict(counts))
        return f"<counts {sorted(counts.items())}>"

    def attach(self) -> BrowserQueue:
        async def send(html: str) -> None:
            self.sent.append(html)

        return self.hub.attach(send)

    async def until_sent(self, needle: str) -> str:
        async with asyncio.timeout(WAIT):
            while not any(needle in s for s in self.sent):  # noqa: ASYNC110 - filled by send
                await asyncio.sleep(0.01)
        return next(s for s in self.sent if needle in s)


def test_a_fragment_is_swapped_in_place_put_in_its_group_or_moved() -> None:
    card = Fragment("ann", "<article id=agent-ann>…</article>", "idle")
    assert card.for_browser("idle") == card.html
    assert card.for_browser(None) == (
        '<div hx-swap-oob="beforeend:#cards-idle"><article id=agent-ann>…</article></div>'
    )
    moved = card.for_browser("active")
    assert moved.index('<article id="agent-ann" hx-swap-oob="delete">') < moved.index(
        "beforeend:#cards-idle"
    )


async def test_groups_and_counts_follow_presence_and_counts_go_out_only_when_they_change() -> None:
    office = Office(view("ann", CODE), view("bob", CODE), view("cy", None, online=False))
    assert office.hub.counts() == {"active": 2, "offline": 1}
    queue = office.attach()
    runner = asyncio.create_task(queue.run())
    await office.hub.on_presence(encode_view(view("ann", Activity(app="Slack"))))
    sent = await office.until_sent("agent-ann")
    assert "counts" not in sent  # still active: no counts
    assert "beforeend" not in sent  # and swapped in place
    await office.hub.on_presence(encode_view(view("bob", Activity(app="Code", idle=True))))
    sent = await office.until_sent("agent-bob")
    assert "<counts [('active', 1), ('idle', 1), ('offline', 1)]>" in sent
    assert "beforeend:#cards-idle" in sent
    assert office.hub.members("idle") == ["bob"]
    office.hub.detach(queue)
    await runner


async def test_a_dashboard_that_coalesced_a_move_still_gets_the_card_out_of_its_old_group() -> None:
    office = Office(view("ann", CODE))
    queue = office.attach()  # it has Ann in "active"
    # Idle, then paused, before this dashboard's sender runs: one fragment is left.
    office.hub.show(view("ann", Activity(app="Code", idle=True)))
    office.hub.show(view("ann", Activity(app="paused", paused=True)))
    office.hub.show(view("ann", Activity(app="paused", paused=True), since=NOW + 1))
    runner = asyncio.create_task(queue.run())
    sent = await office.until_sent("agent-ann")
    assert 'hx-swap-oob="delete"' in sent  # out of "active", where this dashboard has her
    assert "beforeend:#cards-paused" in sent
    # The counts of the last move came, though the last change itself moved nothing.
    assert "('paused', 1)" in sent
    assert queue.known == {"ann": "paused"}
    office.hub.detach(queue)
    await runner


async def test_time_alone_moves_idle_to_away() -> None:
    office = Office(view("ann", Activity(app="Code", idle=True)))
    queue = office.attach()
    runner = asyncio.create_task(queue.run())
    office.hub.regroup(office.hub.members("idle"))
    await asyncio.sleep(0)
    assert office.sent == []  # not yet
    office.now = NOW + AWAY_AFTER_MS
    office.hub.regroup(office.hub.members("idle"))
    sent = await office.until_sent("agent-ann")
    assert "beforeend:#cards-away" in sent
    assert office.hub.counts() == {"away": 1}
    office.hub.detach(queue)
    await runner


async def test_a_removed_agent_leaves_its_group() -> None:
    office = Office(view("ann", CODE), view("bob", CODE))
    office.hub.show(AgentView.gone("ann"))
    assert office.hub.counts() == {"active": 1}
    assert office.hub.group("ann") is None
