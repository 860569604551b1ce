"""deploy/grafana/officepulse.json: every expression its charts and variables use names
only metrics a real server's /metrics exports (read with prometheus-client's parser), and
it has the charts people look for."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from officepulse.ops.metrics import COUNTERS, GAUGES, HISTOGRAMS
from officepulse.server.app import Server
from officepulse.settings import ServerSettings

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "officepulse.json"
# PromQL's own words (Prometheus's own series, ``up``, is allowed apart).
PROMQL = frozenset(
    {
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "rate",
        "irate",
        "increase",
        "histogram_quantile",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "offset",
        "bool",
    }
)


def _expressions(node: Any) -> list[str]:
    """Every PromQL expression in the dashboard: the panels' targets and the variables'
    queries."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            else:
                found += _expressions(value)
    elif isinstance(node, list):
        for item in node:
            found += _expressions(item)
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` reads: what is left once label matchers, ranges,
    strings, grouping labels, numbers and PromQL's words are taken out."""
    # A variable's label_values(metric, label): the label is no metric.
    bare = re.sub(r"label_values\(([^,)]*),[^)]*\)", r"\1", expr)
    bare = re.sub(r'"[^"]*"', "", bare)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(by|without)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\$\w+", "", bare)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare))
    return names - PROMQL


async def _exported(tmp_path: Path) -> set[str]:
    server = Server(ServerSettings(database=str(tmp_path / "g.sqlite3")))
    async with TestClient(TestServer(server.app())) as client:
        text = await (await client.get("/metrics")).text()
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":  # one with no sample yet (no refusal) still counts
            names.add(family.name + "_total")
    return names


def test_metric_names_are_found_in_expressions() -> None:
    assert metric_names(
        'histogram_quantile(0.99, sum by (le) (rate(officepulse_x_bucket{job=~"$job"}'
        "[$__rate_interval])))"
    ) == {"officepulse_x_bucket"}
    assert metric_names('label_values(officepulse_build_info{job=~"$job"}, instance)') == {
        "officepulse_build_info"
    }
    assert metric_names('sum by (code) (rate(a_total{code="4429"}[5m])) / b') == {"a_total", "b"}


async def test_every_expression_of_the_grafana_dashboard_names_an_exported_metric(
    tmp_path: Path,
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = _expressions(dashboard)
    assert len(expressions) > 15
    used = set().union(*(metric_names(e) for e in expressions))
    exported = await _exported(tmp_path)
    assert used - {"up"} <= exported, f"not exported: {sorted(used - {'up'} - exported)}"
    # The charts people expect: every officepulse family is on it.
    for name in GAUGES:
        assert name in used, name
    for name in COUNTERS:
        assert name + "_total" in used, name
    for name in HISTOGRAMS:
        assert name + "_bucket" in used, name
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= used
    titles = [p["title"] for p in dashboard["panels"] if p["type"] != "row"]
    assert len(titles) == len(set(titles))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["description"], panel["title"]
