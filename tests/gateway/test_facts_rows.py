"""What a hello's run facts and a ``facts`` message become (gateway/facts.py, pure: the
server's time is a parameter), also from clocks set wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from officepulse.core.spans import to_ms
from officepulse.gateway.facts import facts_of, heard, run_of
from officepulse.protocol.codec import decode_agent_message, encode
from officepulse.protocol.messages import ClockJump, Facts, Hello, Stretch

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
NOW_MS = to_ms(NOW)


def hello(**run: object) -> Hello:
    return Hello(
        v=3,
        agent_id="ada",
        name="Ada",
        host="h",
        platform="Linux",
        agent_version="0.1.0",
        tz="UTC",
        **run,  # type: ignore[arg-type]
    )


def test_an_older_agents_hello_makes_no_run_and_a_v3_one_keeps_what_it_told() -> None:
    assert run_of(hello(), NOW_MS) is None
    started = NOW - timedelta(minutes=5)
    run = run_of(hello(started=started, boot=NOW - timedelta(hours=1), asleep=2.5), NOW_MS)
    assert run is not None
    assert (run.kind, run.start_ms, run.end_ms, run.value) == ("run", to_ms(started), NOW_MS, 2500)
    assert '"boot_ms":' in run.detail
    assert '"version":"0.1.0"' in run.detail
    later = heard(run, NOW_MS + 60_000)
    assert (later.end_ms, later.value, later.detail) == (NOW_MS + 60_000, 2500, run.detail)


def test_a_start_read_on_a_clock_set_wrong_is_kept_at_now_or_dropped() -> None:
    ahead = run_of(hello(started=NOW + timedelta(hours=2)), NOW_MS)
    assert ahead is not None
    assert ahead.start_ms == NOW_MS
    assert run_of(hello(started=datetime(1970, 1, 2, tzinfo=UTC)), NOW_MS) is None


def test_facts_become_rows_and_what_no_clock_can_have_read_is_refused_or_dated_now() -> None:
    run = run_of(hello(started=NOW - timedelta(hours=1)), NOW_MS)
    told = Facts(
        at=NOW,
        asleep=60.0,
        sleeps=[
            Stretch(start=NOW - timedelta(minutes=30), end=NOW - timedelta(minutes=20)),
            Stretch(start=NOW, end=NOW - timedelta(minutes=1)),
            Stretch(start=NOW, end=NOW + timedelta(hours=3)),
        ],
        clock_jumps=[
            ClockJump(at=NOW - timedelta(minutes=10), by=-90.0),
            ClockJump(at=datetime(1970, 1, 1, tzinfo=UTC), by=-1.7e9),
        ],
    )
    rows, refused = facts_of(run, told, NOW_MS)
    assert [(r.kind, r.start_ms, r.end_ms, r.value) for r in rows] == [
        ("sleep", NOW_MS - 30 * 60_000, NOW_MS - 20 * 60_000, None),
        ("clock", NOW_MS - 10 * 60_000, NOW_MS - 10 * 60_000, -90_000),
        ("clock", NOW_MS, NOW_MS, -1_700_000_000_000),  # reset to 1970: dated now
        ("run", NOW_MS - 3_600_000, NOW_MS, 60_000),
    ]
    assert len(refused) == 2
    assert refused[0].endswith("ends before it starts")
    assert "refused: it is" in refused[1]
    assert "ahead" in refused[1]


def test_a_clock_reset_to_1970_is_a_jump_the_protocol_takes() -> None:
    frame = encode(
        Facts(
            at=datetime(1970, 1, 1, tzinfo=UTC),
            asleep=0,
            clock_jumps=[ClockJump(at=datetime(1970, 1, 1, tzinfo=UTC), by=-1.7e9)],
        ),
        "json",
    )
    decoded = decode_agent_message(frame)
    assert isinstance(decoded, Facts)
    assert decoded.clock_jumps[0].by == -1.7e9
