"""The Introspector: picks the plugin for the window in front, runs it and the media
reader, and keeps their failures out of the poll."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from officepulse.agent.browser_tabs import Tabs
from officepulse.agent.introspect.applescript import OsascriptRunner, Runner
from officepulse.agent.introspect.apps import find_app
from officepulse.agent.introspect.base import NOTHING, Details, IntrospectionError, Plugin
from officepulse.agent.introspect.browsers import AppleScriptBrowser, TitleBrowser
from officepulse.agent.introspect.editors import EditorPlugin
from officepulse.agent.introspect.extension import ExtensionBrowser
from officepulse.agent.introspect.media import MacPlayers, MediaPlugin, Mpris, PlayerTitle
from officepulse.agent.introspect.terminal import LinuxTerminal, MacTerminal, TitleTerminal
from officepulse.agent.sources.base import WindowSample
from officepulse.protocol.messages import Activity

log = logging.getLogger(__name__)

# The names ``disabled`` takes.
PLUGINS = ("browser", "terminal", "editor", "media")


@dataclass(slots=True)
class _Failing:
    retry_at: float


class Introspector:
    """Adds what the app in front knows to a window sample.

    ``platform`` is a ``sys.platform`` value; ``disabled`` names plugins to leave out
    (see ``PLUGINS``); ``hidden_players`` names media players whose track is never read
    (matched, ignoring case, on the MPRIS name or identity, or the macOS app name).
    ``runner`` runs AppleScript (macOS), ``bus`` is the D-Bus bus for MPRIS (Linux);
    tests pass their own. ``tabs`` are the browser extensions' reports: a browser one of
    them speaks for is described by it alone (``extension.ExtensionBrowser``). The media
    players are read at most every ``media_interval`` seconds. A plugin that fails is
    logged once, gives no details, and is tried again after ``retry_after`` seconds.
    """

    def __init__(
        self,
        platform: str = sys.platform,
        *,
        disabled: Collection[str] = (),
        hidden_players: Collection[str] = (),
        runner: Runner | None = None,
        bus: str = "SESSION",
        media_interval: float = 5.0,
        retry_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        tabs: Tabs | None = None,
    ) -> None:
        unknown = set(disabled) - set(PLUGINS)
        if unknown:
            raise ValueError(
                f"unknown introspection plugin(s) {sorted(unknown)}; known: {', '.join(PLUGINS)}"
            )
        self.platform = platform
        self.disabled = frozenset(disabled)
        self.retry_after = retry_after
        self.clock = clock
        run = runner if runner is not None else OsascriptRunner()
        mac, linux, windows = (
            platform == "darwin",
            platform.startswith("linux"),
            platform == "win32",
        )

        terminal: Plugin = TitleTerminal()
        if mac:
            terminal = MacTerminal(run)
        elif linux:
            terminal = LinuxTerminal()
        editor = EditorPlugin()
        browser: Plugin = AppleScriptBrowser(run) if mac else TitleBrowser()
        if tabs is not None:
            browser = ExtensionBrowser(tabs, browser)
        self._window: dict[str, Plugin] = {
            "browser": browser,
            "terminal": terminal,
            "vscode": editor,
            "jetbrains": editor,
        }
        if windows:
            self._window["player"] = PlayerTitle()
        self._media: MediaPlugin | None = None
        if linux:
            mpris = Mpris(bus)
            self._media = MediaPlugin(
                mpris.players,
                interval=media_interval,
                clock=clock,
                hidden=hidden_players,
                closer=mpris.close,
            )
        elif mac:
            self._media = MediaPlugin(
                MacPlayers(run), interval=media_interval, clock=clock, hidden=hidden_players
            )
        self._failing: dict[tuple[str, str], _Failing] = {}

    def describe(self, sample: WindowSample, *, introspect: bool = True) -> Details:
        """What the plugins can tell about ``sample``. With ``introspect=False`` (an app
        on the never-introspect list) nothing is looked at and nothing is returned."""
        if not introspect:
            return NOTHING
        details = NOTHING
        app = find_app(sample)
        if app is not None:
            plugin = self._window.get(app.kind)
            if plugin is not None and plugin.name not in self.disabled:
                details = self._run(plugin, app.name, sample)
        if self._media is not None and "media" not in self.disabled:
            details = details.merged(self._run(self._media, "players", sample))
        return details

    def __call__(self, sample: WindowSample, activity: Activity) -> Activity:
        """``activity`` with what the plugins tell about ``sample``: the driver's
        ``Introspect`` seam (``drivers.look`` calls it only for apps on no privacy list)."""
        return self.describe(sample).apply(activity)

    def explain(self, sample: WindowSample) -> tuple[tuple[str, str], ...]:
        """One row per plugin that applies, for ``officepulse agent probe``: what it
        found, or why it could not look. Failures are shown, not logged or held back."""
        rows = []
        app = find_app(sample)
        plugin = self._window.get(app.kind) if app is not None else None
        if app is None or plugin is None:
            rows.append(("window", "no plugin for this app"))
        elif plugin.name in self.disabled:
            rows.append((plugin.name, "turned off"))
        else:
            rows.append((plugin.name, _attempt(plugin, sample)))
        if self._media is None:
            rows.append(("media", "no player can be read on this platform"))
        elif "media" in self.disabled:
            rows.append(("media", "turned off"))
        else:
            rows.append(("media", _attempt(self._media, sample)))
        rows += [("note", note) for note in self.notes]
        return tuple(rows)

    @property
    def notes(self) -> tuple[str, ...]:
        """What this platform cannot tell, for people (``officepulse agent probe``)."""
        notes = []
        if self.platform == "darwin":
            notes.append(
                "Safari: private windows cannot be told apart through AppleScript;"
                " their tabs are recorded like any other"
            )
            notes.append("Firefox: no AppleScript for tabs; the page title comes from the window")
            notes.append("terminals other than Terminal and iTerm2: only what the title says")
        else:
            notes.append(
                "browsers: without officepulse's extension, no URL unless the window title "
                "shows one"
            )
        if self.platform == "win32":
            notes.append("media: only Spotify, and only while its window is in front")
            notes.append("terminals: Windows consoles have no foreground process group")
        return tuple(notes)

    def _run(self, plugin: Plugin, target: str, sample: WindowSample) -> Details:
        key = (plugin.name, target)
        now = self.clock()
        failing = self._failing.get(key)
        if failing is not None and now < failing.retry_at:
            return NOTHING
        try:
            details = plugin.describe(sample)
        # The boundary of every plugin: details are a bonus, and no failure in one (a
        # player that misbehaves, a tool that changed its output) may cost the heartbeat.
        except Exception as exc:
            if failing is None:
                expected = isinstance(exc, IntrospectionError)
                log.warning(
                    "%s introspection (%s) failed; going on without it, next try in %g s: %s",
                    plugin.name,
                    target,
                    self.retry_after,
                    exc,
                    exc_info=not expected,
                )
            self._failing[key] = _Failing(now + self.retry_after)
            return NOTHING
        if failing is not None:
            del self._failing[key]
            log.info("%s introspection (%s) works again", plugin.name, target)
        return details

    def close(self) -> None:
        """Close what the plugins opened (the D-Bus connection)."""
        for plugin in {id(p): p for p in self._window.values()}.values():
            plugin.close()
        if self._media is not None:
            self._media.close()

    def __enter__(self) -> Introspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attempt(plugin: Plugin, sample: WindowSample) -> str:
    try:
        return plugin.describe(sample).summary()
    except Exception as exc:  # shown to the person running the probe, as it is
        return f"cannot look: {exc}"
