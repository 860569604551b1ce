"""The JSON log formatter (logjson.py): one object per line whatever the message holds,
the ids of the context or of the call, and the traceback as a field."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from officepulse.logcontext import agent_id, request_id
from officepulse.logjson import JsonFormatter


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "officepulse.test", logging.WARNING, __file__, 1, message, args, None
    )
    record.created = 1_796_000_000.25
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_record_is_one_json_line_whatever_a_client_sent() -> None:
    hostile = 'Ann\n12:00:00 ERROR forged "line" \x1b[2J\u2028end'
    line = JsonFormatter().format(_record("agent %s connected", hostile))
    assert "\n" not in line
    assert "\x1b" not in line
    assert "\u2028" not in line
    assert json.loads(line) == {
        "time": "2026-11-30T00:53:20.250Z",
        "level": "warning",
        "logger": "officepulse.test",
        "message": f"agent {hostile} connected",
    }


async def test_ids_come_from_the_task_that_logs_or_the_call() -> None:
    formatter = JsonFormatter()

    async def serving(agent: str) -> dict[str, str]:
        agent_id.set(agent)  # in this task only
        await asyncio.sleep(0)
        return dict(json.loads(formatter.format(_record("beat"))))

    ann, bob = await asyncio.gather(
        asyncio.create_task(serving("ann")), asyncio.create_task(serving("bob"))
    )
    assert (ann["agent_id"], bob["agent_id"]) == ("ann", "bob")
    outside = json.loads(formatter.format(_record("elsewhere")))
    assert "agent_id" not in outside
    assert "request_id" not in outside
    token = request_id.set("r-1")
    try:
        given = json.loads(formatter.format(_record("x", gateway_id="gw-2", agent_id="cy")))
    finally:
        request_id.reset(token)
    assert (given["gateway_id"], given["agent_id"], given["request_id"]) == ("gw-2", "cy", "r-1")


def test_an_exception_is_a_field_of_the_same_line() -> None:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed"
    assert parsed["exception"].startswith("Traceback (most recent call last):")
    assert parsed["exception"].endswith("ValueError: bad\nvalue")
