"""How long the agent waits before it connects again: the back-off law, pure (the random
draw is a parameter, nothing here sleeps or reads a clock).

After a lost connection or a failed attempt: **full jitter**. Before attempt ``n`` (1, 2,
...) the agent sleeps a uniform draw from ``[0, min(cap, base * 2**(n - 1))]``. Every
agent cut off by the same outage draws its own, so their attempts are spread evenly over
the window instead of arriving in waves; and once an agent's window has reached the cap,
its next attempt comes at most ``cap`` seconds after any moment, the moment the server is
ready again included. So the cap bounds how long an agent stays away after an outage of
any length, and it also sets how hard the agents knock meanwhile: on average one attempt
per agent every ``cap / 2`` seconds.

``CAP`` is 4 s: 2,000 agents are then back within 4 s of a server being ready plus the
server's time to take them (about 500 new connections a second spread evenly, which one
gateway process takes in a fraction of a core: docs/performance.md), inside the 5 s the
issue asks for, and while a server is down they knock 1,000 times a second in all, on a
port whose refusal costs the kernel next to nothing. The doubling law it replaces (each
wait from the upper half of ``[0, min(30, 0.5 * 2**(n - 1))]``) had its agents wake 8 to
16 s apart after a 10 s outage: the last of 2,000 came back 16 s after the server did.

A gateway at its connection limit closes with 4013 ``try-again-soon`` and may suggest a
delay in the close reason (``retry-after=S: ...``, protocol/errors.py): the agent waits at
least that, plus a uniform draw from ``[0, S]`` so the agents it turned away do not all
come back at the same instant (``after_suggestion``). Behind a load balancer the next
attempt usually lands on another gateway.

Refusals that would be refused again at once (over a rate limit, no hello in time, a close
code this agent does not know) wait the longest: a draw from the upper half of
``[0, SLOW]`` (``slow``).
"""

from __future__ import annotations

from collections.abc import Callable

# The first window, and the cap every window stops growing at (seconds): see above.
BASE = 0.5
CAP = 4.0
# After a refusal that a quick retry would only repeat (4408, 4429, 4503, unknown codes).
SLOW = 30.0
# A server's suggestion is taken up to this: a bad value must not silence an agent for days.
MOST_SUGGESTED = 600.0


def full_jitter(attempt: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Seconds to wait before attempt ``attempt`` (1, 2, ...): uniform in
    ``[0, min(cap, base * 2**(attempt - 1))]``; ``rand`` draws from ``[0, 1)``."""
    window: float = min(cap, base * 2.0 ** min(max(attempt, 1) - 1, 64))
    return window * rand()


def slow(ceiling: float, rand: Callable[[], float]) -> float:
    """The longest wait: uniform in the upper half of ``[0, ceiling]``."""
    return ceiling * (0.5 + rand() / 2)


def after_suggestion(seconds: float, rand: Callable[[], float]) -> float:
    """The server asked for ``seconds``: at least that, spread over as much again."""
    least = min(max(seconds, 0.0), MOST_SUGGESTED)
    return least * (1 + rand())
