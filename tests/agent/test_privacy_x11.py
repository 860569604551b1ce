"""Privacy lists end to end: a real agent reads a real X desktop (Xvfb + openbox, xterm
windows switched with xdotool) with a config file that lists apps, and talks to a real
server through a websocket proxy that records every message the agent sends. Whatever
the lists hide is looked for in the REST API, in every table and column of the server's
database, in its files, on the wire, in the agent's journal and in its log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve

from tests.support.privacy_checks import (
    assert_nowhere,
    current,
    database_text,
    files_text,
    today,
    usage,
    write_config,
)
from tests.support.processes import stop, wait_until
from tests.support.servers import ServerProcess, start_agent

if TYPE_CHECKING:
    from tests.support.xserver import XServer

pytestmark = pytest.mark.timeout(90)


class WireRecorder:
    """A websocket proxy between the agent and the server that keeps every message the
    agent sends (decompressed, as the server reads them)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.sent: list[str | bytes] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Server | None = None

    def __enter__(self) -> WireRecorder:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> None:
        self._server = await serve(self._relay, "127.0.0.1", 0)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/agent"

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _relay(self, agent: ServerConnection) -> None:
        async with connect(self.upstream, max_size=None) as server:

            async def up() -> None:
                async for message in agent:
                    self.sent.append(message)
                    await server.send(message)

            async def down() -> None:
                async for message in server:
                    await agent.send(message)

            tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def text(self) -> str:
        return "\n".join(
            m if isinstance(m, str) else m.decode("utf-8", "replace") for m in self.sent
        )

    def activities(self) -> list[dict[str, Any]]:
        """Every activity in every message sent, whatever message carried it."""
        found: list[dict[str, Any]] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                if "app" in value:
                    found.append(value)
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        for message in self.sent:
            assert isinstance(message, str), "the agent was started with --encoding json"
            walk(json.loads(message))
        return found


@pytest.fixture
def agent_env(xserver: XServer) -> dict[str, str | None]:
    return {"DISPLAY": xserver.display, "XDG_SESSION_TYPE": "x11", "WAYLAND_DISPLAY": None}


def test_private_never_introspected_and_redacted_windows(
    xserver: XServer, server: ServerProcess, tmp_path: Path, agent_env: dict[str, str | None]
) -> None:
    config_home = write_config(
        tmp_path,
        """\
[privacy]
never_capture = ["opvault*"]        # sent as "private" (the default)
never_introspect = ["OPQUIET"]
redact = ['card [0-9-]+']
""",
    )
    editor = xserver.xterm("OpEditor", "main.py - officepulse")
    vault = xserver.xterm("OpVaultXC", "bank.kdbx - PIN 4242")
    quiet = xserver.xterm("OpQuiet", "dear diary, today")
    shop = xserver.xterm("OpShop", "checkout: card 9876-5432 ok")
    forbidden = ["OpVault", "bank.kdbx", "PIN 4242", "dear diary", "9876-5432"]
    xserver.activate(editor)
    with WireRecorder(server.ws_url) as wire:
        agent = start_agent(
            server,
            tmp_path,
            "--server-url",
            wire.url,
            "--agent-id",
            "careful",
            "--source",
            "x11",
            "--poll-interval",
            "0.1",
            "--encoding",
            "json",
            XDG_CONFIG_HOME=str(config_home),
            **agent_env,
        )
        try:
            wait_until(
                lambda: (c := current(server, "careful")) and c["app"] == "OpEditor",
                what="the editor on the server",
            )
            xserver.activate(vault)
            cur = wait_until(
                lambda: (c := current(server, "careful")) and c["app"] == "private" and c,
                what="the vault shown as private",
            )
            assert cur["title"] == ""
            assert "process" not in cur
            xserver.activate(quiet)
            cur = wait_until(
                lambda: (c := current(server, "careful")) and c["app"] == "OpQuiet" and c,
                what="the never-introspected window",
            )
            assert cur["title"] == ""
            assert cur["process"] == "xterm"
            xserver.activate(shop)
            wait_until(
                lambda: (c := current(server, "careful")) and c["title"] == "checkout: … ok",
                what="the redacted title",
            )
            xserver.activate(editor)
            wait_until(
                lambda: {"OpEditor", "private", "OpQuiet", "OpShop"} <= set(usage(server)),
                what="every span stored",
            )
        finally:
            out = stop(agent)
    assert "Traceback" not in out

    # On the wire: the lists were applied before anything was sent...
    sent = wire.activities()
    assert {"app": "private", "private": True} in sent
    assert all(set(a) <= {"app", "process", "pid", "idle"} for a in sent if a["app"] == "OpQuiet")
    assert any(a.get("title") == "checkout: … ok" for a in sent)
    # ...and introspection did run for the windows on no list (xterm: the foreground program).
    assert any(a.get("program") == "sleep" for a in sent if a["app"] == "OpEditor")
    assert not any("program" in a for a in sent if a["app"] in ("OpQuiet", "private"))

    api = json.dumps(server.get("/api/v1/agents")) + json.dumps(
        server.get(f"/api/v1/usage?{today()}&group_by=agent,app")
    )
    server.stop()  # the database is whole and still once the server has stopped
    assert_nowhere(
        forbidden,
        wire=wire.text(),
        api=api,
        database=database_text(server.database),
        database_files=files_text(server.database.parent, server.database.name + "*"),
        agent_state=files_text(tmp_path / "agent-state", "*"),
        agent_log=out,
    )


def test_nothing_mode_sends_nothing_at_all(
    xserver: XServer, server: ServerProcess, tmp_path: Path, agent_env: dict[str, str | None]
) -> None:
    config = tmp_path / "elsewhere.toml"  # named by the environment this time
    config.write_text('[privacy]\nnever_capture = [{ app = "OpVault*", send = "nothing" }]\n')
    editor = xserver.xterm("OpEditor", "main.py - officepulse")
    vault = xserver.xterm("OpVaultXC", "bank.kdbx - PIN 4242")
    other = xserver.xterm("OpOther", "notes.txt")
    forbidden = ["OpVault", "bank.kdbx", "PIN 4242", "private"]
    xserver.activate(editor)
    with WireRecorder(server.ws_url) as wire:
        agent = start_agent(
            server,
            tmp_path,
            "--server-url",
            wire.url,
            "--agent-id",
            "silent",
            "--source",
            "x11",
            "--poll-interval",
            "0.1",
            "--encoding",
            "json",
            "--log-level",
            "debug",
            OFFICEPULSE_AGENT_CONFIG=str(config),
            **agent_env,
        )
        try:
            wait_until(
                lambda: (c := current(server, "silent")) and c["app"] == "OpEditor",
                what="the editor on the server",
            )
            time.sleep(0.5)  # some time in the editor, so that its span has a length
            xserver.activate(vault)
            # The agent has seen the vault (it says so, without naming it)...
            agent.wait_for_log("a never-captured window is in front: nothing is sent meanwhile")
            xserver.activate(other)
            wait_until(
                lambda: (c := current(server, "silent")) and c["app"] == "OpOther",
                what="the next window on the server",
            )
            wait_until(lambda: "OpEditor" in usage(server), what="the editor's span stored")
        finally:
            out = stop(agent)
    assert "Traceback" not in out
    # ...and the server heard of nothing between the editor and the next window.
    assert {a["app"] for a in wire.activities()} == {"OpEditor", "OpOther"}

    api = json.dumps(server.get("/api/v1/agents")) + json.dumps(
        server.get(f"/api/v1/usage?{today()}&group_by=agent,app")
    )
    server.stop()
    assert_nowhere(
        forbidden,
        wire=wire.text(),
        api=api,
        database=database_text(server.database),
        database_files=files_text(server.database.parent, server.database.name + "*"),
        agent_state=files_text(tmp_path / "agent-state", "*"),
    )
    assert_nowhere(forbidden[:3], agent_log=out)
