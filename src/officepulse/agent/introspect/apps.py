"""Which plugin looks at which app: one table, keyed by the names an app goes by.

A window is matched on its ``app`` (X11 WM_CLASS class, a macOS app name or bundle id) and
then on its ``process`` (the executable), lower-cased and without ".exe". The WM_CLASS
values are the ones these apps set (e.g. ``"code", "code"`` for VS Code,
``"sun-awt-X11-XFramePeer", "jetbrains-pycharm"`` for PyCharm); the Windows names are the
executables; the macOS ones are app names and bundle ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from officepulse.agent.sources.base import WindowSample


@dataclass(frozen=True, slots=True)
class App:
    """``kind`` picks the plugin (browser, terminal, vscode, jetbrains, player);
    ``name`` is how the app calls itself (the AppleScript target, the title suffix)."""

    kind: str
    name: str


def _table(kind: str, name: str, *keys: str) -> dict[str, App]:
    return dict.fromkeys(keys, App(kind, name))


CHROME, BRAVE, EDGE, ARC = "Google Chrome", "Brave Browser", "Microsoft Edge", "Arc"
SAFARI, FIREFOX, CHROMIUM = "Safari", "Firefox", "Chromium"

APPS: dict[str, App] = {
    **_table("browser", CHROME, "google-chrome", "google chrome", "com.google.chrome", "chrome"),
    **_table("browser", CHROMIUM, "chromium", "chromium-browser", "org.chromium.chromium"),
    **_table("browser", BRAVE, "brave-browser", "brave browser", "com.brave.browser", "brave"),
    **_table(
        "browser", EDGE, "microsoft-edge", "microsoft edge", "com.microsoft.edgemac", "msedge"
    ),
    **_table("browser", ARC, "arc", "company.thebrowser.browser"),
    **_table("browser", SAFARI, "safari", "com.apple.safari"),
    **_table(
        "browser",
        FIREFOX,
        "firefox",
        "firefox-esr",
        "org.mozilla.firefox",
        "navigator",
        "librewolf",
    ),
    **_table("browser", "Vivaldi", "vivaldi", "vivaldi-stable", "com.vivaldi.vivaldi"),
    **_table(
        "terminal",
        "terminal",
        "xterm",
        "uxterm",
        "urxvt",
        "rxvt",
        "gnome-terminal",
        "gnome-terminal-server",
        "konsole",
        "xfce4-terminal",
        "terminator",
        "tilix",
        "alacritty",
        "kitty",
        "wezterm",
        "wezterm-gui",
        "foot",
        "st",
        "lxterminal",
        "mate-terminal",
        "mintty",
        "windowsterminal",
        "conhost",
        "cmd",
        "powershell",
        "pwsh",
    ),
    **_table("terminal", "Terminal", "terminal", "com.apple.terminal"),
    **_table("terminal", "iTerm2", "iterm2", "com.googlecode.iterm2"),
    **_table(
        "vscode",
        "Visual Studio Code",
        "code",
        "code-oss",
        "code - oss",
        "code - insiders",
        "visual studio code",
        "com.microsoft.vscode",
        "com.microsoft.vscodeinsiders",
        "vscodium",
        "codium",
        "com.vscodium",
    ),
    **_table(
        "jetbrains",
        "JetBrains",
        "idea64",
        "pycharm64",
        "webstorm64",
        "goland64",
        "clion64",
        "phpstorm64",
        "rider64",
        "rubymine64",
        "datagrip64",
        "studio64",
        "intellij idea",
        "intellij idea community edition",
        "pycharm",
        "webstorm",
        "goland",
        "clion",
        "phpstorm",
        "rider",
        "jetbrains rider",
        "rubymine",
        "datagrip",
        "android studio",
        "rustrover",
    ),
    **_table("player", "Spotify", "spotify", "com.spotify.client"),
}


def find_app(sample: WindowSample) -> App | None:
    """The table's entry for this window, or None when no plugin knows the app."""
    for name in (sample.app, sample.process):
        if not name:
            continue
        key = name.strip().lower().removesuffix(".exe")
        if key in APPS:
            return APPS[key]
        # jetbrains-idea, jetbrains-pycharm-ce, com.jetbrains.goland-EAP, ...
        if key.startswith(("jetbrains-", "com.jetbrains.")):
            return App("jetbrains", "JetBrains")
    return None
