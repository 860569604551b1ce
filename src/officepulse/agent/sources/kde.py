"""KDE Plasma (KWin, Wayland or X11): the window in front, through a KWin script.

KWin tells no other process which window is active on Wayland, but it runs JavaScript
scripts, and a script can call D-Bus methods (``callDBus``). So the agent:

1. accepts method calls on its own session-bus connection, interface ``org.officepulse.KWin``;
2. writes a small script to a private file and loads it with
   ``org.kde.kwin.Scripting.loadScript(path, plugin_name)`` on ``org.kde.KWin /Scripting``;
3. starts it with ``org.kde.kwin.Script.run`` on ``/Scripting/Script<id>`` (KWin 6) or
   ``/<id>`` (KWin 5);
4. the script follows ``workspace.windowActivated`` (KWin 6; ``clientActivated`` in KWin 5)
   and the active window's ``captionChanged``, and calls the agent's ``Focus`` method with the
   window's ``resourceClass``, ``resourceName``, ``caption`` and ``pid``, all as strings;
5. each poll reads the calls that arrived (only from the connection that owns
   ``org.kde.KWin``) and answers them; ``close()`` unloads the script.

So ``active_window()`` is the latest report, which KWin pushes on every change; it costs no
round trip to KWin at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping

from officepulse.agent.sources._common import as_pid, local_sample
from officepulse.agent.sources._dbus import DBusError, IncomingCall, SessionBus, describe
from officepulse.agent.sources.base import SourceUnavailable, WindowSample

KWIN = "org.kde.KWin"
SCRIPTING_PATH = "/Scripting"
SCRIPTING = "org.kde.kwin.Scripting"
SCRIPT = "org.kde.kwin.Script"
INTERFACE = "org.officepulse.KWin"
OBJECT_PATH = "/org/officepulse/KWin"

SCRIPT_TEMPLATE = """\
// officepulse: reports the active window to the agent that loaded this script.
const SERVICE = @SERVICE@;
const PATH = @PATH@;
const IFACE = @IFACE@;
let current = null;

function report(w) {
    if (w) {
        callDBus(SERVICE, PATH, IFACE, "Focus", String(w.resourceClass || ""),
                 String(w.resourceName || ""), String(w.caption || ""), String(w.pid || 0));
    } else {
        callDBus(SERVICE, PATH, IFACE, "Focus", "", "", "", "0");
    }
}

function onCaption() {
    report(current);
}

function follow(w) {
    if (current) {
        try {
            current.captionChanged.disconnect(onCaption);
        } catch (e) {
            // the previous window is already gone
        }
    }
    current = w || null;
    if (current) {
        current.captionChanged.connect(onCaption);
    }
    report(current);
}

if (workspace.windowActivated) {
    workspace.windowActivated.connect(follow);  // KWin 6
    follow(workspace.activeWindow);
} else {
    workspace.clientActivated.connect(follow);  // KWin 5
    follow(workspace.activeClient);
}
"""


def kwin_script(service: str) -> str:
    """The script for an agent whose connection has the unique name ``service``."""
    return (
        SCRIPT_TEMPLATE.replace("@SERVICE@", json.dumps(service))
        .replace("@PATH@", json.dumps(OBJECT_PATH))
        .replace("@IFACE@", json.dumps(INTERFACE))
    )


def sample_from_report(body: tuple[object, ...]) -> WindowSample | None:
    """A ``Focus(resourceClass, resourceName, caption, pid)`` report as a sample; None when
    nothing is active (all empty)."""
    fields = [value if isinstance(value, str) else str(value) for value in body]
    fields += [""] * (4 - len(fields))
    resource_class, resource_name, caption, pid = fields[:4]
    if not (resource_class or resource_name or caption):
        return None
    return local_sample(resource_class or resource_name, caption, as_pid(pid))


class KWinScriptWindow:
    """The active window as a KWin script reports it. ``wait`` is how long the constructor
    waits for the script's first report."""

    def __init__(self, bus: SessionBus, environ: Mapping[str, str], *, wait: float = 1.0) -> None:
        self._bus = bus
        owner = bus.name_owner(KWIN)
        if owner is None:
            raise SourceUnavailable("KWin (org.kde.KWin) is not running on this session bus")
        self._kwin = owner
        self._latest: WindowSample | None = None
        self._plugin = "officepulse_" + bus.unique_name.lstrip(":").replace(".", "_")
        bus.accept_calls(INTERFACE)
        self._loaded = False
        self._path = ""
        try:
            fd, self._path = tempfile.mkstemp(
                prefix="officepulse-kwin-", suffix=".js", dir=environ.get("XDG_RUNTIME_DIR") or None
            )
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(kwin_script(bus.unique_name))
        except OSError as exc:
            self.close()
            raise SourceUnavailable(f"cannot write the KWin script file: {exc}") from exc
        try:
            self._load_and_run(environ)
        except BaseException:
            self.close()
            raise
        self._take(bus.incoming_calls(wait=wait))

    def active_window(self) -> WindowSample | None:
        self._take(self._bus.incoming_calls())
        return self._latest

    def close(self) -> None:
        """Unload the script and remove its file. The bus is shared and closed by its owner."""
        if self._loaded:
            self._loaded = False
            # KWin or the bus may be gone already: then there is nothing left to unload.
            with contextlib.suppress(DBusError, SourceUnavailable):
                self._bus.call(
                    KWIN, SCRIPTING_PATH, SCRIPTING, "unloadScript", "s", (self._plugin,)
                )
        if self._path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            self._path = ""

    # -- internals -------------------------------------------------------------

    def _load_and_run(self, environ: Mapping[str, str]) -> None:
        try:
            (script_id,) = self._bus.call(
                KWIN, SCRIPTING_PATH, SCRIPTING, "loadScript", "ss", (self._path, self._plugin)
            )
        except DBusError as exc:
            raise SourceUnavailable(f"cannot load a KWin script: {describe(exc, 'KWin')}") from exc
        if int(script_id) < 0:
            raise SourceUnavailable(f"KWin refused to load the script {self._path}")
        self._loaded = True
        paths = [f"/Scripting/Script{script_id}", f"/{script_id}"]
        if environ.get("KDE_SESSION_VERSION") == "5":
            paths.reverse()
        errors = []
        for path in paths:
            try:
                self._bus.call(KWIN, path, SCRIPT, "run")
            except DBusError as exc:
                errors.append(f"{path}: {exc}")
                continue
            return
        raise SourceUnavailable("cannot start the KWin script: " + "; ".join(errors))

    def _take(self, calls: list[IncomingCall]) -> None:
        for call in calls:
            self._bus.reply(call)
            if call.sender == self._kwin and call.member == "Focus":
                self._latest = sample_from_report(call.body)
