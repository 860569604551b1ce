"""Time today's bookkeeping between reads (panel/today.py): since when each person's time
grows, and whose figure is read again soon: those who start or stop, never a switch
between apps while working; each twice, as the spans closing what was in front reach
the store a moment after the change. Reads themselves, against a real server and the
Time page: tests/panel/test_office_browser.py."""

from __future__ import annotations

from officepulse.core.office import Today
from officepulse.panel.today import TodayTotals
from officepulse.protocol.messages import Activity
from tests.support.live import view

NOW = 1_800_000_000_000
CODE = Activity(app="Code")


def test_whose_time_grows_and_who_is_read_again() -> None:
    today = TodayTotals(lambda now_ms: NotImplemented)
    today.observe(view("ann", NOW, CODE))
    assert today.counting_since("ann") == NOW
    assert today.touched() == set()  # read at the tick after next: what is in flight is in
    assert today.touched() == {"ann"}  # she started
    today.observe(view("ann", NOW + 5_000, Activity(app="Slack")))  # a switch: nothing
    assert today.counting_since("ann") == NOW  # still since she began
    assert today.touched() == set()
    assert today.touched() == set()
    today.observe(view("ann", NOW + 9_000, Activity(app="Slack", idle=True)))
    assert today.counting_since("ann") is None
    today.observe(view("bob", NOW, CODE, live=False))  # no presence: stored as it comes
    assert today.counting_since("bob") is None
    assert today.touched() == set()
    assert today.touched() == {"ann", "bob"}
    today.forget(["bob"])
    today.observe(view("ann", NOW + 20_000, CODE))
    assert today.counting_since("ann") == NOW + 20_000  # began again


def test_a_figure_stops_where_the_person_stopped() -> None:
    today = TodayTotals(lambda now_ms: NotImplemented)
    today.observe(view("ann", NOW - 600_000, CODE))
    today._figures["ann"] = Today(3_600_000, NOW, NOW + 10**9)  # read at NOW
    # At NOW + 5 min the agent says she went idle at NOW + 2 min (her last input).
    today.observe(view("ann", NOW + 120_000, Activity(app="Code", idle=True)))
    figure = today.figure("ann")
    assert figure is not None
    assert figure.at(NOW + 300_000, None) == 3_720_000
