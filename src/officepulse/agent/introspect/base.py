"""What introspection adds to a window sample, and the seam every plugin implements."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import msgspec

from officepulse.agent.sources.base import WindowSample
from officepulse.errors import OfficepulseError
from officepulse.protocol.messages import Activity, Media


class IntrospectionError(OfficepulseError):
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
        """``activity`` with these details filled in. Texts are not cut here: the privacy
        lists' redaction must see them whole, and the driver cuts after it (``fit``)."""
        title = activity.title if self.title is None else self.title
        url = self.url
        if self.incognito:
            title, url = "", None
        return msgspec.structs.replace(
            activity,
            title=title,
            url=None if self.incognito else url or activity.url,
            program=self.program or activity.program,
            project=self.project or activity.project,
            file=self.file or activity.file,
            media=self.media or activity.media,
        )

    def summary(self) -> str:
        """One line for people (``officepulse agent probe``)."""
        parts = []
        if self.incognito:
            parts.append("private window: title and URL not kept")
        for name in ("title", "url", "program", "project", "file"):
            value = getattr(self, name)
            if value is not None and not (self.incognito and name in ("title", "url")):
                parts.append(f"{name}={value!r}")
        if self.media is not None:
            state = "playing" if self.media.playing else "paused"
            parts.append(
                f"{self.media.player} {state}: {self.media.title!r} by {self.media.artist!r}"
            )
        return "; ".join(parts) or "nothing more"


NOTHING = Details()


class Plugin(Protocol):
    """One kind of introspection. ``describe`` may raise IntrospectionError (or anything
    else): the Introspector turns that into "no details" and logs it once."""

    name: str

    def describe(self, sample: WindowSample) -> Details: ...

    def close(self) -> None: ...
