"""officepulse's browser extension as a store would check it: Firefox's linter (web-ext, the
version pinned in extension/package-lock.json, installed by `make setup`) over the one
source folder that Chromium-based browsers load too, and the manifest's promises: Manifest
V3, the two permissions it needs and no others, kept out of private windows, the ids the
host manifests name. Chromium runs it for real in test_browser_tabs_chromium.py."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from officepulse.agent.browser_tabs import CHROMIUM_EXTENSION_ID, FIREFOX_EXTENSION_ID, HOST_NAME
from tests.support import paths

pytestmark = pytest.mark.timeout(120)

EXTENSION = paths.ROOT / "extension"
SOURCE = EXTENSION / "src"
WEB_EXT = EXTENSION / "node_modules" / ".bin" / "web-ext"


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SOURCE / "manifest.json").read_text())
    return data


def lint(source: Path) -> dict[str, Any]:
    assert WEB_EXT.exists(), f"{WEB_EXT} is missing: run `make setup` (npm ci in extension/)"
    done = subprocess.run(
        [str(WEB_EXT), "lint", "--source-dir", str(source), "--output", "json", "--no-input"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=EXTENSION,
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"web-ext lint said no JSON:\n{done.stdout}\n{done.stderr}") from None
    return report


def test_firefox_lints_the_extension_clean() -> None:
    report = lint(SOURCE)
    assert report["errors"] == [], report["errors"]
    assert report["notices"] == [], report["notices"]
    # The one warning that one source for both browsers costs: Firefox ignores the
    # service worker Chromium runs, and runs background.scripts instead.
    assert [w["code"] for w in report["warnings"]] == ["BACKGROUND_SERVICE_WORKER_IGNORED"]
    assert report["metadata"]["id"] == FIREFOX_EXTENSION_ID
    assert report["metadata"]["manifestVersion"] == 3
    # No minified or third-party code: every file is ours and readable.
    assert report["metadata"]["unknownMinifiedFiles"] == []
    assert report["metadata"]["jsLibs"] == {}


def test_the_linter_catches_a_broken_manifest(tmp_path: Path) -> None:
    """The lint above can fail: a manifest asking for the web is refused."""
    broken = tmp_path / "src"
    shutil.copytree(SOURCE, broken)
    data = manifest()
    data["permissions"].append("<all_urls>")
    del data["browser_specific_settings"]["gecko"]["id"]
    (broken / "manifest.json").write_text(json.dumps(data))
    report = lint(broken)
    assert [e["code"] for e in report["errors"]] == ["ADDON_ID_REQUIRED"]
    assert "MANIFEST_PERMISSIONS" in [w["code"] for w in report["warnings"]]


def test_the_manifest_asks_for_little_and_stays_out_of_private_windows() -> None:
    data = manifest()
    assert data["manifest_version"] == 3
    assert sorted(data["permissions"]) == ["nativeMessaging", "tabs"]
    assert "host_permissions" not in data
    assert "content_scripts" not in data
    assert "optional_permissions" not in data
    assert data["incognito"] == "not_allowed"
    # One script for both: Chromium's service worker, Firefox's background script.
    assert data["background"] == {"service_worker": "background.js", "scripts": ["background.js"]}
    gecko = data["browser_specific_settings"]["gecko"]
    assert gecko["id"] == FIREFOX_EXTENSION_ID
    assert gecko["data_collection_permissions"] == {"required": ["browsingActivity"]}


def test_the_key_gives_the_id_the_host_manifests_allow() -> None:
    """Chromium names an unpacked extension after its key: the first 32 hex digits of the
    SHA-256 of the public key, each digit 0-f written a-p."""
    der = base64.b64decode(manifest()["key"])
    digest = hashlib.sha256(der).hexdigest()[:32]
    assert digest.translate(str.maketrans("0123456789abcdef", "abcdefghijklmnop")) == (
        CHROMIUM_EXTENSION_ID
    )


def test_the_script_talks_to_the_host_alone() -> None:
    """No credentials and no connection of its own: the agent's helper is its only peer."""
    code = (SOURCE / "background.js").read_text()
    assert f'const HOST = "{HOST_NAME}";' in code
    for word in ("fetch(", "XMLHttpRequest", "WebSocket", "EventSource", "sendBeacon", "http"):
        assert word not in code, word
    assert sorted(p.name for p in SOURCE.iterdir()) == ["background.js", "manifest.json"]
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (npm installs the extension's tools with it)"
    done = subprocess.run(
        [node, "--check", str(SOURCE / "background.js")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_tools_are_pinned() -> None:
    package = json.loads((EXTENSION / "package.json").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest()["version"])
    assert package["devDependencies"]["web-ext"] == "10.7.0"  # pinned, not a range
