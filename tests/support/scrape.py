"""Reading a server's /metrics as Prometheus does: prometheus-client's own text parser."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import WAIT
from tests.support.servers import ServerProcess


def scrape(server: ServerProcess, headers: dict[str, str] | None = None) -> dict[str, float]:
    """Every sample of the server's /metrics: ``name{label="v",...}`` (labels sorted) ->
    value."""
    request = urllib.request.Request(server.url + "/metrics", headers=headers or {})
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples
