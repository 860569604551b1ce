"""What officepulse's browser extension reports, and which report speaks for the window
in front. Pure: no I/O, time is a parameter.

The extension (``extension/src/background.js``) tells the native messaging host
(``native_host.py``, started by the browser) about the tab in front; the host passes that
on to the running agent over a local channel (``tab_channel.py``), one JSON object a
line, after a ``HostHello`` of its own that says which browser processes it belongs to::

    {"type": "host", "pid": 4242, "browser_pids": [4100, 1], "caller": "chrome-extension://…/"}
    {"type": "hello", "extension": "0.1.0"}
    {"type": "tab", "focused": true, "title": "Page", "url": "https://…", "audible": false}
    {"type": "tab", "focused": false}

``Tabs`` keeps the last report of each connected browser. ``Tabs.speaking_for(sample)``
picks the one that speaks for the window in front: the browser whose processes include
the window's pid (a window without a pid: the browser that last said it is in front).
``tab_in_front`` then says what of it may be used: the tab, or nothing at all when the
extension says no window it may report is in front (a private window, another app, another
profile without the extension), or when the window's title shows another page than the
report (the report is late: it comes within a second of the change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import msgspec

__all__ = [
    "CHROMIUM_EXTENSION_ID",
    "FIREFOX_EXTENSION_ID",
    "HOST_NAME",
    "MAX_LINE",
    "Browser",
    "BrowserView",
    "ExtensionHello",
    "HostHello",
    "ProbeReply",
    "ProbeRequest",
    "TabReport",
    "Tabs",
    "decode_line",
    "tab_in_front",
]

# The native messaging host's name, as the extension asks for it (connectNative) and as
# the host manifests are named.
HOST_NAME = "org.officepulse.agent"
# The extension's id in Chromium-based browsers when loaded from extension/src (its
# manifest's "key" fixes it), and its add-on id in Firefox (browser_specific_settings).
CHROMIUM_EXTENSION_ID = "adnhfpnhmimecifofhlomakcomgelpmj"
FIREFOX_EXTENSION_ID = "tabs@officepulse.org"

# The extension cuts titles and URLs to 65536 characters. A line holds one message: two
# such texts in UTF-8 or JSON escapes (up to 6 bytes a character), and the rest.
MAX_TEXT = 65_536
MAX_LINE = 1024 * 1024

Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
Short = Annotated[str, msgspec.Meta(max_length=256)]
Pid = Annotated[int, msgspec.Meta(ge=0, le=2**32)]


class HostHello(msgspec.Struct, frozen=True, kw_only=True, tag="host", tag_field="type"):
    """The host's first line: its pid, the processes of the browser that started it (its
    parent, and theirs), and the caller the browser named (``chrome-extension://<id>/``,
    or Firefox's extension id)."""

    pid: Pid
    browser_pids: Annotated[tuple[Pid, ...], msgspec.Meta(max_length=64)] = ()
    caller: Short = ""


class ExtensionHello(msgspec.Struct, frozen=True, kw_only=True, tag="hello", tag_field="type"):
    """The extension's first message on a connection: its version."""

    extension: Short = ""


class TabReport(msgspec.Struct, frozen=True, kw_only=True, tag="tab", tag_field="type"):
    """The tab in front (``focused``), or that no window the extension may report is in
    front (then there is nothing else)."""

    focused: bool
    title: Text = ""
    url: Text = ""
    audible: bool = False


class ProbeRequest(msgspec.Struct, frozen=True, tag="probe", tag_field="type"):
    """``officepulse agent probe`` asks the running agent what the browsers report."""


class BrowserView(msgspec.Struct, frozen=True, kw_only=True):
    """One connected browser, as the agent answers the probe."""

    caller: str
    browser_pids: tuple[int, ...]
    extension: str | None
    tab: TabReport | None
    age: float  # seconds since its last report


class ProbeReply(msgspec.Struct, frozen=True, kw_only=True, tag="browsers", tag_field="type"):
    browsers: tuple[BrowserView, ...] = ()


Incoming = HostHello | ExtensionHello | TabReport | ProbeRequest
_decoder = msgspec.json.Decoder(Incoming)


def decode_line(line: bytes) -> Incoming:
    """One line of the channel; ``msgspec.ValidationError`` / ``DecodeError`` name what is
    wrong (the field's path)."""
    return _decoder.decode(line)


@dataclass(slots=True)
class Browser:
    """One connected browser: its host's hello, and the last thing its extension said."""

    host: HostHello
    extension: str | None = None
    tab: TabReport | None = None
    changed: float = 0.0  # when ``tab`` last changed (the caller's clock)

    def view(self, now: float) -> BrowserView:
        return BrowserView(
            caller=self.host.caller,
            browser_pids=self.host.browser_pids,
            extension=self.extension,
            tab=self.tab,
            age=max(0.0, now - self.changed),
        )


@dataclass(slots=True)
class Tabs:
    """The connected browsers, each under a key of the caller's (its connection)."""

    browsers: dict[int, Browser] = field(default_factory=dict)

    def connect(self, key: int, host: HostHello) -> None:
        self.browsers[key] = Browser(host)

    def disconnect(self, key: int) -> None:
        self.browsers.pop(key, None)

    def receive(self, key: int, message: ExtensionHello | TabReport, now: float) -> None:
        browser = self.browsers[key]
        if isinstance(message, ExtensionHello):
            browser.extension = message.extension
        else:
            browser.tab = message
            browser.changed = now

    def speaking_for(self, pid: int | None) -> Browser | None:
        """The browser whose processes include ``pid`` (the window in front's); with no
        pid, the one that last said it is in front. None: no extension speaks for it."""
        if pid is not None:
            mine = [b for b in self.browsers.values() if pid in b.host.browser_pids]
        else:
            mine = list(self.browsers.values())
        if not mine:
            return None
        return max(mine, key=lambda b: (b.tab is not None and b.tab.focused, b.changed))

    def views(self, now: float) -> tuple[BrowserView, ...]:
        return tuple(b.view(now) for b in self.browsers.values())

    @classmethod
    def of(cls, views: tuple[BrowserView, ...], now: float) -> Tabs:
        """The browsers another process reported (the agent, answering the probe)."""
        tabs = cls()
        for key, view in enumerate(views):
            host = HostHello(pid=0, browser_pids=view.browser_pids, caller=view.caller)
            tabs.browsers[key] = Browser(host, view.extension, view.tab, now - view.age)
        return tabs


def tab_in_front(browser: Browser, window_title: str) -> TabReport | None:
    """The tab ``browser`` reports for its window in front, or None when nothing of that
    window may be used: the extension has not said yet, says no window it may report is in
    front, or the window's title does not show the reported tab's title (the report is
    for a moment ago). An empty window title (a desktop that gives none) cannot
    contradict the report."""
    tab = browser.tab
    if tab is None or not tab.focused:
        return None
    if window_title.strip() and _squash(tab.title) not in _squash(window_title):
        return None
    return tab


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()
