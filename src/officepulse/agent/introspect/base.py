"""What introspection adds to a window sample, and the seam every plugin implements."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import msgspec

from officepulse.agent.sources.base import WindowSample
from officepulse.protocol.messages import Activity, Media

# The protocol's limits (messages.py: ShortText, LongText). Structs do not check them when
# they are built, only when decoded, so the agent cuts here rather than be refused later.
SHORT = 256
LONG = 4096


class IntrospectionError(Exception):
    """A plugin could not look: the message says why, for the person reading the log
    (a missing permission, a tool that is not installed, a player that does not answer)."""


@dataclass(frozen=True, slots=True)
class Details:
    """What a plugin found out about the window in front. Every field is optional:
    ``None`` means "not known", and an empty ``Details()`` is the answer of a plugin that
    could not tell anything.

    ``title`` replaces the window's title when set (a browser's title without
    " - Google Chrome", the active tab's title from AppleScript). ``incognito`` marks a
    private or incognito browser window: its title and URL are then never sent.
    """

    title: str | None = None
    url: str | None = None
    program: str | None = None
    project: str | None = None
    file: str | None = None
    media: Media | None = None
    incognito: bool = False

    def merged(self, other: Details) -> Details:
        """These details, with what ``other`` knows laid over them."""
        values = {}
        for field in fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            values[field.name] = theirs if theirs not in (None, False) else mine
        return Details(**values)

    def apply(self, activity: Activity) -> Activity:
        """``activity`` with these details filled in, cut to the protocol's limits."""
        title = activity.title if self.title is None else self.title
        url = self.url
        if self.incognito:
            title, url = "", None
        media = self.media
        if media is not None:
            media = msgspec.structs.replace(
                media,
                player=media.player[:SHORT],
                title=media.title[:LONG],
                artist=media.artist[:SHORT],
            )
        return msgspec.structs.replace(
            activity,
            title=title[:LONG],
            url=_cut(url, LONG),
            program=_cut(self.program, SHORT),
            project=_cut(self.project, SHORT),
            file=_cut(self.file, LONG),
            media=media,
        )


NOTHING = Details()


class Plugin(Protocol):
    """One kind of introspection. ``describe`` may raise IntrospectionError (or anything
    else): the Introspector turns that into "no details" and logs it once."""

    name: str

    def describe(self, sample: WindowSample) -> Details: ...

    def close(self) -> None: ...


def _cut(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text[:limit] or None
