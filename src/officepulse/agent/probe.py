"""``officepulse agent probe``: what the agent sees right now, source by source.

``collect`` looks once (every desktop backend for this platform, the window in front,
idle and the locked screen, introspection, the privacy lists) and ``render`` turns that
into a page of plain text meant to be read in ten seconds. The probe sends nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import msgspec

from officepulse.agent.browser_tabs import BrowserView, Tabs
from officepulse.agent.config import AgentConfig, ConfigError, load_config
from officepulse.agent.drivers import Seen, judge, make_introspector
from officepulse.agent.journal import Journal
from officepulse.agent.privacy import NO_RULES, PrivacyRules
from officepulse.agent.sources._common import socket_trouble
from officepulse.agent.sources.base import Settles, SourceUnavailable
from officepulse.agent.sources.select import (
    WINDOW_BACKENDS,
    BackendReport,
    open_desktop,
    session_kind,
    survey,
)

__all__ = ["Probe", "collect", "render"]


@dataclass(frozen=True, slots=True)
class Probe:
    """One look, stage by stage. ``desktop`` is the window backend in use, or None with
    ``unreadable`` saying why the desktop cannot be read. ``idle_from`` names the idle
    source (None: the idle time is unknown); ``lock_from`` the lock sources (empty: a
    locked screen cannot be told here)."""

    when: datetime
    platform: str
    session: str
    idle_threshold: float
    backends: tuple[BackendReport, ...] = ()
    desktop: str | None = None
    unreadable: str | None = None
    notes: tuple[str, ...] = ()
    idle_from: str | None = None
    # Wayland's idle protocols tell idleness in steps of this many seconds, counted from
    # when the source opened (base.Settles); None for sources that give the real idle time.
    idle_resolution: float | None = None
    lock_from: tuple[str, ...] = ()
    seen: Seen | None = None
    # The lock as seen when no window has focus (a screen locker may hold it: swaylock).
    locked_without_window: bool = False
    window_error: str | None = None
    introspection: tuple[tuple[str, str], ...] = ()
    config: AgentConfig | None = None
    config_error: str | None = None
    link: str | None = None
    # What officepulse's browser extension reports, as the running agent hears it; None
    # with ``browsers_unknown`` saying why it could not be asked.
    browsers: tuple[BrowserView, ...] | None = None
    browsers_unknown: str | None = None


def link_report(state_dir: str | Path | None, now_ms: int) -> str:
    """The agent's link as its journal last recorded it: connected or offline since
    when, and how many spans wait to be sent."""
    if state_dir is None:
        return "no state folder given"
    path = Path(state_dir) / "journal.sqlite3"
    if not path.exists():
        return f"no journal yet ({path}): the agent has not run here"
    journal = Journal(path)
    try:
        stats = journal.stats()
        state = journal.link_state()
    finally:
        journal.close()
    waiting = f"{stats.waiting} spans waiting ({stats.bytes / 1024:.1f} KB), journal {path}"
    if state is None:
        return f"never connected; {waiting}"
    what, since_ms, url = state
    when = datetime.fromtimestamp(since_ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    ago = max(0, now_ms - since_ms) // 1000
    return (
        f"{what} {'to' if what == 'connected' else 'from'} {url} since {when} ({ago} s); {waiting}"
    )


def collect(
    *,
    source: str = "auto",
    idle_threshold: float = 180.0,
    config: str | None = None,
    environ: Mapping[str, str] | None = None,
    platform: str = sys.platform,
    now: datetime | None = None,
    state_dir: str | Path | None = None,
    agent_config: AgentConfig | None = None,
    tabs_address: str | None = None,
) -> Probe:
    """Look once. Never raises for a desktop that cannot be read or a bad config file:
    the report says so. ``agent_config``: use these lists rather than reading the file
    (the settings page's preview of what it has not saved yet). ``tabs_address``: where
    the running agent hears the browser extension (``tab_channel.channel_address()``
    when None)."""
    env = os.environ if environ is None else environ
    config_error = None
    if agent_config is None:
        try:
            agent_config = load_config(config, env)
        except ConfigError as exc:
            config_error = str(exc)
    base = Probe(
        when=now or datetime.now().astimezone(),
        platform=platform,
        session=session_kind(platform, env),
        idle_threshold=idle_threshold,
        config=agent_config,
        config_error=config_error,
    )
    when = base.when
    base = replace(base, link=link_report(state_dir, int(when.timestamp() * 1000)))
    base = _ask_about_browsers(base, tabs_address)
    if source in ("none", "scripted"):
        what = "a timeline replay" if source == "scripted" else "nothing"
        return replace(base, unreadable=f"the source is set to {source!r} ({what})")
    choice = source if source in WINDOW_BACKENDS else "auto"
    probe = replace(base, backends=tuple(survey(platform, env, choice=choice)))
    rules = agent_config.rules if agent_config is not None else NO_RULES
    return _look(probe, choice, env, rules)


def _ask_about_browsers(probe: Probe, address: str | None) -> Probe:
    """What the running agent hears from the browser extension."""
    from officepulse.agent.tab_channel import ask_agent

    try:
        reply = ask_agent(address)
    except (FileNotFoundError, ConnectionRefusedError):
        return replace(probe, browsers_unknown="no agent is running here to ask")
    except OSError as exc:
        return replace(probe, browsers_unknown=f"cannot ask the agent: {socket_trouble(exc)}")
    return replace(probe, browsers=reply.browsers)


def _look(probe: Probe, choice: str, env: Mapping[str, str], rules: PrivacyRules) -> Probe:
    try:
        desktop = open_desktop(choice, probe.platform, env)
    except SourceUnavailable as exc:
        return replace(probe, unreadable=str(exc))
    # The tabs as the agent has them: the look below merges them as the agent would.
    tabs = Tabs.of(probe.browsers, 0.0) if probe.browsers is not None else None
    introspector = make_introspector(rules, tabs)
    try:
        probe = replace(
            probe,
            desktop=desktop.name,
            notes=desktop.notes,
            idle_from=desktop.idle_name,
            lock_from=desktop.lock_names,
        )
        try:
            idle_source = getattr(desktop.idle, "source", None)
            if isinstance(idle_source, Settles):
                idle_source.settle()  # it knows nothing until its first event could come
                probe = replace(probe, idle_resolution=idle_source.resolution)
            sample = desktop.window.active_window()
            if sample is None:
                locked = desktop.idle is not None and desktop.idle.locked()
                return replace(probe, locked_without_window=locked)
            # The plugins one by one first: a failure is shown here as it is, and the
            # look below then gets the same answers.
            rows: tuple[tuple[str, str], ...] = ()
            if rules.introspects(sample.app, sample.process):
                rows = introspector.explain(sample)
            seen = judge(sample, desktop.idle, probe.idle_threshold, rules, introspector)
        except SourceUnavailable as exc:
            return replace(probe, window_error=str(exc))
        return replace(probe, seen=seen, introspection=rows)
    finally:
        introspector.close()
        desktop.close()


# -- rendering ---------------------------------------------------------------------

_W = 12  # width of the left column


def _row(label: str, text: str) -> str:
    return f"{label:<{_W}}{text}".rstrip()


def _sub(label: str, text: str) -> str:
    return f"  {label:<{_W + 6}}{text}".rstrip()


def would_send(probe: Probe) -> str:
    """The probe's answer in one line: what the agent would send now."""
    return _render_result(probe)[0][_W:]


def render(probe: Probe) -> str:
    lines = [
        f"officepulse agent probe — what this agent sees now ({probe.when:%Y-%m-%d %H:%M:%S %z})",
        "",
        _row("desktop", f"{probe.platform}, {probe.session} session"),
        *_render_backends(probe.backends),
        *(_row("", f"note: {note}") for note in probe.notes),
    ]
    if probe.unreadable is not None:
        lines.append(_row("window", f"cannot be read: {probe.unreadable}"))
        lines.append(
            _row("", "the agent stays connected and shows you online, without an activity")
        )
    lines += _render_window(probe)
    lines += _render_privacy(probe)
    lines += _render_browsers(probe)
    if probe.link is not None:
        lines.append(_row("link", probe.link))
    lines += _render_result(probe)
    return "\n".join(lines) + "\n"


_STATUS = {(True, True): "in use", (True, False): "works", (False, False): "failed"}


def _render_backends(reports: tuple[BackendReport, ...]) -> list[str]:
    """Each capability's candidates for this platform, in order of preference: the one in
    use, those that failed and why, those that do not apply to this session and why."""
    lines = []
    for capability in ("window", "idle", "lock"):
        mine = [
            r
            for r in reports
            if r.capability == capability and not (r.reason or "").startswith("only on ")
        ]
        for i, r in enumerate(mine):
            status = _STATUS.get((r.available, r.chosen), "no") if r.applies else "n/a"
            detail = r.reads if r.available else (r.reason or "")
            label = f"  {capability}" if i == 0 else ""
            lines.append(f"{label:<{_W}}[{status:^6}] {r.name:<15} {detail}")
        if not mine:
            lines.append(f"{'  ' + capability:<{_W}}no backend for this platform")
    return lines


def _render_window(probe: Probe) -> list[str]:
    if probe.desktop is None:
        return []
    if probe.window_error is not None:
        return [_row("window", f"cannot be read: {probe.window_error}")]
    seen = probe.seen
    if seen is None:
        return [
            _row("window", "none has the focus (or no EWMH window manager runs)"),
            _row("idle", "not read (nothing to send without a window)"),
            _lock_row(probe, probe.locked_without_window),
        ]
    sample = seen.sample
    owner = ", ".join(
        part
        for part in (
            f"process {sample.process}" if sample.process else "",
            f"pid {sample.pid}" if sample.pid is not None else "",
        )
        if part
    )
    lines = [_row("window", f"app {sample.app!r}, title {sample.title!r}")]
    if owner:
        lines.append(_row("", owner))
    away = f"→ {'away' if seen.observed.idle else 'active'}"
    threshold = f"(threshold {probe.idle_threshold:g} s)"
    step = probe.idle_resolution
    if probe.idle_from is None or seen.idle_for is None:
        lines.append(_row("idle", f"unknown: this desktop cannot tell {away}"))
    elif step is not None and seen.idle_for < step:
        lines.append(_row("idle", f"less than {step:g} s since the last input {away} {threshold}"))
    elif step is not None:
        lines.append(
            _row(
                "idle",
                f"at least {seen.idle_for:.1f} s since the last input {away} {threshold}; "
                "Wayland tells only since the agent started watching",
            )
        )
    else:
        lines.append(
            _row(
                "idle",
                f"{seen.idle_for:.1f} s since the last input {away} {threshold}",
            )
        )
    lines.append(_lock_row(probe, seen.locked))
    if not seen.introspected:
        lines.append(_row("introspect", "not run: this app is on a privacy list"))
    elif not probe.introspection:
        lines.append(_row("introspect", "no plugins in this version of the agent"))
    else:
        lines.append(_row("introspect", "what the plugins add for this app:"))
        lines += [_sub(name, result) for name, result in probe.introspection]
    return lines


def _render_browsers(probe: Probe) -> list[str]:
    """What officepulse's browser extension reports, browser by browser."""
    if probe.browsers is None:
        return [_row("browser", f"extension not known: {probe.browsers_unknown}")]
    if not probe.browsers:
        return [
            _row("browser", "no browser extension is connected to the agent"),
            _row("", "(officepulse agent install --browser …, then add the extension: README)"),
        ]
    lines = []
    for i, view in enumerate(probe.browsers):
        pid = view.browser_pids[0] if view.browser_pids else "?"
        who = f"extension {view.extension or '?'} in browser pid {pid} ({view.caller or '?'})"
        lines.append(_row("browser" if i == 0 else "", who))
        tab = view.tab
        if tab is None:
            said = "nothing reported yet"
        elif not tab.focused:
            said = "no window it may report is in front (another app, or a private window)"
        else:
            sound = ", playing sound" if tab.audible else ""
            said = f"tab in front: {tab.title!r} {tab.url}{sound}"
        lines.append(_row("", f"  {said} ({view.age:.1f} s ago)"))
    return lines


def _render_privacy(probe: Probe) -> list[str]:
    if probe.config_error is not None:
        return [
            _row("privacy", "the config file cannot be used; the agent would not start:"),
            _row("", probe.config_error),
        ]
    config = probe.config
    assert config is not None
    if not config.found:
        return [_row("privacy", f"no lists ({config.path} does not exist)")]
    rules = config.rules
    capture = ", ".join(f"{p.glob} ({p.send})" for p in rules.never_capture) or "—"
    introspect = ", ".join(p.glob for p in rules.never_introspect) or "—"
    domains = ", ".join(rules.domain_only) or "—"
    redact = (
        f"{len(rules.redact)} pattern(s) → {rules.mask!r}: "
        + ", ".join(repr(p.pattern) for p in rules.redact)
        if rules.redact
        else "—"
    )
    lines = [
        _row("privacy", f"lists from {config.path}"),
        _sub("never capture", capture),
        _sub("never introspect", introspect),
        _sub("redact", redact),
        _sub("domain only", domains),
    ]
    if probe.seen is not None:
        lines.append(_sub("this window", _verdict(probe.seen, rules)))
    return lines


def _verdict(seen: Seen, rules: PrivacyRules) -> str:
    sample = seen.sample
    hit = rules.blocked(sample.app, sample.process)
    if hit is not None:
        return f"never captured (matches {hit.glob!r}): sends {hit.send}"
    quiet = next((p for p in rules.never_introspect if p.matches(sample.app, sample.process)), None)
    if quiet is not None:
        return f"never introspected (matches {quiet.glob!r}): app name only"
    site = rules.site_of(seen.observed.url)
    if site is not None:
        return f"domain only ({site}): the page's title and address are not sent"
    if seen.activity is not None and seen.activity != seen.observed:
        return "redacted"
    return "on no list"


def _lock_row(probe: Probe, locked: bool) -> str:
    if not probe.lock_from:
        return _row("locked", "cannot tell on this desktop")
    return _row("locked", "yes (counts as away)" if locked else "no")


def _render_result(probe: Probe) -> list[str]:
    if probe.config_error is not None:
        return [_row("would send", "nothing: the agent would not start until the file is fixed")]
    if probe.desktop is None or probe.window_error is not None:
        return [_row("would send", "no activity (online only)")]
    seen = probe.seen
    if seen is None and probe.locked_without_window:
        return [_row("would send", "nothing new (the last activity goes on, away)")]
    if seen is None:
        return [_row("would send", "nothing new (the last activity goes on)")]
    if seen.activity is None:
        return [_row("would send", "nothing: this time is not sent at all")]
    return [_row("would send", msgspec.json.encode(seen.activity).decode())]
