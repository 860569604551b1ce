"""Reconnecting for real: a real server process, many real agent links in this process
(each its own websocket and journal), the server killed with SIGKILL and started again on
the same port; and a gateway at its connection limit turning an agent away with 4013 and a
suggested delay. Asserts what happened, never how long it took."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from officepulse.agent.journal import Journal
from officepulse.agent.link import Link
from tests.support.links import hello, record, running, until
from tests.support.servers import ServerProcess, start_server

AGENTS = 40


def port_of(server: ServerProcess) -> int:
    return int(server.url.rsplit(":", 1)[1])


def seconds_by_agent(server: ServerProcess) -> dict[str, float]:
    now = datetime.now(UTC)
    start = (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = server.get(f"/api/v1/usage?start={start}&end={end}&group_by=agent")["rows"]
    return {r["agent"]: r["seconds"] for r in rows}


async def test_every_agent_comes_back_after_the_server_is_killed_and_started_again(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path)
    links = [
        Link(server.ws_url, hello(f"agent-{i:02d}"), Journal(":memory:")) for i in range(AGENTS)
    ]
    for link in links:
        record(link.journal, 5)
        link.notify()
    tasks = [asyncio.create_task(link.run()) for link in links]
    again: ServerProcess | None = None
    try:
        await until(lambda: all(link.connected.is_set() for link in links), "all to connect", 60)
        await asyncio.wait_for(asyncio.gather(*(link.flush() for link in links)), 60)
        server.proc.kill()  # SIGKILL: no close frames, the sockets just end
        server.proc.wait()
        await until(lambda: not any(link.connected.is_set() for link in links), "all to notice")
        # Spans go on being recorded offline; each agent tries until its next window is
        # the cap (attempts 1-3: up to 0.5, 1, 2 s; the 4th up to 4 s), as after a long
        # outage.
        for link in links:
            record(link.journal, 3)
            link.notify()
        await until(
            lambda: all(link.failed_attempts >= 3 for link in links),
            "every agent to fail three attempts",
            60,
        )
        again = start_server(tmp_path, "--port", str(port_of(server)))
        await until(lambda: all(link.connected.is_set() for link in links), "all to return", 60)
        await asyncio.wait_for(asyncio.gather(*(link.flush() for link in links)), 60)
        # Nothing lost, nothing doubled: 8 one-second spans each.
        assert seconds_by_agent(again) == {f"agent-{i:02d}": 8.0 for i in range(AGENTS)}
        # Each came back once: the log may lag behind the server, so its lines are waited
        # for, then counted.
        await asyncio.to_thread(again.wait_for_log, " connected from ", count=AGENTS)
        assert len(again.logged(" connected from ")) == AGENTS
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        server.stop()
        if again is not None:
            again.stop()


async def test_a_full_gateway_turns_an_agent_away_until_a_place_is_free(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="officepulse.agent.link")
    server = start_server(tmp_path, "--max-connections", "2")
    first, second, third = (
        Link(server.ws_url, hello(name), Journal(":memory:")) for name in ("one", "two", "three")
    )
    turned_away: asyncio.Task[None] | None = None
    try:
        async with running(first):
            async with running(second):
                await until(lambda: first.connected.is_set(), "the first in")
                await until(lambda: second.connected.is_set(), "the second in")
                turned_away = asyncio.create_task(third.run())
                await until(
                    lambda: any("reconnecting in" in r.getMessage() for r in caplog.records),
                    "the agent turned away to say when it tries again",
                )
                assert not third.connected.is_set()
                assert server.logged("closing with 4013")
                said = [r.getMessage() for r in caplog.records]
                assert any(
                    "the server is full: closed during the handshake (4013: retry-after=2: "
                    "this server takes 2 agents at most; try again soon)" in m
                    for m in said
                ), said
                # Each retry waits what the gateway suggested, and up to as much again.
                waits = [
                    float(m.group(1))
                    for m in (re.search(r"reconnecting in ([\d.]+) s", s) for s in said)
                    if m
                ]
                assert all(2.0 <= w <= 4.0 for w in waits), waits
            # The second has gone: its place is free, and the one turned away gets in.
            await until(third.connected.is_set, "the third to get in once a place is free")
    finally:
        if turned_away is not None:
            turned_away.cancel()
            await asyncio.gather(turned_away, return_exceptions=True)
        server.stop()
