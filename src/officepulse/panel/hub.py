"""The hub: pushes presence changes to every connected dashboard.

Each dashboard has its own bounded, coalescing queue: the latest fragment per
agent, nothing more. A burst of changes to one person becomes one update, the
queue can never hold more than one entry per agent, and a sender that cannot
keep up (a send that takes longer than ``send_timeout``) is disconnected, so
one slow browser never delays the others (websockets' broadcast advice).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
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


@dataclass(frozen=True, slots=True)
class Fragment:
    """One agent's card, as a swap by id and as an insertion for browsers that
    have never seen this agent; or (``gone``) its removal from those that have."""

    agent_id: str
    html: str
    gone: bool = False

    def for_browser(self, known: bool) -> str:
        if self.gone:
            return self.html if known else ""
        if known:
            return self.html
        return f'<div hx-swap-oob="beforeend:#people">{self.html}</div>'


def removal(agent_id: str) -> Fragment:
    """Takes the agent's card off a dashboard (a blocked or removed agent)."""
    return Fragment(
        agent_id, f'<article id="agent-{agent_id}" hx-swap-oob="delete"></article>', True
    )


class BrowserQueue:
    def __init__(
        self,
        send: Send,
        known: set[str],
        send_timeout: float,
        level: Level = everything,
        observe: Callable[[float], None] = _unobserved,
    ) -> None:
        self.send = send
        self.level = level
        self.known = known
        self.send_timeout = send_timeout
        self.pending: dict[str, Fragment] = {}
        self.extra: str = ""
        self.wakeup = asyncio.Event()
        self.closed = False
        # Fan-out latency (ops/metrics.py): from when the oldest change now pending
        # reached the hub (time.perf_counter) until it is sent.
        self.observe = observe
        self.since: float | None = None

    def offer(self, fragment: Fragment, extra: str, at: float | None = None) -> None:
        # Replacing the entry is the coalescing: only the newest state matters.
        self.pending[fragment.agent_id] = fragment
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
                parts.append(fragment.for_browser(agent_id in self.known))
                if fragment.gone:
                    self.known.discard(agent_id)
                else:
                    self.known.add(agent_id)
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
    """Keeps the latest view of every agent and fans changes out to browsers."""

    def __init__(
        self,
        render_person: Callable[[AgentView, Visibility], str],
        render_count: Callable[[list[AgentView]], str],
        send_timeout: float,
        fanout_seconds: Callable[[float], None] = _unobserved,
    ) -> None:
        self.render_person = render_person
        self.render_count = render_count
        self.send_timeout = send_timeout
        # Each dashboard's send's delay since the change reached the hub, in seconds.
        self.fanout_seconds = fanout_seconds
        self._views: dict[str, AgentView] = {}
        self.browsers: set[BrowserQueue] = set()

    def seed(self, views: list[AgentView]) -> None:
        self._views = {v.id: v for v in views if v.listed}

    def view(self, agent_id: str) -> AgentView | None:
        """The agent as the dashboards show it now; None when it is on none."""
        return self._views.get(agent_id)

    def views(self) -> list[AgentView]:
        """Every agent on the dashboards now."""
        return list(self._views.values())

    async def on_presence(self, payload: bytes) -> None:
        at = time.perf_counter()
        view = decode_view(payload)
        if view.listed:
            self._views[view.id] = view
        elif self._views.pop(view.id, None) is None:
            return  # not on any dashboard of this hub
        if not self.browsers:
            return  # nobody to show it to: skip the rendering
        self._fan_out(view, self.render_count(self.views()), at)

    def _fan_out(self, view: AgentView, count: str, at: float | None = None) -> None:
        # One rendering per audience, not per browser: at most one per visibility level
        # (the person themself sees "full", everyone else the level the person chose).
        rendered: dict[Visibility, Fragment] = {}
        gone = None if view.listed else removal(view.id)
        for browser in list(self.browsers):
            level = browser.level(view.id)
            fragment = gone or rendered.get(level)
            if fragment is None:
                fragment = rendered[level] = Fragment(view.id, self.render_person(view, level))
            browser.offer(fragment, count, at)

    def resend_all(self) -> None:
        """Every card again to every dashboard: who may see what has changed."""
        if not self.browsers:
            return
        views = self.views()
        count = self.render_count(views)
        for view in views:
            self._fan_out(view, count)

    def attach(self, send: Send, level: Level = everything) -> BrowserQueue:
        """A new dashboard; the caller has sent it every agent of ``views()``, each
        at ``level``."""
        queue = BrowserQueue(send, set(self._views), self.send_timeout, level, self.fanout_seconds)
        self.browsers.add(queue)
        return queue

    def detach(self, queue: BrowserQueue) -> None:
        queue.closed = True
        queue.wakeup.set()
        self.browsers.discard(queue)

    def detach_all(self) -> None:
        for queue in list(self.browsers):
            self.detach(queue)
