"""What each viewer may see, as of the last read of the directory (who owns which agent,
what each person shows, the category rules in force): read again on every page and
dashboard connection and after every change made here, so that the hub's fan-out, which
cannot wait for the store, uses the latest (security/visibility.py decides each level)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web

from officepulse.bus.presence import AgentView
from officepulse.panel.live import NOTHING_LIVE, Live
from officepulse.panel.visible_reads import Level, StoreReads, VisibleReads
from officepulse.security.access import DIRECTORY, VIEWER, AccessControl, Viewer
from officepulse.security.visibility import EMPTY, Directory, present_view
from officepulse.store.accounts import Visibility


def _nothing_live() -> Live:
    return NOTHING_LIVE


class Viewers:
    def __init__(
        self, store: StoreReads, access: AccessControl, live: Callable[[], Live] = _nothing_live
    ) -> None:
        """``live``: the agents whose activity is in progress, and now (the hub's views:
        the reports count that activity up to now, panel/live.py)."""
        self.store = store
        self.access = access
        self.directory: Directory = EMPTY
        self.live = live

    async def refresh(self) -> Directory:
        self.directory = await self.access.directory()
        return self.directory

    def level(self, viewer: Viewer) -> Level:
        """What ``viewer`` may see of each agent, by the directory as last read."""
        person = None if viewer.sees_all else viewer.person

        def level(agent_id: str | None) -> Visibility:
            return self.directory.level(person, agent_id)

        return level

    def present(self, view: AgentView, level: Visibility) -> AgentView:
        return present_view(view, level, self.directory.rules)

    def shown(self, views: Iterable[AgentView], level: Level) -> list[AgentView]:
        return [self.present(v, level(v.id)) for v in views]

    async def reads(self, request: web.Request) -> VisibleReads:
        """The store as the request's viewer may see it."""
        viewer = request[VIEWER]
        # Read with the viewer by the access middleware (one statement), else now.
        directory = request.get(DIRECTORY)
        if directory is None:
            directory = await self.refresh()
        else:
            self.directory = directory
        person = None if viewer.sees_all else viewer.person
        return VisibleReads(
            self.store,
            self.level(viewer),
            directory.rules,
            sees_all=viewer.sees_all,
            usage_as_stored=not directory.anyone_as_category(person),
            live=self.live(),
            in_full=directory.shown_in_full(person),
        )
