"""App names, in one table written once for both SQL stores (as store/agent_facts.py:
the placeholder apart, the statements are the same on SQLite and PostgreSQL).

One row per raw app (which totals stay keyed by): the name agents report for it (the
desktop's, e.g. "LibreOffice Writer" for ``libreoffice-writer``; the latest report wins),
its icon (a small PNG, the latest kept), and the name an admin set, which wins over the
reported one.

Step 13 of the migration list (store/migrations.py) makes the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from officepulse.store.sql import SQLTable

_REPORT = (
    "INSERT INTO app_names (app, reported, icon) VALUES (?, ?, ?) "
    "ON CONFLICT (app) DO UPDATE SET reported = excluded.reported, "
    # A report without an icon keeps the one stored.
    "icon = COALESCE(excluded.icon, app_names.icon)"
)
_OVERRIDE = (
    "INSERT INTO app_names (app, override) VALUES (?, ?) "
    "ON CONFLICT (app) DO UPDATE SET override = excluded.override"
)


@dataclass(frozen=True, slots=True)
class AppNameRow:
    """One app's names: ``reported`` by an agent, ``override`` set by an admin (None:
    none); ``name`` the one shown; ``has_icon``: an agent sent its icon."""

    app: str
    reported: str | None
    override: str | None
    has_icon: bool = False

    @property
    def name(self) -> str:
        return self.override or self.reported or self.app


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


class AppNames(Protocol):
    """The store as app names use it."""

    async def app_names(self) -> list[AppNameRow]:
        """Every app with a reported or overriding name, by app."""
        ...

    async def report_app_names(self, names: Mapping[str, tuple[str, bytes | None]]) -> None:
        """Keep what an agent's desktop calls each app, and its icon (``names``: app →
        (name, PNG or None: the icon kept is kept))."""
        ...

    async def app_icon(self, app: str) -> bytes | None:
        """The app's icon (a PNG), None without one."""
        ...

    async def set_app_name(self, app: str, name: str | None) -> None:
        """The name an admin gives ``app`` everywhere (None: the reported one again)."""
        ...


class SQLAppNames(SQLTable):
    """``AppNames`` for a store that gives what ``SQLTable`` needs."""

    async def app_names(self) -> list[AppNameRow]:
        rows = await self._select(
            "SELECT app, reported, override, icon IS NOT NULL FROM app_names ORDER BY app"
        )
        return [
            AppNameRow(str(a), _text_or_none(r), _text_or_none(o), bool(i)) for a, r, o, i in rows
        ]

    async def report_app_names(self, names: Mapping[str, tuple[str, bytes | None]]) -> None:
        sql = self._sql(_REPORT)
        await self._write_all([(sql, (app, name, icon)) for app, (name, icon) in names.items()])

    async def app_icon(self, app: str) -> bytes | None:
        rows = await self._select(self._sql("SELECT icon FROM app_names WHERE app = ?"), (app,))
        icon = rows[0][0] if rows else None
        return bytes(icon) if isinstance(icon, bytes | memoryview) else None

    async def set_app_name(self, app: str, name: str | None) -> None:
        await self._write_all([(self._sql(_OVERRIDE), (app, name))])
