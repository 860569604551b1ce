"""The agent's end of one connection from the browser extension's host, line by line
(pure but for logging), and the channel's error: shared by the Unix socket
(``tab_channel.py``) and the Windows named pipe (``windows_pipe.py``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec

from officepulse.agent.browser_tabs import (
    ExtensionHello,
    HostHello,
    ProbeReply,
    ProbeRequest,
    Tabs,
    decode_line,
)
from officepulse.errors import OfficepulseError

log = logging.getLogger("officepulse.agent.tab_channel")


class ChannelError(OfficepulseError):
    """The channel cannot be opened; the message says why, for people."""


class Session:
    """One connection at the agent's end, line by line (pure but for logging)."""

    def __init__(self, tabs: Tabs, key: int, clock: Callable[[], float]) -> None:
        self.tabs = tabs
        self.key = key
        self.clock = clock
        self.host: HostHello | None = None
        self._complained = False

    def line(self, data: bytes) -> bytes | None:
        """Take one line; the answer to send before closing, for a probe."""
        try:
            message = decode_line(data)
        except msgspec.DecodeError as exc:  # ValidationError included
            self._complain(f"a line that is not a message of the browser extension: {exc}")
            return None
        if isinstance(message, ProbeRequest):
            return msgspec.json.encode(ProbeReply(browsers=self.tabs.views(self.clock()))) + b"\n"
        if isinstance(message, HostHello):
            self.host = message
            self.tabs.connect(self.key, message)
            log.info(
                "the browser extension is connected (%s, browser pid %s)",
                message.caller or "caller not named",
                message.browser_pids[0] if message.browser_pids else "unknown",
            )
            return None
        if self.host is None:
            self._complain(f"a {type(message).__name__} before the host said hello")
            return None
        self.tabs.receive(self.key, message, self.clock())
        if isinstance(message, ExtensionHello):
            log.info("officepulse's browser extension %s", message.extension or "(no version)")
        return None

    def close(self) -> None:
        if self.host is not None:
            self.tabs.disconnect(self.key)
            log.info("the browser extension disconnected (%s)", self.host.caller or "?")

    def _complain(self, what: str) -> None:
        # Once per connection: a host that misbehaves must not fill the log.
        if not self._complained:
            self._complained = True
            log.warning("browser channel: ignored %s", what)
