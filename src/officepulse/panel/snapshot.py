"""A panel's hub brought up to date at once: at start, and after the bus was down (the
deltas published meanwhile may be lost; presence is state, so it is asked for again).

Each agent is shown as the gateway holding it says (``live``), else as the store has it;
an agent no longer stored leaves the dashboards. A view older than the one the hub already
shows (a delta that overtook the snapshot) is left alone.
"""

from __future__ import annotations

from officepulse.bus.presence import AgentView, encode_view
from officepulse.panel.hub import Hub
from officepulse.store.base import AgentStatus


async def resync(hub: Hub, stored: list[AgentStatus], live: list[AgentView]) -> int:
    """Show every agent as it is now; how many views changed."""
    held = {view.id: view for view in live}
    stored_ids = set()
    changed = 0
    for status in stored:
        agent_id = status.info.id
        stored_ids.add(agent_id)
        view = held.get(agent_id)
        if view is None or status.blocked is not None:
            view = AgentView.of_status(status)
        shown = hub.view(agent_id)
        if shown == view or (shown is None and not view.listed):
            continue
        if shown is not None and shown.last_seen_ms > view.last_seen_ms:
            continue  # the hub heard of it since
        await hub.on_presence(encode_view(view))
        changed += 1
    for shown in hub.views():
        if shown.id not in stored_ids:
            await hub.on_presence(encode_view(AgentView.gone(shown.id)))
            changed += 1
    return changed
