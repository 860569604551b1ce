"""Running officepulse as a service: metrics (``/metrics``), health (``/healthz``,
``/readyz``) and request ids for the logs, each a small part any process wires in."""
