"""The office as a place, pure (now is a parameter): which group a person's card is in,
their initials and avatar colour, and their time today counted up to now.

Groups, in the order the office shows them:

- **active**: online, something in front, input within the idle threshold (a private
  app counts: the person is working in it);
- **idle**: online, no input for the agent's idle threshold (a locked screen counts),
  for less than ``AWAY_AFTER_MS``;
- **paused**: the person paused their agent;
- **unseen**: online with nothing to show: the agent cannot read the desktop (its
  reason is on the card) or a window its person never records is in front;
- **away**: idle for ``AWAY_AFTER_MS`` or more (lunch, a meeting in another room);
- **offline**: no connection (the computer is off or asleep, the agent stopped).

A group depends on presence alone (online, idle, paused, since when), never on an
activity's app, title or category, so it is the same for every viewer whatever each may
see of the person (security/visibility.py).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal

from officepulse.core.palette import TOL_MUTED
from officepulse.protocol.messages import Activity

State = Literal["active", "idle", "paused", "unseen", "away", "offline"]
GROUPS: tuple[State, ...] = ("active", "idle", "paused", "unseen", "away", "offline")
GROUP_LABELS: dict[State, str] = {
    "active": "Active",
    "idle": "Idle",
    "paused": "Paused",
    "unseen": "Online, not seen",
    "away": "Away",
    "offline": "Offline",
}
# Idle this long is away: longer than a coffee, as long as a lunch or a meeting elsewhere.
AWAY_AFTER_MS = 15 * 60_000


def state_of(online: bool, activity: Activity | None, since_ms: int, now_ms: int) -> State:
    """The group of a person who is ``online`` (or not) with ``activity`` in front since
    ``since_ms`` (None: nothing to show)."""
    if not online:
        return "offline"
    if activity is None:
        return "unseen"
    if activity.paused:
        return "paused"
    if activity.idle:
        return "away" if now_ms - since_ms >= AWAY_AFTER_MS else "idle"
    return "active"


def initials(name: str) -> str:
    """ "Ann Smith" → "AS", "alice" → "A", "Jean-Luc Picard" → "JP": the first letter
    or digit of the first and last words, upper case; "?" for a name without any."""
    words = ["".join(c for c in w if c.isalnum()) for w in name.split()]
    words = [w for w in words if w]
    if not words:
        return "?"
    first, last = words[0], words[-1]
    return (first[0] + (last[0] if len(words) > 1 else "")).upper()


def _luminance(hex_colour: str) -> float:
    """WCAG 2's relative luminance of "#RRGGBB"."""

    def channel(byte: int) -> float:
        c = byte / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(one: str, other: str) -> float:
    """WCAG 2's contrast ratio of two "#RRGGBB" colours (1 to 21)."""
    a, b = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (a + 0.05) / (b + 0.05)


@dataclass(frozen=True, slots=True)
class Avatar:
    initials: str
    background: str
    ink: str  # black or white, whichever reads better on the background


def ink_on(background: str) -> str:
    """Black or white, whichever contrasts more with ``background``."""
    return max(("#000000", "#FFFFFF"), key=lambda c: contrast(background, c))


# Each palette colour's ink, reckoned once: a card is rendered on every change.
_INKS = {colour: ink_on(colour) for colour in TOL_MUTED}


def avatar(agent_id: str, name: str) -> Avatar:
    """A person's initials on a colour of Paul Tol's palette (core/palette.py) chosen
    by their agent's id, so it is the same on every page and for every viewer; the ink
    is black or white, whichever contrasts more (at least 4.5:1 for every colour). The
    disc carries its own colours, so it reads the same in light and dark mode."""
    background = TOL_MUTED[zlib.crc32(agent_id.encode()) % len(TOL_MUTED)]
    return Avatar(initials(name), background, _INKS[background])


@dataclass(frozen=True, slots=True)
class Today:
    """A person's active time on their own day, as read (stored and in progress) at
    ``at_ms``; their day ends at ``day_end_ms``."""

    active_ms: int
    at_ms: int
    day_end_ms: int

    def at(self, now_ms: int, counting_since: int | None) -> int:
        """The figure at ``now_ms``: what was read, plus, while the person is counting
        (active: their time in progress grows) since ``counting_since`` (None: they are
        not), the time since it was read or since they began, whichever is later; from
        the start of the next day, only what that day has had of it."""
        if counting_since is None:
            return 0 if now_ms >= self.day_end_ms else self.active_ms
        if now_ms >= self.day_end_ms:
            return now_ms - max(self.day_end_ms, self.at_ms, counting_since)
        return self.active_ms + max(0, now_ms - max(self.at_ms, counting_since))


def counting(online: bool, live: bool, activity: Activity | None) -> bool:
    """Whether a person's time today grows as the clock runs: their agent reports the
    activity in progress (panel/live.py) and it is not idle. Paused and private time
    count, as the Time page counts them (an app of their own, never idle)."""
    return online and live and activity is not None and not activity.idle
