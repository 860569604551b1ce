"""Merging what the browser extension reports into what the agent sends: the plugin that
speaks for a browser with the extension (``introspect/extension.py``), through the same
look the driver takes (``drivers.judge``: introspection, then the privacy lists), and what
the probe says about it. Pure: the reports are put in ``Tabs`` as the channel puts them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from officepulse.agent.browser_tabs import ExtensionHello, HostHello, TabReport, Tabs
from officepulse.agent.config import parse_config
from officepulse.agent.drivers import judge
from officepulse.agent.introspect import Introspector
from officepulse.agent.introspect.extension import without_credentials
from officepulse.agent.privacy import NO_RULES, PrivacyRules
from officepulse.agent.probe import Probe, render
from officepulse.agent.sources.base import WindowSample
from officepulse.protocol.messages import Activity, Media

CHROME_PID = 4100
FIREFOX_PID = 5200


def chromium(title: str, pid: int | None = CHROME_PID) -> WindowSample:
    return WindowSample(app="Chromium", title=title, process="chromium", pid=pid)


def firefox(title: str) -> WindowSample:
    return WindowSample(app="firefox", title=title, process="firefox", pid=FIREFOX_PID)


def report(title: str, url: str = "", *, focused: bool = True, audible: bool = False) -> TabReport:
    return TabReport(focused=focused, title=title, url=url, audible=audible)


def connected(*reports: tuple[int, TabReport | None]) -> Tabs:
    """A browser per (pid, report), reporting in that order."""
    tabs = Tabs()
    for key, (pid, tab) in enumerate(reports):
        tabs.connect(key, HostHello(pid=9000 + key, browser_pids=(pid,), caller=f"c{key}"))
        tabs.receive(key, ExtensionHello(extension="0.1.0"), now=key)
        if tab is not None:
            tabs.receive(key, tab, now=float(key))
    return tabs


def look(sample: WindowSample, tabs: Tabs, rules: PrivacyRules = NO_RULES) -> Activity | None:
    introspector = Introspector("linux", disabled={"media", "terminal"}, tabs=tabs)
    return judge(sample, None, 180.0, rules, introspector).activity


def test_the_tab_the_extension_reports_is_the_activity() -> None:
    tabs = connected((CHROME_PID, report("Cat video - YouTube", "https://www.youtube.com/w?v=1")))
    sent = look(chromium("Cat video - YouTube - Chromium"), tabs)
    assert sent == Activity(
        app="Chromium",
        title="Cat video - YouTube",
        url="https://www.youtube.com/w?v=1",
        process="chromium",
        pid=CHROME_PID,
    )


def test_without_the_extension_the_window_title_is_all_there_is() -> None:
    sent = look(chromium("Cat video - YouTube - Chromium"), Tabs())
    assert sent is not None
    assert (sent.title, sent.url) == ("Cat video - YouTube", None)
    # An extension in another browser does not speak for this one.
    other = connected((FIREFOX_PID, report("Elsewhere", "https://elsewhere.example/")))
    assert look(chromium("Cat video - YouTube - Chromium"), other) == sent


def test_each_browser_is_told_by_its_own_extension() -> None:
    tabs = connected(
        (CHROME_PID, report("", focused=False)),
        (FIREFOX_PID, report("Docs", "https://docs.example/")),
    )
    sent = look(firefox("Docs — Mozilla Firefox"), tabs)
    assert sent is not None
    assert (sent.title, sent.url) == ("Docs", "https://docs.example/")
    # A window without a pid: the browser that last said it is in front.
    sent = look(chromium("Docs — Mozilla Firefox", pid=None), tabs)
    assert sent is not None
    assert sent.url == "https://docs.example/"


@pytest.mark.parametrize(
    ("window", "tab"),
    [
        # A private window (the extension is kept out of them): only the browser's name,
        # even where the title does not say it is private (Chromium 156 on Linux).
        ("Secret page - Chromium", report("", focused=False)),
        # The extension has said nothing yet.
        ("Page A - Chromium", None),
        # The report is for the page a moment ago: another page is in front now.
        ("New Incognito Tab - Chromium", report("Page A", "http://a.example/")),
        # A title that says private wins over any report.
        ("Page A - Chromium (Incognito)", report("Page A", "http://a.example/")),
    ],
)
def test_a_window_the_extension_does_not_report_gives_the_browsers_name_only(
    window: str, tab: TabReport | None
) -> None:
    tabs = connected((CHROME_PID, tab))
    sent = look(chromium(window), tabs)
    assert sent == Activity(app="Chromium", process="chromium", pid=CHROME_PID)


def test_a_window_title_the_desktop_does_not_give_cannot_contradict_the_report() -> None:
    tabs = connected((CHROME_PID, report("Page A", "http://a.example/")))
    sent = look(chromium(""), tabs)
    assert sent is not None
    assert sent.url == "http://a.example/"


def test_a_tab_playing_sound_is_media_without_the_pages_title() -> None:
    tabs = connected((CHROME_PID, report("Meeting", "https://meet.example/x", audible=True)))
    sent = look(chromium("Meeting - Chromium"), tabs)
    assert sent is not None
    assert sent.media == Media(player="Chromium", playing=True)


def test_the_privacy_lists_apply_to_the_tab_as_to_everything_else() -> None:
    tab = report("Inbox (3) - ada@corp.example", "https://mail.corp.example/#inbox/42")
    window = chromium("Inbox (3) - ada@corp.example - Chromium")
    tabs = connected((CHROME_PID, tab))
    quiet = PrivacyRules.build(never_introspect=["chromium"])
    assert look(window, tabs, quiet) == Activity(app="Chromium", process="chromium", pid=CHROME_PID)
    hidden = PrivacyRules.build(never_capture=[("Chromium", "nothing")])
    assert look(window, tabs, hidden) is None
    site = PrivacyRules.build(domain_only=["corp.example"])
    sent = look(window, tabs, site)
    assert sent is not None
    assert (sent.title, sent.url) == ("mail.corp.example", "https://mail.corp.example/")
    masked = PrivacyRules.build(redact=[r"\S+@\S+"])
    sent = look(window, tabs, masked)
    assert sent is not None
    assert sent.title == "Inbox (3) - …"


def test_a_login_in_the_address_is_not_kept() -> None:
    assert without_credentials("https://ada:pw@host.example:8/p?q#f") == (
        "https://host.example:8/p?q#f"
    )
    assert without_credentials("https://host.example/a@b") == "https://host.example/a@b"
    assert without_credentials("http://[::1") is None
    assert without_credentials("") is None


def test_the_probe_shows_what_the_extension_reports() -> None:
    tabs = connected(
        (CHROME_PID, report("Page A", "http://a.example/", audible=True)),
        (FIREFOX_PID, report("", focused=False)),
    )
    base = Probe(
        when=datetime(2026, 5, 4, 9, 0, tzinfo=UTC),
        platform="linux",
        session="x11",
        idle_threshold=180,
        config=parse_config('[privacy]\ndomain_only = ["corp.example"]\n', Path("agent.toml")),
    )
    out = render(replace(base, browsers=tabs.views(now=3.0)))
    assert "browser     extension 0.1.0 in browser pid 4100 (c0)" in out
    assert "tab in front: 'Page A' http://a.example/, playing sound (3.0 s ago)" in out
    assert "extension 0.1.0 in browser pid 5200 (c1)" in out
    assert "no window it may report is in front (another app, or a private window)" in out
    assert "domain only       corp.example" in out
    out = render(replace(base, browsers=()))
    assert "browser     no browser extension is connected to the agent" in out
    unknown = "no agent is running here to ask"
    out = render(replace(base, browsers_unknown=unknown))
    assert f"browser     extension not known: {unknown}" in out
