"""Random ActivityWatch heartbeats, posted to a server, and the shape of its answers."""

from __future__ import annotations

import random
from typing import Any

from tests.support.aw import (
    T0,
    at,
    request,
)

Beat = tuple[float, float, dict[str, Any], float]  # (seconds from T0, duration, data, pulsetime)


A = {"app": "Code", "title": "main.py"}


B = {"app": "Firefox", "title": "News"}


C = {"app": "Alacritty", "title": "vim"}


def post_all(
    url: str | list[str], bucket: str, beats: list[Beat], kind: str
) -> list[dict[str, Any]]:
    """Make the bucket and post the heartbeats in turn; to several servers sharing one
    database, the first to the first server, the second to the second, and so on."""
    urls = [url] if isinstance(url, str) else url
    status, body, _ = request(
        "POST",
        f"{urls[0]}/api/0/buckets/{bucket}",
        {"client": "test", "type": kind, "hostname": "heartbeat-host"},
    )
    assert status == 200, body
    answers = []
    for n, (offset, duration, data, pulsetime) in enumerate(beats):
        status, body, _ = request(
            "POST",
            f"{urls[n % len(urls)]}/api/0/buckets/{bucket}/heartbeat?pulsetime={pulsetime}",
            {"timestamp": at(T0, offset), "duration": duration, "data": data},
        )
        assert status == 200, body
        answers.append(body)
    return answers


def shape(answers: list[dict[str, Any]]) -> list[tuple[str, float, Any, str]]:
    """Each answer without its id, and whether it was merged into an event seen
    before (its id came back already) or is a new event."""
    seen: set[int] = set()
    out = []
    for a in answers:
        how = "merged" if a["id"] in seen else "new"
        seen.add(a["id"])
        out.append((a["timestamp"], a["duration"], a["data"], how))
    return out


def random_beats(seed: int, n: int) -> list[Beat]:
    """Heartbeats in time order (equal timestamps included), of a few kinds of
    data, durations and pulsetimes. (Older heartbeats are in the cases above;
    aw-server overwrites its newest event when one is merged into, see
    docs/activitywatch.md.)"""
    rng = random.Random(seed)
    datas = [
        A,
        B,
        C,
        {"app": "Code", "title": "main.py", "n": 1},
        {"n": 1.0, "app": "Code", "title": "main.py"},
    ]
    t = 0.0
    beats: list[Beat] = []
    for _ in range(n):
        t += rng.choice([0, 0.001, 0.5, 1, 1, 1, 2, 2.0005, 3.3, 7])
        duration = rng.choice([0, 0, 0, 0.25, 1.5, rng.uniform(0, 6), 12.3456789])
        pulsetime = rng.choice([0, 1, 2.0, 2.5, 5, 21])
        beats.append((round(t, 4), duration, rng.choice(datas), pulsetime))
    return beats
