"""When a connection counts as stalled. Pure: time is a parameter.

The clock runs only while something sent waits for its acknowledgement: from
the oldest such send, and again from every acknowledgement that moves forward
while more waits (a slow server that keeps acknowledging is not stalled). A
quiet stretch with nothing in flight never counts, however long: one window for
an hour, then a switch, is not a stall.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StallWatch:
    """One connection's wait for acknowledgements; ``acked`` starts where the
    welcome left the journal."""

    timeout: float
    acked: int = 0
    sent: int = 0
    # Since when the link has waited for an acknowledgement; None: nothing in flight.
    waiting_since: float | None = None

    def on_send(self, seq: int, now: float) -> None:
        """Spans up to ``seq`` went out at ``now``."""
        if seq <= self.sent:
            return
        self.sent = seq
        if self.waiting_since is None and seq > self.acked:
            self.waiting_since = now

    def on_ack(self, seq: int, now: float) -> None:
        """The server has everything up to ``seq`` (an ack, or a welcome's resume)."""
        if seq <= self.acked:
            return
        self.acked = seq
        self.waiting_since = now if self.sent > seq else None

    def deadline(self) -> float | None:
        """When the link counts as stalled unless an acknowledgement comes first."""
        return None if self.waiting_since is None else self.waiting_since + self.timeout

    def stalled(self, now: float) -> bool:
        deadline = self.deadline()
        return deadline is not None and now >= deadline
