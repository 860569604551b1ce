"""A scaled-out office for real, as ``make cluster`` starts it (tests/support/cluster.py):
NATS, PostgreSQL, three ``officepulse gateway`` processes, an ``officepulse panel`` and
HAProxy (deploy/haproxy/officepulse.cfg) in front, all real processes, started once for
the module. Many agents are in-process links (the agent's own Link and Journal, each its
own websocket), a few are protocol clients pinned to one gateway.

Waits have deadlines (the issue's "within N s" are those deadlines); nothing asserts on
how long something took. The figures each test saw are printed (``-s`` shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import signal
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import psycopg
import pytest
from websockets.sync.client import ClientConnection, connect

from officepulse.agent.journal import Journal
from officepulse.agent.link import Link
from officepulse.bus.nats_bus import NatsBus
from officepulse.core.spans import Span
from officepulse.gateway.agents import LEASE_SECONDS
from officepulse.gateway.sessions import CLAIMED, Claim
from officepulse.protocol.messages import Activity
from officepulse.server.leases import SWEEP_EVERY
from tests.support import paths
from tests.support.cluster import Cluster, block, running_cluster
from tests.support.fake_agent import FakeAgent, fake_agent
from tests.support.links import BASE_MS, hello, until
from tests.support.ports import free_port
from tests.support.processes import WAIT, Process, clean_env, stop, wait_until
from tests.support.scrape import scrape
from tests.support.servers import ServerProcess

pytest_plugins = ["tests.support.postgres"]

if TYPE_CHECKING:
    from tests.support.postgres import PostgresCluster

AGENTS = 60  # 20 a gateway when evenly spread


@pytest.fixture(scope="module")
def cluster(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    database = postgres_cluster.create_database()
    root = tmp_path_factory.mktemp("cluster")
    try:
        with running_cluster(root, database=database) as running:
            yield running
    finally:
        postgres_cluster.drop_database(database)


# -- agents -------------------------------------------------------------------------


@dataclass
class Fleet:
    """In-process agents connected through HAProxy, each recording one-second spans of
    apps ``<prefix>0``..``<prefix>2`` into its journal."""

    prefix: str
    links: list[Link]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    recorded: Counter[str] = field(default_factory=Counter)

    def record(self, count: int) -> None:
        for link in self.links:
            first = link.journal.next_seq
            spans = []
            for seq in range(first, first + count):
                app = f"{self.prefix}{seq % 3}"
                start = BASE_MS + seq * 1000
                spans.append(Span(start, start + 1000, Activity(app=app), "UTC"))
                self.recorded[app] += 1
            link.journal.append(spans, None)
            link.notify()

    def all_connected(self) -> bool:
        return all(link.connected.is_set() for link in self.links)

    async def flushed(self) -> None:
        await asyncio.wait_for(asyncio.gather(*(link.flush() for link in self.links)), WAIT)


@contextlib.asynccontextmanager
async def fleet(cluster: Cluster, prefix: str, count: int = AGENTS) -> AsyncIterator[Fleet]:
    links = [
        Link(cluster.ws_url, hello(f"{prefix}-{i:02d}"), Journal(":memory:")) for i in range(count)
    ]
    agents = Fleet(prefix, links)
    agents.tasks = [asyncio.create_task(link.run()) for link in links]
    try:
        await until(agents.all_connected, f"all {count} agents to connect", WAIT)
        yield agents
    finally:
        for task in agents.tasks:
            task.cancel()
        await asyncio.gather(*agents.tasks, return_exceptions=True)


def connected_per_gateway(cluster: Cluster) -> dict[str, int]:
    """Each gateway's own count of welcomed agents (its /metrics)."""
    return {
        name: int(scrape(gateway)["officepulse_agents_connected"])
        for name, gateway in cluster.gateways.items()
    }


def seconds_by_app(cluster: Cluster, prefix: str) -> dict[str, float]:
    now = datetime.now(UTC)
    start = (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = cluster.panel_process.get(f"/api/v1/usage?start={start}&end={end}&group_by=app")["rows"]
    return {r["app"]: r["seconds"] for r in rows if r["app"].startswith(prefix)}


def agents_online(cluster: Cluster, prefix: str) -> dict[str, bool]:
    agents = cluster.panel_process.get("/api/v1/agents")["agents"]
    return {a["id"]: a["online"] for a in agents if a["id"].startswith(prefix)}


def leases_of(database: str, agent_ids: list[str]) -> dict[str, tuple[bool, str | None]]:
    """Each agent's row: online, and the gateway lease that holds it (server/leases.py)."""
    with psycopg.connect(database, autocommit=True) as db:
        rows = db.execute(
            "SELECT id, online, lease FROM agents WHERE id = ANY(%s)", (agent_ids,)
        ).fetchall()
    return {str(i): (bool(o), None if lease is None else str(lease)) for i, o, lease in rows}


def lease_exists(database: str, lease: str | None) -> bool:
    with psycopg.connect(database, autocommit=True) as db:
        found = db.execute("SELECT 1 FROM gateway_leases WHERE id = %s", (lease,)).fetchall()
    return bool(found)


def holder(cluster: Cluster, agent_id: str) -> str | None:
    """The gateway whose log says it welcomed ``agent_id`` last."""
    found = [
        name for name, gateway in cluster.gateways.items() if gateway.logged(f"agent {agent_id} (")
    ]
    return found[-1] if found else None


# -- dashboards ---------------------------------------------------------------------


class Dashboard:
    """A dashboard's websocket on the panel (through HAProxy), its messages read in a
    thread as they come."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[str] = []

    def read(self) -> None:
        with contextlib.suppress(Exception):
            for message in self.ws:
                self.messages.append(str(message))

    def saw(self, *needles: str) -> bool:
        return any(all(n in m for n in needles) for m in list(self.messages))


@contextlib.contextmanager
def dashboards(cluster: Cluster, count: int) -> Iterator[list[Dashboard]]:
    import threading

    with contextlib.ExitStack() as stack:
        boards = [
            Dashboard(stack.enter_context(connect(cluster.browser_url))) for _ in range(count)
        ]
        for board in boards:
            threading.Thread(target=board.read, daemon=True).start()
        yield boards


# -- the tests ----------------------------------------------------------------------


async def test_agents_spread_evenly_across_three_gateways_through_haproxy(
    cluster: Cluster,
) -> None:
    async with fleet(cluster, "spread") as agents:
        counts = await asyncio.to_thread(
            wait_until,
            lambda: (c := connected_per_gateway(cluster)) and sum(c.values()) == AGENTS and c,
            WAIT,
            f"the gateways to count all {AGENTS} agents",
        )
        print(f"\nagents per gateway (leastconn through HAProxy): {counts}")
        each = AGENTS / len(cluster.gateways)
        assert all(0.8 * each <= n <= 1.2 * each for n in counts.values()), counts
        # HAProxy's own count agrees: it balances by what it holds.
        stats = cluster.haproxy_stats()
        assert {name: int(stats[name]["scur"]) for name in counts} == counts
        agents.record(6)
        await agents.flushed()
        assert seconds_by_app(cluster, "spread") == {
            app: float(n) for app, n in agents.recorded.items()
        }


async def test_every_dashboard_sees_every_agents_change_whichever_gateway_holds_it(
    cluster: Cluster,
) -> None:
    # Three dashboards on the panel (through HAProxy); one agent pinned to each gateway
    # (its own address, not HAProxy's).
    with dashboards(cluster, 3) as boards, contextlib.ExitStack() as stack:
        pinned = {
            name: stack.enter_context(fake_agent(gateway, f"desk-{name}", f"Desk {name}"))
            for name, gateway in cluster.gateways.items()
        }
        for name, agent in pinned.items():
            await asyncio.to_thread(agent.beat, f"Editor-{name}", "notes.txt")
        for name, agent in pinned.items():
            await asyncio.to_thread(agent.beat, f"Browser-{name}", "a page")
        for board in boards:
            for name in pinned:
                needles = (f'id="agent-desk-{name}"', f"Browser-{name}")
                await asyncio.to_thread(
                    wait_until,
                    functools.partial(board.saw, *needles),
                    WAIT,
                    f"dashboard to show desk-{name}'s switch to Browser-{name}",
                )


async def test_a_killed_gateways_agents_reconnect_elsewhere_and_those_that_do_not_go_offline(
    cluster: Cluster,
) -> None:
    async with fleet(cluster, "kill") as agents:
        agents.record(9)
        await agents.flushed()
        victim = "g1"
        on_victim = [
            link for link in agents.links if holder(cluster, link.hello.agent_id) == victim
        ]
        assert on_victim, "leastconn gave the first gateway no agent"
        # Three agents pinned to it that will not come back (their computers went off
        # with it, say): their leases lapse.
        stranded = [f"stranded-{i}" for i in range(3)]
        with dashboards(cluster, 1) as (board,), contextlib.ExitStack() as stack:
            for agent_id in stranded:
                agent = stack.enter_context(
                    fake_agent(cluster.gateways[victim], agent_id, agent_id)
                )
                await asyncio.to_thread(agent.beat, "stranded-app")
            assert all(agents_online(cluster, "stranded").values())
            killed_at = time.monotonic()
            cluster.kill(victim)
            # More spans while they are away, sent wherever they reconnect.
            agents.record(6)
            # Back within 10 s on the other two gateways (the figure): each
            # welcomed by a survivor.
            survivors = [g for name, g in cluster.gateways.items() if name != victim]

            def elsewhere() -> bool:
                return all(
                    any(g.logged(f"agent {link.hello.agent_id} (") for g in survivors)
                    for link in on_victim
                )

            await asyncio.to_thread(
                wait_until, elsewhere, 10, "the killed gateway's agents welcomed by the others"
            )
            reconnected = time.monotonic() - killed_at
            ids = {link.hello.agent_id: True for link in agents.links}
            await asyncio.to_thread(
                wait_until,
                lambda: agents_online(cluster, "kill") == ids,
                10,
                "every agent shown online on the panel again",
            )
            shown_online = time.monotonic() - killed_at
            # The stranded ones: offline within 15 s of the kill, by lease.
            await asyncio.to_thread(
                wait_until,
                lambda: agents_online(cluster, "stranded") == dict.fromkeys(stranded, False),
                15,
                "the killed gateway's stranded agents shown offline (their leases lapsed)",
            )
            offline_after = time.monotonic() - killed_at
            # And the dashboards show them so (the sweep published their views).
            for agent_id in stranded:
                needles = (f'id="agent-{agent_id}"', 'class="person offline')
                await asyncio.to_thread(
                    wait_until,
                    functools.partial(board.saw, *needles),
                    WAIT,
                    f"the dashboard to show {agent_id} offline",
                )
            # The sweep that ended the stranded ones' leases left alone those that had
            # reconnected: all still online.
            assert agents_online(cluster, "kill") == ids
        await agents.flushed()
        print(
            f"\nkill -9 of {victim} ({len(on_victim)} of {AGENTS} agents): all reconnected "
            f"after {reconnected:.1f} s, all online on the panel after {shown_online:.1f} s; "
            f"3 agents that did not come back shown offline after {offline_after:.1f} s"
        )
        # Per-app totals exact: nothing lost, nothing doubled.
        assert seconds_by_app(cluster, "kill") == {
            app: float(n) for app, n in agents.recorded.items()
        }
        sweepers = [*survivors, cluster.panel_process]
        assert any(g.logged("lease lapsed") for g in sweepers)
    # Back to three gateways for the tests after this one.
    await asyncio.to_thread(cluster.start_gateway, victim)
    await asyncio.to_thread(
        wait_until,
        lambda: victim in cluster.servers_up(),
        WAIT,
        f"HAProxy to send agents to {victim} again",
    )


async def test_one_agent_connecting_to_two_gateways_keeps_one_live_session(
    cluster: Cluster,
) -> None:
    first, second = cluster.gateways["g2"], cluster.gateways["g3"]
    with fake_agent(first, "twin", "Twin") as old:
        await asyncio.to_thread(old.beat, "twin-app")
        with fake_agent(second, "twin", "Twin") as new:
            await asyncio.to_thread(new.beat, "twin-app")
            # The older session ends (4009), on the other gateway.
            closed = await asyncio.to_thread(_closed_with, old)
            assert closed == 4009
            first.wait_for_log(
                "disconnecting agent twin: replaced by a newer connection of this agent on "
                "gateway g3"
            )
            # Still online: the gateway that let it go wrote nothing of it.
            await asyncio.to_thread(new.beat, "twin-app-2")
            assert agents_online(cluster, "twin") == {"twin": True}
            assert [g for g in ("g2", "g3") if holder(cluster, "twin") == g] == ["g3"]
        await asyncio.to_thread(
            wait_until,
            lambda: agents_online(cluster, "twin") == {"twin": False},
            WAIT,
            "the agent offline once its one session ended",
        )


async def test_an_agent_swept_while_still_connected_is_renewed_and_shown_online_again(
    cluster: Cluster,
) -> None:
    holder_gateway = cluster.gateways["g3"]
    late = "agent late: its lease lapsed while connected here"
    with (
        dashboards(cluster, 1) as (board,),
        fake_agent(holder_gateway, "late", "Late") as agent,
        psycopg.connect(cluster.database, autocommit=True) as db,
    ):
        await asyncio.to_thread(agent.beat, "late-app")

        # As if g3's row of it had been written under a lease of g3's that lapsed and
        # ended since (g3 writes it again only on a heartbeat, which it does not send now).
        db.execute("UPDATE agents SET last_seen_ms = 0, lease = 'g3/ended' WHERE id = 'late'")
        # A sweep takes it, and says so to g3.
        await asyncio.to_thread(holder_gateway.wait_for_log, late, WAIT)
        # The sweep's offline view and the holder's online one may follow each other so
        # closely that the dashboard's coalescing queue sends only the latter: what counts
        # is where it ends.

        def shown_online_again() -> bool:
            mine = [m for m in list(board.messages) if 'id="agent-late"' in m]
            # The card's classes: "person", its state (active, idle, ...), then online.
            return bool(mine) and re.search(r'class="person [^"]*\bonline\b', mine[-1]) is not None

        await asyncio.to_thread(
            wait_until, shown_online_again, WAIT, "the dashboard to show it online again"
        )
        # Its row online again, held by g3's lease.
        _, lease = await asyncio.to_thread(
            wait_until,
            lambda: (row := leases_of(cluster.database, ["late"])["late"])[0] and row,
            WAIT,
            "its row online again",
        )
        assert lease is not None
        assert lease.startswith("g3/")
        assert lease_exists(cluster.database, lease)
        assert agents_online(cluster, "late") == {"late": True}


async def test_a_living_gateways_agents_are_not_swept_however_old_their_rows(
    cluster: Cluster,
) -> None:
    """A starved gateway's writes of its agents' rows come late: its agents are still
    never swept while it lives (issue 12's reconnect storm)."""
    gateway = cluster.gateways["g2"]
    living = [f"living-{i}" for i in range(3)]
    with (
        contextlib.ExitStack() as stack,
        psycopg.connect(cluster.database, autocommit=True) as db,
    ):
        agents = [stack.enter_context(fake_agent(gateway, a, a)) for a in living]
        for agent in agents:
            await asyncio.to_thread(agent.beat, "living-app")
        assert agents_online(cluster, "living") == dict.fromkeys(living, True)
        # Round after round, a sweep runs while their rows are far in the past: each
        # round's proof is a row no lease holds, written as long ago (one left from before
        # the leases), which the same sweeps take.
        for round_ in range(3):
            stale = f"stale-{round_}"

            def age() -> None:
                # Again at every poll: g2 writes "last seen" on heartbeats.
                db.execute("UPDATE agents SET last_seen_ms = 0 WHERE id = ANY(%s)", (living,))

            with db.transaction():
                age()
                db.execute(
                    "INSERT INTO agents (id, name, host, platform, version, tz, online, "
                    "last_seen_ms) VALUES (%s, %s, 'h', 'Linux', '1', 'UTC', true, 0)",
                    (stale, stale),
                )

            def stale_swept(stale: str = stale) -> bool:
                age()
                return agents_online(cluster, stale) == {stale: False}

            await asyncio.to_thread(wait_until, stale_swept, WAIT, f"a sweep to take {stale}")
            assert agents_online(cluster, "living") == dict.fromkeys(living, True)
        for process in [*cluster.gateways.values(), cluster.panel_process]:
            assert not [line for line in process.logged("lease lapsed") if "living-" in line]
        assert not [line for line in gateway.logged("while connected here") if "living-" in line]
        # Their connections were never touched.
        for agent in agents:
            await asyncio.to_thread(agent.beat, "living-app-2")


async def test_a_dead_gateways_agent_whose_hello_is_being_taken_elsewhere_is_not_swept(
    cluster: Cluster,
) -> None:
    """A storm's hellos wait seconds for their rows to be read and written: an agent of a
    dead gateway whose hello another gateway has admitted, but not yet read or written,
    is not swept meanwhile (its claim, published on admission, keeps it)."""
    gateway = cluster.gateways["g2"]
    dead = (
        "INSERT INTO agents (id, name, host, platform, version, tz, online, last_seen_ms, "
        "lease) VALUES (%s, %s, 'h', 'Linux', '1', 'UTC', true, 0, 'g0/dead') ON CONFLICT (id) "
        "DO UPDATE SET online = true, last_seen_ms = 0, lease = 'g0/dead'"
    )

    def swept(agent_id: str) -> bool:
        return not leases_of(cluster.database, [agent_id])[agent_id][0]

    with (
        psycopg.connect(cluster.database, autocommit=True) as db,
        psycopg.connect(cluster.database) as holding,
    ):
        # The sweeps run (past their quiet lease after the processes started).
        db.execute(dead, ("dead-before", "dead-before"))
        await asyncio.to_thread(wait_until, lambda: swept("dead-before"), WAIT, "a first sweep")
        # g2 has another agent's last rows queued (it just left), which its writer cannot
        # write: the agent's last span cannot be read (the hello's read after its
        # admission) ...
        with fake_agent(gateway, "left-before", "Left") as left:
            await asyncio.to_thread(left.beat, "left-app")
        holding.execute("LOCK TABLE spans IN ACCESS EXCLUSIVE MODE")
        hello_sent = {
            "type": "hello",
            "v": 1,
            "agent_id": "arriving",
            "name": "Arriving",
            "host": "laptop",
            "platform": "linux",
            "agent_version": "test",
            "tz": "UTC",
        }

        checked = threading.Event()

        def say_hello() -> str:
            with connect(gateway.ws_url, open_timeout=WAIT, proxy=None) as ws:
                ws.send(json.dumps(hello_sent))
                answer = str(json.loads(ws.recv(timeout=60))["type"])
                checked.wait(60)  # connected until its row was looked at
                return answer

        # Admitted, its claim is out (gateway/sessions.py) ...
        claims = NatsBus(cluster.nats.url)
        await claims.start()
        claimed = asyncio.Event()

        async def on_claim(payload: bytes) -> None:
            claim = msgspec.msgpack.decode(payload, type=Claim)
            if any(agent_id == "arriving" for agent_id, _ in claim.agents):
                claimed.set()

        try:
            await claims.subscribe(CLAIMED, on_claim)
            hello = asyncio.create_task(asyncio.to_thread(say_hello))
            async with asyncio.timeout(WAIT):
                await claimed.wait()
        finally:
            await claims.close()

        # ... and its own read waits for the table, not for the gateway's writer (which
        # may have rows of others queued, and wait on the table too: store/postgres.py
        # ``_fresh_for``).
        def hello_waits() -> bool:
            rows = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%%FROM spans WHERE agent_id = %% ORDER BY start_ms DESC LIMIT 1'"
            ).fetchall()
            return int(rows[0][0]) > 0

        def activity() -> str:
            rows = db.execute(
                "SELECT wait_event_type, wait_event, state, left(query, 160) "
                "FROM pg_stat_activity WHERE datname = current_database()"
            ).fetchall()
            return "what PostgreSQL is doing:\n" + "\n".join(map(str, rows))

        await asyncio.to_thread(
            wait_until, hello_waits, WAIT, "the hello to wait for its row", activity
        )
        # ... while its row says it is online on a gateway that died (no lease holds it),
        # and, as proof that sweeps ran meanwhile, a row of a gateway that died likewise.
        for agent_id in ("arriving", "dead-proof"):
            db.execute(dead, (agent_id, agent_id))
        # Read from the rows: the panel's pages and a sweep's view of what it took read
        # the spans too, and wait for them here.
        await asyncio.to_thread(
            wait_until, lambda: swept("dead-proof"), WAIT, "a sweep of the other dead agent"
        )
        assert leases_of(cluster.database, ["arriving"])["arriving"] == (True, "g0/dead")
        holding.rollback()  # the hello goes on
        welcomed = await asyncio.to_thread(
            wait_until,
            lambda: (
                (row := leases_of(cluster.database, ["arriving"])["arriving"])[1] != "g0/dead"
                and row
            ),
            WAIT,
            "its row written by g2",
        )
        checked.set()
        assert await asyncio.wait_for(hello, 60) == "welcome"
    online, lease = welcomed
    assert online
    assert lease is not None
    assert lease.startswith("g2/")
    for process in [*cluster.gateways.values(), cluster.panel_process]:
        assert not [line for line in process.logged("lease lapsed") if "arriving" in line]


async def test_a_gateway_stopped_past_its_lease_shows_its_agents_offline_then_online_again(
    cluster: Cluster,
) -> None:
    name = "g3"
    gateway = cluster.gateways[name]
    napping = ["nap-0", "nap-1"]
    with contextlib.ExitStack() as stack:
        agents = [stack.enter_context(fake_agent(gateway, a, a)) for a in napping]
        for agent in agents:
            await asyncio.to_thread(agent.beat, "nap-app")
        rows = leases_of(cluster.database, napping)
        (old,) = {lease for _, lease in rows.values()}
        assert old is not None
        assert old.startswith(f"{name}/")
        assert all(online for online, _ in rows.values())
        gateway.proc.send_signal(signal.SIGSTOP)
        try:
            # Its lease lapses: its agents are swept, by the panel or another gateway.
            await asyncio.to_thread(
                wait_until,
                lambda: agents_online(cluster, "nap") == dict.fromkeys(napping, False),
                LEASE_SECONDS + WAIT,
                "the stopped gateway's agents shown offline",
            )
            await asyncio.to_thread(
                wait_until,
                lambda: not lease_exists(cluster.database, old),
                WAIT,
                "its lapsed lease ended",
            )
        finally:
            gateway.proc.send_signal(signal.SIGCONT)

        def held_again() -> dict[str, tuple[bool, str | None]] | None:
            now = leases_of(cluster.database, napping)
            leases = {lease for _, lease in now.values()}
            fresh = len(leases) == 1 and old not in leases
            if fresh and all(online for online, _ in now.values()):
                return now
            return None

        rows = await asyncio.to_thread(
            wait_until, held_again, WAIT, "its agents online again under a new lease"
        )
        (new,) = {lease for _, lease in rows.values()}
        assert new is not None
        assert new.startswith(f"{name}/")
        assert lease_exists(cluster.database, new)
        gateway.wait_for_log(f"its lease {old} lapsed and was ended")
        assert agents_online(cluster, "nap") == dict.fromkeys(napping, True)
        # Their connections lived through it.
        for agent in agents:
            await asyncio.to_thread(agent.beat, "nap-app-2")
    await asyncio.to_thread(
        wait_until, lambda: name in cluster.servers_up(), WAIT, f"HAProxy to send agents to {name}"
    )


async def test_a_gateway_restarted_under_its_name_lets_its_old_agents_go(
    cluster: Cluster,
) -> None:
    name = "g2"
    reborn = [f"reborn-{i}" for i in range(3)]
    with contextlib.ExitStack() as stack:
        for agent_id in reborn:
            agent = stack.enter_context(fake_agent(cluster.gateways[name], agent_id, agent_id))
            await asyncio.to_thread(agent.beat, "reborn-app")
        (old,) = {lease for _, lease in leases_of(cluster.database, reborn).values()}
        # Killed and started again at once, under the same name, well within its lease.
        cluster.kill(name)
        gateway = await asyncio.to_thread(cluster.start_gateway, name)
        stack.close()
    # One of its agents comes back to it; the other two do not.
    with fake_agent(gateway, "reborn-0", "reborn-0") as back:
        await asyncio.to_thread(back.beat, "reborn-app")
        await asyncio.to_thread(
            wait_until,
            lambda: (
                agents_online(cluster, "reborn")
                == {"reborn-0": True, "reborn-1": False, "reborn-2": False}
            ),
            LEASE_SECONDS + WAIT,
            "the previous incarnation's agents that did not come back shown offline",
        )
        online, new = leases_of(cluster.database, ["reborn-0"])["reborn-0"]
        assert online
        assert new is not None
        assert new.startswith(f"{name}/")
        assert new != old
        assert lease_exists(cluster.database, new)
    await asyncio.to_thread(
        wait_until, lambda: name in cluster.servers_up(), WAIT, f"HAProxy to send agents to {name}"
    )


def _closed_with(agent: FakeAgent) -> int | None:
    with contextlib.suppress(Exception):
        while True:
            agent.ws.recv(timeout=WAIT)
    return agent.ws.close_code


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        return json.loads(response.read())


async def test_a_block_from_the_panel_closes_the_agent_on_whichever_gateway_holds_it(
    cluster: Cluster,
) -> None:
    async with fleet(cluster, "block", 6) as agents:
        target = agents.links[4]
        agent_id = target.hello.agent_id
        where = holder(cluster, agent_id)
        sent = time.monotonic()
        await asyncio.to_thread(block, cluster.url, agent_id)
        await until(lambda: not target.connected.is_set(), "the blocked agent's link to close", 1)
        print(f"\nblock of {agent_id} on {where}: closed {time.monotonic() - sent:.2f} s after")
        assert where is not None
        cluster.gateways[where].wait_for_log(
            f"disconnecting agent {agent_id}: this agent was blocked"
        )
        for name, gateway in cluster.gateways.items():
            if name != where:
                assert not gateway.logged(f"disconnecting agent {agent_id}")


async def test_presence_recovers_and_nothing_is_lost_when_nats_restarts(cluster: Cluster) -> None:
    async with fleet(cluster, "nats", 12) as agents:
        agents.record(3)
        await agents.flushed()
        with (
            dashboards(cluster, 1) as (board,),
            fake_agent(cluster.gateways["g2"], "nats-desk", "Desk") as desk,
        ):
            await asyncio.to_thread(desk.beat, "Desk-before")
            await asyncio.to_thread(
                wait_until, lambda: board.saw("Desk-before"), WAIT, "the first app"
            )
            cluster.nats.stop()
            agents.record(3)
            await agents.flushed()  # ingest goes on into PostgreSQL
            await asyncio.to_thread(desk.beat, "Desk-meanwhile")
            cluster.nats.start()
            await asyncio.to_thread(
                wait_until,
                lambda: board.saw('id="agent-nats-desk"', "Desk-meanwhile"),
                WAIT,
                "the dashboard to show what changed while NATS was away",
            )
            await asyncio.to_thread(desk.beat, "Desk-after")
            await asyncio.to_thread(
                wait_until, lambda: board.saw("Desk-after"), WAIT, "changes flow again"
            )
        assert seconds_by_app(cluster, "nats") == {
            app: float(n) for app, n in agents.recorded.items()
        }
        online = agents_online(cluster, "nats-")
        assert all(online[link.hello.agent_id] for link in agents.links), online


async def test_journals_hold_and_drain_when_postgresql_restarts(
    cluster: Cluster, postgres_cluster: PostgresCluster
) -> None:
    async with fleet(cluster, "pg", 12) as agents:
        agents.record(3)
        await agents.flushed()
        # What psycopg's pool says while it cannot connect, before any write gives up.
        gone = "error connecting in 'officepulse-store'"
        failing = {name: len(g.logged(gone)) for name, g in cluster.gateways.items()}
        postgres_cluster.stop("fast")
        try:
            agents.record(4)
            # The gateways' writes fail now; nothing is acknowledged: the journals hold it.
            await asyncio.to_thread(
                wait_until,
                lambda: all(
                    len(g.logged(gone)) > failing[name] for name, g in cluster.gateways.items()
                ),
                WAIT,
                "every gateway to find PostgreSQL gone",
                lambda: "\n".join(g.proc.tail(15) for g in cluster.gateways.values()),
            )
            assert all(link.journal.stats().waiting for link in agents.links)
            # An outage longer than a lease: the gateways cannot renew their leases, and
            # no sweep after it takes their agents for ones whose gateway died.
            await asyncio.sleep(LEASE_SECONDS + SWEEP_EVERY)
            assert all(link.journal.stats().waiting for link in agents.links)
        finally:
            postgres_cluster.start()
        await agents.flushed()
        assert seconds_by_app(cluster, "pg") == {
            app: float(n) for app, n in agents.recorded.items()
        }
        # No agent was swept offline for the outage: their gateways held their leases.
        online = agents_online(cluster, "pg-")
        assert all(online[link.hello.agent_id] for link in agents.links), online
        for process in [*cluster.gateways.values(), cluster.panel_process]:
            assert not [line for line in process.logged("lease lapsed") if "pg-" in line]


async def test_nginx_least_conn_balances_and_routes_like_haproxy(cluster: Cluster) -> None:
    port = free_port()
    nginx = await asyncio.to_thread(cluster.start_nginx, port)
    try:
        before = connected_per_gateway(cluster)
        links = [
            Link(f"ws://127.0.0.1:{port}/agent", hello(f"ngx-{i:02d}"), Journal(":memory:"))
            for i in range(30)
        ]
        tasks = [asyncio.create_task(link.run()) for link in links]
        try:
            await until(
                lambda: all(link.connected.is_set() for link in links), "30 agents through nginx"
            )
            counts = await asyncio.to_thread(
                wait_until,
                lambda: (
                    (c := connected_per_gateway(cluster))
                    and sum(c.values()) - sum(before.values()) == 30
                    and c
                ),
                WAIT,
                "the gateways to count the 30 agents",
            )
            added = {name: counts[name] - before.get(name, 0) for name in counts}
            print(f"\nagents per gateway (least_conn through nginx): {added}")
            assert all(8 <= n <= 12 for n in added.values()), added
            # Everything else goes to the panel.
            listed = {
                a["id"]
                for a in (await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/api/v1/agents"))[
                    "agents"
                ]
            }
            assert {link.hello.agent_id for link in links} <= listed
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        stop(nginx)


def test_make_cluster_serves_the_office_on_one_port_and_stops_it_all(tmp_path: Path) -> None:
    """What `make cluster` runs (with a free port instead of 8080), from the checkout."""
    port = free_port()
    proc = Process(
        [sys.executable, "-m", "tests.support.cluster", "--port", str(port)],
        name="make cluster",
        cwd=paths.ROOT,
        env=clean_env(),
    )
    try:
        proc.wait_for_log("officepulse cluster ready", timeout=2 * WAIT)
        url = f"http://127.0.0.1:{port}"
        with fake_agent(ServerProcess(proc, url, tmp_path), "tryout", "Tryout") as agent:
            agent.beat("Editor")
            assert [a["id"] for a in _get(f"{url}/api/v1/agents")["agents"]] == ["tryout"]
        database = proc.wait_for_log("  PostgreSQL ").split("host=", 1)[1].strip()
        logs = proc.wait_for_log("  logs, sockets ").split()[-1]
        proc.send_signal(signal.SIGTERM)  # as Ctrl-C: everything it started stops
        assert proc.wait(WAIT) == 0, proc.tail()
        assert proc.logged("stopping the cluster")
        assert not Path(database).exists()
        assert not Path(logs).exists()
    finally:
        stop(proc)
