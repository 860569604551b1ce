"""The projection, pure: one computer's ActivityWatch events (window, AFK, browser tab)
become officepulse spans, a moment counted once (the package's docstring says how)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from officepulse.activitywatch.model import AFK, PROJECTED_TYPES, WEB, WINDOW, AwEvent
from officepulse.core.spans import Span
from officepulse.protocol.messages import Activity

# A gap this short between two events of one kind belongs to the earlier event
# (aw-webui floods gaps of up to 5 s too).
GAP_MS = 5_000

# Window app names per browser, as aw-client's queries.py / aw-webui list them.
BROWSER_APPS: dict[str, tuple[str, ...]] = {
    "chrome": (
        "google chrome",
        "google-chrome",
        "chrome",
        "google-chrome-stable",
        "chromium",
        "chromium-browser",
        "chromium-browser-chromium",
        "google-chrome-beta",
        "google-chrome-unstable",
        "brave-browser",
    ),
    "firefox": (
        "firefox",
        "firefox developer edition",
        "firefoxdeveloperedition",
        "firefox-esr",
        "firefox beta",
        "nightly",
        "org.mozilla.firefox",
        "navigator",
    ),
    "opera": ("opera",),
    "brave": ("brave", "brave-browser"),
    "edge": ("msedge", "microsoft edge", "microsoft-edge"),
    "vivaldi": ("vivaldi-stable", "vivaldi-snapshot", "vivaldi"),
    "safari": ("safari",),
    "arc": ("arc",),
}
WEB_BUCKET_PREFIX = "aw-watcher-web-"


def browser_of(bucket_id: str, client: str) -> str:
    """The browser a web bucket reports on: ``aw-watcher-web-<browser>[_<host>]``."""
    if bucket_id.startswith(WEB_BUCKET_PREFIX):
        name = bucket_id[len(WEB_BUCKET_PREFIX) :].split("_", 1)[0]
        if name:
            return name
    return client or "browser"


def is_browser(app: str, browser: str) -> bool:
    """Whether the window app ``app`` is the browser a web bucket calls ``browser``."""
    a = app.lower().removesuffix(".exe")
    b = browser.lower()
    return (len(b) >= 4 and b in a) or a in BROWSER_APPS.get(b, ()) or a == b


# -- the projection: events → spans ------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowSeen:
    app: str
    title: str
    url: str | None


@dataclass(frozen=True, slots=True)
class TabSeen:
    browser: str
    title: str
    url: str
    incognito: bool


@dataclass(frozen=True, slots=True)
class HostEvent:
    """An event of a projected bucket, with what the projection needs of the bucket."""

    type: str
    bucket_id: str
    client: str
    event: AwEvent


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int
    value: object


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _value(item: HostEvent) -> object:
    """What an event says, for its kind; None: nothing usable."""
    data = item.event.data
    if item.type == WINDOW:
        app = _text(data.get("app")) or "unknown"
        url = data.get("url")
        return WindowSeen(app, _text(data.get("title")), url if isinstance(url, str) else None)
    if item.type == AFK:
        status = data.get("status")
        return {"afk": True, "not-afk": False}.get(status) if isinstance(status, str) else None
    url = data.get("url")
    if not isinstance(url, str):
        return None
    return TabSeen(
        browser_of(item.bucket_id, item.client),
        _text(data.get("title")),
        url,
        data.get("incognito") is True,
    )


def timeline(items: Sequence[HostEvent], lo: int, hi: int) -> list[_Piece]:
    """One kind's state over [lo, hi) in ms: at each moment the latest-starting
    event that covers it; then each gap of at most GAP_MS between two pieces
    belongs to the piece before it."""
    intervals: list[tuple[int, int, tuple[int, int], object]] = []
    for item in items:
        value = _value(item)
        if value is None:
            continue
        e = item.event
        start = max(e.ts_us // 1000, lo)
        end = min(e.end_us // 1000, hi)
        if end > start:
            intervals.append((start, end, (e.ts_us, e.id or 0), value))
    intervals.sort(key=lambda i: i[0])
    points = sorted({p for i in intervals for p in (i[0], i[1])})
    pieces: list[_Piece] = []
    heap: list[tuple[tuple[int, int], int, int, object]] = []  # (-order, end, n, value)
    n = 0
    for a, b in itertools.pairwise(points):
        while n < len(intervals) and intervals[n][0] <= a:
            start, end, order, value = intervals[n]
            heapq.heappush(heap, ((-order[0], -order[1]), end, n, value))
            n += 1
        while heap and heap[0][1] <= a:
            heapq.heappop(heap)
        if not heap:
            continue
        value = heap[0][3]
        if pieces and pieces[-1].end == a and pieces[-1].value == value:
            pieces[-1] = _Piece(pieces[-1].start, b, value)
        else:
            pieces.append(_Piece(a, b, value))
    filled: list[_Piece] = []
    for piece in pieces:
        if filled:
            last = filled[-1]
            if last.end < piece.start <= last.end + GAP_MS:
                last = filled[-1] = _Piece(last.start, piece.start, last.value)
            if last.end == piece.start and last.value == piece.value:
                filled[-1] = _Piece(last.start, piece.end, last.value)
                continue
        filled.append(piece)
    return filled


def _activity(window: object, afk: object, tab: object) -> Activity | None:
    idle = afk is True
    if isinstance(window, WindowSeen):
        app, title, url = window.app, window.title, window.url
        if isinstance(tab, TabSeen) and not tab.incognito and is_browser(app, tab.browser):
            title, url = tab.title, tab.url
    elif isinstance(tab, TabSeen):
        app = tab.browser
        title, url = ("", None) if tab.incognito else (tab.title, tab.url)
    else:
        return None
    return Activity(app=app[:256], title=title[:4096], url=url[:4096] if url else None, idle=idle)


def project(events: Sequence[HostEvent], lo: int, hi: int) -> list[Span]:
    """The spans of one computer over [lo, hi) (ms): maximal runs of one activity.
    ``events`` must hold every projected event overlapping [lo - GAP_MS, hi + GAP_MS)."""
    kinds: dict[str, list[_Piece]] = {}
    for kind in PROJECTED_TYPES:
        pieces = timeline([e for e in events if e.type == kind], lo - GAP_MS, hi + GAP_MS)
        kinds[kind] = [
            _Piece(max(p.start, lo), min(p.end, hi), p.value)
            for p in pieces
            if p.end > lo and p.start < hi
        ]
    points = sorted({lo, hi} | {x for ps in kinds.values() for p in ps for x in (p.start, p.end)})
    cursor = dict.fromkeys(PROJECTED_TYPES, 0)
    spans: list[Span] = []
    for a, b in itertools.pairwise(points):
        values: dict[str, object] = {}
        for kind, pieces in kinds.items():
            i = cursor[kind]
            while i < len(pieces) and pieces[i].end <= a:
                i += 1
            cursor[kind] = i
            values[kind] = pieces[i].value if i < len(pieces) and pieces[i].start <= a else None
        activity = _activity(values[WINDOW], values[AFK], values[WEB])
        if activity is None:
            continue
        if spans and spans[-1].end_ms == a and spans[-1].activity == activity:
            spans[-1] = replace(spans[-1], end_ms=b)
        else:
            spans.append(Span(a, b, activity))
    return spans
