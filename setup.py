"""The build step pyproject.toml cannot say: the dashboard's pinned npm packages (htmx,
its websocket extension and the Pico CSS base, see package.json and package-lock.json) go into the built
package, so that `pip install officepulse-*.whl` serves a live dashboard on a machine
without npm. They are copied from node_modules at build time (`npm ci` first when
node_modules is missing or holds other versions than package-lock.json pins) and never
committed. An editable install (`make setup`) serves the checkout's node_modules instead.
"""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# Read from the package's own module (by path: the package is not importable while it
# is being built), so the server and the build agree on the files.
ASSETS = runpy.run_path(str(ROOT / "src" / "officepulse" / "panel" / "assets.py"))
VENDOR_FILES: dict[str, Path] = ASSETS["VENDOR_FILES"]
PACKAGED: Path = ASSETS["PACKAGED"]
npm_package = ASSETS["npm_package"]


def _pinned() -> dict[str, str]:
    """Each npm package the dashboard uses, with the version package-lock.json pins."""
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    packages = {npm_package(rel) for rel in VENDOR_FILES.values()}
    return {name: lock[f"node_modules/{name}"]["version"] for name in sorted(packages)}


def _installed(modules: Path, package: str) -> str | None:
    try:
        manifest = json.loads((modules / package / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = manifest.get("version")
    return version if isinstance(version, str) else None


def pinned_node_modules() -> Path:
    """node_modules holding exactly the pinned versions; runs `npm ci` when it does not."""
    modules = ROOT / "node_modules"
    pinned = _pinned()
    if all(_installed(modules, name) == version for name, version in pinned.items()):
        return modules
    npm = shutil.which("npm")
    if npm is None:
        wanted = ", ".join(f"{name}@{version}" for name, version in pinned.items())
        raise SystemExit(
            f"building officepulse needs the dashboard's npm packages ({wanted}) in "
            f"{modules}: install Node.js and npm, or run `npm ci` there first"
        )
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    return modules


class BuildWithVendorFiles(build_py):
    """build_py, then the pinned npm files into officepulse/panel/static/vendor/."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        modules = pinned_node_modules()
        target = Path(self.build_lib) / "officepulse" / "panel" / PACKAGED
        target.mkdir(parents=True, exist_ok=True)
        for name, rel in VENDOR_FILES.items():
            shutil.copyfile(modules / rel, target / name)
        for package in _pinned():  # their licences travel with them
            for licence in (modules / package / "LICENSE", modules / package / "LICENSE.md"):
                if licence.is_file():
                    name = package.lstrip("@").replace("/", "-")
                    shutil.copyfile(licence, target / f"{name}.LICENSE")


setup(cmdclass={"build_py": BuildWithVendorFiles})
