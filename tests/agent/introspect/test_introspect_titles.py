"""Browsers, editors and Spotify from their window titles, against titles recorded on real
machines (tests/data/recorded/introspect/window_titles.json; its README says where each
comes from, and which few are constructed)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from officepulse.agent.introspect import Details, Introspector
from officepulse.agent.introspect.apps import find_app
from officepulse.agent.introspect.browsers import TitleBrowser, parse_title
from officepulse.agent.introspect.editors import EditorPlugin, parse_vscode_title
from officepulse.agent.introspect.media import parse_spotify_title
from officepulse.agent.introspect.terminal import parse_vim_title
from officepulse.agent.sources.base import WindowSample
from officepulse.protocol.messages import Activity, Media
from tests.support import paths

RECORDED = paths.DATA / "recorded" / "introspect" / "window_titles.json"
RECORDS: list[dict[str, Any]] = json.loads(RECORDED.read_text(encoding="utf-8"))


def sample_of(record: dict[str, Any]) -> WindowSample:
    return WindowSample(app=record["app"], title=record["title"], process=record.get("process"))


def kind_of(record: dict[str, Any]) -> str | None:
    app = find_app(sample_of(record))
    return None if app is None else app.kind


def records(kind: str) -> list[Any]:
    chosen = [r for r in RECORDS if kind_of(r) == kind]
    return [pytest.param(r, id=f"{r['id']} ({r['evidence']})") for r in chosen]


def test_every_record_names_its_source_and_evidence() -> None:
    for record in RECORDS:
        assert record["evidence"] in ("recorded", "quoted", "constructed"), record["id"]
        assert record["source"], record["id"]
        assert record["how"], record["id"]
    constructed = {r["id"] for r in RECORDS if r["evidence"] == "constructed"}
    # Kept short on purpose: every other title was seen on a real machine.
    assert constructed == {
        "firefox-private-suffix",
        "firefox-private-empty",
        "spotify-windows-playing",
    }


@pytest.mark.parametrize("record", records("browser"))
def test_browser_titles(record: dict[str, Any]) -> None:
    expect = record["expect"]
    details = TitleBrowser().describe(sample_of(record))
    if expect is None:
        assert parse_title(record["title"]) is None
        assert details == Details()
        return
    assert details == Details(
        title=expect["title"], url=expect["url"], incognito=expect["incognito"]
    )


@pytest.mark.parametrize("record", records("browser"))
def test_private_windows_leave_no_title_or_url(record: dict[str, Any]) -> None:
    activity = Activity(app=record["app"], title=record["title"])
    sent = TitleBrowser().describe(sample_of(record)).apply(activity)
    if record["expect"] and record["expect"]["incognito"]:
        assert sent.title == ""
        assert sent.url is None
        assert "Wikipedia" not in str(sent)
        assert "WebUI" not in str(sent)
    else:
        assert sent.app == record["app"]


@pytest.mark.parametrize("record", records("vscode") + records("jetbrains"))
def test_editor_titles(record: dict[str, Any]) -> None:
    details = EditorPlugin().describe(sample_of(record))
    assert details == Details(project=record["expect"]["project"], file=record["expect"]["file"])


@pytest.mark.parametrize("record", records("player"))
def test_spotify_titles_on_windows(record: dict[str, Any]) -> None:
    expect = record["expect"]["media"]
    details = Introspector("win32").describe(sample_of(record))
    assert details.media == (None if expect is None else Media(**expect))


@pytest.mark.parametrize("record", records("terminal"))
def test_terminal_titles(record: dict[str, Any]) -> None:
    # Where processes cannot be read (Windows), the title is all there is.
    details = Introspector("win32").describe(sample_of(record))
    expect = record["expect"]
    assert details == Details(program=expect["program"], file=expect["file"])
    vim = parse_vim_title(record["title"])
    assert (vim.file if vim else None) == expect["file"]


def test_every_record_is_used() -> None:
    kinds = {kind_of(r) for r in RECORDS}
    assert kinds == {"browser", "vscode", "jetbrains", "player", "terminal"}


# -- the formats around the recorded ones (constructed, as the docs describe them) ----------


@pytest.mark.parametrize(
    ("title", "project", "file"),
    [
        ("app.py — myproject — Visual Studio Code", "myproject", "app.py"),  # macOS " — "
        ("● app.py — myproject", "myproject", "app.py"),  # macOS without the app's name
        ("notes.md - Visual Studio Code", None, "notes.md"),  # a file, no folder
        ("myproject - Visual Studio Code", "myproject", None),  # a folder, no editor
        ("Welcome - myproject - Visual Studio Code", "myproject", None),
        ("x.py - myproject [SSH: build01] - Visual Studio Code", "myproject", "x.py"),
        ("a - b.txt - ws (Workspace) - Visual Studio Code", "ws", "a - b.txt"),
        ("Visual Studio Code", None, None),
    ],
)
def test_vscode_title_variants(title: str, project: str | None, file: str | None) -> None:
    parsed = parse_vscode_title(title)
    assert parsed is not None
    assert (parsed.project, parsed.file) == (project, file)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Sign in - Bank - Google Chrome (Incognito)", ("", True)),
        ("New Incognito tab - Google Chrome", ("", True)),
        ("Search - [InPrivate] - Microsoft Edge", ("", True)),
        ("InPrivate - Microsoft Edge", ("", True)),
        ("Google Chrome Help - Google Chrome", ("Google Chrome Help", False)),
        ("Google Chrome (Guest)", ("", False)),
        ("Docs - https://example.com/a?b=c - Google Chrome", ("Docs", False)),
    ],
)
def test_browser_title_variants(title: str, expected: tuple[str, bool]) -> None:
    activity = Activity(app="chrome", title=title)
    details = TitleBrowser().describe(WindowSample(app="Google-chrome", title=title))
    sent = details.apply(activity)
    assert (sent.title, details.incognito) == expected


def test_spotify_song_with_a_dash_keeps_it_in_the_song() -> None:
    media = parse_spotify_title("Daft Punk - One More Time - Radio Edit")
    assert media == Media(player="Spotify", title="One More Time - Radio Edit", artist="Daft Punk")


@pytest.mark.parametrize(
    ("app", "process", "kind"),
    [
        ("Google-chrome", None, "browser"),
        ("OpTermVim", "xterm", "terminal"),  # any WM_CLASS: the process decides
        ("code", "code", "vscode"),
        ("jetbrains-goland", None, "jetbrains"),
        ("com.jetbrains.pycharm-EAP", None, "jetbrains"),
        ("Spotify.exe", "Spotify.exe", "player"),
        ("com.apple.Safari", None, "browser"),
        ("gimp", "gimp-2.10", None),
    ],
)
def test_app_table(app: str, process: str | None, kind: str | None) -> None:
    found = find_app(WindowSample(app=app, title="", process=process))
    assert (found.kind if found else None) == kind


def test_details_lay_over_the_activity() -> None:
    activity = Activity(app="code", title="● x.py - p - Visual Studio Code", pid=7)
    details = Details(project="p", file="x.py").merged(
        Details(media=Media(player="Spotify", title="Song", artist="A"))
    )
    sent = details.apply(activity)
    assert sent == Activity(
        app="code",
        title="● x.py - p - Visual Studio Code",
        pid=7,
        project="p",
        file="x.py",
        media=Media(player="Spotify", title="Song", artist="A"),
    )
    # Nothing cut here: the driver cuts after the privacy lists' redaction.
    long = "x" * 5000
    assert Details(title=long).apply(activity).title == long
    assert details.summary() == "project='p'; file='x.py'; Spotify playing: 'Song' by 'A'"


# -- the Introspector's own rules -------------------------------------------------------------

CHROME = WindowSample(app="Google-chrome", title="duckduckgo at DuckDuckGo - Google Chrome")


def test_never_introspect_looks_at_nothing() -> None:
    intro = Introspector("linux", disabled={"media"})
    assert intro.describe(CHROME).title == "duckduckgo at DuckDuckGo"
    assert intro.describe(CHROME, introspect=False) == Details()


def test_plugins_can_be_turned_off() -> None:
    intro = Introspector("linux", disabled={"browser", "media"})
    assert intro.describe(CHROME) == Details()
    assert dict(intro.explain(CHROME))["browser"] == "turned off"
    with pytest.raises(ValueError, match="unknown introspection plugin"):
        Introspector("linux", disabled={"tabs"})


def test_an_unexpected_failure_is_logged_once_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = []

    def broken(script: str) -> str:
        calls.append(script)
        raise RuntimeError("something no one expected")

    now = [0.0]
    intro = Introspector("darwin", runner=broken, disabled={"media"}, clock=lambda: now[0])
    sample = WindowSample(app="Google Chrome", title="Docs")
    with caplog.at_level(logging.WARNING, logger="officepulse.agent.introspect"):
        for _ in range(20):
            assert intro.describe(sample) == Details()
            now[0] += 1
    assert len(calls) == 2  # at 0 s and after retry_after (10 s)
    [record] = caplog.records
    assert record.exc_info  # unexpected: the traceback is kept
    assert "something no one expected" in record.getMessage()


def test_notes_say_what_each_platform_cannot_tell() -> None:
    assert any("Safari" in n for n in Introspector("darwin").notes)
    assert any("only Spotify" in n for n in Introspector("win32").notes)
    assert any("no URL" in n for n in Introspector("linux").notes)
