"""`officepulse agent install --browser …` and `uninstall`: the native messaging host
manifests where Chromium, Chrome, Edge and Firefox look for them (the paths and registry
keys their documentation gives), and a launcher that really starts this officepulse's host.
Windows' registry is the one thing faked: a dict behind the same three calls ``winreg``
answers, checked against the documented key and value."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from officepulse.agent.browser_install import (
    BROWSERS,
    InstallError,
    Machine,
    host_manifest,
    install,
    launcher,
    uninstall,
)
from officepulse.agent.browser_tabs import (
    CHROMIUM_EXTENSION_ID,
    FIREFOX_EXTENSION_ID,
    HOST_NAME,
    Tabs,
)
from officepulse.agent.native_host import encode_message
from tests.support.native_host import address, listening, runtime, tab, titles, until
from tests.support.processes import OFFICEPULSE, WAIT, clean_env

__all__ = ["runtime"]  # the fixture (tests/support/native_host.py)

pytestmark = pytest.mark.timeout(60)

HOME = Path("/home/ada")
NAME = f"{HOST_NAME}.json"


class MemoryRegistry:
    """HKEY_CURRENT_USER as a dict: key → default value."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}

    def set_default(self, key: str, value: str) -> None:
        self.keys[key] = value

    def get_default(self, key: str) -> str | None:
        return self.keys.get(key)

    def delete(self, key: str) -> None:
        self.keys.pop(key, None)


@pytest.mark.parametrize(
    ("browser", "linux", "macos"),
    [
        (
            "chromium",
            ".config/chromium/NativeMessagingHosts",
            "Library/Application Support/Chromium/NativeMessagingHosts",
        ),
        (
            "chrome",
            ".config/google-chrome/NativeMessagingHosts",
            "Library/Application Support/Google/Chrome/NativeMessagingHosts",
        ),
        (
            "edge",
            ".config/microsoft-edge/NativeMessagingHosts",
            "Library/Application Support/Microsoft Edge/NativeMessagingHosts",
        ),
        (
            "firefox",
            ".mozilla/native-messaging-hosts",
            "Library/Application Support/Mozilla/NativeMessagingHosts",
        ),
    ],
)
def test_each_browser_looks_where_its_documentation_says(
    browser: str, linux: str, macos: str
) -> None:
    data = Path("/data")
    on_linux = Machine("linux", HOME, {}, data)
    assert on_linux.placement(browser).manifest == HOME / linux / NAME
    assert on_linux.placement(browser).registry_key is None
    on_mac = Machine("darwin", HOME, {}, data)
    assert on_mac.placement(browser).manifest == HOME / macos / NAME
    # XDG_CONFIG_HOME moves the Chromium family's folders (not Firefox's); a relative
    # one is not a valid XDG_CONFIG_HOME and is ignored.
    moved = Machine("linux", HOME, {"XDG_CONFIG_HOME": "/cfg"}, data).placement(browser)
    if browser == "firefox":
        assert moved.manifest == HOME / linux / NAME
    else:
        assert moved.manifest == Path("/cfg") / linux.removeprefix(".config/") / NAME
    relative = Machine("linux", HOME, {"XDG_CONFIG_HOME": "cfg"}, data).placement(browser)
    assert relative.manifest == HOME / linux / NAME


def test_windows_registers_the_manifest_under_the_documented_keys(tmp_path: Path) -> None:
    registry = MemoryRegistry()
    machine = Machine("win32", HOME, {"LOCALAPPDATA": str(tmp_path)}, None, registry)
    command = ["C:\\Program Files\\Python 3.11\\python.exe", "-m", "officepulse"]
    done = {b: install(b, machine, command=command) for b in BROWSERS}
    vendor = {
        "chromium": "Chromium",
        "chrome": "Google\\Chrome",
        "edge": "Microsoft\\Edge",
        "firefox": "Mozilla",
    }
    folder = tmp_path / "officepulse" / "native-messaging"
    for browser, key in vendor.items():
        where = f"Software\\{key}\\NativeMessagingHosts\\{HOST_NAME}"
        assert registry.keys[where] == str(folder / browser / NAME)
        manifest = json.loads(Path(registry.keys[where]).read_text())
        assert manifest["path"] == str(folder / "officepulse-native-host.bat")
    batch = (folder / "officepulse-native-host.bat").read_bytes()
    assert batch == (
        b'@echo off\r\n"C:\\Program Files\\Python 3.11\\python.exe" "-m" "officepulse" %*\r\n'
    )
    assert done["edge"].registry_key is not None
    for browser in BROWSERS:
        uninstall(browser, machine)
    assert registry.keys == {}
    assert not any(folder.rglob("*.json"))
    assert not (folder / "officepulse-native-host.bat").exists()


def test_the_manifests_name_the_host_and_who_may_start_it() -> None:
    program = Path("/opt/op/officepulse-native-host")
    chrome = json.loads(host_manifest("chrome", program, ["mnopabcdefghijklmnopabcdefghijkl"]))
    assert chrome == {
        "name": HOST_NAME,
        "description": chrome["description"],
        "path": str(program),
        "type": "stdio",
        "allowed_origins": [
            f"chrome-extension://{CHROMIUM_EXTENSION_ID}/",  # the trailing slash is needed
            "chrome-extension://mnopabcdefghijklmnopabcdefghijkl/",
        ],
    }
    firefox = json.loads(host_manifest("firefox", program, [FIREFOX_EXTENSION_ID]))
    assert firefox["allowed_extensions"] == [FIREFOX_EXTENSION_ID]  # once
    assert "allowed_origins" not in firefox
    assert firefox["type"] == "stdio"


def test_another_extension_id_must_be_one() -> None:
    program = Path("/opt/op/officepulse-native-host")
    with pytest.raises(InstallError, match=r"'tabs@x' is not a chrome extension id \(32 letters"):
        host_manifest("chrome", program, ["tabs@x"])
    with pytest.raises(InstallError, match="'abcd' is not a Firefox add-on id"):
        host_manifest("firefox", program, ["abcd"])
    guid = "{12345678-1234-1234-1234-123456789abc}"
    firefox = json.loads(host_manifest("firefox", program, [guid]))
    assert firefox["allowed_extensions"] == [FIREFOX_EXTENSION_ID, guid]


def test_the_launcher_quotes_what_it_runs() -> None:
    name, text = launcher("linux", ["/home/a b/py thon", "-m", "officepulse", "agent"])
    assert name == "officepulse-native-host"
    assert text == "#!/bin/sh\nexec '/home/a b/py thon' -m officepulse agent \"$@\"\n"
    name, text = launcher("win32", ["C:\\100%\\python.exe", "-m"])
    assert text == '@echo off\r\n"C:\\100%%\\python.exe" "-m" %*\r\n'


def test_an_unknown_browser_is_refused() -> None:
    with pytest.raises(InstallError, match="unknown browser 'opera'; known: chromium, chrome"):
        Machine("linux", HOME, {}, Path("/d")).placement("opera")


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OFFICEPULSE, "--env-file", "/dev/null", "agent", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
        env=clean_env(
            HOME=str(tmp_path / "home"),
            XDG_CONFIG_HOME=str(tmp_path / "config"),
            XDG_DATA_HOME=str(tmp_path / "data"),
        ),
    )


async def test_install_writes_what_the_browser_starts_and_uninstall_takes_it_away(
    tmp_path: Path, runtime: Path
) -> None:
    done = await asyncio.to_thread(
        cli, tmp_path, "install", "--browser", "chromium", "--browser", "firefox"
    )
    assert done.returncode == 0, done.stderr
    chromium = tmp_path / "config" / "chromium" / "NativeMessagingHosts" / NAME
    firefox = tmp_path / "home" / ".mozilla" / "native-messaging-hosts" / NAME
    program = tmp_path / "data" / "officepulse" / "native-messaging" / "officepulse-native-host"
    assert f"chromium: wrote {chromium}" in done.stdout
    assert f"firefox: wrote {firefox}" in done.stdout
    assert f"the browser starts {program}" in done.stdout
    assert "Load unpacked" in done.stdout
    assert "extension/src" in done.stdout
    assert json.loads(chromium.read_text())["path"] == str(program)
    assert json.loads(firefox.read_text())["allowed_extensions"] == [FIREFOX_EXTENSION_ID]
    assert stat.S_IMODE(program.stat().st_mode) == 0o755

    # The launcher starts this officepulse's host, which tells the agent.
    tabs = Tabs()
    async with listening(runtime, tabs):
        host = await asyncio.create_subprocess_exec(
            str(program),
            f"chrome-extension://{CHROMIUM_EXTENSION_ID}/",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(XDG_RUNTIME_DIR=str(runtime)),
        )
        assert host.stdin is not None
        host.stdin.write(encode_message(tab("Via the launcher")))
        await until(lambda: titles(tabs) == ["Via the launcher"], "the launcher's host heard")
        (browser,) = tabs.browsers.values()
        assert browser.host.caller == f"chrome-extension://{CHROMIUM_EXTENSION_ID}/"
        host.stdin.close()
        assert await host.wait() == 0
    assert address(runtime).endswith("tabs.sock")

    removed = await asyncio.to_thread(cli, tmp_path, "uninstall", "--browser", "chromium")
    assert removed.returncode == 0, removed.stderr
    assert f"chromium: removed {chromium}" in removed.stdout
    assert not chromium.exists()
    assert program.exists()  # Firefox still starts it
    await asyncio.to_thread(cli, tmp_path, "uninstall", "--browser", "firefox")
    assert not firefox.exists()
    assert not program.exists()
    again = await asyncio.to_thread(cli, tmp_path, "uninstall", "--browser", "firefox")
    assert again.returncode == 0, again.stderr  # nothing left to remove is fine


def test_install_names_the_browsers_it_knows(tmp_path: Path) -> None:
    done = cli(tmp_path, "install", "--browser", "opera")
    assert done.returncode == 2
    choices = "'chromium', 'chrome', 'edge', 'firefox'"
    assert f"invalid choice: 'opera' (choose from {choices})" in done.stderr
    # Without --browser, install is about starting the agent at login (test_autostart.py).
    done = cli(tmp_path, "uninstall", "--browser")
    assert done.returncode == 2
    assert "argument --browser: expected one argument" in done.stderr


def test_install_says_what_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "chromium").write_text("a file where a folder must be")
    done = cli(tmp_path, "install", "--browser", "chromium")
    assert done.returncode == 1
    assert done.stderr.startswith("officepulse agent install: cannot write ")
    assert os.fspath(tmp_path / "config" / "chromium") in done.stderr
