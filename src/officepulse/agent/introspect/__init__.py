"""Introspection: what the app in front can tell beyond its window title.

The agent's driver builds one ``Introspector`` and calls it once per poll with the window
sample it just read. It is itself the driver's ``Introspect`` seam
(``Callable[[WindowSample, Activity], Activity]``)::

    introspector = Introspector(sys.platform)             # opens nothing yet
    look(window, idle, threshold, rules, introspect=introspector)   # once per poll
    introspector.close()                                   # the D-Bus connection, if opened

``introspector(sample, activity)`` is ``introspector.describe(sample).apply(activity)``;
``describe`` gives the ``Details`` alone. Texts are not cut: the driver cuts them after the
privacy lists' redaction. ``describe(sample, introspect=False)`` is for apps on the
never-introspect list: it looks at nothing and returns empty ``Details`` (``drivers.look``
already skips the call for them). ``Introspector(disabled={"media"})`` leaves out a whole
plugin (``PLUGINS``); ``hidden_players`` names players whose track is never read.
``explain(sample)`` gives one row per plugin for ``officepulse agent probe``, and ``notes``
what the platform cannot tell.

Plugins are chosen by the app (``apps.APPS``: WM_CLASS, executable, macOS app name or
bundle id):

- ``browser`` (``browsers.py``): the tab's title and URL; private windows marked
  ``incognito``, whose title and URL ``apply`` drops.
- ``terminal`` (``terminal.py``): the foreground program, tmux's pane command, vim's file.
- ``editor`` (``editors.py``): VS Code's and JetBrains IDEs' project and file.
- ``media`` (``media.py``): what a player is playing, whatever window is in front.

Nothing is opened at import. The D-Bus connection is opened on first use and kept; AppleScript
runs through ``osascript`` with a time limit. A plugin failure gives empty ``Details``, is
logged once, and the plugin is tried again later: introspection never fails a poll.
"""

from officepulse.agent.introspect.applescript import AppleScriptError, OsascriptRunner, Runner
from officepulse.agent.introspect.base import Details, IntrospectionError, Plugin
from officepulse.agent.introspect.introspector import PLUGINS, Introspector

__all__ = [
    "PLUGINS",
    "AppleScriptError",
    "Details",
    "IntrospectionError",
    "Introspector",
    "OsascriptRunner",
    "Plugin",
    "Runner",
]
