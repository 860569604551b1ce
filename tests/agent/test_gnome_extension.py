"""officepulse's GNOME Shell extension as ``install-gnome-extension`` builds it for each
shell version: each build parsed by Node.js (as a script, or as an ES module) and checked
for its structure. GNOME Shell 43 runs the imports.gi build for real in
tests/agent/sources/test_wayland_gnome.py, and the 45+ build too, loaded as an ES module by
GJS through a test-only extension; the shells 45 and later themselves do not run here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from officepulse.agent.gnome_setup import (
    InstallError,
    build,
    format_strv,
    parse_strv,
    shell_major,
)
from officepulse.agent.sources.gnome import EXTENSION_UUID
from tests.support.processes import OFFICEPULSE, clean_env

pytestmark = pytest.mark.timeout(60)


def _node_check(path: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (npm ci installs the dashboard's tools with it)"
    done = subprocess.run(
        [node, "--check", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("shell", "versions"),
    [
        (43, ["43", "44"]),
        (44, ["43", "44"]),
        (45, ["45", "46", "47", "48", "49"]),
        (47, ["45", "46", "47", "48", "49"]),
        (52, ["45", "46", "47", "48", "49", "52"]),  # newer than this release knows
    ],
)
def test_metadata_lists_the_versions_of_one_kind(shell: int, versions: list[str]) -> None:
    metadata = json.loads(build(shell)["metadata.json"])
    assert metadata["uuid"] == EXTENSION_UUID
    assert metadata["shell-version"] == versions
    # It keeps answering on the lock screen, where the shell turns other extensions off.
    assert metadata["session-modes"] == ["user", "unlock-dialog"]


def test_gnome_43_and_44_get_a_script(tmp_path: Path) -> None:
    code = build(43)["extension.js"]
    assert "const {Gio, GLib, Shell} = imports.gi;" in code
    assert "function init()" in code
    assert "import " not in code.replace("imports.gi", "")  # no ES module syntax
    assert "@FOCUS@" not in code
    assert "class FocusReporter" in code
    path = tmp_path / "extension.js"  # .js: parsed as a script
    path.write_text(code)
    _node_check(path)


def test_gnome_45_and_later_get_an_es_module(tmp_path: Path) -> None:
    code = build(46)["extension.js"]
    assert "= imports.gi" not in code
    assert "import Gio from 'gi://Gio';" in code
    assert "from 'resource:///org/gnome/shell/extensions/extension.js';" in code
    assert "export default class OfficepulseFocusExtension extends Extension" in code
    assert "class FocusReporter" in code
    path = tmp_path / "extension.mjs"  # .mjs: parsed as an ES module
    path.write_text(code)
    _node_check(path)


def test_an_older_shell_is_refused() -> None:
    with pytest.raises(InstallError, match="GNOME Shell 42 is older than 43"):
        build(42)


@pytest.mark.parametrize(
    ("text", "major"),
    [("GNOME Shell 43.9\n", 43), ("GNOME Shell 45.beta", 45), ("46.0", 46), ("GNOME Shell 47", 47)],
)
def test_shell_major(text: str, major: int) -> None:
    assert shell_major(text) == major


def test_shell_major_of_garbage() -> None:
    with pytest.raises(InstallError, match="cannot read a GNOME Shell version"):
        shell_major("gnome-shell: command not found")


def test_gsettings_string_arrays() -> None:
    assert parse_strv("@as []") == []
    assert parse_strv("['a@b', 'focused-window@officepulse']\n") == [
        "a@b",
        "focused-window@officepulse",
    ]
    assert parse_strv(format_strv(["x@y", EXTENSION_UUID])) == ["x@y", EXTENSION_UUID]
    with pytest.raises(InstallError, match="not a list of strings"):
        parse_strv("[1, 2]")
    with pytest.raises(InstallError, match="cannot read gsettings' answer"):
        parse_strv("<'a'>")


def test_the_command_installs_for_a_given_version_without_enabling(tmp_path: Path) -> None:
    """``--shell-version`` builds for that shell whatever is installed here; ``--no-enable``
    leaves the settings alone (no session bus is needed)."""
    data = tmp_path / "data"
    done = subprocess.run(
        [
            OFFICEPULSE,
            "--env-file",
            "/dev/null",
            "agent",
            "install-gnome-extension",
            "--shell-version",
            "46",
            "--no-enable",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(XDG_DATA_HOME=str(data), DBUS_SESSION_BUS_ADDRESS=None),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    folder = data / "gnome-shell" / "extensions" / EXTENSION_UUID
    assert f"ES module version for GNOME Shell 46) in {folder}" in done.stdout
    assert "not enabled: `gnome-extensions enable focused-window@officepulse` does it" in (
        done.stdout
    )
    assert sorted(p.name for p in folder.iterdir()) == ["extension.js", "metadata.json"]
    assert "export default class" in (folder / "extension.js").read_text()


def test_the_command_says_what_went_wrong(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")  # the data folder is a file: nothing can be written under it
    done = subprocess.run(
        [
            *(OFFICEPULSE, "--env-file", "/dev/null", "agent", "install-gnome-extension"),
            *("--shell-version", "43", "--no-enable"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(XDG_DATA_HOME=str(blocked)),
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        "officepulse: cannot install the GNOME Shell extension: cannot write the extension to "
    )
