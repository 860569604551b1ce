"""``officepulse agent probe``: what the agent sees right now, source by source.

``collect`` looks once (desktop backends, the window in front, idle, introspection,
the privacy lists) and ``render`` turns that into a page of plain text meant to be
read in ten seconds. The probe never sends anything anywhere.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import msgspec

from officepulse.agent.config import AgentConfig, ConfigError, load_config
from officepulse.agent.drivers import Seen, look
from officepulse.agent.privacy import NO_RULES, PrivacyRules
from officepulse.agent.sources.base import SourceUnavailable
from officepulse.agent.sources.select import open_desktop, session_kind

__all__ = ["Backend", "Probe", "collect", "render"]


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    available: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Probe:
    """One look, stage by stage. ``desktop`` is the backend in use, or None with
    ``unreadable`` saying why the desktop cannot be read."""

    when: datetime
    platform: str
    session: str
    backends: tuple[Backend, ...]
    desktop: str | None
    unreadable: str | None
    notes: tuple[str, ...]
    idle_threshold: float
    seen: Seen | None = None
    window_error: str | None = None
    idle_error: str | None = None
    locked: bool | None = None
    introspection: tuple[tuple[str, str], ...] = ()
    config: AgentConfig | None = None
    config_error: str | None = None


def collect(
    *,
    source: str = "auto",
    idle_threshold: float = 180.0,
    config: str | None = None,
    environ: Mapping[str, str] | None = None,
    platform: str = sys.platform,
    now: datetime | None = None,
) -> Probe:
    """Look once. Never raises for a desktop that cannot be read or a bad config
    file: the report says so."""
    env = os.environ if environ is None else environ
    when = now or datetime.now().astimezone()
    kind = session_kind(platform, env)
    agent_config: AgentConfig | None = None
    config_error = None
    try:
        agent_config = load_config(config, env)
    except ConfigError as exc:
        config_error = str(exc)
    rules = agent_config.rules if agent_config is not None else NO_RULES
    base = Probe(
        when=when,
        platform=platform,
        session=kind,
        backends=(),
        desktop=None,
        unreadable=None,
        notes=(),
        idle_threshold=idle_threshold,
        config=agent_config,
        config_error=config_error,
    )
    if source == "none":
        return replace(base, unreadable="the source is set to 'none'")
    if source == "scripted":
        return replace(base, unreadable="the source is set to 'scripted' (a timeline replay)")
    return _look(base, source, env, platform, rules)


def _look(
    base: Probe, source: str, env: Mapping[str, str], platform: str, rules: PrivacyRules
) -> Probe:
    try:
        desktop = open_desktop("x11" if source == "x11" else "auto", platform, env)
    except SourceUnavailable as exc:
        backend = Backend(source if source != "auto" else base.session, False, str(exc))
        return replace(base, backends=(backend,), unreadable=str(exc))
    try:
        backends = (Backend(desktop.name, True, _describe(desktop.name, env)),)
        probe = replace(base, backends=backends, desktop=desktop.name, notes=desktop.notes)
        try:
            seen = look(desktop.window, desktop.idle, base.idle_threshold, rules)
        except SourceUnavailable as exc:
            return replace(probe, window_error=str(exc))
        idle_error = None
        if desktop.idle is None:
            idle_error = "; ".join(desktop.notes) or "this desktop cannot tell"
        return replace(probe, seen=seen, idle_error=idle_error)
    finally:
        desktop.close()


def _describe(name: str, env: Mapping[str, str]) -> str:
    if name == "x11":
        return f"windows and idle from X display {env.get('DISPLAY', '')!r}"
    return "in use"


# -- rendering ---------------------------------------------------------------------

_W = 12  # width of the left column


def _row(label: str, text: str) -> str:
    return f"{label:<{_W}}{text}"


def _sub(label: str, text: str) -> str:
    return f"  {label:<{_W + 6}}{text}"


def render(probe: Probe) -> str:
    lines = [
        f"officepulse agent probe — what this agent sees now ({probe.when:%Y-%m-%d %H:%M:%S %z})",
        "",
        _row("desktop", f"{probe.platform}, {probe.session} session"),
    ]
    for backend in probe.backends:
        mark = "yes" if backend.available else "no "
        lines.append(f"  [{mark}] {backend.name:<10} {backend.detail}")
    for note in probe.notes:
        lines.append(f"  note: {note}")
    if probe.unreadable is not None:
        lines.append(_row("", f"cannot read this desktop: {probe.unreadable}"))
        lines.append(_row("", "the agent stays connected: you show as online, without an activity"))
    lines += _render_window(probe)
    lines += _render_privacy(probe)
    lines += _render_result(probe)
    return "\n".join(lines) + "\n"


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
    lines = [
        _row("window", f"app {sample.app!r}, title {sample.title!r}"),
    ]
    if owner:
        lines.append(_row("", owner))
    if seen.idle_for is None:
        lines.append(_row("idle", f"unknown: {probe.idle_error}"))
    else:
        state = "away" if seen.observed.idle else "active"
        lines.append(
            _row(
                "idle",
                f"{seen.idle_for:.1f} s since the last input → {state} "
                f"(away after {probe.idle_threshold:g} s)",
            )
        )
    if probe.locked is None:
        lines.append(_row("locked", "cannot tell on this desktop"))
    else:
        lines.append(_row("locked", "yes (counts as away)" if probe.locked else "no"))
    if not seen.introspected:
        lines.append(_row("introspect", "not run: this app is on a privacy list"))
    elif not probe.introspection:
        lines.append(_row("introspect", "no plugins in this version of the agent"))
    else:
        lines.append(_row("introspect", ""))
        lines += [_sub(name, result) for name, result in probe.introspection]
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
    redact = (
        f"{len(rules.redact)} pattern(s) → {rules.mask!r}: "
        + ", ".join(p.pattern for p in rules.redact)
        if rules.redact
        else "—"
    )
    lines = [
        _row("privacy", f"lists from {config.path}"),
        _sub("never capture", capture),
        _sub("never introspect", introspect),
        _sub("redact", redact),
    ]
    seen = probe.seen
    if seen is not None:
        lines.append(_sub("this window", _verdict(seen, rules)))
    return lines


def _verdict(seen: Seen, rules: PrivacyRules) -> str:
    sample = seen.sample
    hit = rules.blocked(sample.app, sample.process)
    if hit is not None:
        return f"never captured (matches {hit.glob!r}): sends {hit.send}"
    quiet = next((p for p in rules.never_introspect if p.matches(sample.app, sample.process)), None)
    if quiet is not None:
        return f"never introspected (matches {quiet.glob!r}): app name only"
    if seen.activity is not None and seen.activity != seen.observed:
        return "redacted"
    return "on no list"


def _render_result(probe: Probe) -> list[str]:
    if probe.config_error is not None:
        return [_row("would send", "nothing: the agent would not start until the file is fixed")]
    if probe.desktop is None or probe.window_error is not None:
        return [_row("would send", "no activity (online only)")]
    seen = probe.seen
    if seen is None:
        return [_row("would send", "nothing new (the last activity goes on)")]
    if seen.activity is None:
        return [_row("would send", "nothing: this time is not sent at all")]
    return [_row("would send", msgspec.json.encode(seen.activity).decode())]
