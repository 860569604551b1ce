"""A panel's hub brought up to date (panel/snapshot.py): after the bus was down, every
agent is shown as its gateway or the database has it now, and the dashboards hear it."""

from __future__ import annotations

import asyncio

from officepulse.bus.presence import AgentView
from officepulse.panel.hub import Hub
from officepulse.panel.snapshot import resync
from officepulse.store.base import AgentInfo, AgentStatus, Blocked


def info(agent_id: str, *, online: bool, seen: int) -> AgentInfo:
    return AgentInfo(agent_id, agent_id.title(), "host", "Linux", "1.0", "UTC", online, seen)


def status(agent_id: str, *, online: bool, seen: int, blocked: bool = False) -> AgentStatus:
    return AgentStatus(
        info(agent_id, online=online, seen=seen),
        None,
        Blocked("on leave", seen) if blocked else None,
    )


def hub_showing(*views: AgentView) -> tuple[Hub, list[str]]:
    hub = Hub(lambda view, level: f"{view.id}:{view.online}", lambda views: "", 5.0)
    hub.seed(list(views))
    sent: list[str] = []

    async def send(html: str) -> None:
        sent.append(html)

    queue = hub.attach(send)
    asyncio.get_running_loop().create_task(queue.run())
    return hub, sent


async def test_each_agent_is_shown_as_it_is_now_and_dashboards_hear_it() -> None:
    was = {
        a: AgentView.of(info(a, online=True, seen=100), None)
        for a in ("went", "stayed", "moved", "removed", "blocked")
    }
    hub, sent = hub_showing(*was.values())
    stored = [
        status("went", online=False, seen=200),  # went offline while the bus was down
        status("stayed", online=True, seen=100),  # unchanged
        status("moved", online=False, seen=50),  # the database lags: its gateway knows
        status("blocked", online=True, seen=100, blocked=True),
        status("new", online=True, seen=300),  # connected meanwhile
    ]
    live = [AgentView.of(info("moved", online=True, seen=250), None)]
    changed = await resync(hub, stored, live)
    assert changed == 5  # went, moved, blocked, new, and removed (no longer stored)
    shown = {v.id: (v.online, v.last_seen_ms) for v in hub.views()}
    assert shown == {
        "went": (False, 200),
        "stayed": (True, 100),
        "moved": (True, 250),
        "new": (True, 300),
    }
    # Dashboards drop the blocked and the removed agents.
    async with asyncio.timeout(10):
        while 'id="agent-removed" hx-swap-oob="delete"' not in "".join(sent):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert 'id="agent-blocked" hx-swap-oob="delete"' in "".join(sent)


async def test_a_snapshot_older_than_what_is_shown_is_left_alone() -> None:
    newer = AgentView.of(info("a", online=False, seen=500), None)
    hub, _ = hub_showing(newer)
    assert await resync(hub, [status("a", online=True, seen=400)], []) == 0
    assert hub.view("a") == newer
