"""What no rule categorises, as one viewer may see it: apps with their time from usage by
app and category (security/visibility.py decides each person's part: at "app" the app
alone decides its category), web sites from the URLs of the spans of the agents the
viewer sees in full (nobody else's URLs are theirs to see). For the Categories page and
GET /api/v1/categories/uncategorized alike; the lists themselves are core/uncategorized.py."""

from __future__ import annotations

from officepulse.core.uncategorized import Unsorted, uncategorized_apps, uncategorized_domains
from officepulse.panel.visible_reads import VisibleReads
from officepulse.store.categorising import UncategorizedUrls

# The periods the page offers: days back from now, and their names.
PERIODS: dict[int, str] = {1: "Last 24 hours", 7: "Last 7 days", 30: "Last 30 days"}
DEFAULT_DAYS = 7


def parse_days(raw: str | None) -> int:
    """One of ``PERIODS`` (anything else: the default)."""
    return int(raw) if raw is not None and raw.isdigit() and int(raw) in PERIODS else DEFAULT_DAYS


class Uncategorized:
    def __init__(self, store: UncategorizedUrls) -> None:
        self.store = store

    async def listed(
        self, reads: VisibleReads, start_ms: int, end_ms: int
    ) -> tuple[list[Unsorted], list[Unsorted]]:
        """The apps and the web sites with time in no category in [start_ms, end_ms), as
        ``reads``' viewer may see them, most first."""
        rows = await reads.usage(start_ms, end_ms, ["app", "category"])
        apps = uncategorized_apps(((r.app, r.category, r.active_ms) for r in rows), reads.rules)
        full = None if reads.in_full is None else sorted(reads.in_full)
        urls = await self.store.uncategorized_urls(start_ms, end_ms, full)
        return apps, uncategorized_domains(urls, reads.rules)
