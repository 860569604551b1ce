"""``officepulse agent install-gnome-extension``: officepulse's GNOME Shell extension, built
for the shell that runs here, put in the user's extensions folder and enabled.

GNOME Shell 45 moved extensions to ES modules, and a shell loads only one kind: 43 and 44
take ``imports.gi`` scripts, 45 and later ``import`` modules. The package keeps the code that
does the work once (``gnome_extension/focus.js``) and a wrapper of each kind
(``extension-legacy.js``, ``extension-esm.js``); ``build`` puts the core into the wrapper that
fits the shell's major version, and writes ``metadata.json`` listing the versions of that
kind (plus the running one, if it is newer than the list: GNOME refuses extensions whose
metadata does not name its version).

The metadata keeps the extension running on the lock screen (``session-modes`` with
``unlock-dialog``): GNOME Shell turns other extensions off there, and the agent, finding no
one to ask, would stop reading the desktop until it next looked (a minute later) instead of
counting the locked time as away.

Enabling adds the uuid to ``org.gnome.shell enabled-extensions`` (and takes it off
``disabled-extensions``) with ``gsettings``. GNOME Shell reads the extensions folder at login
only, so a newly installed extension runs after the person logs out and in again.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from officepulse.agent.sources.gnome import EXTENSION_UUID, extension_folder
from officepulse.errors import OfficepulseError

OLDEST = 43  # the first shell the extension was written and tested for
FIRST_ESM = 45
CORE_MARKER = "// @FOCUS@"
SCHEMA = "org.gnome.shell"

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


class InstallError(OfficepulseError):
    """The extension cannot be installed or enabled; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Installed:
    folder: Path
    shell: int
    enabled: bool
    notes: tuple[str, ...]


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=30, check=False)


def shell_major(version_text: str) -> int:
    """43 from "GNOME Shell 43.9" (``gnome-shell --version``) or "43.9" or "45.beta"."""
    match = re.search(r"(\d+)(?:\.\w+)*\s*$", version_text.strip())
    if match is None:
        raise InstallError(f"cannot read a GNOME Shell version from {version_text.strip()!r}")
    return int(match.group(1))


def installed_shell(run: Runner = _run) -> int:
    """The major version of the ``gnome-shell`` installed here."""
    if shutil.which("gnome-shell") is None:
        raise InstallError(
            "gnome-shell is not installed here; give its version with --shell-version "
            "to install the extension anyway"
        )
    done = run(["gnome-shell", "--version"])
    if done.returncode != 0:
        raise InstallError(f"`gnome-shell --version` failed: {done.stderr.strip()}")
    return shell_major(done.stdout)


def _source(name: str) -> str:
    return (resources.files("officepulse.agent") / "gnome_extension" / name).read_text("utf-8")


def build(shell: int) -> dict[str, str]:
    """The extension's files (name → text) for GNOME Shell ``shell`` (its major version)."""
    if shell < OLDEST:
        raise InstallError(
            f"GNOME Shell {shell} is older than {OLDEST}, the oldest the extension supports"
        )
    metadata = json.loads(_source("metadata.json"))
    listed = [int(v) for v in metadata["shell-version"]]
    esm = shell >= FIRST_ESM
    versions = [v for v in listed if (v >= FIRST_ESM) == esm]
    if shell not in versions:
        versions.append(shell)  # newer than this release knows: ES modules still load
    metadata["shell-version"] = [str(v) for v in sorted(versions)]
    wrapper = _source("extension-esm.js" if esm else "extension-legacy.js")
    if CORE_MARKER not in wrapper:
        raise InstallError("the packaged extension is damaged: its wrapper lacks the core marker")
    return {
        "metadata.json": json.dumps(metadata, indent=2) + "\n",
        "extension.js": wrapper.replace(CORE_MARKER, _source("focus.js").rstrip("\n")),
    }


def write(folder: Path, files: Mapping[str, str]) -> None:
    """Replace the extension's files in ``folder`` (created if needed)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            temporary = folder / f".{name}.new"
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(folder / name)  # a shell reading the folder sees whole files
    except OSError as exc:
        raise InstallError(f"cannot write the extension to {folder}: {exc}") from exc


def parse_strv(text: str) -> list[str]:
    """A GVariant string array as ``gsettings get`` prints it: ``@as []``, ``['a', 'b']``."""
    text = text.strip()
    if text.startswith("@as "):
        text = text[4:]
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise InstallError(f"cannot read gsettings' answer {text!r}") from exc
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InstallError(f"gsettings' answer {text!r} is not a list of strings")
    return value


def format_strv(values: Sequence[str]) -> str:
    """A string array as GVariant text (uuids need no escaping beyond Python's repr)."""
    return "[" + ", ".join(repr(v) for v in values) + "]"


class _Settings:
    """``org.gnome.shell`` through the ``gsettings`` command."""

    def __init__(self, run: Runner) -> None:
        if shutil.which("gsettings") is None:
            raise InstallError("gsettings is not installed (it comes with GLib: libglib2.0-bin)")
        self._run = run

    def get(self, key: str) -> str:
        done = self._run(["gsettings", "get", SCHEMA, key])
        if done.returncode != 0:
            raise InstallError(f"`gsettings get {SCHEMA} {key}` failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def set(self, key: str, value: str) -> None:
        done = self._run(["gsettings", "set", SCHEMA, key, value])
        if done.returncode != 0:
            raise InstallError(f"`gsettings set {SCHEMA} {key}` failed: {done.stderr.strip()}")


def enable(run: Runner = _run) -> list[str]:
    """Put the extension on the enabled list; the notes say what else stands in the way."""
    settings = _Settings(run)
    enabled = parse_strv(settings.get("enabled-extensions"))
    if EXTENSION_UUID not in enabled:
        settings.set("enabled-extensions", format_strv([*enabled, EXTENSION_UUID]))
    disabled = parse_strv(settings.get("disabled-extensions"))
    if EXTENSION_UUID in disabled:
        settings.set(
            "disabled-extensions", format_strv([v for v in disabled if v != EXTENSION_UUID])
        )
    # gsettings exits 0 even when dconf could not store the change: read it back.
    if EXTENSION_UUID not in parse_strv(settings.get("enabled-extensions")):
        raise InstallError(
            "gsettings did not keep the change to enabled-extensions (is this the desktop "
            "session, with its D-Bus session bus?)"
        )
    notes = []
    if settings.get("disable-user-extensions") == "true":
        notes.append(
            "GNOME's user extensions are turned off: turn them on in the Extensions app "
            "(or `gsettings set org.gnome.shell disable-user-extensions false`)"
        )
    return notes


def install(
    environ: Mapping[str, str],
    *,
    shell: int | None = None,
    enable_it: bool = True,
    run: Runner = _run,
) -> Installed:
    """Build the extension for ``shell`` (default: the installed gnome-shell), write it to
    the user's extensions folder, and enable it unless told not to."""
    major = shell if shell is not None else installed_shell(run)
    folder = extension_folder(environ)
    write(folder, build(major))
    notes = enable(run) if enable_it else []
    return Installed(folder, major, enable_it, tuple(notes))


def report(done: Installed) -> str:
    """What ``install`` did, and what the person does next."""
    kind = "ES module" if done.shell >= FIRST_ESM else "imports.gi"
    lines = [
        f"installed the officepulse GNOME Shell extension ({EXTENSION_UUID}, {kind} version "
        f"for GNOME Shell {done.shell}) in {done.folder}",
        "enabled it (org.gnome.shell enabled-extensions)"
        if done.enabled
        else f"not enabled: `gnome-extensions enable {EXTENSION_UUID}` does it",
        *done.notes,
        "GNOME Shell loads extensions at login: log out and in again, then "
        "`officepulse agent probe` shows the window in front",
    ]
    return "\n".join(lines) + "\n"
