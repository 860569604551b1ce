"""The REST API fuzzed against its own OpenAPI document with schemathesis:
a real server, the document it serves, and requests made from that document,
valid ones and ones that break its rules. No 5xx, every response as the
document says (status, content type, body schema), bad input answered with a
400. A bounded number of examples keeps the suite fast.

(schemathesis.pytest.from_fixture does not run under pytest 9, so the
strategy is driven with hypothesis directly.)"""

from __future__ import annotations

import contextlib
import re
import zoneinfo
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case

from officepulse.core.days import MAX_DAYS
from officepulse.core.periods import FIRST_DATE, LAST_DATE
from officepulse.panel.api.params import MAX_RANGE
from tests.support.servers import ServerProcess, start_server

ZONES = zoneinfo.available_timezones()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(Path(tmp_path_factory.mktemp("fuzz")))
    yield srv
    srv.stop()


def python_patterns(body: object) -> bool:
    """Whether every rule's pattern in a categories body is a Python regular expression:
    that is Python's re, not JSON Schema's "regex" format (ECMA 262)."""
    rules = body.get("rules") if isinstance(body, dict) else None
    for rule in rules if isinstance(rules, list) else []:
        try:
            re.compile(str(rule["pattern"]), re.IGNORECASE if rule.get("ignore_case", True) else 0)
        except (re.error, OverflowError, RecursionError):
            return False
    return True


def within_rules(label: str, query: dict[str, Any] | None) -> bool:
    # Which names are IANA time zones is this machine's tz database, not JSON Schema.
    tz = (query or {}).get("tz")
    if tz is not None and str(tz) not in ZONES:
        return False
    # Dates near datetime's own limits are refused: the days around them are not dates.
    for name in ("from", "to", "date"):
        with contextlib.suppress(KeyError, ValueError, TypeError):
            if not FIRST_DATE <= date.fromisoformat(str((query or {})[name])) <= LAST_DATE:
                return False
    # A timeline (and its gaps) needs a zone unless it is the person's own day.
    days = ("GET /api/v1/timeline", "GET /api/v1/gaps")
    if label in days and tz is None and (query or {}).get("day") != "person":
        return False
    try:
        first = date.fromisoformat(str((query or {})["from"]))
        last = date.fromisoformat(str((query or {})["to"]))
        if not first <= last < first + timedelta(days=MAX_DAYS):
            return False
    except (KeyError, ValueError, TypeError, OverflowError):
        pass  # not a range of days
    try:
        start = datetime.fromisoformat(str((query or {})["start"]))
        end = datetime.fromisoformat(str((query or {})["end"]))
        return start < end <= start + MAX_RANGE
    except (KeyError, ValueError, TypeError, OverflowError):
        return True  # not a range: the document's own rules apply


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_to_its_document(live_server: ServerProcess, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(live_server.url + "/api/v1/openapi.json")
    operations = [op.ok() for op in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert "GET /api/v1/usage" in labels  # the document that was served, not an empty one
    # Each operation gets its own examples, so none goes untried however many there are;
    # one without parameters has nothing to break.
    tried: dict[str, int] = {}
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not operation.query:
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def check(case: Case) -> None:
            # A rule between parameters (end after start, at most MAX_RANGE apart; a
            # zone unless day=person) is one JSON Schema cannot state: such requests
            # must get their 400, not a 200.
            ok = within_rules(case.operation.label, case.query) and python_patterns(case.body)
            excluded = [] if ok else [positive_data_acceptance]
            case.call_and_validate(base_url=live_server.url, excluded_checks=excluded)
            tried[case.operation.label] = tried.get(case.operation.label, 0) + 1

        check()
    breakable = {op.label for op in operations if mode is GenerationMode.POSITIVE or op.query}
    assert set(tried) == breakable
