"""The back-off law (agent/backoff.py), pure: its bounds, and what it promises a fleet. A
model of 2,000 agents cut off by one outage, with seeded random draws and time as
numbers: each agent's first attempt after the server is ready comes within the cap,
whatever the outage's length, and they do not come back together."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from officepulse.agent.backoff import (
    BASE,
    CAP,
    MOST_SUGGESTED,
    SLOW,
    after_suggestion,
    full_jitter,
    slow,
)
from officepulse.protocol.errors import retry_after, retry_reason


def test_the_window_doubles_from_base_up_to_the_cap() -> None:
    top = [full_jitter(n, BASE, CAP, lambda: 1.0) for n in range(1, 9)]
    assert top == [0.5, 1, 2, 4, 4, 4, 4, 4]
    assert [full_jitter(n, BASE, CAP, lambda: 0.0) for n in range(1, 9)] == [0.0] * 8
    assert full_jitter(10_000, BASE, CAP, lambda: 1.0) == CAP


@given(
    attempt=st.integers(1, 10_000),
    base=st.floats(0.01, 10),
    cap=st.floats(0.01, 100),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_every_wait_is_within_its_window(
    attempt: int, base: float, cap: float, draw: float
) -> None:
    wait = full_jitter(attempt, base, cap, lambda: draw)
    assert 0 <= wait <= min(cap, base * 2 ** min(attempt - 1, 64))


def test_a_limit_s_refusal_waits_the_upper_half_of_the_longest() -> None:
    assert slow(SLOW, lambda: 0.0) == 15
    assert slow(SLOW, lambda: 1.0) == 30


@given(seconds=st.floats(-5, 10_000), draw=st.floats(0, 1, exclude_max=True))
def test_a_suggested_delay_is_respected_and_spread(seconds: float, draw: float) -> None:
    least = min(max(seconds, 0), MOST_SUGGESTED)
    assert least <= after_suggestion(seconds, lambda: draw) <= 2 * least


def test_the_close_reason_carries_the_suggestion() -> None:
    reason = retry_reason(2.0, "this server takes 4 agents at most; try again soon")
    assert reason == "retry-after=2: this server takes 4 agents at most; try again soon"
    assert retry_after(reason) == 2.0
    assert retry_after("retry-after=0.25: full") == 0.25
    assert retry_after("retry-after=1.5") == 1.5
    # No suggestion, or not one this agent can read: None, and the usual back-off.
    for reason in ("", "too many connections", "retry-after=soon: full", "retry-after=2x"):
        assert retry_after(reason) is None, reason
    long = retry_reason(3, "x" * 500)
    assert len(long.encode()) == 123
    assert retry_after(long) == 3


def returns_after_outage(
    agents: int, outage: float, seed: int, law: str = "full jitter"
) -> list[float]:
    """Each agent's first attempt once the server is ready again, in seconds after that
    moment. The connection drops at 0 for every agent (each learns it within 50 ms);
    attempts before ``outage`` fail at once (a closed port refuses in microseconds)."""
    rng = random.Random(seed)
    back = []
    for _ in range(agents):
        now = rng.uniform(0, 0.05)
        attempt = 0
        while True:
            attempt += 1
            if law == "full jitter":
                now += full_jitter(attempt, BASE, CAP, rng.random)
            else:  # the doubling law this one replaced: the upper half of each window
                now += min(30.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + rng.random() / 2)
            if now >= outage:
                back.append(now - outage)
                break
    return back


# Outages past 8 s all look alike (every window is at the cap by then): two minutes at most
# keeps each example to a few hundred thousand draws.
@settings(max_examples=25)
@given(outage=st.floats(0.01, 120), seed=st.integers(0, 2**32))
def test_two_thousand_agents_are_back_within_the_cap_after_any_outage(
    outage: float, seed: int
) -> None:
    back = returns_after_outage(2000, outage, seed)
    assert max(back) <= CAP


def test_they_come_back_spread_out_not_together() -> None:
    back = returns_after_outage(2000, 10.0, seed=7)
    # Over the 4 s, in 100 ms slices: none holds more than 5 % of the agents (uniform
    # would be 2.5 %); the doubling law sent all of them in the last 8 s of a 16 s tail.
    slices = [0] * 41
    for t in back:
        slices[int(t * 10)] += 1
    assert max(slices) <= 100, slices
    before = returns_after_outage(2000, 10.0, seed=7, law="doubling")
    assert max(before) > 2 * CAP
