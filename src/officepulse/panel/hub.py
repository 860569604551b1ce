"""The hub: pushes presence changes to every connected dashboard.

Each dashboard has its own bounded, coalescing queue: the latest fragment per
agent, nothing more. A burst of changes to one person becomes one update, the
queue can never hold more than one entry per agent, and a sender that cannot
keep up (a send that takes longer than ``send_timeout``) is disconnected, so
one slow browser never delays the others (websockets' broadcast advice).

The office groups its cards (core/office.py: active, idle, ... offline): the hub keeps
each agent's group and each group's members as changes come, so a change costs one
rendering per audience and the groups' counts only when a card changed group. Each
dashboard's queue knows which group it last put each card in: a card that changed
group since is taken out and put in its new group, one that did not is swapped in place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from officepulse.bus.presence import AgentView, decode_view
from officepulse.store.accounts import Visibility

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]
# What one dashboard's viewer may see of an agent (security/visibility.py).
Level = Callable[[str], Visibility]


def everything(agent_id: str) -> Visibility:
    return "full"


def _unobserved(seconds: float) -> None:
    return None


def _one_group(view: AgentView) -> str:
    return "people"


def _not_watched(view: AgentView) -> None:
    return None


# Where a card goes in a group: the group's list of cards (people.html).
def container(group: str) -> str:
    return f"cards-{group}"


@dataclass(frozen=True, slots=True)
class Fragment:
    """One agent's card in its ``group``: swapped by id on a dashboard that has it in
    that group, put in the group on one that has it elsewhere (taken out there first) or
    not at all; or (``gone``) its removal from those that have it."""

    agent_id: str
    html: str
    group: str = ""
    gone: bool = False

    def for_browser(self, known: str | None) -> str:
        """What to send a dashboard that has the card in group ``known`` (None: not)."""
        if self.gone:
            return self.html if known is not None else ""
        if known == self.group:
            return self.html
        insert = f'<div hx-swap-oob="beforeend:#{container(self.group)}">{self.html}</div>'
        return insert if known is None else removal(self.agent_id).html + insert


def removal(agent_id: str) -> Fragment:
    """Takes the agent's card off a dashboard (a blocked or removed agent)."""
    return Fragment(
        agent_id, f'<article id="agent-{agent_id}" hx-swap-oob="delete"></article>', gone=True
    )


class BrowserQueue:
    def __init__(
        self,
        send: Send,
        known: dict[str, str],
        send_timeout: float,
        level: Level = everything,
        observe: Callable[[float], None] = _unobserved,
    ) -> None:
        self.send = send
        self.level = level
        self.known = known
        self.send_timeout = send_timeout  # known: agent id -> the group its card is in here
        self.pending: dict[str, Fragment] = {}
        self.extra: str = ""
        self.wakeup = asyncio.Event()
        self.closed = False
        # Fan-out latency (ops/metrics.py): from when the oldest change now pending
        # reached the hub (time.perf_counter) until it is sent.
        self.observe = observe
        self.since: float | None = None

    def offer(self, fragment: Fragment, extra: str, at: float | None = None) -> None:
        # Replacing the entry is the coalescing: only the newest state matters. ``extra``
        # (the groups' counts) is whole each time it comes, and comes only when it changed.
        self.pending[fragment.agent_id] = fragment
        if extra:
            self.extra = extra
        if self.since is None:
            self.since = time.perf_counter() if at is None else at
        self.wakeup.set()

    async def run(self) -> bool:
        """Send until the browser goes away (False) or falls behind (True)."""
        while not self.closed:
            await self.wakeup.wait()
            self.wakeup.clear()
            pending, self.pending = self.pending, {}
            extra, self.extra = self.extra, ""
            since, self.since = self.since, None
            parts = []
            for agent_id, fragment in pending.items():
                parts.append(fragment.for_browser(self.known.get(agent_id)))
                if fragment.gone:
                    self.known.pop(agent_id, None)
                else:
                    self.known[agent_id] = fragment.group
            if extra:
                parts.append(extra)
            if not parts:
                continue
            try:
                async with asyncio.timeout(self.send_timeout):
                    await self.send("".join(parts))
                if since is not None:
                    self.observe(time.perf_counter() - since)
            except TimeoutError:
                log.warning(
                    "a dashboard fell behind by %.1f s; disconnecting it", self.send_timeout
                )
                return True
        return False


class Hub:
    """Keeps the latest view of every agent and fans changes out to browsers.

    ``group_of`` says which group an agent's card is in now; ``render_count`` renders
    the groups' counts (group -> members) for dashboards; ``observe`` is told every view
    as it comes, before it is rendered."""

    def __init__(
        self,
        render_person: Callable[[AgentView, Visibility], str],
        render_count: Callable[[Mapping[str, int]], str],
        send_timeout: float,
        fanout_seconds: Callable[[float], None] = _unobserved,
        *,
        group_of: Callable[[AgentView], str] = _one_group,
        observe: Callable[[AgentView], None] = _not_watched,
    ) -> None:
        self.render_person = render_person
        self.render_count = render_count
        self.send_timeout = send_timeout
        # Each dashboard's send's delay since the change reached the hub, in seconds.
        self.fanout_seconds = fanout_seconds
        self.group_of = group_of
        self.observe = observe
        self._views: dict[str, AgentView] = {}
        self._groups: dict[str, str] = {}  # agent id -> its card's group
        self._members: dict[str, set[str]] = {}  # group -> agent ids
        self.browsers: set[BrowserQueue] = set()

    def seed(self, views: list[AgentView]) -> None:
        self._views = {v.id: v for v in views if v.listed}
        self._groups, self._members = {}, {}
        for view in self._views.values():
            self.observe(view)
            self._place(view)

    def group(self, agent_id: str) -> str | None:
        """The group the agent's card is in, None when it is on no dashboard."""
        return self._groups.get(agent_id)

    def groups(self) -> dict[str, str]:
        """Each agent's group, as dashboards show it now."""
        return dict(self._groups)

    def counts(self) -> dict[str, int]:
        return {group: len(members) for group, members in self._members.items() if members}

    def members(self, group: str) -> list[str]:
        return list(self._members.get(group, ()))

    def _place(self, view: AgentView) -> bool:
        """Puts the agent in its group now (out of every group when it is gone);
        whether it changed group."""
        old = self._groups.get(view.id)
        new = self.group_of(view) if view.listed else None
        if old == new:
            return False
        if old is not None:
            self._members[old].discard(view.id)
        if new is None:
            del self._groups[view.id]
        else:
            self._groups[view.id] = new
            self._members.setdefault(new, set()).add(view.id)
        return True

    def view(self, agent_id: str) -> AgentView | None:
        """The agent as the dashboards show it now; None when it is on none."""
        return self._views.get(agent_id)

    def views(self) -> list[AgentView]:
        """Every agent on the dashboards now."""
        return list(self._views.values())

    async def on_presence(self, payload: bytes) -> None:
        self.show(decode_view(payload), time.perf_counter())

    def show(self, view: AgentView, at: float | None = None) -> None:
        """An agent's view as it is now (``at``: when it reached the hub)."""
        self.observe(view)
        if view.listed:
            self._views[view.id] = view
        elif self._views.pop(view.id, None) is None:
            return  # not on any dashboard of this hub
        moved = self._place(view)
        if not self.browsers:
            return  # nobody to show it to: skip the rendering
        self._fan_out(view, self.render_count(self.counts()) if moved else "", at)

    def regroup(self, agent_ids: Iterable[str]) -> None:
        """Agents whose group may have changed with time alone (idle long enough is
        away): those that did move, to every dashboard."""
        moved = [v for a in agent_ids if (v := self._views.get(a)) is not None and self._place(v)]
        if moved and self.browsers:
            count = self.render_count(self.counts())
            for view in moved:
                self._fan_out(view, count)

    def resend(self, agent_ids: Iterable[str]) -> None:
        """These agents' cards again (what they show besides presence changed)."""
        if not self.browsers:
            return
        for agent_id in agent_ids:
            view = self._views.get(agent_id)
            if view is not None:
                self._fan_out(view, "")

    def _fan_out(self, view: AgentView, count: str, at: float | None = None) -> None:
        # One rendering per audience, not per browser: at most one per visibility level
        # (the person themself sees "full", everyone else the level the person chose).
        rendered: dict[Visibility, Fragment] = {}
        gone = None if view.listed else removal(view.id)
        group = self._groups.get(view.id, "")
        for browser in list(self.browsers):
            level = browser.level(view.id)
            fragment = gone or rendered.get(level)
            if fragment is None:
                html = self.render_person(view, level)
                fragment = rendered[level] = Fragment(view.id, html, group)
            browser.offer(fragment, count, at)

    def resend_all(self) -> None:
        """Every card again to every dashboard: who may see what has changed."""
        if not self.browsers:
            return
        count = self.render_count(self.counts())
        for view in self.views():
            self._fan_out(view, count)

    def attach(self, send: Send, level: Level = everything) -> BrowserQueue:
        """A new dashboard; the caller has sent it every agent of ``views()``, each
        at ``level`` and in its group of ``groups()``."""
        queue = BrowserQueue(
            send, dict(self._groups), self.send_timeout, level, self.fanout_seconds
        )
        self.browsers.add(queue)
        return queue

    def detach(self, queue: BrowserQueue) -> None:
        queue.closed = True
        queue.wakeup.set()
        self.browsers.discard(queue)

    def detach_all(self) -> None:
        for queue in list(self.browsers):
            self.detach(queue)
