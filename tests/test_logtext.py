"""Logs cannot lie: what a client sends is shown escaped, one record one line. A real
agent named with a newline and ANSI codes, and the server's real log read back."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from officepulse.logtext import EscapingFormatter, escape
from tests.support.servers import run_agent, start_server

FORGED = "Eve\n12:00:00 INFO    officepulse.gateway.gateway: agent boss connected\x1b[2J\x1b[31m"


def test_control_characters_are_shown_as_python_writes_them() -> None:
    assert escape("a\nb\r\tc\x1b[31md\x00\x7f\x9b") == "a\\nb\\r\\tc\\x1b[31md\\x00\\x7f\\x9b"
    assert escape("line\u2028sep\u2029 \u202eevil") == "line\\u2028sep\\u2029 \\u202eevil"
    # Printable text, accents, emoji (with their zero-width joiners) are left alone.
    family = "Zoë 👨\u200d👩\u200d👧 C:\\Users"
    assert escape(family) == family


def test_every_record_is_one_line_and_a_traceback_cannot_start_one() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(EscapingFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("test_logtext")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("agent %s connected", FORGED)
        try:
            raise ValueError("bad name " + FORGED)
        except ValueError:
            logger.exception("refused %r", "x")
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "WARNING test_logtext: agent Eve\\n12:00:00 INFO    officepulse.gateway.gateway: "
        "agent boss connected\\x1b[2J\\x1b[31m connected"
    )
    assert lines[1] == "ERROR test_logtext: refused 'x'"
    assert lines[2] == "Traceback (most recent call last):"
    assert all(line.startswith("  ") for line in lines[3:]), lines
    assert "\x1b" not in out.getvalue()


def test_an_agent_named_to_forge_a_line_is_logged_on_one_line(tmp_path: Path) -> None:
    timeline = tmp_path / "short.jsonl"
    timeline.write_text('{"offset": 0, "app": "Code", "title": "t"}\n{"offset": 5, "end": true}\n')
    server = start_server(tmp_path)
    try:
        done = run_agent(
            server,
            tmp_path,
            "--source",
            "scripted",
            "--timeline",
            str(timeline),
            "--speed",
            "0",
            "--agent-id",
            "eve",
            "--name",
            FORGED,
        )
        assert done.returncode == 0, done.stderr
        line = server.wait_for_log("agent eve (Eve")
    finally:
        server.stop()
    assert line.split(": ", 1)[1].startswith(
        "agent eve (Eve\\n12:00:00 INFO    officepulse.gateway.gateway: agent boss connected"
        "\\x1b[2J\\x1b[31m on "
    )
    assert not [entry for entry in server.log if entry.startswith("12:00:00 INFO")]
    assert not [entry for entry in server.log if "\x1b" in entry]
