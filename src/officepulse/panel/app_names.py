"""The names apps are shown by: what agents reported their desktops call them, unless an
admin set another (store/app_names.py AppNameRow). Totals stay keyed by the raw app; only what
is shown changes.

Kept in memory for what is drawn without a request (the office's live cards), and read
again from the store every ``max_age_ms`` (panel/app.py) and for every API answer and
Apps page: the gateway that stores reported names may be another process, and the table
is small (one row per app), so a read costs less than a message per name on the bus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from officepulse.store.accounts import Person
from officepulse.store.app_names import AppNameRow
from officepulse.store.app_names import AppNames as AppNameStore

MAX_AGE_MS = 2_000


def icon_path(app: str) -> str:
    """Where an app's icon is served (pages/apps.py)."""
    return f"/app-icon?{urlencode({'app': app})}"


Audit = Callable[[Person | None, str, str, str], Awaitable[None]]


async def _no_audit(actor: Person | None, action: str, target: str, detail: str) -> None:
    return None


def _nothing() -> None:
    return None


class AppNames:
    def __init__(
        self,
        store: AppNameStore,
        max_age_ms: int = MAX_AGE_MS,
        *,
        audit: Audit = _no_audit,
        on_change: Callable[[], None] = _nothing,
    ) -> None:
        self.store = store
        self.audit = audit
        self.on_change = on_change  # what is shown of apps changed: show it again
        self.max_age_ms = max_age_ms
        self.rows: list[AppNameRow] = []
        self._names: dict[str, str] = {}
        self._icons: frozenset[str] = frozenset()
        self._reading: asyncio.Lock = asyncio.Lock()

    def name(self, app: str) -> str:
        """``app`` as people read it (the raw app when nothing names it)."""
        return self._names.get(app, app)

    def names(self) -> dict[str, str]:
        return dict(self._names)

    def icon_url(self, app: str) -> str | None:
        """Where the page finds the app's icon (AppsPage.icon), None without one."""
        return icon_path(app) if app in self._icons else None

    def icons(self) -> frozenset[str]:
        return self._icons

    async def reload(self) -> None:
        async with self._reading:
            rows = await self.store.app_names()
            self.rows = rows
            self._names = {r.app: r.name for r in rows if r.name != r.app}
            self._icons = frozenset(r.app for r in rows if r.has_icon)

    async def fresh(self) -> AppNames:
        """This, read again first: what the API answers and a page lists is what is
        stored now (one small read)."""
        await self.reload()
        return self

    async def rename(self, actor: Person | None, app: str, name: str | None) -> AppNameRow:
        """Show ``app`` as ``name`` everywhere (None: by its reported name again),
        audited with who did it; its row as it now is."""
        await self.store.set_app_name(app, name)
        detail = f"shown as {name!r}" if name is not None else "shown by its reported name"
        await self.audit(actor, "app-name.set", app, detail)
        await self.reload()
        self.on_change()
        return next((r for r in self.rows if r.app == app), AppNameRow(app, None, name))
