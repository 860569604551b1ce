"""Drives a server with the real aw-client library, the way ActivityWatch's
watchers do. Run with the Python that has aw-client (.venv-aw); reads a plan as
JSON on stdin:

    {"host": "127.0.0.1", "port": 5600,
     "watchers": [{"client": "aw-watcher-window", "hostname": "alice-laptop",
                   "bucket": "aw-watcher-window_alice-laptop", "type": "currentwindow",
                   "queued": true,
                   "heartbeats": [{"timestamp": "...", "duration": 0, "data": {...},
                                   "pulsetime": 2.0}, ...]}]}

``queued`` watchers work as aw-watcher-window and aw-watcher-afk do:
``create_bucket(queued=True)`` and ``heartbeat(queued=True)``, which merges
heartbeats in the client and sends them from aw-client's request queue. The
others send each heartbeat at once, as aw-client-js does for aw-watcher-web.
Prints one JSON line: how many heartbeats each watcher handed to aw-client.
"""

from __future__ import annotations

import json
import sys
import time

from aw_client import ActivityWatchClient
from aw_core.models import Event


def drained(client: ActivityWatchClient) -> bool:
    queue = client.request_queue
    return queue._persistqueue.qsize() == 0 and queue._current is None


def wait_drained(client: ActivityWatchClient, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    calm = 0
    while time.monotonic() < deadline:
        calm = calm + 1 if drained(client) and client.request_queue.connected else 0
        if calm >= 3:
            return
        time.sleep(0.1)
    raise SystemExit(f"aw-client's queue did not drain within {timeout} s")


def run(plan: dict) -> dict:
    sent = {}
    for watcher in plan["watchers"]:
        client = ActivityWatchClient(
            watcher["client"], testing=True, host=plan["host"], port=plan["port"]
        )
        client.client_hostname = watcher["hostname"]  # what create_bucket reports
        bucket, queued = watcher["bucket"], watcher["queued"]
        if queued:
            client.create_bucket(bucket, watcher["type"], queued=True)
            client.connect()
        else:
            client.create_bucket(bucket, watcher["type"])
        for beat in watcher["heartbeats"]:
            event = Event(
                timestamp=beat["timestamp"],
                duration=beat.get("duration", 0),
                data=beat["data"],
            )
            client.heartbeat(bucket, event, pulsetime=beat["pulsetime"], queued=queued)
        if queued:
            wait_drained(client)
            client.disconnect()
        sent[bucket] = len(watcher["heartbeats"])
    return sent


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
