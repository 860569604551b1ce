"""The names people know apps by, from the desktop's own metadata.

An activity's ``app`` is what the window system calls the app: on X11 the ``WM_CLASS``
class ("Google-chrome", "libreoffice-writer", "XTerm"). The desktop's launchers know the
name people read ("Google Chrome", "LibreOffice Writer"): the freedesktop Desktop Entry of
the app, matched as desktops match windows to launchers (GNOME Shell, KDE's task manager):

1. an entry whose ``StartupWMClass`` is the class (compared without case);
2. else an entry whose desktop file id is the class, without case (``code.desktop`` for
   "Code", ``org.gnome.Nautilus.desktop`` for "org.gnome.Nautilus"), or whose id's last
   dotted part is (``org.gnome.Calculator`` for "gnome-calculator" does not match: it says
   StartupWMClass itself).

Entries come from ``$XDG_DATA_HOME/applications`` (``~/.local/share/applications``) and then
each ``$XDG_DATA_DIRS`` directory's ``applications`` (``/usr/local/share:/usr/share``
when unset), subdirectories included; an id found earlier hides the same id later, as the
Desktop Entry spec says. Entries that are ``Hidden`` (deleted) or not of ``Type=Application``
are left out. ``Name`` is read in the person's language (``LC_MESSAGES``/``LANG``, with the
spec's fallbacks: ``Name[de_AT]``, ``Name[de]``, ``Name``).

Other platforms say the name themselves: on macOS the ``app`` already is
``NSRunningApplication.localizedName`` (the bundle's display name), and the Windows source
reads the executable's ``FileDescription`` (sources/windows.py); both come in through
``AppNamer.learn``.

Icons: the entry's ``Icon=``, when it is a PNG of at most MAX_ICON_BYTES: an absolute
path, or a name looked up in the ``hicolor`` theme (the one every icon theme falls back
to, Icon Theme Specification) at sizes near 48 px, then in ``pixmaps/``. Icons only in
SVG are left out: an agent's SVG would be a script the dashboard serves, and no
rasteriser is at hand.
"""

from __future__ import annotations

import configparser
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from officepulse.protocol.messages import MAX_ICON_BYTES, PNG_SIGNATURE, AppName

log = logging.getLogger(__name__)

GROUP = "Desktop Entry"
# A missing app is looked for again in a rescan at most this often: an app installed
# while the agent runs gets its name, and an app without an entry costs no rescans.
RESCAN_SECONDS = 300.0
# What the agent never names: markers, not apps.
UNNAMED = frozenset({"private", "paused", ""})
# Desktop Entry value escapes (spec: "Possible value types").
_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value) and value[i + 1] in _ESCAPES:
            out.append(_ESCAPES[value[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def locale_keys(locale: str | None) -> list[str]:
    """The ``Name[...]`` keys to try for a POSIX locale, best first (the spec's order:
    lang_COUNTRY@MODIFIER, lang_COUNTRY, lang@MODIFIER, lang), then plain ``Name``."""
    keys: list[str] = []
    if locale and locale not in ("C", "POSIX") and not locale.startswith("C."):
        base, _, modifier = locale.partition("@")
        base = base.partition(".")[0]  # the encoding is not part of the key
        lang, _, country = base.partition("_")
        candidates = []
        if country and modifier:
            candidates.append(f"{lang}_{country}@{modifier}")
        if country:
            candidates.append(f"{lang}_{country}")
        if modifier:
            candidates.append(f"{lang}@{modifier}")
        candidates.append(lang)
        keys = [f"Name[{c}]" for c in candidates if c]
    return [*keys, "Name"]


@dataclass(frozen=True, slots=True)
class DesktopEntry:
    id: str  # the desktop file id, e.g. "libreoffice-writer", "org.gnome.Nautilus"
    name: str
    wm_class: str | None  # StartupWMClass
    icon: str | None
    path: Path


def parse_entry(path: Path, entry_id: str, name_keys: list[str]) -> DesktopEntry | None:
    """One .desktop file, or None when it is no shown application or cannot be read.
    configparser with the spec's rules: keys are case-sensitive, only ``=`` separates,
    only ``#`` starts a comment, no interpolation (``%f`` in Exec is no reference), and a
    key given twice is kept (the last wins) rather than refused."""
    parser = configparser.RawConfigParser(
        delimiters=("=",),
        comment_prefixes=("#",),
        inline_comment_prefixes=None,
        strict=False,
        empty_lines_in_values=False,
        interpolation=None,
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep case
    try:
        with path.open(encoding="utf-8") as f:
            parser.read_file(f, source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        log.debug("desktop entry %s not read: %s", path, exc)
        return None
    if not parser.has_section(GROUP):
        return None
    group = parser[GROUP]
    if group.get("Type", "").strip() != "Application":
        return None
    if group.get("Hidden", "false").strip() == "true":
        return None  # "deleted": the spec says to treat it as not there
    name = next((group[k].strip() for k in name_keys if group.get(k, "").strip()), "")
    if not name:
        return None
    wm_class = group.get("StartupWMClass", "").strip() or None
    icon = group.get("Icon", "").strip() or None
    return DesktopEntry(entry_id, unescape(name), wm_class, icon, path)


def data_dirs(env: Mapping[str, str]) -> list[Path]:
    """The XDG base directories that hold ``applications/``, most important first."""
    home = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local/share")
    rest = env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    return [Path(d) for d in [home, *rest.split(":")] if d]


def scan(dirs: Iterable[Path], name_keys: list[str]) -> list[DesktopEntry]:
    """Every application entry under ``dirs``' ``applications/``; an id found in an
    earlier directory hides the same id in later ones. Ids of files in subdirectories
    join the parts with "-" (``kde4/okular.desktop`` is ``kde4-okular``), as the spec says."""
    seen: set[str] = set()
    entries: list[DesktopEntry] = []
    for base in dirs:
        root = base / "applications"
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.desktop")):
            entry_id = "-".join(path.relative_to(root).with_suffix("").parts)
            if entry_id in seen:
                continue
            seen.add(entry_id)
            entry = parse_entry(path, entry_id, name_keys)
            if entry is not None:
                entries.append(entry)
    return entries


# Sizes near what the dashboard shows (16 to 24 px, twice that on dense screens) first.
ICON_SIZES = ("48x48", "32x32", "64x64", "24x24", "96x96", "128x128", "256x256")


def icon_png(icon: str | None, dirs: Sequence[Path]) -> bytes | None:
    """The PNG an entry's ``Icon=`` names, or None (no icon, only SVG, too big)."""
    if not icon:
        return None
    if os.path.isabs(icon):
        candidates = [Path(icon)]
    else:
        name = icon.removesuffix(".png")
        candidates = [
            base / "icons" / "hicolor" / size / "apps" / f"{name}.png"
            for base in dirs
            for size in ICON_SIZES
        ] + [base / "pixmaps" / f"{name}.png" for base in dirs]
    for path in candidates:
        try:
            if not path.is_file() or path.stat().st_size > MAX_ICON_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if data.startswith(PNG_SIGNATURE) and len(data) <= MAX_ICON_BYTES:
            return data
    return None


class DesktopEntries:
    """The desktop's application entries, read when first asked and again (at most every
    ``rescan`` seconds by ``clock``) when an app has none."""

    def __init__(
        self,
        dirs: list[Path],
        locale: str | None = None,
        *,
        rescan: float = RESCAN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dirs = dirs
        self.name_keys = locale_keys(locale)
        self.rescan = rescan
        self.clock = clock
        self._scanned_at: float | None = None
        self._by_wm_class: dict[str, DesktopEntry] = {}
        self._by_id: dict[str, DesktopEntry] = {}

    @classmethod
    def from_environ(cls, env: Mapping[str, str] | None = None) -> DesktopEntries:
        env = os.environ if env is None else env
        locale = env.get("LC_ALL") or env.get("LC_MESSAGES") or env.get("LANG")
        return cls(data_dirs(env), locale)

    def _scan(self) -> None:
        self._scanned_at = self.clock()
        by_class: dict[str, DesktopEntry] = {}
        by_id: dict[str, DesktopEntry] = {}
        for entry in scan(self.dirs, self.name_keys):
            if entry.wm_class is not None:
                by_class.setdefault(entry.wm_class.lower(), entry)
            by_id.setdefault(entry.id.lower(), entry)
            by_id.setdefault(entry.id.rsplit(".", 1)[-1].lower(), entry)
        self._by_wm_class, self._by_id = by_class, by_id
        log.debug("%d desktop entries read from %s", len(by_id), self.dirs)

    def entry(self, app: str) -> DesktopEntry | None:
        """The entry for the window class ``app``, or None."""
        if self._scanned_at is None:
            self._scan()
        found = self._find(app.lower())
        if found is None and self.clock() - (self._scanned_at or 0.0) >= self.rescan:
            self._scan()
            found = self._find(app.lower())
        return found

    def _find(self, key: str) -> DesktopEntry | None:
        return self._by_wm_class.get(key) or self._by_id.get(key)

    def name(self, app: str) -> str | None:
        entry = self.entry(app)
        return entry.name if entry is not None else None


# What a source saw an app called: ``learn(app, name)`` (name None: nothing).
Learn = Callable[[str, str | None], None]


class AppNamer:
    """What the agent tells the server an app is called: a name a source saw for it
    (``learn``: macOS, Windows), else its desktop entry's. None when neither knows, or
    when the name is the app itself (nothing to tell)."""

    def __init__(self, entries: DesktopEntries | None = None) -> None:
        self.entries = entries
        self._learned: dict[str, str] = {}
        self._icons: dict[str, bytes | None] = {}

    def learn(self, app: str, name: str | None) -> None:
        if name and name != app:
            self._learned[app] = name

    def name(self, app: str) -> str | None:
        if app in UNNAMED:
            return None
        name = self._learned.get(app)
        if name is None and self.entries is not None:
            name = self.entries.name(app)
        # The protocol takes names of up to 256 characters.
        return name[:256] if name and name != app else None

    def icon(self, app: str) -> bytes | None:
        """The app's launcher icon as a PNG, read once."""
        if app in UNNAMED or self.entries is None:
            return None
        if app not in self._icons:
            entry = self.entries.entry(app)
            self._icons[app] = icon_png(entry.icon, self.entries.dirs) if entry else None
        return self._icons[app]

    def describe(self, app: str) -> AppName | None:
        """What to tell the server of ``app``: its name and icon, None when neither is
        known (or the name is the app itself and there is no icon)."""
        name, icon = self.name(app), self.icon(app)
        if name is None and icon is None:
            return None
        return AppName(app=app, name=name or app, icon=icon)
