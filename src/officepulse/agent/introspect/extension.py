"""Browsers with officepulse's extension: the tab in front as the extension reports it.

While an extension speaks for the browser in front (``browser_tabs.Tabs``), its report
wins over what the window title or AppleScript tell, and it is the only source: when it
says no window it may report is in front (a private window; the manifest keeps it out of
them) or its report is for another page than the window shows, the browser is sent by its
name alone. Without an extension for that browser, the plugin it wraps answers as before.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from officepulse.agent.browser_tabs import Tabs, tab_in_front
from officepulse.agent.introspect.apps import find_app
from officepulse.agent.introspect.base import Details, Plugin
from officepulse.agent.introspect.browsers import parse_title
from officepulse.agent.sources.base import WindowSample
from officepulse.protocol.messages import Media

# What is sent for a browser window the extension does not report: its name alone.
NAME_ONLY = Details(title="")


class ExtensionBrowser:
    name = "browser"

    def __init__(self, tabs: Tabs, fallback: Plugin) -> None:
        self.tabs = tabs
        self.fallback = fallback

    def describe(self, sample: WindowSample) -> Details:
        browser = self.tabs.speaking_for(sample.pid)
        if browser is None:
            return self.fallback.describe(sample)
        shown = parse_title(sample.title)
        if shown is not None and shown.incognito:
            return Details(title="", incognito=True)
        tab = tab_in_front(browser, sample.title)
        if tab is None:
            return NAME_ONLY
        app = find_app(sample)
        media = None
        if tab.audible:
            # That sound plays, and from where; the page's title stays the activity's.
            media = Media(player=app.name if app is not None else sample.app, playing=True)
        return Details(title=tab.title, url=without_credentials(tab.url), media=media)

    def close(self) -> None:
        self.fallback.close()


def without_credentials(url: str) -> str | None:
    """``url`` without a user name and password in it (``https://user:pw@host/``), or None
    for an empty one."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced "[" in the host: keep nothing that may hold a login
        return None
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
