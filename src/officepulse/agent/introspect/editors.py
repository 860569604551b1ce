"""Editors: the project and the file, read from the window title.

VS Code's default title is ``${dirty}${activeEditorShort}${separator}${rootName}${separator}
${appName}``: "● app.py - myproject - Visual Studio Code" with " - " on Linux and Windows,
" — " on macOS, "●" while the file has unsaved changes. JetBrains IDEs write
"project – file.py" (an en dash), with the module in brackets when it differs
("project – path/file.py [module]"); older ones wrote
"project - [path] - file - IntelliJ IDEA 2017.2". A person who changes ``window.title``
or uses a title-bar plugin gets whatever that makes of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from officepulse.agent.introspect.apps import find_app
from officepulse.agent.introspect.base import NOTHING, Details
from officepulse.agent.sources.base import WindowSample


@dataclass(frozen=True, slots=True)
class EditorTitle:
    project: str | None
    file: str | None


_VSCODE_APPS = sorted(
    (
        "Visual Studio Code",
        "Visual Studio Code - Insiders",
        "Code - OSS",
        "Code - Insiders",
        "VSCodium",
    ),
    key=len,
    reverse=True,
)
_DIRTY = "●"
# Editors that are not files (VS Code's own pages).
_NOT_FILES = re.compile(
    r"^(Welcome|Get Started|Settings|Keyboard Shortcuts|Release Notes|Walkthrough: .*"
    r"|Extension: .*|Extensions|Search|Untitled-\d+)$"
)
# "project [SSH: host]", "project [WSL: Ubuntu]", "project [Dev Container: x]"
_REMOTE = re.compile(r"\s*\[[^\]]*\]$")


def parse_vscode_title(title: str) -> EditorTitle | None:
    text = title.strip().removeprefix(_DIRTY).strip()
    sep = None
    for candidate in (" — ", " - "):
        for app in _VSCODE_APPS:
            if text.endswith(candidate + app):
                text, sep = text[: -len(candidate + app)], candidate
                break
            if text == app:
                return EditorTitle(None, None)  # no folder, no editor
        if sep is not None:
            break
    if sep is None:
        # macOS may show the title without the app's name; guess the separator.
        sep = " — " if " — " in text else " - "
    parts = text.split(sep)
    if len(parts) == 1:
        # One part: a file when no folder is open ("notes.md"), else the folder.
        only = parts[0].strip()
        if "." in only and " " not in only and not _NOT_FILES.match(only):
            return EditorTitle(None, only)
        return EditorTitle(_project(only), None)
    file = sep.join(parts[:-1]).strip()
    project = _project(parts[-1])
    return EditorTitle(project, None if _NOT_FILES.match(file) else file or None)


def _project(text: str) -> str | None:
    name = _REMOTE.sub("", text.strip()).removesuffix(" (Workspace)").strip()
    return name or None


_JETBRAINS_IDES = (
    "IntelliJ IDEA",
    "PyCharm",
    "WebStorm",
    "GoLand",
    "CLion",
    "PhpStorm",
    "Rider",
    "RubyMine",
    "DataGrip",
    "DataSpell",
    "RustRover",
    "Android Studio",
    "AppCode",
    "Aqua",
    "Writerside",
)
_IDE_SUFFIX = re.compile(
    r"\s+[-–]\s+(?:JetBrains\s+)?(?:" + "|".join(map(re.escape, _JETBRAINS_IDES)) + r")\b.*$"
)
_MODULE = re.compile(r"\s+\[[^\]]*\]$")


def parse_jetbrains_title(title: str) -> EditorTitle | None:
    text = _IDE_SUFFIX.sub("", title.strip()).strip()
    if not text:
        return None
    if " – " in text:  # 2019.3 and later: "project – file [module]"
        project, _, rest = text.partition(" – ")
        file = _MODULE.sub("", rest).strip()
        return EditorTitle(project.strip() or None, file or None)
    parts = [part.strip() for part in text.split(" - ")]
    if len(parts) >= 2 and parts[1].startswith("[") and parts[1].endswith("]"):
        # Before 2019.3: "project - [path] - file"
        return EditorTitle(parts[0] or None, " - ".join(parts[2:]) or None)
    return EditorTitle(text, None)


class EditorPlugin:
    """VS Code and JetBrains IDEs, on every platform."""

    name = "editor"

    def describe(self, sample: WindowSample) -> Details:
        app = find_app(sample)
        if app is None:
            return NOTHING
        if app.kind == "vscode":
            parsed = parse_vscode_title(sample.title)
        elif app.kind == "jetbrains":
            parsed = parse_jetbrains_title(sample.title)
        else:
            return NOTHING
        if parsed is None:
            return NOTHING
        return Details(project=parsed.project, file=parsed.file)

    def close(self) -> None:
        pass
