"""What no agent can have seen, refused at the door: every span an agent sends, every
heartbeat, every ActivityWatch event and heartbeat is checked against these rules before
anything is stored (gateway/ingest.py, activitywatch/http.py). Pure: now is a parameter.

- A span lasts at most ``MAX_SPAN_MS``. The officepulse agent's spans last minutes (it
  hands on the open span every minute or so); its journal, compacting a long time offline,
  joins runs of one app up to this length and no further (agent/journal.py). Spans the
  server itself extends (heartbeats merged into one, equal spans joined) may grow longer:
  that is many messages, each checked.
- Nothing ends more than ``MAX_AHEAD_MS`` ahead of the server's clock (a computer's clock
  may run a little fast).
- Nothing starts before ``EARLIEST_MS`` (2000-01-01): a clock reset to 1970 or a bogus
  date, not activity.
"""

from __future__ import annotations

from officepulse.core.spans import iso_utc

DAY_MS = 86_400_000
MAX_SPAN_MS = 7 * DAY_MS
MAX_AHEAD_MS = 5 * 60 * 1000
EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z


def _duration(ms: int) -> str:
    if ms >= 2 * DAY_MS:
        return f"{ms / DAY_MS:.1f} days"
    if ms >= 7_200_000:
        return f"{ms / 3_600_000:.1f} hours"
    return f"{ms / 1000:.0f} s"


def _ahead(ms: int) -> str:
    return (
        f"{_duration(ms)} ahead of the server's clock (at most "
        f"{MAX_AHEAD_MS // 60_000} minutes ahead is accepted; check this computer's clock)"
    )


_EARLY = f"before {iso_utc(EARLIEST_MS)}, the earliest time accepted (check this computer's clock)"


def instant_refusal(ts_ms: int, now_ms: int) -> str | None:
    """Why an instant (a heartbeat) is refused, naming the rule, as "it is ..."; None
    when it is plausible."""
    if ts_ms > now_ms + MAX_AHEAD_MS:
        return f"it is {_ahead(ts_ms - now_ms)}"
    if ts_ms < EARLIEST_MS:
        return f"it is {_EARLY}"
    return None


def span_refusal(start_ms: int, end_ms: int, now_ms: int) -> str | None:
    """Why the span [start_ms, end_ms) is refused, naming the rule, as "it ..."; None
    when it is plausible. (One that ends before it starts is left to the caller.)"""
    if end_ms > now_ms + MAX_AHEAD_MS:
        return f"it ends {_ahead(end_ms - now_ms)}"
    if start_ms < EARLIEST_MS:
        return f"it starts {_EARLY}"
    if end_ms - start_ms > MAX_SPAN_MS:
        return (
            f"it lasts {_duration(end_ms - start_ms)}, and a span lasts at most "
            f"{MAX_SPAN_MS // DAY_MS} days"
        )
    return None
