"""Timelines for the scripted source: JSON lines, one state change per line.

    {"offset": 0, "app": "Code", "title": "main.py"}
    {"offset": 3600, "app": "Code", "title": "main.py", "idle": true}
    {"offset": 3900, "app": "Google-chrome", "title": "YouTube - cat video"}
    {"offset": 28800, "end": true}

``offset`` is seconds from the start. Each line holds until the next one; the
``end`` line says when the person stops (the agent goes offline), so the last
activity has a known length. A line may name the IANA time zone the computer is
in from then on (``"tz": "Asia/Tokyo"``: the person travelled); until a line
does, the computer's own zone. An idle line may say when the agent noticed it
(``"noticed": 10``: seconds after ``offset``), as a desktop agent does once the idle
threshold has passed: until then the app before it is still seen in front, then the
idle stretch is dated back to ``offset`` and the open span is cut back to it. Pure:
parsing and planning take no clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import msgspec

from officepulse.core.zones import known_zone
from officepulse.errors import OfficepulseError
from officepulse.protocol.messages import Activity, Heartbeat


class Entry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    offset: Annotated[float, msgspec.Meta(ge=0)]
    app: str | None = None
    title: str = ""
    url: str | None = None
    idle: bool = False
    tz: str | None = None
    end: bool = False
    noticed: Annotated[float, msgspec.Meta(ge=0)] = 0.0


class TimelineError(OfficepulseError, ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Timeline:
    entries: tuple[Entry, ...]
    duration: float

    @classmethod
    def parse(cls, text: str, name: str = "timeline") -> Timeline:
        decoder = msgspec.json.Decoder(Entry)
        entries: list[Entry] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                entry = decoder.decode(line)
            except msgspec.MsgspecError as exc:
                raise TimelineError(f"{name}, line {number}: {exc}") from exc
            if entries and entry.offset < entries[-1].offset:
                raise TimelineError(f"{name}, line {number}: offset goes backwards")
            if entries and entries[-1].end:
                raise TimelineError(f"{name}, line {number}: nothing may follow the end line")
            if not entry.end and not entry.app:
                raise TimelineError(f"{name}, line {number}: 'app' is required")
            if entry.noticed and not (entry.idle and entries):
                raise TimelineError(
                    f"{name}, line {number}: only an idle line after another may say 'noticed'"
                )
            if entry.tz is not None and not known_zone(entry.tz):
                raise TimelineError(
                    f"{name}, line {number}: unknown time zone {entry.tz!r} "
                    "(use an IANA name such as 'Europe/Paris')"
                )
            entries.append(entry)
        if not entries or not entries[-1].end:
            raise TimelineError(f'{name}: the last line must be {{"offset": N, "end": true}}')
        return cls(tuple(entries), entries[-1].offset)

    def zone_at(self, offset: float) -> str | None:
        """The zone the timeline names at ``offset`` seconds into a run (None: the
        computer's own)."""
        zone = None
        for entry in self.entries:
            if entry.offset > offset:
                break
            if entry.tz is not None:
                zone = entry.tz
        return zone

    @classmethod
    def load(cls, path: str | Path) -> Timeline:
        return cls.parse(Path(path).read_text(), str(path))

    def heartbeats(self, start: datetime, interval: float) -> Iterator[Heartbeat]:
        """Heartbeats for one run from ``start``: one at each change, one every
        ``interval`` seconds in between, and one at the end so the last span
        reaches it exactly."""
        step = timedelta(seconds=interval)
        last: Activity | None = None
        for entry, following in zip(self.entries, self.entries[1:], strict=False):
            assert entry.app is not None
            activity = Activity(app=entry.app, title=entry.title, url=entry.url, idle=entry.idle)
            ts = start + timedelta(seconds=entry.offset + entry.noticed)
            if entry.noticed:
                # Noticed late, dated back to when the person went idle.
                yield Heartbeat(ts=start + timedelta(seconds=entry.offset), activity=activity)
            until = start + timedelta(seconds=following.offset)
            while ts < until:
                yield Heartbeat(ts=ts, activity=activity)
                ts += step
            if following.noticed:
                # Still seen in front until the idle line is noticed.
                seen = start + timedelta(seconds=following.offset + following.noticed)
                while ts < seen:
                    yield Heartbeat(ts=ts, activity=activity)
                    ts += step
                yield Heartbeat(ts=seen, activity=activity)
            last = activity
        if last is not None:
            yield Heartbeat(ts=start + timedelta(seconds=self.duration), activity=last)
