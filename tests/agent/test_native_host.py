"""The native messaging host (`officepulse agent native-host`, a real process fed framed
messages on its standard input, as a browser feeds it) and the agent's end of the local
channel (``TabListener`` on a real Unix socket): what the extension says reaches the
agent, whenever either of them starts, and nobody else's."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from officepulse.agent.browser_tabs import MAX_LINE, Tabs
from officepulse.agent.native_host import (
    MAX_MESSAGE,
    MessageError,
    caller_of,
    encode_message,
    read_message,
)
from officepulse.agent.tab_channel import ChannelError, TabListener, ask_agent, prepare_folder
from tests.support.native_host import HELLO, address, listening, tab, titles, until
from tests.support.native_host import runtime as runtime
from tests.support.processes import OFFICEPULSE, WAIT, clean_env

pytestmark = pytest.mark.timeout(60)


class Host:
    """`officepulse agent native-host`, started the way Chromium starts it."""

    def __init__(self, runtime: Path) -> None:
        self.proc = subprocess.Popen(
            [OFFICEPULSE, "agent", "native-host", "chrome-extension://testid/"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(XDG_RUNTIME_DIR=str(runtime)),
        )

    def say(self, *payloads: bytes) -> None:
        assert self.proc.stdin is not None
        for payload in payloads:
            self.proc.stdin.write(encode_message(payload))
        self.proc.stdin.flush()

    def end(self) -> tuple[int, bytes, str]:
        """Close its input, as the browser does; its exit code, output and log."""
        out, err = self.proc.communicate(timeout=WAIT)
        return self.proc.returncode, out, err.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=WAIT)


@pytest.fixture
def hosts(runtime: Path) -> Iterator[list[Host]]:
    started: list[Host] = []
    yield started
    for host in started:
        host.kill()


def start_host(hosts: list[Host], runtime: Path) -> Host:
    host = Host(runtime)
    hosts.append(host)
    return host


# -- framing -------------------------------------------------------------------------


def test_messages_are_read_as_the_browser_frames_them() -> None:
    r, w = os.pipe()
    payloads = [HELLO, tab("Päge — “A”"), b"{}" * 5000]
    data = b"".join(encode_message(p) for p in payloads) + encode_message(b"cut")[:-1]

    def write_slowly() -> None:
        with os.fdopen(w, "wb") as out:
            for i in range(0, len(data), 7):  # in pieces, as a pipe may give them
                out.write(data[i : i + 7])
                out.flush()

    writer = threading.Thread(target=write_slowly)
    writer.start()
    with os.fdopen(r, "rb") as stream:
        got = [read_message(stream) for _ in payloads]
        assert got == payloads
        assert read_message(stream) is None  # the input ended inside a message
    writer.join()


def test_a_message_too_long_is_skipped_and_said(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(encode_message(b"x" * (MAX_MESSAGE + 1)) + encode_message(HELLO))
    with big.open("rb") as stream:
        with pytest.raises(MessageError, match=f"a message of {MAX_MESSAGE + 1} bytes"):
            read_message(stream)
        assert read_message(stream) == HELLO  # the next one is whole
    assert MAX_MESSAGE <= MAX_LINE


def test_the_caller_is_what_each_browser_passes() -> None:
    assert caller_of(["chrome-extension://abc/"]) == "chrome-extension://abc/"
    assert caller_of(["chrome-extension://abc/", "--parent-window=1234"]) == (
        "chrome-extension://abc/"
    )
    assert caller_of(["/home/a/.mozilla/x.json", "tabs@officepulse.org"]) == (
        "tabs@officepulse.org"
    )
    assert caller_of([]) == ""


# -- the host and the agent ----------------------------------------------------------


async def test_what_the_extension_says_reaches_the_agent(runtime: Path, hosts: list[Host]) -> None:
    tabs = Tabs()
    async with listening(runtime, tabs) as listener:
        assert listener.listening
        folder = runtime / "officepulse"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(os.stat(address(runtime)).st_mode) == 0o600
        host = start_host(hosts, runtime)
        host.say(HELLO, tab("Page A", "http://127.0.0.1/a.html", audible=True))
        await until(lambda: titles(tabs) == ["Page A"], "Page A at the agent")
        (browser,) = tabs.browsers.values()
        assert browser.extension == "0.1.0"
        assert browser.host.caller == "chrome-extension://testid/"
        assert browser.host.browser_pids[0] == os.getpid()  # the "browser" that started it
        assert browser.tab is not None
        assert browser.tab.audible
        # Something that is not a message is said, and the next one still gets through.
        host.say(b'{"type": "tab", "focused": "yes"}', b"not json", tab("Page B"))
        await until(lambda: titles(tabs) == ["Page B"], "Page B at the agent")
        reply = await asyncio.to_thread(ask_agent, address(runtime))
        assert [v.tab.title for v in reply.browsers if v.tab] == ["Page B"]
        code, out, log = await asyncio.to_thread(host.end)
        await until(lambda: not tabs.browsers, "the browser gone from the agent")
    assert code == 0
    assert out == b""  # nothing to the browser: it would read it as a message
    assert "ignored not a message of officepulse's extension: Expected `bool`" in log
    assert log.count("ignored") == 1  # said once


async def test_an_agent_that_starts_later_hears_the_latest_report(
    runtime: Path, hosts: list[Host]
) -> None:
    host = start_host(hosts, runtime)
    host.say(HELLO, tab("Old"), tab("Now", "https://example.org/now"))
    tabs = Tabs()
    async with listening(runtime, tabs):
        await until(lambda: titles(tabs) == ["Now"], "the latest report")
        assert next(iter(tabs.browsers.values())).extension == "0.1.0"
    # The agent stops, and a new one starts: it hears the same, with nothing new said.
    await until(lambda: not (runtime / "officepulse" / "tabs.sock").exists(), "socket removed")
    again = Tabs()
    async with listening(runtime, again):
        await until(lambda: titles(again) == ["Now"], "the report again after a restart")
        host.say(tab("", focused=False))
        await until(
            lambda: [b.tab.focused for b in again.browsers.values() if b.tab] == [False],
            "the browser no longer in front",
        )


async def test_one_agent_listens_and_a_second_takes_over_when_it_stops(
    runtime: Path, hosts: list[Host], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "officepulse.agent.tab_channel")
    first_tabs, second_tabs = Tabs(), Tabs()
    async with listening(runtime, first_tabs) as first:
        assert first.listening
        second = TabListener(second_tabs, address(runtime), retry=0.2)
        await second.start()
        assert "another officepulse agent" in caplog.text
        assert not second.listening
        host = start_host(hosts, runtime)
        host.say(tab("Mine"))
        await until(lambda: titles(first_tabs) == ["Mine"], "the first agent told")
        assert not second_tabs.browsers
    try:
        await until(lambda: second.listening, "the second agent listening")
        await until(lambda: titles(second_tabs) == ["Mine"], "the second agent told")
    finally:
        await second.close()
    assert caplog.text.count("another officepulse agent") == 1  # said once, not each try


def test_the_folder_must_be_this_users_alone(runtime: Path) -> None:
    folder = runtime / "officepulse"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    with pytest.raises(ChannelError, match=r"opened by other users \(mode 755\); it must be 700"):
        prepare_folder(folder)
    folder.rmdir()
    link = runtime / "elsewhere"
    link.mkdir(mode=0o700)
    folder.symlink_to(link)
    with pytest.raises(ChannelError, match="is not a folder"):
        prepare_folder(folder)


async def test_an_agent_does_not_listen_in_a_folder_others_can_open(
    runtime: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "officepulse.agent.tab_channel")
    (runtime / "officepulse").mkdir(mode=0o777)
    (runtime / "officepulse").chmod(0o777)
    async with listening(runtime, Tabs()) as listener:
        assert "not listening for the browser extension" in caplog.text
        assert "may be opened by other users" in caplog.text
        assert not listener.listening
    assert not (runtime / "officepulse" / "tabs.sock").exists()


async def test_lines_that_are_not_messages_are_said_once_and_skipped(
    runtime: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "officepulse.agent.tab_channel")
    tabs = Tabs()
    async with listening(runtime, tabs):

        def talk() -> None:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(address(runtime))
                sock.sendall(tab("before hello") + b"\n" + b"]]\n")
                sock.sendall(b'{"type": "host", "pid": 1, "caller": "x"}\n' + tab("ok") + b"\n")
                sock.sendall(b"x" * (MAX_LINE + 10) + b"\n")
                assert sock.recv(10) == b""  # closed after a line too long

        await asyncio.to_thread(talk)
        await until(lambda: "a line longer than" in caplog.text, "the long line said")
    assert caplog.text.count("browser channel: ignored a TabReport before the host said hello") == 1
    assert "ignored a line" not in caplog.text  # once per connection
    assert "the browser extension is connected (x, browser pid unknown)" in caplog.text
