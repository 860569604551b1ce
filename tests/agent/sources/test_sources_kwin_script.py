"""The KWin script the KDE source loads, run for real in Node.js against a stand-in for the
parts of KWin's scripting API it uses: ``workspace.windowActivated`` / ``activeWindow``
(KWin 6), ``workspace.clientActivated`` / ``activeClient`` (KWin 5), each window's
``caption``, ``resourceClass``, ``resourceName``, ``pid`` and ``captionChanged`` signal, and
the global ``callDBus``. KWin 6 cannot run here (KWin 5.27 does, in test_wayland_kde.py),
so both APIs are checked against a stand-in, which follows the KWin scripting
API documentation (signals with connect/disconnect), and the window properties are the ones
recorded from Plasma 6.6.4 (tests/data/recorded/sources/kde, README; pids chosen)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from officepulse.agent.sources.kde import INTERFACE, OBJECT_PATH, kwin_script

pytestmark = pytest.mark.timeout(30)

HARNESS = """
const calls = [];
function callDBus(...args) { calls.push(args); }
function signal() {
    const slots = [];
    return {
        connect: (f) => slots.push(f),
        disconnect: (f) => {
            const i = slots.indexOf(f);
            if (i < 0) throw new Error("not connected");
            slots.splice(i, 1);
        },
        emit: (...a) => slots.slice().forEach((f) => f(...a)),
        count: () => slots.length,
    };
}
function win(resourceClass, resourceName, caption, pid) {
    return { resourceClass, resourceName, caption, pid, captionChanged: signal() };
}
const firefox = win("firefox", "firefox-bin", "Mozilla Firefox Private Browsing", 4242);
const chrome = win("google-chrome", "chrome", "Untitled - Google Chrome", 4343);
const workspace = @WORKSPACE@;
@SCRIPT@
const activated = workspace.windowActivated || workspace.clientActivated;
activated.emit(chrome);
chrome.caption = "New Tab - Google Chrome";
chrome.captionChanged.emit();
firefox.captionChanged.emit();
activated.emit(null);
console.log(JSON.stringify({
    calls,
    listeners: [firefox.captionChanged.count(), chrome.captionChanged.count()],
}));
"""

KWIN6 = "{ windowActivated: signal(), activeWindow: firefox }"
KWIN5 = "{ clientActivated: signal(), activeClient: firefox }"


def _run(workspace: str, tmp_path: Path) -> dict[str, object]:
    program = HARNESS.replace("@WORKSPACE@", workspace).replace("@SCRIPT@", kwin_script(":1.42"))
    path = tmp_path / "harness.js"
    path.write_text(program)
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (make setup installs the dashboard's tools with it)"
    done = subprocess.run(
        [node, str(path)], capture_output=True, text=True, timeout=20, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("workspace", [KWIN6, KWIN5], ids=["kwin6", "kwin5"])
def test_the_script_reports_every_change(workspace: str, tmp_path: Path) -> None:
    result = _run(workspace, tmp_path)
    head = [":1.42", OBJECT_PATH, INTERFACE, "Focus"]
    assert result["calls"] == [
        [*head, "firefox", "firefox-bin", "Mozilla Firefox Private Browsing", "4242"],
        [*head, "google-chrome", "chrome", "Untitled - Google Chrome", "4343"],
        [*head, "google-chrome", "chrome", "New Tab - Google Chrome", "4343"],
        [*head, "", "", "", "0"],
    ]
    # Only the active window is followed: the old one's signal was disconnected.
    assert result["listeners"] == [0, 0]


def test_the_service_name_is_quoted_as_json() -> None:
    script = kwin_script(':1.7"); evil("')
    assert 'const SERVICE = ":1.7\\"); evil(\\"";' in script
