"""Updates: the server tells agents the current agent release (agent_latest_version,
agent_download_url) and refuses agents below agent_min_version (4426 update-required).

Pure: the version order (PEP 440, against ``packaging.version`` as an oracle), what an
agent makes of a welcome, the tray's status and menu. For real: a real server with the
settings, raw websockets reading what it sends, real agents that say "update available"
(once per connection) or that they were refused as too old (once, then slow retries), and
the tray's update row clicked in a real tray."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version as Oracle
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from officepulse import __version__
from officepulse.agent.controls import Status
from officepulse.agent.tray import MENU, UPDATE_ROW, menu_rows, update_label
from officepulse.agent.updates import Update, offered
from officepulse.protocol.errors import CloseCode
from officepulse.protocol.messages import AgentRelease
from officepulse.settings import ServerSettings, SettingsError, load
from officepulse.versions import VersionError, parse
from tests.support.pause_status import status
from tests.support.processes import stop
from tests.support.servers import ServerProcess, start_agent, start_server

if TYPE_CHECKING:
    from tests.support.tray_host import Tray
    from tests.support.xserver import XServer

URL = "https://office.example.com/download/officepulse-agent"

# -- versions ---------------------------------------------------------------------------

IN_ORDER = [
    "0.1.dev0", "0.1a1", "0.1b2", "0.1rc1", "0.1", "0.1.post1", "0.1.1", "0.2.dev3",
    "0.2rc1.dev1", "0.2rc1", "0.2", "0.10", "1.0", "1.0.0.1", "1!0.0.1",
]  # fmt: skip


def test_versions_sort_as_pep_440_says() -> None:
    parsed = [parse(v) for v in IN_ORDER]
    assert parsed == sorted(parsed)
    assert len(set(parsed)) == len(parsed)
    assert parse("1.0") == parse("1.0.0") == parse("v1.0")
    assert parse("1.0-RC.1") == parse("1.0rc1")
    assert parse("1.0-1") == parse("1.0.post1")
    assert str(parse(" 0.2.0 ")) == "0.2.0"


@pytest.mark.parametrize("text", ["", "banana", "1.0+local", "1..0", "0.1.0 beta", "test"])
def test_what_is_not_a_version_is_said(text: str) -> None:
    with pytest.raises(VersionError, match="is not a version number"):
        parse(text)


def _version(parts: tuple[list[int], tuple[str, int] | None, int | None, int | None]) -> str:
    release, pre, post, dev = parts
    text = ".".join(map(str, release))
    text += f"{pre[0]}{pre[1]}" if pre else ""
    text += f".post{post}" if post is not None else ""
    return text + (f".dev{dev}" if dev is not None else "")


versions = st.tuples(
    st.lists(st.integers(0, 12), min_size=1, max_size=4),
    st.none() | st.tuples(st.sampled_from(["a", "b", "rc"]), st.integers(0, 3)),
    st.none() | st.integers(0, 3),
    st.none() | st.integers(0, 3),
).map(_version)


@given(versions, versions)
def test_the_order_is_the_one_packaging_gives(a: str, b: str) -> None:
    assert (parse(a) < parse(b)) == (Oracle(a) < Oracle(b))
    assert (parse(a) == parse(b)) == (Oracle(a) == Oracle(b))


# -- what the agent makes of it ----------------------------------------------------------


def test_an_update_is_offered_only_when_the_release_is_newer() -> None:
    assert offered("0.1.0", msgspec.UNSET) is None
    assert offered("0.2.0", AgentRelease(version="0.2")) is None
    assert offered("0.2.0", AgentRelease(version="0.1.9", url=URL)) is None
    assert offered("0.2.0", AgentRelease(version="0.3.0rc1")) == Update("0.3.0rc1", None)
    update = offered("0.2.0", AgentRelease(version="0.3.0", url=URL))
    assert update == Update("0.3.0", URL)
    assert update.describe() == f"update available (0.3.0, {URL})"
    assert Update("0.3.0", None).describe() == "update available (0.3.0)"
    # A release this agent cannot read is nothing it could tell the person.
    assert offered("0.2.0", AgentRelease(version="next")) is None


def test_the_tray_has_an_update_row_whatever_the_state() -> None:
    update = Update("0.3.0", URL)
    assert menu_rows(status()) == MENU
    for shown in (
        status(update=update),
        status(update=update, connected=False),
        status(update=update, pause="paused until resumed"),
        status(update=update, desktop_problem="no display"),
    ):
        assert shown.update == update
        rows = menu_rows(shown)
        assert rows[UPDATE_ROW] == "Update available: 0.3.0 (download…)"
        assert rows[:UPDATE_ROW] + rows[UPDATE_ROW + 1 :] == MENU
    assert status(update=update) != status()  # the tray is told when one appears
    assert update_label(Update("0.3.0", None)) == "Update available: 0.3.0"


def test_the_tray_says_why_an_agent_too_old_is_offline() -> None:
    why = "this agent is version 0.1.0; this server admits 0.2 and newer"
    shown = status(connected=False, offline_since_ms=0, outdated=why)
    assert shown == Status("offline", f"Update required: {why}")
    assert status(connected=False, offline_since_ms=0).line == "Offline since 14:02"
    # The person's pause is still said first.
    assert status(connected=False, outdated=why, pause="paused until resumed").state == "paused"


# -- the settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ({"agent_min_version": "soon"}, "--agent-min-version: 'soon' is not a version number"),
        (
            {"agent_min_version": "0.3", "agent_latest_version": "0.2.9"},
            "--agent-min-version: the oldest agent admitted (0.3) is newer than the latest",
        ),
        ({"agent_download_url": "example.org/x"}, "--agent-download-url: the download address"),
    ],
)
def test_settings_that_cannot_be_used_are_named(flags: dict[str, str], said: str) -> None:
    with pytest.raises(SettingsError) as error:
        load(ServerSettings, flags, environ={}, env_file=None)
    assert str(error.value).startswith(said)


# -- a real server -----------------------------------------------------------------------


def hello(agent_version: str) -> str:
    return json.dumps(
        {
            "type": "hello",
            "v": 2,
            "agent_id": "raw",
            "name": "Raw",
            "host": "laptop",
            "platform": "linux",
            "agent_version": agent_version,
            "tz": "UTC",
        }
    )


def first_reply(server: ServerProcess, agent_version: str) -> tuple[dict[str, Any], int | None]:
    """The server's answer to a hello from ``agent_version``, and the close code after an
    error (None after a welcome)."""
    with connect(server.ws_url, open_timeout=10, proxy=None) as ws:
        ws.send(hello(agent_version))
        reply = json.loads(ws.recv(timeout=10))
        if reply["type"] != "error":
            return reply, None
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    return reply, closed.value.rcvd.code


def with_download_url(tmp_path: Path, *args: str) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path, *args, "--agent-download-url", URL)
    yield srv
    srv.stop()


@pytest.fixture
def announcing(tmp_path: Path) -> Iterator[ServerProcess]:
    yield from with_download_url(tmp_path, "--agent-latest-version", "99.0")


def test_the_welcome_names_the_current_agent_only_when_set(
    server: ServerProcess, announcing: ServerProcess
) -> None:
    plain, _ = first_reply(server, "0.1.0")
    assert plain["type"] == "welcome"
    assert "agent_release" not in plain  # as before: the documented sessions hold
    told, _ = first_reply(announcing, "0.1.0")
    assert told["agent_release"] == {"version": "99.0", "url": URL}


def test_an_agent_told_of_a_newer_one_says_so_once_per_connection(
    announcing: ServerProcess, tmp_path: Path
) -> None:
    said = f"update available (99.0, {URL}): this agent is {__version__}"
    agent = start_agent(announcing, tmp_path, "--source", "none")
    try:
        agent.wait_for_log(said)
        # Again once the connection is made again (the server restarted on its port).
        port = announcing.url.rsplit(":", 1)[1]
        announcing.stop()
        agent.wait_for_log("connection to ")
        (tmp_path / "again").mkdir()
        again = start_server(
            tmp_path / "again",
            "--port", port, "--agent-latest-version", "99.0", "--agent-download-url", URL,
        )  # fmt: skip
        try:
            agent.wait_for_log("connected to ", count=2)
            agent.wait_for_log(said, count=2)
        finally:
            again.stop()
    finally:
        out = stop(agent)
    assert out.count(said) == 2
    assert "it does not update itself" in out
    assert "Traceback" not in out


@pytest.fixture
def demanding(tmp_path: Path) -> Iterator[ServerProcess]:
    yield from with_download_url(tmp_path, "--agent-min-version", "99.0")


def test_an_agent_below_the_minimum_is_refused_with_4426_and_words(
    demanding: ServerProcess,
) -> None:
    error, code = first_reply(demanding, "0.1.0")
    assert code == CloseCode.UPDATE_REQUIRED == 4426
    assert error["code"] == "update-required"
    assert error["fatal"] is True
    assert error["message"] == (
        "this agent is version 0.1.0; this server admits 99.0 and newer; "
        f"update the officepulse agent: download it from {URL}"
    )
    # An agent that gives no version number cannot be told to be recent enough.
    error, code = first_reply(demanding, "test")
    assert (error["code"], code) == ("update-required", 4426)
    welcome, _ = first_reply(demanding, "99.0.1")
    assert welcome["type"] == "welcome"
    assert "agent_release" not in welcome  # a minimum alone names no release


def test_a_refused_agent_says_why_once_and_asks_again_only_slowly(
    demanding: ServerProcess, tmp_path: Path
) -> None:
    """Two real agents: one with the default slow retry (300 s), one that asks every
    second. The eager one is refused twice while the patient one does not come back (the
    back-off after a lost connection would have tried within a second)."""
    patient = start_agent(demanding, tmp_path / "p", "--source", "none", "--agent-id", "pat")
    eager = start_agent(
        demanding, tmp_path / "e", "--source", "none", "--agent-id", "eve", "--refused-retry", "1"
    )
    try:
        demanding.wait_for_log("refused agent eve", count=2)
        assert len(demanding.logged("refused agent pat")) == 1
        assert patient.poll() is None  # it waits; it does not exit
    finally:
        pat_out, eve_out = stop(patient), stop(eager)
    said = (
        f"the server refused this agent as too old: this agent is version {__version__}; "
        f"this server admits 99.0 and newer; update the officepulse agent: download it from {URL}"
    )
    assert said in pat_out
    assert re.search(re.escape(said) + r" \(trying again every 300 s; offline", pat_out)
    assert eve_out.count(said) == 1  # said once, not at every retry
    assert "Traceback" not in pat_out + eve_out


# -- the tray ----------------------------------------------------------------------------


def test_the_trays_update_row_opens_the_download_page(
    xserver: XServer, announcing: ServerProcess, tmp_path: Path
) -> None:
    from tests.support.tray_host import Tray, require_tray_tools, tray_agent

    require_tray_tools()
    tray: Tray = Tray(xserver)
    try:
        with tray_agent(xserver, announcing, tmp_path, "--source", "none") as agent:
            tray.wait_for_state("no-desktop")
            # The status with the update has reached the tray (it is published each second).
            agent.proc.wait_for_log(f"is set to 'none'); update available (99.0, {URL})")
            update = Update("99.0", URL)
            rows = menu_rows(Status("no-desktop", "", update=update))
            tray.choose(update_label(update), rows)
            assert agent.wait_for_url(1) == URL
            tray.choose("Quit", rows)
            assert agent.proc.wait(30) == 0
        out = agent.proc.output()
    finally:
        tray.close()
    assert f"tray: opening the download page of 99.0: {URL}" in out
    assert "Traceback" not in out
