"""The desktop driver applies the privacy lists to every look before anything is
emitted: polled through a window source that replays a list of windows (a real
``WindowSource``, as the X11 one is, only fed from a list)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from officepulse.agent.config import ConfigError
from officepulse.agent.drivers import DesktopDriver, look
from officepulse.agent.privacy import NO_RULES, PrivacyRules
from officepulse.agent.sources.base import SourceUnavailable, WindowSample
from officepulse.protocol.messages import Activity, Heartbeat
from tests.support.replayed_desktop import ReplayedDesktop

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
EDITOR = WindowSample("Code", "main.py - officepulse", "code", 10)
VAULT = WindowSample("KeePassXC", "bank.kdbx - PIN 4242", "keepassxc", 11)
BROWSER = WindowSample("Firefox", "Inbox - Mozilla Firefox", "firefox", 12)


class LockingDesktop(ReplayedDesktop):
    """A replay whose screen is locked at the polls ``locks`` says."""

    def __init__(self, windows: list[WindowSample | None], locks: list[bool]) -> None:
        super().__init__(windows)
        self.locks = locks

    def locked(self) -> bool:
        return self.locks[self.polls - 1]


class Clock:
    """One second per poll: the driver reads the clock once per look."""

    def __init__(self) -> None:
        self.now = T0.timestamp() - 1

    def __call__(self) -> float:
        self.now += 1
        return self.now


async def drive(
    windows: list[WindowSample | None], rules: PrivacyRules, **kw: object
) -> tuple[list[Heartbeat], list[datetime]]:
    desktop = kw.pop("desktop", None) or ReplayedDesktop(windows, kw.pop("idle", None))  # type: ignore[arg-type]
    beats: list[Heartbeat] = []
    gaps: list[datetime] = []

    async def emit(beat: Heartbeat) -> None:
        beats.append(beat)

    async def gap(ts: datetime) -> None:
        gaps.append(ts)

    kw.setdefault("introspect", None)
    driver = DesktopDriver(
        desktop,
        desktop,
        poll_interval=0,
        idle_threshold=kw.pop("idle_threshold", 180.0),  # type: ignore[arg-type]
        clock=Clock(),
        privacy=rules,
        gap=gap,
        **kw,  # type: ignore[arg-type]
    )
    with pytest.raises(SourceUnavailable, match="the replay is over"):
        await driver.run(emit, interval=10)
    return beats, gaps


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def editor(**kw: object) -> Activity:
    return Activity(app="Code", title="main.py - officepulse", process="code", pid=10, **kw)  # type: ignore[arg-type]


async def test_a_private_app_is_emitted_as_private_and_nothing_else() -> None:
    rules = PrivacyRules.build(never_capture=[("keepass*", "private")])
    beats, gaps = await drive([EDITOR, VAULT, VAULT, EDITOR], rules)
    assert [(b.ts, b.activity) for b in beats] == [
        (at(0), editor()),
        (at(1), Activity(app="private", private=True)),
        (at(3), editor()),
    ]
    assert gaps == []


async def test_nothing_mode_ends_the_last_span_where_it_was_seen_and_then_stays_silent() -> None:
    rules = PrivacyRules.build(never_capture=[("keepass*", "nothing")])
    # Away while the vault is in front: not even that is sent.
    idle = [0, 0, 0, 500, 500, 0, 0]
    beats, gaps = await drive(
        [EDITOR, EDITOR, VAULT, VAULT, VAULT, EDITOR, EDITOR], rules, idle=idle
    )
    assert [(b.ts, b.activity) for b in beats] == [
        (at(0), editor()),
        (at(1), editor()),  # the editor was last seen here: its span ends here
        (at(5), editor()),  # a fresh start, at once
    ]
    assert gaps == [at(1)]


async def test_coming_back_idle_after_nothing_is_not_dated_into_the_hidden_stretch() -> None:
    rules = PrivacyRules.build(never_capture=[("keepass*", "nothing")])
    beats, _ = await drive(
        [EDITOR, VAULT, VAULT, EDITOR], rules, idle=[0, 0, 100, 102], idle_threshold=60
    )
    assert [(b.ts, b.activity.idle) for b in beats] == [(at(0), False), (at(3), True)]


async def test_never_introspected_apps_are_not_introspected() -> None:
    looked_at: list[str] = []

    def introspect(sample: WindowSample, activity: Activity) -> Activity:
        looked_at.append(sample.app)
        return Activity(app=activity.app, title=activity.title, url="https://example.com/x")

    rules = PrivacyRules.build(never_capture=[("keepass*", "private")], never_introspect=["fire*"])
    beats, _ = await drive([EDITOR, BROWSER, VAULT], rules, introspect=introspect)
    assert looked_at == ["Code"]
    assert [b.activity for b in beats] == [
        Activity(app="Code", title="main.py - officepulse", url="https://example.com/x"),
        Activity(app="Firefox", process="firefox", pid=12),
        Activity(app="private", private=True),
    ]


def test_redaction_sees_the_whole_title_before_it_is_cut_to_the_protocols_limit() -> None:
    secret = "PIN 4242"
    long_title = "x" * 4090 + secret  # the secret straddles the 4096-character limit
    desktop = ReplayedDesktop([WindowSample("Notes", long_title)])
    seen = look(desktop, None, 180, PrivacyRules.build(redact=[r"PIN \d+"]))
    assert seen is not None
    assert seen.activity is not None
    assert seen.activity.title == "x" * 4090 + "…"
    assert "PIN" not in seen.activity.title


def test_without_rules_the_driver_reads_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("OFFICEPULSE_AGENT_CONFIG", raising=False)
    (tmp_path / "officepulse").mkdir()
    config = tmp_path / "officepulse" / "agent.toml"
    config.write_text('[privacy]\nnever_capture = ["keepass*"]\n')
    desktop = ReplayedDesktop([VAULT])
    driver = DesktopDriver(desktop, None, poll_interval=1, idle_threshold=180, introspect=None)
    seen = driver.look()
    assert seen is not None
    assert seen.activity == Activity(app="private", private=True)

    config.write_text("[privacy]\nnever_capture = 'keepass'\n")
    with pytest.raises(ConfigError, match=r"agent.toml, line 2: privacy.never_capture: expected"):
        DesktopDriver(desktop, None, poll_interval=1, idle_threshold=180)


async def test_a_locker_that_takes_the_focus_leaves_the_last_window_away() -> None:
    """swaylock on sway: while it runs no window has the focus; the editor goes on, away,
    and is active again once the screen is unlocked. No focus without a lock changes
    nothing (the last activity goes on, as before)."""
    windows: list[WindowSample | None] = [EDITOR, None, None, None, EDITOR, None]
    locks = [False, True, True, False, False, False]
    beats, _ = await drive(windows, NO_RULES, desktop=LockingDesktop(windows, locks))
    assert [(b.ts, b.activity) for b in beats] == [
        (at(0), editor()),
        (at(1), editor(idle=True)),
        (at(4), editor()),
    ]
