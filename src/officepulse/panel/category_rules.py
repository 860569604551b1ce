"""Changing the category rules, the one way the Categories page and the REST API both
take: stored (every stored span re-categorised), audited with who did it, and then the
people shown as a category are shown by the new rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from officepulse.core.categories import Rule, default_rules
from officepulse.security.access import AccessControl
from officepulse.store.accounts import Person
from officepulse.store.spans import CategoryStore


class CategoryRules:
    def __init__(
        self, store: CategoryStore, access: AccessControl, on_change: Callable[[], Awaitable[None]]
    ) -> None:
        self.store = store
        self.access = access
        self.on_change = on_change  # what people show by category may have changed

    async def current(self) -> list[Rule]:
        return await self.store.categories()

    async def replace(self, actor: Person | None, rules: list[Rule]) -> int:
        """How many stored spans changed category (CategoryError: nothing changed)."""
        return await self._set(actor, rules, "categories.set")

    async def reset(self, actor: Person | None) -> int:
        return await self._set(actor, default_rules(), "categories.reset")

    async def _set(self, actor: Person | None, rules: list[Rule], action: str) -> int:
        changed = await self.store.set_categories(rules)
        detail = f"{len(rules)} rules; {changed} spans re-categorised"
        await self.access.audit(actor, action, "categories", detail)
        await self.on_change()
        return changed
