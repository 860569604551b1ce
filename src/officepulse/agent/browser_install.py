"""``officepulse agent install --browser …`` and ``uninstall --browser …``: the native
messaging host manifest where each browser looks for it, per user.

A browser starts a native messaging host named by its manifest (``org.officepulse.agent``)
when the extension asks for it. The manifest says which program to start and which
extensions may ask: Chromium-based browsers list origins (``chrome-extension://<id>/``),
Firefox add-on ids. Where the manifest goes (documented by Chrome, Microsoft Edge and MDN):

- chromium: ``$XDG_CONFIG_HOME/chromium/NativeMessagingHosts`` on Linux,
  ``~/Library/Application Support/Chromium/NativeMessagingHosts`` on macOS;
- chrome: ``$XDG_CONFIG_HOME/google-chrome/NativeMessagingHosts``,
  ``~/Library/Application Support/Google/Chrome/NativeMessagingHosts``;
- edge: ``$XDG_CONFIG_HOME/microsoft-edge/NativeMessagingHosts``,
  ``~/Library/Application Support/Microsoft Edge/NativeMessagingHosts``;
- firefox: ``~/.mozilla/native-messaging-hosts`` (Firefox 147 moved its profiles to
  ``$XDG_CONFIG_HOME/mozilla`` but still reads hosts here),
  ``~/Library/Application Support/Mozilla/NativeMessagingHosts``.

(``$XDG_CONFIG_HOME`` is ``~/.config`` unless set.) On Windows the manifest may be
anywhere, and the registry says where: the default value of
``HKEY_CURRENT_USER\\Software\\<browser key>\\NativeMessagingHosts\\org.officepulse.agent``
is its path (``REGISTRY_KEYS``). Here the manifests and the program they name are kept in
the user data folder (``…/officepulse/native-messaging/``).

The program a manifest names cannot take arguments, so ``install`` writes a launcher beside
the manifests that runs this very officepulse: ``<python> -m officepulse agent native-host``
(or the packaged ``officepulse-agent native-host``), a shell script, or a batch file
on Windows. ``uninstall`` removes the manifest (and the registry value), and the launcher
once no browser's manifest is left.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from platformdirs import user_data_dir

from officepulse.agent.browser_tabs import (
    CHROMIUM_EXTENSION_ID,
    FIREFOX_EXTENSION_ID,
    HOST_NAME,
)
from officepulse.agent.launch import agent_head
from officepulse.errors import OfficepulseError

__all__ = [
    "BROWSERS",
    "REGISTRY_KEYS",
    "InstallError",
    "Machine",
    "Placement",
    "Registry",
    "host_manifest",
    "install",
    "launcher",
    "placement",
    "uninstall",
]

BROWSERS = ("chromium", "chrome", "edge", "firefox")
MANIFEST = f"{HOST_NAME}.json"
DESCRIPTION = "officepulse agent: the tab in front, from officepulse's browser extension"

_LINUX = {
    "chromium": ("config", "chromium/NativeMessagingHosts"),
    "chrome": ("config", "google-chrome/NativeMessagingHosts"),
    "edge": ("config", "microsoft-edge/NativeMessagingHosts"),
    "firefox": ("home", ".mozilla/native-messaging-hosts"),
}
_MACOS = {
    "chromium": "Chromium/NativeMessagingHosts",
    "chrome": "Google/Chrome/NativeMessagingHosts",
    "edge": "Microsoft Edge/NativeMessagingHosts",
    "firefox": "Mozilla/NativeMessagingHosts",
}
# Under HKEY_CURRENT_USER; the key's default value is the manifest's path.
REGISTRY_KEYS = {
    "chromium": f"Software\\Chromium\\NativeMessagingHosts\\{HOST_NAME}",
    "chrome": f"Software\\Google\\Chrome\\NativeMessagingHosts\\{HOST_NAME}",
    "edge": f"Software\\Microsoft\\Edge\\NativeMessagingHosts\\{HOST_NAME}",
    "firefox": f"Software\\Mozilla\\NativeMessagingHosts\\{HOST_NAME}",
}


class InstallError(OfficepulseError):
    """The manifest cannot be written or removed; the message says why, for people."""


class Registry(Protocol):
    """The current user's registry (HKEY_CURRENT_USER): the default value of a key."""

    def set_default(self, key: str, value: str) -> None: ...

    def get_default(self, key: str) -> str | None: ...

    def delete(self, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one browser looks: ``manifest`` is the file to write; on Windows
    ``registry_key`` (under HKEY_CURRENT_USER) is where its path is registered."""

    browser: str
    manifest: Path
    registry_key: str | None = None


def data_folder(platform: str, environ: Mapping[str, str]) -> Path:
    """Where the launcher (and on Windows the manifests) are kept."""
    if platform == "win32" and environ.get("LOCALAPPDATA"):
        return Path(environ["LOCALAPPDATA"]) / "officepulse" / "native-messaging"
    return Path(user_data_dir("officepulse", appauthor=False)) / "native-messaging"


def placement(
    browser: str, platform: str, home: Path, environ: Mapping[str, str], data: Path
) -> Placement:
    """Where ``browser`` looks for the manifest on ``platform`` (a ``sys.platform`` value)."""
    if browser not in BROWSERS:
        raise InstallError(f"unknown browser {browser!r}; known: {', '.join(BROWSERS)}")
    if platform == "win32":
        return Placement(browser, data / browser / MANIFEST, REGISTRY_KEYS[browser])
    if platform == "darwin":
        return Placement(
            browser, home / "Library" / "Application Support" / _MACOS[browser] / MANIFEST
        )
    base, folder = _LINUX[browser]
    config = environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec: a relative XDG_CONFIG_HOME is invalid and is to be ignored.
    root = home if base == "home" else Path(config) if os.path.isabs(config) else home / ".config"
    return Placement(browser, root / folder / MANIFEST)


def host_command() -> list[str]:
    """How to run this officepulse's native messaging host (launch.py: the packaged
    ``officepulse-agent native-host`` too)."""
    return [*agent_head(), "native-host"]


def launcher(platform: str, command: Sequence[str]) -> tuple[str, str]:
    """The launcher's file name and text: ``command`` with the browser's arguments."""
    if platform == "win32":
        quoted = " ".join(f'"{part}"'.replace("%", "%%") for part in command)
        return "officepulse-native-host.bat", f"@echo off\r\n{quoted} %*\r\n"
    quoted = " ".join(shlex.quote(part) for part in command)
    return "officepulse-native-host", f'#!/bin/sh\nexec {quoted} "$@"\n'


def host_manifest(browser: str, program: Path, extension_ids: Sequence[str] = ()) -> str:
    """The manifest's JSON: the host's name, the program to start, who may ask for it.
    ``extension_ids`` adds to officepulse's own extension (another id in a store)."""
    manifest: dict[str, object] = {
        "name": HOST_NAME,
        "description": DESCRIPTION,
        "path": str(program),
        "type": "stdio",
    }
    if browser == "firefox":
        for given in extension_ids:
            if not _FIREFOX_ID.match(given):
                raise InstallError(
                    f"{given!r} is not a Firefox add-on id (name@domain, or a {{GUID}})"
                )
        manifest["allowed_extensions"] = _unique([FIREFOX_EXTENSION_ID, *extension_ids])
    else:
        for given in extension_ids:
            if not _CHROMIUM_ID.match(given):
                raise InstallError(
                    f"{given!r} is not a {browser} extension id (32 letters from a to p)"
                )
        origins = [f"chrome-extension://{i}/" for i in [CHROMIUM_EXTENSION_ID, *extension_ids]]
        manifest["allowed_origins"] = _unique(origins)
    return json.dumps(manifest, indent=2) + "\n"


_CHROMIUM_ID = re.compile(r"^[a-p]{32}$")
# What addons.mozilla.org takes: an email-like id, or a GUID in braces.
_FIREFOX_ID = re.compile(r"^(?:[A-Za-z0-9._+-]*@[A-Za-z0-9._-]+|\{[0-9A-Fa-f-]{36}\})$")


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True, slots=True)
class Done:
    """What ``install``/``uninstall`` did, for the person (``report``)."""

    browser: str
    manifest: Path
    program: Path
    registry_key: str | None
    installed: bool


@dataclass(frozen=True, slots=True)
class Machine:
    """Where a person's browsers look and officepulse keeps the host: this computer
    unless told otherwise (tests describe others). ``data`` overrides ``data_folder``;
    ``registry`` is HKEY_CURRENT_USER (``winreg`` on Windows when None)."""

    platform: str = sys.platform
    home: Path = field(default_factory=Path.home)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    data: Path | None = None
    registry: Registry | None = None

    @property
    def folder(self) -> Path:
        return self.data if self.data is not None else data_folder(self.platform, self.environ)

    def placement(self, browser: str) -> Placement:
        return placement(browser, self.platform, self.home, self.environ, self.folder)

    def program(self, command: Sequence[str] = ("x",)) -> tuple[Path, str]:
        """The launcher's path and text."""
        name, text = launcher(self.platform, command)
        return self.folder / name, text


def install(
    browser: str,
    machine: Machine | None = None,
    *,
    command: Sequence[str] | None = None,
    extension_ids: Sequence[str] = (),
) -> Done:
    """Write the launcher and ``browser``'s manifest (and on Windows its registry value)."""
    on = machine or Machine()
    where = on.placement(browser)
    program, text = on.program(command or host_command())
    try:
        program.parent.mkdir(parents=True, exist_ok=True)
        _write(program, text, mode=0o755)
        where.manifest.parent.mkdir(parents=True, exist_ok=True)
        _write(where.manifest, host_manifest(browser, program, extension_ids), mode=0o644)
    except OSError as exc:
        raise InstallError(f"cannot write {exc.filename}: {exc.strerror or exc}") from exc
    if where.registry_key is not None:
        _registry(on.registry).set_default(where.registry_key, str(where.manifest))
    return Done(browser, where.manifest, program, where.registry_key, installed=True)


def uninstall(browser: str, machine: Machine | None = None) -> Done:
    """Remove ``browser``'s manifest (and registry value), and the launcher when no other
    browser's manifest is left. Removing what is not there is not an error."""
    on = machine or Machine()
    where = on.placement(browser)
    program, _ = on.program()
    if where.registry_key is not None:
        _registry(on.registry).delete(where.registry_key)
    try:
        where.manifest.unlink(missing_ok=True)
        if not any(on.placement(b).manifest.exists() for b in BROWSERS):
            program.unlink(missing_ok=True)
    except OSError as exc:
        raise InstallError(f"cannot remove {exc.filename}: {exc.strerror or exc}") from exc
    return Done(browser, where.manifest, program, where.registry_key, installed=False)


def _write(path: Path, text: str, *, mode: int) -> None:
    # Replaced whole: a browser reading it meanwhile sees the old file or the new one.
    temp = path.with_name(path.name + ".new")
    temp.write_text(text, encoding="utf-8", newline="")
    temp.chmod(mode)
    temp.replace(path)


def _registry(given: Registry | None) -> Registry:
    if given is not None:
        return given
    if sys.platform != "win32":
        raise InstallError("the Windows registry can only be written on Windows")
    return WindowsRegistry()


class WindowsRegistry:
    """HKEY_CURRENT_USER through ``winreg`` (Windows only)."""

    def set_default(self, key: str, value: str) -> None:
        if sys.platform != "win32":
            raise OSError("the Windows registry is Windows only")
        import winreg

        try:
            with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, key, 0, winreg.KEY_SET_VALUE) as k:
                winreg.SetValueEx(k, "", 0, winreg.REG_SZ, value)
        except OSError as exc:
            raise InstallError(f"cannot write HKEY_CURRENT_USER\\{key}: {exc}") from exc

    def get_default(self, key: str) -> str | None:
        if sys.platform != "win32":
            raise OSError("the Windows registry is Windows only")
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key) as k:
                value, _kind = winreg.QueryValueEx(k, "")
        except FileNotFoundError:
            return None
        return str(value)

    def delete(self, key: str) -> None:
        if sys.platform != "win32":
            raise OSError("the Windows registry is Windows only")
        import winreg

        try:
            winreg.DeleteKey(winreg.HKEY_CURRENT_USER, key)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise InstallError(f"cannot remove HKEY_CURRENT_USER\\{key}: {exc}") from exc


def extension_folder() -> Path | None:
    """The extension's source in a checkout of officepulse (``extension/src``), if here."""
    found = Path(__file__).resolve().parents[3] / "extension" / "src"
    return found if (found / "manifest.json").exists() else None


_ADD = {
    "firefox": "about:debugging#/runtime/this-firefox → Load Temporary Add-on… → "
    "choose manifest.json in",
    "chromium": "chrome://extensions → Developer mode → Load unpacked → choose",
    "chrome": "chrome://extensions → Developer mode → Load unpacked → choose",
    "edge": "edge://extensions → Developer mode → Load unpacked → choose",
}


def report(done: Done) -> str:
    """What was done, and what the person does next, in words."""
    if not done.installed:
        lines = [f"{done.browser}: removed {done.manifest}"]
        if done.registry_key:
            lines.append(f"  and HKEY_CURRENT_USER\\{done.registry_key}")
        return "\n".join(lines) + "\n"
    lines = [f"{done.browser}: wrote {done.manifest}"]
    if done.registry_key:
        lines.append(f"  registered at HKEY_CURRENT_USER\\{done.registry_key}")
    lines.append(f"  the browser starts {done.program}")
    folder = extension_folder()
    where = str(folder) if folder is not None else "extension/src of officepulse's source"
    lines.append(f"Now add the extension, if it is not there yet: {_ADD[done.browser]} {where}")
    lines.append("(README.md, “The browser extension”, says more.)")
    return "\n".join(lines) + "\n"
