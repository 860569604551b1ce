"""When the agent sends a heartbeat: at once on every change, otherwise every
``interval`` seconds so the server keeps extending the span. Pure: time is a
parameter."""

from __future__ import annotations

from datetime import datetime, timedelta

from officepulse.protocol.messages import Activity, Heartbeat


class HeartbeatPolicy:
    def __init__(self, interval: float) -> None:
        self.interval = timedelta(seconds=interval)
        self.last_activity: Activity | None = None
        self.last_sent: datetime | None = None

    def observe(self, ts: datetime, activity: Activity) -> Heartbeat | None:
        due = (
            self.last_sent is None
            or activity != self.last_activity
            or ts - self.last_sent >= self.interval
        )
        if not due:
            return None
        self.last_activity = activity
        self.last_sent = ts
        return Heartbeat(ts=ts, activity=activity)
