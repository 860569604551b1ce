"""What the agent tells of its computer: sleeps and clock jumps found by comparing the
system's clocks (readings are parameters; the real clocks of this Linux machine once),
the suspended time from each platform's two clocks (recorded readings for macOS and
Windows), its build's hash, and when its journal was begun."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from officepulse.agent.journal import Journal
from officepulse.agent.machine import Reading, Watch, asleep_between, boot_time, read_clocks
from officepulse.builds import BUILD_FILE, build_hash, source_hash
from officepulse.core.spans import to_ms

WALL = 1_796_000_000.0


def test_a_steady_clock_finds_nothing() -> None:
    watch = Watch(Reading(WALL, 100.0, 0.0))
    # NTP's small corrections and readings taken a little apart are not jumps.
    assert not watch.observe(Reading(WALL + 2.3, 102.0, 0.0))
    assert not watch.observe(Reading(WALL + 4.3, 104.0, 0.4))
    assert list(watch.sleeps) == list(watch.jumps) == []


def test_a_sleep_is_told_from_when_it_began_to_the_wake() -> None:
    watch = Watch(Reading(WALL, 100.0, 10.0))
    # 2 s awake, then 40 min suspended: the wall clock moved by both, which is no jump.
    assert watch.observe(Reading(WALL + 2 + 2400, 102.0, 2410.0))
    (sleep,) = watch.sleeps
    assert to_ms(sleep.end) - to_ms(sleep.start) == 2_400_000
    assert to_ms(sleep.end) == round((WALL + 2402) * 1000)
    assert list(watch.jumps) == []
    facts = watch.facts()
    assert facts.asleep == 2410.0
    assert facts.sleeps == [sleep]


@pytest.mark.parametrize(("moved", "by"), [(7202.0, 7200.0), (2.0 - 300.0, -300.0)])
def test_a_clock_set_forward_or_back_is_a_jump_by_what_time_does_not_explain(
    moved: float, by: float
) -> None:
    watch = Watch(Reading(WALL, 100.0, 0.0))
    assert watch.observe(Reading(WALL + moved, 102.0, 0.0))
    (jump,) = watch.jumps
    assert jump.by == by
    assert to_ms(jump.at) == round((WALL + moved) * 1000)


def test_what_is_kept_to_tell_again_is_bounded() -> None:
    watch = Watch(Reading(WALL, 0.0, 0.0))
    for n in range(1, 200):
        watch.observe(Reading(WALL + n * 100, n * 2.0, n * 98.0))
    assert len(watch.facts().sleeps) == 50


# Readings in the form each platform gives them: (the clock that counts suspended time,
# the one that does not, the seconds suspended). Written for this test in each API's
# units as converted by machine.py, not captured on a Mac or a Windows computer (none
# is at hand here): what is checked is the arithmetic and its floor, not those APIs.
RECORDED = {
    # macOS: CLOCK_MONOTONIC, CLOCK_UPTIME_RAW (seconds).
    "darwin": (93_112.402, 61_450.118, 31_662.284),
    # Windows: GetTickCount64 / 1000, QueryUnbiasedInterruptTime / 10^7.
    "win32": (412_004.531, 398_803.25, 13_201.281),
    # Linux: CLOCK_BOOTTIME, CLOCK_MONOTONIC.
    "linux": (5_003.25, 4_100.75, 902.5),
}


@pytest.mark.parametrize("platform", sorted(RECORDED))
def test_each_platforms_clocks_give_the_suspended_time(platform: str) -> None:
    with_sleep, without, asleep = RECORDED[platform]
    assert asleep_between(with_sleep, without) == pytest.approx(asleep)
    # Read a moment apart, the clock without sleep can be ahead: never below zero.
    assert asleep_between(without, without + 0.001) == 0.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="this machine's clocks")
def test_this_machines_clocks_are_read() -> None:
    before = time.clock_gettime(time.CLOCK_MONOTONIC)
    reading = read_clocks()
    after = time.clock_gettime(time.CLOCK_MONOTONIC)
    assert before <= reading.awake <= after
    suspended = time.clock_gettime(time.CLOCK_BOOTTIME) - after
    assert 0 <= reading.asleep <= suspended + 1
    boot = boot_time()
    assert boot is not None
    assert boot == pytest.approx(psutil.boot_time())


def test_a_builds_hash_follows_its_code_and_nothing_else(tmp_path: Path) -> None:
    package = tmp_path / "officepulse"
    (package / "agent").mkdir(parents=True)
    (package / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (package / "agent" / "main.py").write_text("print('hello')\n")
    first = source_hash(package)
    (package / "agent" / "main.cpython-311.pyc").write_bytes(b"\0compiled")
    (package / "py.typed").write_text("")
    assert source_hash(package) == first
    (package / "agent" / "main.py").write_text("print('hello!')\n")
    assert source_hash(package) != first


def test_this_build_is_its_sources_hash_unless_one_was_recorded() -> None:
    import officepulse

    package = Path(officepulse.__file__).parent
    assert not (package / BUILD_FILE).exists()
    assert build_hash() == source_hash(package)


def test_a_new_journal_knows_when_it_was_begun_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path, clock=lambda: WALL)
    assert journal.begun_ms == round(WALL * 1000)
    journal.close()
    again = Journal(path, clock=lambda: WALL + 3600)
    assert again.begun_ms == round(WALL * 1000)
    again.close()
