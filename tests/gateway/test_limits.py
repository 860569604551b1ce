"""Limits over real connections: a real server with small limits, agents from
several loopback addresses (127.0.0.x are all this machine), each violation
closing only the offender with its code while another agent is served and
counted exactly. Plus the token bucket itself, as a property."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, suppress
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from officepulse.gateway.limits import LimitRules, Limits, TokenBucket
from officepulse.protocol.errors import CloseCode
from tests.support import paths
from tests.support.agent_messages import DAY, hello, recv, spans
from tests.support.processes import OFFICEPULSE, clean_env, wait_until
from tests.support.servers import ServerProcess, start_server


def beat(second: int) -> str:
    ts = (DAY + timedelta(seconds=second)).isoformat()
    return json.dumps({"type": "heartbeat", "ts": ts, "activity": {"app": "Flood"}})


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    """Every connection a test opens is closed at its end, whatever happened."""
    async with AsyncExitStack() as opened:
        yield opened


async def raw(server: ServerProcess, source: str, stack: AsyncExitStack) -> ClientConnection:
    return await stack.enter_async_context(connect(server.ws_url, local_addr=(source, 0)))


async def agent(
    server: ServerProcess, agent_id: str, source: str, stack: AsyncExitStack
) -> ClientConnection:
    ws = await raw(server, source, stack)
    await ws.send(hello(agent_id))
    assert json.loads(await recv(ws))["type"] == "welcome"
    return ws


async def closed_with(ws: ClientConnection) -> tuple[int | None, str, list[dict[str, object]]]:
    """Read until the server closes: its close code, reason, and what it sent before."""
    got = []
    try:
        while True:
            got.append(json.loads(await recv(ws)))
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
        return (rcvd.code if rcvd else None), (rcvd.reason if rcvd else ""), got


async def pinged_until_closed(ws: ClientConnection) -> tuple[int | None, str]:
    """Ping every 0.2 s, reading the answers, until the server closes: its code and reason."""
    try:
        for ping in range(1_000):
            await ws.send(json.dumps({"type": "ping", "id": ping}))
            with suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    while True:
                        await ws.recv()
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
        return (rcvd.code if rcvd else None), (rcvd.reason if rcvd else "")
    raise AssertionError("the server never closed a connection that kept flooding its address")


async def served_exactly(server: ServerProcess, ws: ClientConnection, count: int) -> None:
    """The well-behaved agent: its batch is acknowledged and counted once."""
    await ws.send(spans(1, count))
    assert json.loads(await recv(ws)) == {"type": "ack", "seq": count}
    await ws.send(json.dumps({"type": "ping", "id": 1}))
    assert json.loads(await recv(ws)) == {"type": "pong", "id": 1}
    rows = server.get(
        "/api/v1/usage?start=2026-11-27T00:00:00Z&end=2026-11-28T00:00:00Z&group_by=agent,app"
    )["rows"]
    mine = [(r["app"], r["seconds"]) for r in rows if r["agent"] == "calm"]
    assert mine == [("Code", 30.0 * count)]


def logged(server: ServerProcess, needle: str) -> list[str]:
    return [line for line in server.log if needle in line]


def start_limited(tmp_path: Path, rate_per_ip: int) -> ServerProcess:
    return start_server(
        tmp_path,
        "--rate-per-agent",
        "20",
        "--burst-per-agent",
        "30",
        "--rate-per-ip",
        str(rate_per_ip),
        "--burst-per-ip",
        "40",
        "--max-connections",
        "4",
        "--max-connections-per-ip",
        "2",
        "--handshake-timeout",
        "1",
        "--max-frame-bytes",
        "1048576",  # room for a batch over the most spans
    )


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_limited(tmp_path, rate_per_ip=20)
    yield srv
    srv.stop()


@pytest.fixture
def ip_limited(tmp_path: Path) -> Iterator[ServerProcess]:
    """The address's allowance refills at 1 a second: a flood from it overflows however
    slowly a loaded machine sends it (at 20 a second, 50 messages sent over half a second
    fit the burst of 40 and the test waited for a close that never came)."""
    srv = start_limited(tmp_path, rate_per_ip=1)
    yield srv
    srv.stop()


async def test_a_flooding_agent_is_closed_and_the_others_are_counted_exactly(
    limited: ServerProcess, stack: AsyncExitStack
) -> None:
    calm = await agent(limited, "calm", "127.0.0.2", stack)
    flood = await agent(limited, "flood", "127.0.0.3", stack)
    for second in range(200):
        try:
            await flood.send(beat(second))
        except ConnectionClosed:
            break
    code, reason, got = await closed_with(flood)
    assert code == CloseCode.RATE_LIMITED
    assert reason.startswith("rate limit: more than 20 messages per second from this agent")
    assert got[-1]["type"] == "error"
    assert got[-1]["code"] == "rate-limited"
    await served_exactly(limited, calm, 5)
    assert "127.0.0.3 (agent flood)" in limited.wait_for_log("closing with 4429")
    await calm.close()
    # Logged after the flood's close: once it is read, so is every line before it.
    limited.wait_for_log("agent calm disconnected")
    assert len(logged(limited, "closing with 4429")) == 1


async def test_one_address_flooding_with_several_agents_is_limited_as_a_whole(
    ip_limited: ServerProcess, stack: AsyncExitStack
) -> None:
    limited = ip_limited
    calm = await agent(limited, "calm", "127.0.0.2", stack)
    # Two agents from one address, each under its own limit, over the address's together.
    one, two = (
        await agent(limited, "one", "127.0.0.4", stack),
        await agent(limited, "two", "127.0.0.4", stack),
    )
    codes = set()
    for second in range(25):
        for ws in (one, two):
            with suppress(ConnectionClosed):
                await ws.send(beat(second))
    for ws in (one, two):
        # Each keeps asking, 5 times a second (well under its own 20): on a machine so slow
        # that the address's allowance refilled meanwhile, the next messages overflow it.
        code, reason = await pinged_until_closed(ws)
        codes.add(code)
        if code == CloseCode.RATE_LIMITED:
            assert "from 127.0.0.4" in reason
    assert CloseCode.RATE_LIMITED in codes
    await served_exactly(limited, calm, 3)


async def test_connections_over_the_caps_are_refused_and_the_others_stay(
    limited: ServerProcess, stack: AsyncExitStack
) -> None:
    a1, a2 = (
        await agent(limited, "a1", "127.0.0.5", stack),
        await agent(limited, "a2", "127.0.0.5", stack),
    )
    third = await raw(limited, "127.0.0.5", stack)
    code, reason, _ = await closed_with(third)
    assert code == CloseCode.TOO_MANY_CONNECTIONS
    assert reason == "too many connections from 127.0.0.5: 2 at most; retry later"
    b1 = await agent(limited, "b1", "127.0.0.6", stack)
    calm = await agent(limited, "calm", "127.0.0.7", stack)  # the fourth: the server's cap
    over = await raw(limited, "127.0.0.8", stack)
    code, reason, _ = await closed_with(over)
    # Full for everyone: come back soon, after the delay the reason suggests.
    assert code == CloseCode.TRY_AGAIN_SOON
    assert reason == "retry-after=2: this server takes 4 agents at most; try again soon"
    for i, ws in enumerate((a1, a2, b1)):
        await ws.send(json.dumps({"type": "ping", "id": i}))
        assert json.loads(await recv(ws)) == {"type": "pong", "id": i}
    await served_exactly(limited, calm, 2)
    # A connection that ends frees its place.
    await a1.close()
    limited.wait_for_log("agent a1 disconnected")
    again = await agent(limited, "a1", "127.0.0.5", stack)
    await again.close()


async def test_a_connection_that_says_no_hello_is_closed_in_time(
    limited: ServerProcess, stack: AsyncExitStack
) -> None:
    calm = await agent(limited, "calm", "127.0.0.2", stack)
    silent = await raw(limited, "127.0.0.9", stack)
    code, reason, _ = await closed_with(silent)
    assert (code, reason) == (CloseCode.HANDSHAKE_TIMEOUT, "no hello within 1 s")
    # The welcomed agent has been quiet for longer than that and is still served.
    await served_exactly(limited, calm, 4)
    limited.wait_for_log("closing with 4408")
    await calm.close()
    limited.wait_for_log("agent calm disconnected")  # logged after: the count is complete
    assert len(logged(limited, "closing with 4408")) == 1


async def test_a_batch_over_the_most_spans_is_refused_by_name(
    limited: ServerProcess, stack: AsyncExitStack
) -> None:
    calm = await agent(limited, "calm", "127.0.0.2", stack)
    big = await agent(limited, "big", "127.0.0.10", stack)
    await big.send(spans(1, 1001))
    code, _reason, got = await closed_with(big)
    assert code == CloseCode.INVALID_MESSAGE
    assert "$.spans" in got[-1]["message"]
    assert "1000" in got[-1]["message"]
    await served_exactly(limited, calm, 1)


# -- the rules themselves -------------------------------------------------------------


@given(
    rate=st.floats(0.5, 1000),
    burst=st.integers(1, 100),
    gaps=st.lists(st.floats(0, 2), max_size=200),
)
def test_a_bucket_never_lets_more_through_than_burst_plus_rate_times_time(
    rate: float, burst: int, gaps: list[float]
) -> None:
    bucket = TokenBucket.full(rate, burst, 0.0)
    now, taken = 0.0, 0
    for gap in gaps:
        now += gap
        taken += bucket.take(now)
        assert taken <= burst + rate * now + 1e-6
    # And it refuses nothing while the sender keeps to the rate.
    steady = TokenBucket.full(rate, burst, 0.0)
    assert all(steady.take(i / rate) for i in range(50))


def test_a_clock_that_steps_back_adds_no_tokens() -> None:
    bucket = TokenBucket.full(1.0, 1, 100.0)
    assert bucket.take(100.0)
    assert not bucket.take(50.0)
    assert not bucket.take(100.5)
    assert bucket.take(101.0)


def test_connections_are_counted_back_when_they_end() -> None:
    limits = Limits(LimitRules(1.0, 1, 1000.0, 1000, 2, 1))
    first, refused = limits.admit("a", 0.0)
    assert first is not None
    assert refused is None
    assert limits.admit("a", 0.0)[1] is not None  # per address
    assert limits.admit("b", 0.0)[0] is not None
    over = limits.admit("c", 0.0)[1]
    assert over is not None
    assert over.code is CloseCode.TRY_AGAIN_SOON
    limits.release("a")
    assert limits.admit("c", 0.0)[0] is not None


def test_forgotten_addresses_keep_the_table_bounded() -> None:
    limits = Limits(LimitRules(1.0, 1, 10.0, 10, 10**6, 10), sweep_at=8)
    for i in range(100):
        ip = f"10.0.0.{i}"
        assert limits.admit(ip, float(i))[0] is not None
        limits.release(ip)
    assert len(limits._peers) <= 8


def test_the_agent_backs_off_when_told_it_sends_too_much(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--rate-per-agent", "1", "--burst-per-agent", "1")
    log = tmp_path / "agent.log"
    with log.open("w") as out:
        agent = subprocess.Popen(
            [
                OFFICEPULSE,
                "--env-file",
                "/dev/null",
                "agent",
                "--server-url",
                srv.ws_url,
                "--state-dir",
                str(tmp_path / "agent-state"),
                "--log-level",
                "debug",
                "--source",
                "scripted",
                "--timeline",
                str(paths.DATA / "bob-youtube.jsonl"),
                "--speed",
                "0",
                "--start",
                "2026-11-27T20:00:00+00:00",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(),
        )
    try:
        line = wait_until(
            lambda: re.search(r"reconnecting in ([\d.]+) s", log.read_text()), what="a retry"
        )
    finally:
        agent.terminate()
        agent.wait(10)
        srv.stop()
    assert "the server asked to back off: rate limit" in log.read_text()
    assert len(logged(srv, "closing with 4429")) == 1
    # The longest back-off (15-30 s), not the quick retry after a lost connection.
    assert float(line.group(1)) >= 15
