"""The REST API's query parameters: each parsed, and refused with an error that names
the parameter and what was wrong (the report pages take the same parameters)."""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from officepulse.core.days import DAY_MODES, MAX_DAYS, DayMode
from officepulse.core.periods import PeriodError, parse_day
from officepulse.core.spans import to_ms
from officepulse.errors import OfficepulseError
from officepulse.store.base import GROUP_KEYS, GroupKey

MAX_RANGE = timedelta(days=400)
FORMATS = ("json", "csv")
# protocol/messages.py AgentId: ids are kept to a safe alphabet.
AGENT_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"


class ApiError(OfficepulseError):
    """A bad request; the message names the parameter and what was wrong."""


class UnknownAgent(ApiError):
    """The request names an agent the server has never heard of (404)."""


def parse_agent_filter(raw: str | None) -> str | None:
    """An optional agent id: absent means every agent; present, it must be an id."""
    if raw is not None and re.fullmatch(AGENT_ID_PATTERN[1:-1], raw) is None:
        raise ApiError(f"'agent' must be an agent id (1-64 of A-Z a-z 0-9 _ -), not {raw!r}")
    return raw


def parse_format(raw: str | None) -> str:
    value = "json" if raw is None else raw
    if value not in FORMATS:
        raise ApiError(f"'format' must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def parse_required(name: str, raw: str | None, what: str) -> str:
    if not raw:
        raise ApiError(f"missing query parameter '{name}' ({what})")
    return raw


def parse_zone(raw: str | None) -> ZoneInfo:
    name = parse_required("tz", raw, "an IANA time zone such as Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(f"'tz' is not a known time zone: {name!r}") from None


def parse_date(name: str, raw: str | None) -> date:
    value = parse_required(name, raw, "a calendar date such as 2026-11-30")
    try:
        return parse_day(name, value)
    except PeriodError as exc:
        raise ApiError(str(exc)) from None


def parse_instant(name: str, raw: str | None) -> datetime:
    if raw is None:
        raise ApiError(f"missing query parameter '{name}' (an ISO 8601 instant)")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ApiError(f"'{name}' is not an ISO 8601 date-time: {raw!r}") from exc
    if value.tzinfo is None:
        raise ApiError(f"'{name}' must say which time zone it is in, e.g. {raw}Z or {raw}+02:00")
    return value


def parse_group_by(raw: str | None) -> list[GroupKey]:
    if raw is None or raw == "":
        return ["agent", "app"]
    keys: list[GroupKey] = []
    for key in raw.split(","):
        if key not in GROUP_KEYS:
            raise ApiError(
                f"'group_by' cannot contain {key!r}; use a comma-separated list of "
                f"{', '.join(GROUP_KEYS)}"
            )
        if key in keys:
            raise ApiError(f"'group_by' names {key!r} twice")
        keys.append(key)
    return keys


def group_by_values() -> list[str]:
    """Every value ``group_by`` takes: each order of each non-empty subset, and
    "" for the default."""
    subsets = (
        ",".join(keys)
        for n in range(1, len(GROUP_KEYS) + 1)
        for keys in itertools.permutations(GROUP_KEYS, n)
    )
    return ["", *subsets]


def usage_range(start_raw: str | None, end_raw: str | None) -> tuple[datetime, datetime]:
    start = parse_instant("start", start_raw)
    end = parse_instant("end", end_raw)
    if end <= start:
        raise ApiError("'end' must be after 'start'")
    if end - start > MAX_RANGE:
        raise ApiError(f"the range is longer than {MAX_RANGE.days} days")
    return start, end


def days_range(first_raw: str | None, last_raw: str | None) -> tuple[date, date]:
    """``from`` and ``to``, both included, at most MAX_DAYS days."""
    first = parse_date("from", first_raw)
    last = parse_date("to", last_raw)
    if last < first:
        raise ApiError("'to' must not be before 'from'")
    if (last - first).days + 1 > MAX_DAYS:
        raise ApiError(f"the range is longer than {MAX_DAYS} days")
    return first, last


def parse_day_mode(raw: str | None) -> DayMode:
    for mode in DAY_MODES:
        if ("viewer" if raw is None else raw) == mode:
            return mode
    raise ApiError(f"'day' must be one of {', '.join(DAY_MODES)}, not {raw!r}")


def parse_day_zone(mode: DayMode, raw: str | None) -> ZoneInfo:
    """``tz`` for a day: required for the viewer's day; for a person's own day their
    zone history decides, and a ``tz`` given must still be a zone (it names the viewer)."""
    if mode == "person" and raw is None:
        return ZoneInfo("UTC")
    return parse_zone(raw)


def range_ms(start: datetime, end: datetime) -> tuple[int, int]:
    return to_ms(start), to_ms(end)
