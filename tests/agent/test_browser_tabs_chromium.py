"""The browser extension for real: the system Chromium with officepulse's extension loaded
(Playwright, a persistent context with --load-extension, headful under Xvfb + openbox),
the native messaging host installed for it by `officepulse agent install --browser
chromium`, pages served from a local HTTP server, tabs switched, another window brought to
the front, a private window opened with the keyboard.

First what the extension says, recorded where the agent would listen; then a real agent
(the X11 source) and a real server: the server's spans and totals, and the agent's
journal, have each tab's title, URL and time, and nothing of the private window; a browser
on the never-introspect list is sent by its name, while the probe shows what the extension
reports.

Which Chromium: Debian's /usr/bin/chromium (156) loads the unpacked extension with
--load-extension, headful under Xvfb (here) and headless alike (TEST_RECIPES.md, section
12). Google Chrome's branded builds ignore the flag since Chrome 137 ("--load-extension is
not allowed in Google Chrome, ignoring": SeleniumHQ/selenium#15788,
microsoft/playwright#36459); Chromium and Chrome for Testing keep it. Playwright's own
Chromium build is not used: it is downloaded from a CDN this machine cannot reach.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import shutil
import socketserver
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from officepulse.agent.browser_tabs import CHROMIUM_EXTENSION_ID
from officepulse.agent.journal import Journal
from tests.support import paths
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.privacy_checks import (
    assert_nowhere,
    current,
    database_text,
    files_text,
    today,
    usage,
)
from tests.support.processes import OFFICEPULSE, WAIT, Process, clean_env, stop, wait_until
from tests.support.servers import ServerProcess, start_agent, start_server

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium"),
    pytest.mark.timeout(240),
]

EXTENSION = paths.ROOT / "extension" / "src"
SECRET = "Secret Ledger"  # the private window's page: nothing of it may be sent
PAGES = {
    "a.html": "<title>Page A</title><h1>a</h1>",
    "b.html": "<title>Page B</title><h1>b</h1>",
    "secret.html": f"<title>{SECRET}</title><h1>ledger</h1>",
    "sound.html": "<title>Sound</title><script>function play() { const c = new AudioContext();"
    " const o = c.createOscillator(); o.connect(c.destination); o.start(); }</script>",
}


@dataclass
class Site:
    url: str

    def __call__(self, name: str) -> str:
        return f"{self.url}/{name}"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    folder = tmp_path / "www"
    folder.mkdir()
    for name, html in PAGES.items():
        (folder / name).write_text(html)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield Site(f"http://127.0.0.1:{httpd.server_address[1]}")
        httpd.shutdown()


@dataclass
class Person:
    """A home of its own: where the host manifest is installed and Chromium's profile is
    (its default one, $XDG_CONFIG_HOME/chromium), and a runtime folder for the channel."""

    home: Path
    runtime: Path
    display: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "DISPLAY": self.display,
            "XDG_SESSION_TYPE": "x11",
        }

    @property
    def agent_env(self) -> dict[str, str | None]:
        return {**self.env, "WAYLAND_DISPLAY": None}

    @property
    def profile(self) -> Path:
        return self.home / ".config" / "chromium"

    @property
    def socket(self) -> Path:
        return self.runtime / "officepulse" / "tabs.sock"


@pytest.fixture
def person(xserver: XServer, tmp_path: Path) -> Iterator[Person]:
    runtime = Path(tempfile.mkdtemp(prefix="op-rt-", dir="/tmp"))  # a socket path is short
    runtime.chmod(0o700)
    (tmp_path / "home").mkdir()
    someone = Person(tmp_path / "home", runtime, xserver.display)
    done = subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", "agent", "install", "--browser", "chromium"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=clean_env(**someone.env),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    manifest = someone.profile / "NativeMessagingHosts" / "org.officepulse.agent.json"
    assert f"chromium: wrote {manifest}" in done.stdout
    yield someone
    shutil.rmtree(runtime, ignore_errors=True)


class Chromium:
    """Chromium with the extension, in the person's default profile, on their display."""

    def __init__(self, person: Person, xserver: XServer, context: BrowserContext) -> None:
        self.person = person
        self.xserver = xserver
        self.context = context
        worker = context.service_workers
        self.worker = worker[0] if worker else context.wait_for_event("serviceworker")
        assert self.worker.url == f"chrome-extension://{CHROMIUM_EXTENSION_ID}/background.js"
        self.first = context.pages[0] if context.pages else context.new_page()

    def open(self, url: str, page: Page | None = None) -> Page:
        page = page or self.context.new_page()
        page.goto(url)
        return page

    def active_title(self) -> str:
        return self.xserver.xdotool("getactivewindow", "getwindowname").strip()

    def window_titled(self, title: str) -> int:
        found = self.xserver.xdotool("search", "--onlyvisible", "--name", f"^{re.escape(title)}$")
        return int(found.split()[0])

    def bring_to_front(self, page: Page) -> None:
        """The page's tab in front, in a window in front."""
        page.bring_to_front()
        title = f"{page.title()} - Chromium"
        wid = wait_until(lambda: self._maybe_window(title), what=f"a window titled {title!r}")
        self.xserver.activate(_window(wid, "Chromium"))

    def _maybe_window(self, title: str) -> int | None:
        with contextlib.suppress(RuntimeError, IndexError):
            return self.window_titled(title)
        return None

    def private_window(self, url: str) -> None:
        """Ctrl+Shift+N as a person presses it, then the address typed in."""
        self.xserver.xdotool("key", "--clearmodifiers", "ctrl+shift+n")
        wait_until(
            lambda: self.active_title().startswith("New Incognito Tab"),
            what="the private window in front",
            context=self.active_title,
        )
        self.xserver.xdotool("key", "--clearmodifiers", "ctrl+l")
        self.xserver.xdotool("type", "--delay", "20", url)
        self.xserver.xdotool("key", "Return")
        wait_until(
            lambda: self.active_title() == f"{SECRET} - Chromium",
            what="the private page loaded",
            context=self.active_title,
        )


def _window(wid: int, cls: str) -> Any:
    from tests.support.xserver import Window

    return Window(wid=wid, cls=cls, proc=None)  # type: ignore[arg-type]


@pytest.fixture
def chromium(person: Person, xserver: XServer) -> Iterator[Chromium]:
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(person.profile),
            headless=False,
            executable_path=str(CHROMIUM),
            args=[
                *CHROMIUM_ARGS,
                f"--disable-extensions-except={EXTENSION}",
                f"--load-extension={EXTENSION}",
                "--autoplay-policy=no-user-gesture-required",
            ],
            env=clean_env(**person.env),
        )
        context.set_default_timeout(WAIT * 1000)
        try:
            yield Chromium(person, xserver, context)
        finally:
            context.close()


# -- the extension alone ---------------------------------------------------------------


class Recorder(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Listens where the agent would, and keeps every line the host passes on."""

    daemon_threads = True

    def __init__(self, path: Path) -> None:
        self.lines: list[dict[str, Any]] = []
        path.parent.mkdir(mode=0o700, exist_ok=True)
        recorder = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    recorder.lines.append(json.loads(line))

        super().__init__(str(path), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def tabs(self) -> list[dict[str, Any]]:
        return [m for m in list(self.lines) if m["type"] == "tab"]

    def last_tab(self) -> dict[str, Any] | None:
        tabs = self.tabs()
        return tabs[-1] if tabs else None

    def wait_for(self, what: str, **fields: Any) -> int:
        """Once the latest report has ``fields``, its index among the reports."""

        def found() -> int | None:
            tabs = self.tabs()
            if tabs and all(tabs[-1].get(k) == v for k, v in fields.items()):
                return len(tabs)
            return None

        context = lambda: "the last reports: " + json.dumps(self.tabs()[-5:])  # noqa: E731
        return int(wait_until(found, what=what, context=context)) - 1


ALL_TITLES = "() => chrome.tabs.query({}).then((tabs) => tabs.map((t) => t.title))"
MARKER = {"type": "hello", "extension": "marker"}
LOOK_THEN_MARK = (
    f"async () => {{ schedule(); await queue; port.postMessage({json.dumps(MARKER)}); }}"
)


@pytest.fixture
def recorder(person: Person) -> Iterator[Recorder]:
    server = Recorder(person.socket)
    yield server
    server.shutdown()
    server.server_close()


def test_the_extension_reports_the_tab_in_front_and_nothing_else(
    recorder: Recorder, chromium: Chromium, site: Site, xserver: XServer
) -> None:
    a = chromium.open(site("a.html"), chromium.first)
    recorder.wait_for("Page A", focused=True, title="Page A", url=site("a.html"))
    hosts = [m for m in recorder.lines if m["type"] == "host"]
    assert hosts[0]["caller"] == f"chrome-extension://{CHROMIUM_EXTENSION_ID}/"
    assert {"type": "hello", "extension": "0.1.0"} in recorder.lines
    b = chromium.open(site("b.html"))
    chromium.bring_to_front(b)
    recorder.wait_for("Page B", focused=True, title="Page B", url=site("b.html"))
    chromium.bring_to_front(a)
    recorder.wait_for("Page A again", focused=True, title="Page A")
    sound = chromium.open(site("sound.html"))
    sound.evaluate("play()")
    recorder.wait_for("the sound", focused=True, title="Sound", audible=True)
    chromium.bring_to_front(a)
    recorder.wait_for("Page A, silent", focused=True, title="Page A", audible=False)

    # Another app in front: the extension says so once, and nothing while it is there...
    terminal = xserver.xterm("OpTerm", "a terminal")
    xserver.activate(terminal)
    recorder.wait_for("the browser not in front", focused=False)
    away = len(recorder.lines)
    a.evaluate("document.title = 'Page A, changed behind'")
    b.evaluate("document.title = 'Page B, changed behind'")
    wait_until(
        lambda: "Page A, changed behind" in chromium.worker.evaluate(ALL_TITLES),
        what="the browser knowing the new titles",
    )
    # The extension looks now (its own report function), then a marker follows the same
    # way: what it sent before the marker has all arrived once the marker has.
    chromium.worker.evaluate(LOOK_THEN_MARK)
    wait_until(lambda: MARKER in recorder.lines, what="the marker")
    assert [m for m in recorder.lines[away : recorder.lines.index(MARKER)]] == []
    # ...until the browser is in front again, with the page as it is now.
    chromium.bring_to_front(a)
    recorder.wait_for("Page A as it is now", focused=True, title="Page A, changed behind")

    # A private window in front: the browser keeps the extension out of it, and the
    # extension says no window it may report is in front.
    chromium.private_window(site("secret.html"))
    recorder.wait_for("the private window in front", focused=False)
    chromium.bring_to_front(a)
    recorder.wait_for("Page A after the private window", focused=True)
    xserver.activate(terminal)
    recorder.wait_for("the terminal in front", focused=False)
    assert_nowhere([SECRET, "secret.html"], channel=json.dumps(recorder.lines))
    assert all(set(m) <= {"type", "focused", "title", "url", "audible"} for m in recorder.tabs())


# -- with the agent and the server -----------------------------------------------------


def spans(server: ServerProcess, agent: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = server.get(f"/api/v1/spans?{today()}&agent={agent}")["spans"]
    return sorted(rows, key=lambda r: r["start"])


def titles(server: ServerProcess, agent: str, app: str) -> dict[tuple[str, str | None], float]:
    query = f"{today()}&{urlencode({'agent': agent, 'app': app})}"
    rows = server.get(f"/api/v1/titles?{query}")["rows"]
    return {(r["title"], r.get("url")): r["seconds"] + r["idle_seconds"] for r in rows}


def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def showing(server: ServerProcess, agent: str, **fields: Any) -> Callable[[], Any]:
    def check() -> Any:
        now = current(server, agent)
        return now if now and all(now.get(k) == v for k, v in fields.items()) else None

    return check


def run_agent_for(person: Person, server: ServerProcess, tmp: Path, *args: str) -> Process:
    return start_agent(
        server,
        tmp,
        "--agent-id",
        "tabby",
        "--source",
        "x11",
        "--poll-interval",
        "0.1",
        *args,
        **person.agent_env,
    )


def test_the_agent_sends_the_tab_in_front_and_nothing_of_a_private_window(
    person: Person, chromium: Chromium, site: Site, xserver: XServer, tmp_path: Path
) -> None:
    server = start_server(tmp_path)
    agent = run_agent_for(person, server, tmp_path)
    try:
        # Chromium started first: its host connects within a second of the agent.
        agent.wait_for_log("the browser extension is connected (chrome-extension://")
        a = chromium.open(site("a.html"), chromium.first)
        seen = wait_until(
            showing(server, "tabby", app="Chromium", title="Page A", url=site("a.html")),
            what="Page A on the server",
        )
        assert seen["process"] == "chromium"
        before_b = time.time()  # a new tab comes to the front as it opens
        b = chromium.open(site("b.html"))
        chromium.bring_to_front(b)
        wait_until(showing(server, "tabby", title="Page B", url=site("b.html")), what="Page B")
        after_b = time.time()
        before_a = time.time()
        chromium.bring_to_front(a)
        wait_until(showing(server, "tabby", title="Page A"), what="Page A again")
        after_a = time.time()
        terminal = xserver.xterm("OpTerm", "a terminal")
        xserver.activate(terminal)
        wait_until(showing(server, "tabby", app="OpTerm"), what="the terminal")
        stop(agent)
        # Every span reached the server (a clean stop flushes the open one).
        stored = spans(server, "tabby")

        # The server: Page B from the switch to it until the switch back, as seen.
        page_b = [s for s in stored if s.get("title", "") == "Page B"]
        assert [s["url"] for s in page_b] == [site("b.html")]
        assert before_b <= stamp(page_b[0]["start"]) <= after_b
        assert before_a <= stamp(page_b[0]["end"]) <= after_a
        per_title = titles(server, "tabby", "Chromium")
        assert per_title[("Page B", site("b.html"))] == pytest.approx(page_b[0]["seconds"])
        assert per_title[("Page A", site("a.html"))] == pytest.approx(
            sum(s["seconds"] for s in stored if s.get("url") == site("a.html"))
        )
        assert usage(server)["Chromium"] == pytest.approx(
            sum(s["seconds"] for s in stored if s["app"] == "Chromium")
        )
        # Also seen, for a moment each: the new tab's about:blank (and its address until
        # its title came), the browser's name alone while the window's title and the
        # extension's report disagree, and the first page's title before the extension
        # was heard. Nothing else.
        expected = {
            ("Page A", site("a.html")),
            ("Page B", site("b.html")),
            ("about:blank", "about:blank"),
            (site("b.html").removeprefix("http://"), site("b.html")),
            ("", None),
            ("about:blank", None),
        }
        assert {(s.get("title", ""), s.get("url")) for s in stored} <= expected

        # The server stops; the agent keeps its journal. A private window comes to the
        # front, then the terminal.
        server.stop()
        agent = run_agent_for(person, server, tmp_path)
        agent.wait_for_log(f"listening for the browser extension on {person.socket}")
        agent.wait_for_log("the browser extension is connected")
        chromium.bring_to_front(a)
        wait_until(
            lambda: journal_spans(tmp_path)[-1:] == [("Chromium", "Page A", site("a.html"))],
            what="Page A, with its address, the agent's open span",
            context=lambda: repr(journal_spans(tmp_path)),
        )
        chromium.private_window(site("secret.html"))
        xserver.activate(terminal)
        # The terminal closes the private window's span: once that is in the journal,
        # every look at the private window has been journalled.
        wait_until(
            lambda: journalled(tmp_path, ("Chromium", "", None), then="OpTerm"),
            what="the private window's span closed in the agent's journal",
            context=lambda: repr(journal_spans(tmp_path)),
        )
        log = stop(agent)
        kept = journal_spans(tmp_path)
        chromium_kept = [k for k in kept if k[0] == "Chromium"]
        assert ("Chromium", "Page A", site("a.html")) in chromium_kept
        assert ("Chromium", "", None) in chromium_kept  # the private window: the name only
        assert_nowhere(
            [SECRET, "secret.html"],
            journal=files_text(tmp_path / "agent-state", "*"),
            agent_log=log,
        )

        # The server again: the journal reaches it, and nothing of the private window.
        server = start_server(tmp_path)
        agent = run_agent_for(person, server, tmp_path)
        agent.wait_for_log("spans to send")
        # The link sends what an earlier run could not once something new is journalled
        # (a switch), or a batch is full: a switch, then.
        chromium.bring_to_front(a)
        wait_until(
            lambda: ("", None) in titles(server, "tabby", "Chromium"),
            what="the private window's time on the server, as the browser's name",
            context=lambda: f"{journal_spans(tmp_path)}\n{agent.tail()}",
        )
        stop(agent)
        api = json.dumps(spans(server, "tabby"))
        server.stop()
        assert_nowhere(
            [SECRET, "secret.html"],
            api=api,
            database=database_text(server.database),
            database_files=files_text(server.database.parent, server.database.name + "*"),
        )
    finally:
        stop(agent)
        server.stop()


def journal_spans(tmp: Path) -> list[tuple[str, str, str | None]]:
    """(app, title, url) of every span in the agent's journal, open span last."""
    journal = Journal(tmp / "agent-state" / "journal.sqlite3")
    try:
        entries = [e.span for e in journal.read(0, 10_000)]
        opened = journal.open_span()
    finally:
        journal.close()
    if opened is not None:
        entries.append(opened)
    return [(s.activity.app, s.activity.title, s.activity.url) for s in entries]


def journalled(tmp: Path, span: tuple[str, str, str | None], then: str) -> bool:
    """Whether the journal holds ``span``, and after it one of the app ``then``."""
    with contextlib.suppress(sqlite3.Error):  # the agent writes it meanwhile
        kept = journal_spans(tmp)
        return span in kept and any(k[0] == then for k in kept[kept.index(span) :])
    return False


def test_a_never_introspected_browser_is_sent_by_name_while_the_probe_shows_the_tab(
    person: Person, chromium: Chromium, site: Site, xserver: XServer, tmp_path: Path
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[privacy]\nnever_introspect = ["chromium"]\n')
    server = start_server(tmp_path)
    agent = run_agent_for(person, server, tmp_path, "--agent-config", str(config))
    try:
        agent.wait_for_log(f"listening for the browser extension on {person.socket}")
        chromium.open(site("a.html"), chromium.first)
        agent.wait_for_log("the browser extension is connected")

        def probed() -> str | None:
            done = subprocess.run(
                [OFFICEPULSE, "--env-file", "/dev/null", "agent", "probe"],
                capture_output=True,
                text=True,
                timeout=WAIT,
                env=clean_env(OFFICEPULSE_AGENT_CONFIG=str(config), **person.agent_env),
                check=False,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout if "tab in front: 'Page A'" in done.stdout else None

        out = wait_until(probed, what="the probe showing Page A")
        assert f"tab in front: 'Page A' {site('a.html')}" in out
        assert "extension 0.1.0 in browser pid" in out
        assert "introspect  not run: this app is on a privacy list" in out
        assert "never introspected (matches 'chromium'): app name only" in out
        assert '"app":"Chromium","process":"chromium"' in out
        assert "Page A" not in out.split("would send")[1]
        wait_until(showing(server, "tabby", app="Chromium"), what="Chromium on the server")
        # Another window ends the browser's span (a stop ends it where it was last sent).
        xserver.activate(xserver.xterm("OpTerm", "a terminal"))
        wait_until(showing(server, "tabby", app="OpTerm"), what="the terminal on the server")
        stop(agent)
        stored = spans(server, "tabby")
        assert [s["app"] for s in stored] == ["Chromium"]
        assert all(
            s.get("title", "") == "" and "url" not in s for s in stored if s["app"] == "Chromium"
        )
        server.stop()
        assert_nowhere(["Page A", "a.html"], database=database_text(server.database))
    finally:
        stop(agent)
        server.stop()
