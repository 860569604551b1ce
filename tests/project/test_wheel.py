"""The installable server, as someone without npm gets it: the wheel is built from a copy
of this checkout (`python -m build --wheel`), installed in a fresh venv (its dependencies
from this machine's package index), and its `officepulse server` is run with a PATH that
holds neither npm nor node_modules, from an empty folder. The dashboard, in headless
Chromium, must go live and show an agent. Slow (a build and an install): one test."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from officepulse.panel.assets import VENDOR_FILES
from tests.support import paths
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.processes import clean_env, stop
from tests.support.servers import start_agent, start_server

ROOT = paths.ROOT

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system chromium"),
    pytest.mark.timeout(1500),
]


def run(*command: str | Path, timeout: float, cwd: Path | None = None) -> None:
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def copy_checkout(target: Path) -> None:
    """The files git knows (committed or not, ignored ones left out), and node_modules as
    `make setup` left it: what a release build starts from."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
        cwd=ROOT,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    shutil.copytree(ROOT / "node_modules", target / "node_modules")


def test_the_built_wheel_serves_a_live_dashboard_without_npm(tmp_path: Path) -> None:
    source, dist, venv, elsewhere = (tmp_path / d for d in ("src", "dist", "venv", "run"))
    copy_checkout(source)
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, source, timeout=600)
    (wheel,) = dist.glob("officepulse-*.whl")
    pinned = {
        name: (ROOT / "node_modules" / rel).read_bytes() for name, rel in VENDOR_FILES.items()
    }
    with zipfile.ZipFile(wheel) as archive:
        for name, content in pinned.items():
            assert archive.read(f"officepulse/panel/static/vendor/{name}") == content

    run(sys.executable, "-m", "venv", venv, timeout=300)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, timeout=900)
    elsewhere.mkdir()
    server = start_server(
        tmp_path,
        program=str(venv / "bin" / "officepulse"),
        cwd=elsewhere,  # no node_modules here, nor above
        PATH=str(venv / "bin"),  # no npm
    )
    try:
        assert not any("htmx is not installed" in line for line in server.log)
        for name, content in pinned.items():
            with urllib.request.urlopen(f"{server.url}/static/vendor/{name}", timeout=10) as r:
                assert r.read() == content, name

        timeline = tmp_path / "day.jsonl"
        timeline.write_text(
            '{"offset": 0, "app": "Code", "title": "wheel.py"}\n{"offset": 86400, "end": true}\n'
        )
        errors: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on(
                    "console",
                    lambda m: errors.append(m.text) if m.type == "error" else None,
                )
                page.goto(server.url + "/")
                expect(page.locator("#live")).to_have_attribute("data-state", "open")
                # The installed package's agent would do as well; the checkout's is the one
                # the other tests drive.
                agent = start_agent(
                    server,
                    tmp_path,
                    *("--agent-id", "from-the-wheel", "--name", "Wheeler"),
                    *("--source", "scripted", "--timeline", str(timeline)),
                )
                try:
                    card = page.locator("#agent-from-the-wheel")
                    expect(card.locator(".app")).to_have_text("Code", timeout=30_000)
                    expect(card.locator(".title")).to_have_text("wheel.py")
                    expect(card.locator(".name")).to_have_text("Wheeler")
                finally:
                    stop(agent)
                page.close()
            finally:
                browser.close()
        assert errors == []
    finally:
        server.stop()
    assert "Traceback" not in "\n".join(server.log)
