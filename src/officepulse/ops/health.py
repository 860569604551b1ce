"""``GET /healthz`` and ``GET /readyz``, for a proxy, an orchestrator or a monitor.

``/healthz``: the process answers (its event loop runs); nothing else is looked at, so
a store outage does not get a healthy process restarted. ``/readyz``: it can do its work:
each of its checks (the store reachable and migrated, the bus running) answers within
``timeout`` seconds with no reason against; otherwise 503 and the reasons. Both are
unauthenticated (security/access.py, ``Access.PROBE``) and cheap (one small read of the
store, no session looked up), and say nothing of people: the reasons name only parts of
the server. What went wrong in detail goes to the log, once per change of state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

import msgspec
from aiohttp import web

log = logging.getLogger(__name__)

# A check: why its part is not ready (short, naming no person), or None when it is.
Check = Callable[[], Awaitable[str | None]]
READY_TIMEOUT = 2.0

_json = msgspec.json.Encoder()


def schema_reason(stored: int, code: int) -> str | None:
    """Why a database at schema ``stored`` is not ready for code that writes ``code``."""
    if stored < code:
        return (
            f"store: database schema version {stored} is behind this officepulse's {code}: "
            "migrations not applied (they run when a server starts)"
        )
    if stored > code:
        return (
            f"store: database schema version {stored} is newer than this officepulse's {code}"
            ": upgrade officepulse"
        )
    return None


def store_check(schema_version: Callable[[], Awaitable[tuple[int, int]]]) -> Check:
    """The store answers a read of its schema version, and it is the code's."""

    async def check() -> str | None:
        try:
            stored, code = await schema_version()
        except Exception as exc:
            log.debug("readiness: the store did not answer: %s", exc)
            return "store: unreachable"
        return schema_reason(stored, code)

    return check


def running_check(name: str, running: Callable[[], bool]) -> Check:
    """A part that is ready while it runs and is connected (the bus: in-process, or NATS
    with its connection up)."""

    async def check() -> str | None:
        return None if running() else f"{name}: not connected"

    return check


class Health:
    def __init__(self, checks: Mapping[str, Check], timeout: float = READY_TIMEOUT) -> None:
        self.checks = dict(checks)
        self.timeout = timeout
        # Set when the process starts to stop: a proxy then sends no new work here.
        self.stopping = False
        self._said: tuple[str, ...] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz), web.get("/readyz", self.readyz)]

    async def healthz(self, request: web.Request) -> web.Response:
        return _answer(200, {"status": "alive"})

    async def readyz(self, request: web.Request) -> web.Response:
        reasons = await self.reasons()
        self._tell(reasons)
        if reasons:
            return _answer(503, {"status": "not ready", "reasons": list(reasons)})
        return _answer(200, {"status": "ready"})

    async def reasons(self) -> tuple[str, ...]:
        """Why this process is not ready; empty when it is."""
        if self.stopping:
            return ("shutting down",)
        names = list(self.checks)
        answers = await asyncio.gather(*(self._run(n) for n in names))
        return tuple(a for a in answers if a is not None)

    async def _run(self, name: str) -> str | None:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.checks[name]()
        except TimeoutError:
            return f"{name}: no answer within {self.timeout:g} s"

    def _tell(self, reasons: tuple[str, ...]) -> None:
        # Polled every few seconds: said when it changes, not at every poll.
        if reasons == self._said:
            return
        if reasons:
            log.warning("not ready: %s", "; ".join(reasons))
        elif self._said is not None:
            log.info("ready again")
        self._said = reasons


def _answer(status: int, body: dict[str, object]) -> web.Response:
    # Never cached: a proxy's view of health must be now's.
    return web.Response(
        body=_json.encode(body),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
