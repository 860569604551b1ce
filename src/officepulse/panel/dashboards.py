"""The open dashboards (/browser websockets): how many, from where, and on which session.

Each one remembers the session it was opened with, so that it closes when that session
ends: at once when the end is made by this process (sign-out, a password change or reset,
a removed person, a new role), and within ``recheck`` seconds when another process made
it (another server, the CLI), as every open dashboard's session is read again that often.
The limits only stop floods: dashboards already open are never closed to make room.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field

from officepulse.ops.counts import PanelCounts
from officepulse.security.access import Viewer, token_hash
from officepulse.store.accounts import Accounts

log = logging.getLogger(__name__)

# Close codes in the range for applications (RFC 6455, 4000-4999); 4401 echoes HTTP 401.
SESSION_ENDED = 4401
ROLE_CHANGED = 4403


@dataclass(eq=False, slots=True)
class Dashboard:
    ip: str
    session_hash: str | None  # None: open mode, no session to end
    person_id: int | None
    role: str | None
    # Set once: the close code and reason the dashboard's handler closes with.
    ended: asyncio.Future[tuple[int, str]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def end(self, code: int, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result((code, reason))


class Dashboards:
    def __init__(self, max_total: int, max_per_ip: int) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.open: set[Dashboard] = set()
        self._per_ip: Counter[str] = Counter()
        self.refused = 0  # for /metrics (ops/counts.py)

    def counts(self) -> PanelCounts:
        return PanelCounts(dashboards_connected=len(self.open), dashboards_refused=self.refused)

    def refusal(self, ip: str) -> str | None:
        """Why one more dashboard from ``ip`` is refused, or None (each refusal counted)."""
        if len(self.open) >= self.max_total:
            self.refused += 1
            return f"too many dashboards open ({self.max_total}); try again later"
        if self._per_ip[ip] >= self.max_per_ip:
            self.refused += 1
            return f"too many dashboards open from {ip} ({self.max_per_ip}); try again later"
        return None

    def add(self, ip: str, viewer: Viewer) -> Dashboard:
        person = viewer.person
        dashboard = Dashboard(
            ip,
            token_hash(viewer.session_id) if viewer.session_id else None,
            person.id if person else None,
            person.role if person else None,
        )
        self.open.add(dashboard)
        self._per_ip[ip] += 1
        return dashboard

    def discard(self, dashboard: Dashboard) -> None:
        if dashboard in self.open:
            self.open.remove(dashboard)
            self._per_ip[dashboard.ip] -= 1
            if not self._per_ip[dashboard.ip]:
                del self._per_ip[dashboard.ip]

    async def recheck(self, store: Accounts, now_ms: int) -> int:
        """Reads every open dashboard's session again (one indexed read each) and ends
        those whose session has ended or whose person's role changed, and those opened in
        open mode once accounts exist: how many ended."""
        ended = 0
        locked: bool | None = None  # read once, and only if an open-mode dashboard is open
        for dashboard in list(self.open):
            if dashboard.ended.done():
                continue
            if dashboard.session_hash is None:
                if locked is None:
                    locked = await store.count_people() > 0
                if locked:
                    dashboard.end(SESSION_ENDED, "sign-in required")
                    ended += 1
                continue
            person = await store.session_person(dashboard.session_hash, now_ms)
            if person is None:
                dashboard.end(SESSION_ENDED, "signed out")
            elif person.role != dashboard.role:
                dashboard.end(ROLE_CHANGED, "role changed; reload")
            else:
                continue
            ended += 1
        if ended:
            log.info("closed %d dashboard(s) whose session ended", ended)
        return ended
