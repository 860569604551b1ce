"""Time zones as people read them: "Tokyo, UTC+9", "Kathmandu, UTC+5:45", and a
stretch of someone's day on their wall clock ("21:00–24:00"). Pure; the instant
is a parameter, since a zone's offset depends on the date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from officepulse.core.zones import ZoneRun


def _local(ms: int, tz: str) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(tz))


def place(tz: str) -> str:
    """The place an IANA zone is named after: "America/Los_Angeles" -> "Los Angeles"."""
    return tz.rsplit("/", 1)[-1].replace("_", " ")


def utc_offset(tz: str, at_ms: int) -> str:
    """The zone's offset from UTC at an instant: "UTC+9", "UTC-3:30", "UTC"."""
    offset = _local(at_ms, tz).utcoffset() or timedelta(0)
    minutes = round(offset.total_seconds() / 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def zone_label(tz: str, at_ms: int) -> str:
    """Where a zone is and how far from UTC, at an instant: "Tokyo, UTC+9"."""
    offset = utc_offset(tz, at_ms)
    name = place(tz)
    return offset if name in ("UTC", offset) else f"{name}, {offset}"


def wall_hours(piece: ZoneRun) -> str:
    """A stretch of time on its zone's wall clock, "21:00–24:00": an end at midnight
    is the end of that day (24:00), not the start of the next."""
    lo, hi = _local(piece.start_ms, piece.tz), _local(piece.end_ms, piece.tz)
    end = hi.strftime("%H:%M")
    if end == "00:00" and hi.date() > lo.date():
        end = "24:00"
    return f"{lo.strftime('%H:%M')}–{end}"
