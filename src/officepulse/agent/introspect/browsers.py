"""Browsers: the active tab's title and URL, and whether the window is private.

On macOS the browser is asked through AppleScript (Chrome, Brave, Edge, Arc, Chromium,
Vivaldi: ``URL``/``title`` of ``active tab of front window`` and the window's ``mode``;
Safari: ``URL``/``name`` of ``front document``). Nothing is clicked, typed or copied.
Everywhere else, and for Firefox, which has no such dictionary, the window title is all
there is: "Page - Google Chrome", "Page — Mozilla Firefox". The URL is then unknown, unless
the title carries one (some extensions put it there). A private window's title and URL are
never kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from officepulse.agent.introspect.applescript import (
    INVALID_INDEX,
    NOT_RUNNING,
    AppleScriptError,
    Runner,
    quote,
)
from officepulse.agent.introspect.apps import SAFARI, find_app
from officepulse.agent.introspect.base import NOTHING, Details
from officepulse.agent.sources.base import WindowSample

# How each browser ends its window titles. Longest first: "Mozilla Firefox Private
# Browsing" must win over "Mozilla Firefox".
_SUFFIXES = sorted(
    (
        "Google Chrome",
        "Chromium",
        "Brave",
        "Microsoft Edge",
        # Edge on Windows writes U+200B after "Microsoft" (MicrosoftEdge/WebView2Feedback#2455)
        "Microsoft\u200b Edge",
        "Mozilla Firefox",
        "Mozilla Firefox Private Browsing",
        "Firefox Private Browsing",
        "Firefox Developer Edition",
        "Firefox Nightly",
        "LibreWolf",
        "Vivaldi",
        "Opera",
    ),
    key=len,
    reverse=True,
)
_SEPARATORS = (" — ", " - ", " – ")
# Markers of a private window, looked for in the browser's part of the title and in
# bracketed parts (Edge: "Page - [InPrivate] - Microsoft Edge").
_PRIVATE = ("incognito", "private browsing", "inprivate", "(private)", "private)")
# What a private window's empty tab is called.
_PRIVATE_PAGES = {"new incognito tab", "inprivate", "private browsing", "new private tab"}
_URL = re.compile(r"^\[?(?P<url>(?:https?|file|ftp)://\S+?)\]?$")
_TRAILING_URL = re.compile(r"\s*[\[(](?P<url>(?:https?|file|ftp)://[^\s\])]+)[\])]\s*$")


@dataclass(frozen=True, slots=True)
class TabTitle:
    title: str
    url: str | None
    incognito: bool


def parse_title(title: str) -> TabTitle | None:
    """Split a browser window's title into the page's title, a URL if the title shows
    one, and the private-window marker. None when the title has no browser suffix (a
    dialog, a window that is still starting)."""
    text = title.strip()
    for suffix in _SUFFIXES:
        if text == suffix or (text.startswith(suffix + " (") and text.endswith(")")):
            # The browser's name alone, or with a note: an empty private window
            # ("Mozilla Firefox Private Browsing"), a profile ("Google Chrome (Guest)").
            return TabTitle("", None, _private(text))
    for sep in _SEPARATORS:
        for suffix in _SUFFIXES:
            at = text.rfind(sep + suffix)
            if at <= 0:
                continue
            page, tail = text[:at], text[at + len(sep) :]
            return _tab(page, tail)
    return None


def _tab(page: str, tail: str) -> TabTitle:
    incognito = _private(tail)
    sep, parts = _split(page)
    kept = []
    url = None
    for part in parts:
        if part.strip().lower() == "[inprivate]":
            incognito = True
            continue
        match = _URL.match(part.strip())
        if match is not None and url is None:
            url = match["url"]
            continue
        kept.append(part)
    page = sep.join(kept) if len(kept) != len(parts) else page
    match = _TRAILING_URL.search(page)
    if match is not None and url is None:
        url = match["url"]
        page = page[: match.start()]
    if page.strip().lower() in _PRIVATE_PAGES:
        incognito = True
    return TabTitle(page.strip(), url, incognito)


def _split(page: str) -> tuple[str, list[str]]:
    for sep in _SEPARATORS:
        if sep in page:
            return sep, page.split(sep)
    return " - ", [page]


def _private(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in _PRIVATE)


class TitleBrowser:
    """Linux and Windows (and Firefox on macOS): everything from the window title."""

    name = "browser"

    def describe(self, sample: WindowSample) -> Details:
        tab = parse_title(sample.title)
        if tab is None:
            return NOTHING
        if tab.incognito:  # not even kept in memory past this point
            return Details(title="", incognito=True)
        return Details(title=tab.title, url=tab.url)

    def close(self) -> None:
        pass


# The browsers with the Chromium AppleScript dictionary (tab has URL and title; window has
# mode, "normal" or "incognito"). Arc's dictionary has tabs with URL and title; whether its
# windows have a mode is not documented, so the script asks inside `try`.
_CHROMIUM_FAMILY = {
    "Google Chrome",
    "Chromium",
    "Brave Browser",
    "Microsoft Edge",
    "Arc",
    "Vivaldi",
}

CHROMIUM_SCRIPT = """\
tell application {app}
  if (count of windows) is 0 then return ""
  set w to front window
  set m to ""
  try
    set m to mode of w
  end try
  set t to active tab of w
  return m & linefeed & (URL of t) & linefeed & (title of t)
end tell"""

# Safari's AppleScript cannot tell a private window from a normal one (its dictionary
# has no such property), so its tabs are recorded like any other.
SAFARI_SCRIPT = """\
tell application "Safari"
  if (count of documents) is 0 then return ""
  set d to front document
  set u to URL of d
  if u is missing value then set u to ""
  return "" & linefeed & u & linefeed & (name of d)
end tell"""


def browser_script(app: str) -> str | None:
    """The script that reads ``app``'s active tab, or None when it has none."""
    if app == SAFARI:
        return SAFARI_SCRIPT
    if app in _CHROMIUM_FAMILY:
        return CHROMIUM_SCRIPT.format(app=quote(app))
    return None


def parse_script_output(output: str) -> Details:
    """The answer of ``browser_script``: mode, URL and title on three lines."""
    if not output.strip():
        return NOTHING  # no window
    mode, _, rest = output.partition("\n")
    url, _, title = rest.partition("\n")
    if mode.strip() == "incognito":
        return Details(title="", incognito=True)
    return Details(title=title, url=url or None)


class AppleScriptBrowser:
    """macOS: ask the browser in front for its active tab."""

    name = "browser"

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.fallback = TitleBrowser()

    def describe(self, sample: WindowSample) -> Details:
        app = find_app(sample)
        script = browser_script(app.name) if app is not None else None
        if script is None:  # Firefox and others without a dictionary for tabs
            return self.fallback.describe(sample)
        try:
            return parse_script_output(self.runner(script))
        except AppleScriptError as exc:
            if exc.number in (INVALID_INDEX, NOT_RUNNING):
                return NOTHING  # the window closed or the app quit between two looks
            raise

    def close(self) -> None:
        pass
