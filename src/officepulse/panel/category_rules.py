"""Changing the category rules, the one way the Categories page and the REST API both
take: stored (spans written from then on are categorised by them), audited with who did
it, the people shown as a category shown by the new rules, and history re-categorised in
the background (panel/recategorising.py): each change returns at once with its job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from officepulse.core.categories import Rule, default_rules
from officepulse.core.uncategorized import Kind, rule_for
from officepulse.panel.recategorising import Recategoriser
from officepulse.security.access import AccessControl
from officepulse.store.accounts import Person
from officepulse.store.categorising import CategoryJob, CategoryJobs


class CategoryRules:
    def __init__(
        self,
        store: CategoryJobs,
        access: AccessControl,
        on_change: Callable[[], Awaitable[None]],
        runner: Recategoriser,
    ) -> None:
        self.store = store
        self.access = access
        self.on_change = on_change  # what people show by category may have changed
        self.runner = runner

    async def current(self) -> list[Rule]:
        return await self.store.categories()

    async def job(self, job_id: int | None = None) -> CategoryJob | None:
        """A job of re-categorising history (None: the latest), as the store has it now
        (a job may run in another process)."""
        return await self.store.category_job(job_id)

    async def replace(self, actor: Person | None, rules: list[Rule]) -> CategoryJob:
        """The job that re-categorises history (CategoryError: nothing changed)."""
        return await self._set(actor, rules, "categories.set", f"{len(rules)} rules")

    async def reset(self, actor: Person | None) -> CategoryJob:
        rules = default_rules()
        return await self._set(actor, rules, "categories.reset", f"{len(rules)} rules")

    async def choose(
        self, actor: Person | None, kind: Kind, value: str, category: str
    ) -> CategoryJob:
        """A category chosen for an app or a web site in no category: its rule added at
        the end of the list (core/uncategorized.py). CategoryError: not a category."""
        rules = [*await self.current(), rule_for(kind, value, category)]
        detail = f"{kind} {value!r} → {category!r}; {len(rules)} rules"
        return await self._set(actor, rules, "categories.add", detail)

    async def _set(
        self, actor: Person | None, rules: list[Rule], action: str, detail: str
    ) -> CategoryJob:
        job = await self.store.set_categories(rules, self.access.now_ms())
        await self.access.audit(
            actor, action, "categories", f"{detail}; history re-categorised by job {job.id}"
        )
        await self.on_change()
        self.runner.started()
        return job
