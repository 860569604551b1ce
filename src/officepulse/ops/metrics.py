"""``GET /metrics``: the process's metrics in Prometheus' text format (prometheus-client).

Each process makes one ``Metrics`` (its own ``CollectorRegistry``, not the library's
global one: tests run several servers in one interpreter) and tells it what it runs
(``watch_gateway``, ``watch_panel``, ``watch_bus``). Counters and gauges are the parts'
plain numbers (ops/counts.py), read by a custom collector when the page is scraped, so
that the heartbeat path pays for no metric; the two latency histograms are
prometheus-client ``Histogram``s, observed once per commit and once per dashboard send.
Who may read the page is security/access.py's ``Access.METRICS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from officepulse import __version__
from officepulse.ops.counts import BusCounts, GatewayCounts, PanelCounts

# Seconds. A commit is one SQLite or PostgreSQL transaction (milliseconds, seconds when
# the store struggles); a dashboard's update is a websocket send behind its queue.
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FANOUT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

# Every family this module exports, for the Grafana dashboard's test (the histograms'
# series add _bucket, _sum and _count; counters _total).
GAUGES = (
    "officepulse_agents_connected",
    "officepulse_agents_backfilling",
    "officepulse_span_commits_pending",
    "officepulse_dashboards_connected",
)
COUNTERS = (
    "officepulse_heartbeats",
    "officepulse_spans_stored",
    "officepulse_spans_refused",
    "officepulse_connections_refused",
    "officepulse_agent_websockets",
    "officepulse_dashboards_refused",
    "officepulse_bus_messages",
    "officepulse_bus_errors",
)
HISTOGRAMS = ("officepulse_ingest_commit_seconds", "officepulse_fanout_seconds")


class _Parts(Collector):
    """Reads the parts' numbers at scrape time."""

    def __init__(self) -> None:
        self.gateway: Callable[[], GatewayCounts] | None = None
        self.panel: Callable[[], PanelCounts] | None = None
        self.bus: Callable[[], BusCounts] | None = None

    def collect(self) -> Iterator[Metric]:
        if self.gateway is not None:
            yield from _gateway(self.gateway())
        if self.panel is not None:
            yield from _panel(self.panel())
        if self.bus is not None:
            yield from _bus(self.bus())


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _by_label(name: str, doc: str, label: str, counts: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def _gateway(c: GatewayCounts) -> Iterator[Metric]:
    yield _gauge(
        "officepulse_agents_connected", "Agents connected (welcomed) now", c.agents_connected
    )
    yield _gauge(
        "officepulse_agents_backfilling",
        "Agents sending spans their journal kept while away (journal back-fill)",
        c.agents_backfilling,
    )
    yield _gauge(
        "officepulse_span_commits_pending",
        "Span batches taken from agents and not yet durably stored",
        c.commits_pending,
    )
    yield _counter("officepulse_heartbeats", "Heartbeats received", c.heartbeats)
    yield _counter(
        "officepulse_spans_stored",
        "Spans written by ingest: each span of a batch once durably stored, each span a "
        "heartbeat starts",
        c.spans_stored,
    )
    yield _counter(
        "officepulse_spans_refused",
        "Spans of batches refused as implausible (core/plausible.py)",
        c.spans_refused,
    )
    yield _by_label(
        "officepulse_connections_refused",
        "Agent connections the server refused (admission, limits, handshake) or closed for "
        "breaking the protocol, by close code (docs/protocol.md)",
        "code",
        {str(code): count for code, count in c.refused.items()},
    )
    yield _by_label(
        "officepulse_agent_websockets",
        "Agent websockets admitted, by what served them: picows (gateway/wire.py) or "
        "aiohttp (agent_deflate, or a socket that could not be handed over)",
        "transport",
        c.transports,
    )


def _panel(c: PanelCounts) -> Iterator[Metric]:
    yield _gauge(
        "officepulse_dashboards_connected",
        "Live dashboards (/browser websockets) open now",
        c.dashboards_connected,
    )
    yield _counter(
        "officepulse_dashboards_refused",
        "Dashboards refused at max_browsers or max_browsers_per_ip (HTTP 503)",
        c.dashboards_refused,
    )


def _bus(c: BusCounts) -> Iterator[Metric]:
    messages = CounterMetricFamily(
        "officepulse_bus_messages", "Bus messages, by direction", labels=["direction"]
    )
    messages.add_metric(["published"], c.published)
    messages.add_metric(["delivered"], c.delivered)
    yield messages
    yield _counter(
        "officepulse_bus_errors",
        "Bus publishes that failed and subscribers' handlers that raised",
        c.errors,
    )


class Metrics:
    """One process's metrics: its registry, the latency histograms its parts observe,
    and the ``/metrics`` handler."""

    def __init__(self, process: str) -> None:
        self.registry = CollectorRegistry()
        self.commit_seconds = Histogram(
            "officepulse_ingest_commit_seconds",
            "Time from a span batch handed to the store until it is durable (then acked)",
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.fanout_seconds = Histogram(
            "officepulse_fanout_seconds",
            "Time from a presence change reaching the hub until a dashboard was sent it",
            buckets=FANOUT_BUCKETS,
            registry=self.registry,
        )
        self._parts = _Parts()
        self.registry.register(self._parts)
        self.registry.register(_Info(process))
        # CPU, memory, open descriptors, Python's garbage collector: what every
        # service's dashboard shows first.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def watch_gateway(self, counts: Callable[[], GatewayCounts]) -> None:
        self._parts.gateway = counts

    def watch_panel(self, counts: Callable[[], PanelCounts]) -> None:
        self._parts.panel = counts

    def watch_bus(self, counts: Callable[[], BusCounts]) -> None:
        self._parts.bus = counts

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/metrics", make_aiohttp_handler(self.registry))]


class _Info(Collector):
    def __init__(self, process: str) -> None:
        self.process = process

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("officepulse_build", "This officepulse process")
        info.add_metric([], {"version": __version__, "process": self.process})
        yield info
