"""The pause status as the tray and the settings page read it."""

from __future__ import annotations

from officepulse.agent.controls import Status, status_of


def status(**kw: object) -> Status:
    given: dict[str, object] = {
        "pause": None,
        "desktop_problem": None,
        "connected": True,
        "waiting": 0,
        "offline_since_ms": None,
        "server_url": "wss://office.example.com/agent",
        "local": lambda t: "14:02",
    }
    return status_of(**(given | kw))  # type: ignore[arg-type]
