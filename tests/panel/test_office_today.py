"""Time today's bookkeeping between reads (panel/today.py): since when each person's time
grows, and whose figure is read again soon: those who start or stop, never a switch
between apps while working; each twice, as the spans closing what was in front reach
the store a moment after the change. Reads themselves, against a real server and the
Time page: tests/panel/test_office_browser.py."""

from __future__ import annotations

from officepulse.panel.today import TodayTotals
from officepulse.protocol.messages import Activity
from tests.support.live import view

NOW = 1_800_000_000_000
CODE = Activity(app="Code")


def test_whose_time_grows_and_who_is_read_again() -> None:
    today = TodayTotals(lambda now_ms: NotImplemented)
    today.observe(view("ann", NOW, CODE))
    assert today.counting_since("ann") == NOW
    assert today.touched() == {"ann"}  # she started
    today.observe(view("ann", NOW + 5_000, Activity(app="Slack")))  # a switch
    assert today.counting_since("ann") == NOW  # still since she began
    assert today.touched() == {"ann"}  # the tick after: read once more
    assert today.touched() == set()
    today.observe(view("ann", NOW + 9_000, Activity(app="Slack", idle=True)))
    assert today.counting_since("ann") is None
    assert today.touched() == {"ann"}
    today.observe(view("bob", NOW, CODE, live=False))  # no presence: stored as it comes
    assert today.counting_since("bob") is None
    assert today.touched() == {"ann", "bob"}
    today.forget(["bob"])
    today.observe(view("ann", NOW + 20_000, CODE))
    assert today.counting_since("ann") == NOW + 20_000  # began again
