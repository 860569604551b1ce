"""A timeline's idle line noticed late, as a desktop agent notices going idle once its
threshold has passed: the app is still seen until then, and the spanner cuts its open
span back to when the person went idle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from officepulse.agent.spanner import Spanner
from officepulse.agent.timeline import Timeline, TimelineError
from officepulse.core.spans import to_ms

START = datetime(2026, 12, 1, 9, tzinfo=UTC)
TEXT = (
    '{"offset": 0, "app": "Code", "title": "main.py"}\n'
    '{"offset": 8, "app": "Code", "title": "main.py", "idle": true, "noticed": 10}\n'
    '{"offset": 40, "end": true}\n'
)


def test_the_app_is_seen_until_noticed_then_idle_is_dated_back() -> None:
    beats = [
        ((to_ms(b.ts) - to_ms(START)) // 1000, b.activity.idle)
        for b in Timeline.parse(TEXT).heartbeats(START, 5)
    ]
    assert beats[:6] == [(0, False), (5, False), (10, False), (15, False), (18, False), (8, True)]
    assert all(idle for _, idle in beats[5:])

    spanner = Spanner(max_gap_ms=25_000, hold_ms=30_000)
    closed = []
    for beat in Timeline.parse(TEXT).heartbeats(START, 5):
        closed += spanner.observe(to_ms(beat.ts), beat.activity).closed
    code = [s for s in closed if not s.activity.idle]
    assert [(s.end_ms - s.start_ms) for s in code] == [8_000]  # cut back from 18 s
    assert spanner.open is not None
    assert spanner.open.activity.idle
    assert spanner.open.start_ms == to_ms(START) + 8_000


@pytest.mark.parametrize(
    "line",
    [
        '{"offset": 0, "app": "Code", "idle": true, "noticed": 5}',  # nothing before it
        '{"offset": 0, "app": "Code"}\n{"offset": 8, "app": "Code", "noticed": 5}',  # not idle
    ],
)
def test_only_an_idle_line_after_another_is_noticed_late(line: str) -> None:
    with pytest.raises(TimelineError, match="only an idle line after another may say 'noticed'"):
        Timeline.parse(line + '\n{"offset": 40, "end": true}\n')
