"""The fleet as the panel sees it: every gateway that announced itself within
``FORGET_AFTER`` (bus/gateways.py), asked again for its connection count on each look.

A gateway that does not answer stays in the list, marked silent, with what it said
last and when, until ``FORGET_AFTER`` after it was last heard: a gateway killed with
SIGKILL shows as silent on the next look and is gone within 15 s; one that stops
cleanly says so (``gone``) and is gone at once. In the embedded server the fleet is its
one gateway, asked over the in-process bus the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from officepulse.bus.gateways import GatewayInfo, Gateways


@dataclass(frozen=True, slots=True)
class GatewayRow:
    info: GatewayInfo
    answering: bool  # answered just now; else silent since ``heard_ms``
    heard_ms: int  # when it was last heard from (an answer or an announcement)

    @property
    def uptime_ms(self) -> int:
        """From its start until it was last heard (now, while it answers). Its start is by
        its own clock and the rest by the panel's: on hosts whose clocks disagree, the
        difference shows; never below zero."""
        return max(0, self.heard_ms - self.info.started_ms)


def rows(
    heard: list[tuple[GatewayInfo, float]], answered: set[str], now_ms: int
) -> list[GatewayRow]:
    """The fleet's rows, by gateway id: ``heard`` is each known gateway with how many
    seconds ago it was last heard, ``answered`` the ids that answered this look."""
    return sorted(
        (GatewayRow(info, info.id in answered, now_ms - round(ago * 1000)) for info, ago in heard),
        key=lambda row: row.info.id,
    )


class Fleet:
    """Looks at the gateways: ``clock`` is wall time (the rows' instants); the gateways
    keep their own (monotonic) clock for who is still known."""

    def __init__(self, gateways: Gateways, clock: Callable[[], float]) -> None:
        self.gateways = gateways
        self.clock = clock

    async def look(self) -> list[GatewayRow]:
        answered = {info.id for info in await self.gateways.infos()}
        return rows(self.gateways.heard(), answered, int(self.clock() * 1000))
