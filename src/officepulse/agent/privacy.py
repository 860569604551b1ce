"""Privacy lists, applied on the agent before anything is stored or sent.

Three lists, from the agent's config file (``config.py`` reads it):

- ``never_capture``: apps whose windows never leave this computer. Each entry
  says what is sent while such an app is in front: ``private`` (an activity
  ``app="private", private=True`` and nothing else; only the away flag is kept)
  or ``nothing`` (no activity at all: ``apply_privacy`` returns None and the
  driver sends nothing for that time).
- ``never_introspect``: apps sent by name only: no title, URL, program,
  project, file or media. Introspection is not even run for them.
- ``redact``: regular expressions; every match in the text sent about a window
  (title, URL, program, project, file, media title and artist) is replaced by
  the mask.
- ``domain_only``: web sites sent by their domain alone: while a browser shows
  a page of one of them (and its URL is known: officepulse's browser extension,
  macOS, a title that shows it), the title becomes the domain and the URL
  ``https://domain/``. An entry covers the domain and every domain under it.

Apps are matched by glob (``fnmatch``: ``*``, ``?``, ``[...]``), ignoring case,
against the app name (WM_CLASS on X11) and the process name. Pure: no I/O, no
clock; the rules are compiled once.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from officepulse.errors import OfficepulseError
from officepulse.protocol.messages import Activity, Media

__all__ = [
    "NO_RULES",
    "PRIVATE_APP",
    "AppPattern",
    "PrivacyRules",
    "RuleError",
    "Send",
    "apply_privacy",
]

Send = Literal["private", "nothing"]
PRIVATE_APP = "private"
DEFAULT_MASK = "…"
# Redaction runs again over its own output until nothing changes, so that text
# joined around a mask cannot form a new match; this bounds the rounds.
_MAX_ROUNDS = 16


class RuleError(OfficepulseError, ValueError):
    """A rule cannot be used. ``field`` and ``index`` say which (``redact``, 2)."""

    def __init__(self, field: str, index: int | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.index = index
        self.message = message


@dataclass(frozen=True, slots=True)
class AppPattern:
    """One app glob, and what a never-capture match sends."""

    glob: str
    send: Send = "private"
    regex: re.Pattern[str] = re.compile("(?!)")

    @classmethod
    def build(cls, glob: str, send: Send = "private") -> AppPattern:
        return cls(glob, send, re.compile(fnmatch.translate(glob), re.IGNORECASE | re.DOTALL))

    def matches(self, app: str, process: str | None) -> bool:
        return self.regex.match(app) is not None or (
            process is not None and self.regex.match(process) is not None
        )


@dataclass(frozen=True, slots=True)
class PrivacyRules:
    never_capture: tuple[AppPattern, ...] = ()
    never_introspect: tuple[AppPattern, ...] = ()
    redact: tuple[re.Pattern[str], ...] = ()
    mask: str = DEFAULT_MASK
    domain_only: tuple[str, ...] = ()  # ASCII (IDNA), lower case

    @classmethod
    def build(
        cls,
        *,
        never_capture: Iterable[tuple[str, Send]] = (),
        never_introspect: Iterable[str] = (),
        redact: Sequence[str] = (),
        mask: str = DEFAULT_MASK,
        domain_only: Iterable[str] = (),
    ) -> PrivacyRules:
        """Compile the lists; RuleError says which entry cannot be used and why."""
        capture = []
        for i, (glob, send) in enumerate(never_capture):
            capture.append(AppPattern.build(_app_glob("never_capture", i, glob), send))
        introspect = tuple(
            AppPattern.build(_app_glob("never_introspect", i, glob))
            for i, glob in enumerate(never_introspect)
        )
        domains = tuple(_domain(i, entry) for i, entry in enumerate(domain_only))
        return cls(tuple(capture), introspect, _compile_redactions(redact, mask), mask, domains)

    @property
    def empty(self) -> bool:
        return not (self.never_capture or self.never_introspect or self.redact or self.domain_only)

    def site_of(self, url: str | None) -> str | None:
        """The host of ``url`` when it is on the domain-only list, else None."""
        if url is None or not self.domain_only:
            return None
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return None
        if not host:
            return None
        ascii_host = _ascii_domain(host.rstrip("."))
        if ascii_host is None:
            return None
        for domain in self.domain_only:
            if ascii_host == domain or ascii_host.endswith("." + domain):
                return ascii_host
        return None

    def blocked(self, app: str, process: str | None) -> AppPattern | None:
        """The first never-capture entry this app matches, if any."""
        return next((p for p in self.never_capture if p.matches(app, process)), None)

    def introspects(self, app: str, process: str | None) -> bool:
        """Whether introspection may run for this app: not for an app on either list."""
        return self.blocked(app, process) is None and not any(
            p.matches(app, process) for p in self.never_introspect
        )

    def redact_text(self, text: str) -> str:
        if not self.redact or not text:
            return text
        for _ in range(_MAX_ROUNDS):
            before = text
            for pattern in self.redact:
                text = pattern.sub(self.mask, text)
            if text == before:
                break
        return text


NO_RULES = PrivacyRules()


def _app_glob(field: str, index: int, glob: str) -> str:
    if not glob.strip():
        raise RuleError(field, index, "an empty app name would match nothing")
    return glob


_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
# A domain name, maybe written "*.example.com" (which means what "example.com" means).
_DOMAIN = re.compile(rf"^(?:\*\.)?({_LABEL}(?:\.{_LABEL})*)\.?$")


def _ascii_domain(name: str) -> str | None:
    """``name`` in lower case, as browsers put it in URLs (IDNA: "bücher.de" is
    "xn--bcher-kva.de"), or None when it cannot be one."""
    try:
        return name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def _domain(index: int, entry: str) -> str:
    text = entry.strip()
    if "/" in text or ":" in text:
        try:
            host = urlsplit(text if "//" in text else "//" + text).hostname or ""
        except ValueError:
            host = ""
        raise RuleError(
            "domain_only",
            index,
            f"{entry!r} is not a domain name; write the domain alone"
            + (f", e.g. {host!r}" if host else ""),
        )
    ascii_text = _ascii_domain(text)
    found = _DOMAIN.match(ascii_text or "")
    if found is None:
        raise RuleError("domain_only", index, f"{entry!r} is not a domain name")
    return found.group(1)


def _compile_redactions(patterns: Sequence[str], mask: str) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for i, source in enumerate(patterns):
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise RuleError("redact", i, f"{source!r} is not a regular expression: {exc}") from exc
        if pattern.search("") is not None:
            # "a*" matches between every two characters: the mask would be everywhere.
            raise RuleError("redact", i, f"{source!r} matches the empty string")
        if mask and pattern.search(mask) is not None:
            raise RuleError(
                "redact",
                i,
                f"{source!r} matches the mask {mask!r} itself; choose another redact_mask",
            )
        compiled.append(pattern)
    return tuple(compiled)


def private_activity(idle: bool) -> Activity:
    """What a never-capture app in ``private`` mode is sent as."""
    return Activity(app=PRIVATE_APP, private=True, idle=idle)


def apply_privacy(activity: Activity, rules: PrivacyRules) -> Activity | None:
    """``activity`` as it may leave this computer, or None for "send nothing".

    Never-capture wins over never-introspect, which wins over domain-only, which
    comes before redaction. The away flag is always kept: it says nothing about
    the app, and without it an hour away from a private window would count as an
    hour in it."""
    if rules.empty:
        return activity
    hit = rules.blocked(activity.app, activity.process)
    if hit is not None:
        return None if hit.send == "nothing" else private_activity(activity.idle)
    if any(p.matches(activity.app, activity.process) for p in rules.never_introspect):
        return Activity(
            app=activity.app,
            process=activity.process,
            pid=activity.pid,
            idle=activity.idle,
        )
    title, url = activity.title, activity.url
    site = rules.site_of(url)
    if site is not None:
        # The page's title and address say more than the person allows for this site;
        # https:// whatever the scheme, so that a category rule on the site matches.
        title, url = site, f"https://{site}/"
    return Activity(
        app=activity.app,
        title=rules.redact_text(title),
        url=_opt(url, rules),
        process=activity.process,
        pid=activity.pid,
        idle=activity.idle,
        private=activity.private,
        program=_opt(activity.program, rules),
        project=_opt(activity.project, rules),
        file=_opt(activity.file, rules),
        media=_media(activity.media, rules),
    )


def _opt(text: str | None, rules: PrivacyRules) -> str | None:
    return None if text is None else rules.redact_text(text)


def _media(media: Media | None, rules: PrivacyRules) -> Media | None:
    """The media playing belongs to the player, which may be on a list itself
    (Spotify on never_capture while a browser is in front)."""
    if media is None:
        return None
    if rules.blocked(media.player, None) is not None:
        return None
    if any(p.matches(media.player, None) for p in rules.never_introspect):
        return Media(player=media.player, playing=media.playing)
    return Media(
        player=media.player,
        title=rules.redact_text(media.title),
        artist=rules.redact_text(media.artist),
        playing=media.playing,
    )
