"""What the agent makes of the server's word on updates (the operator's settings
``agent_latest_version``, ``agent_download_url`` and ``agent_min_version``).

The welcome may name the current agent release (``Welcome.agent_release``): when it is
newer than this agent, the agent says "update available" in its log, once per connection,
and in its tray, a row that opens the download address. A server that admits only newer
agents refuses this one with close code 4426 (``update-required``) and a message that says
which version it needs and where to get it: the agent says so, in its log and its tray, and
asks again only every ``refused_retry`` seconds. It never downloads nor replaces itself:
updating is the person's (or their administrator's) choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from officepulse.protocol.messages import AgentRelease
from officepulse.versions import VersionError, parse

__all__ = ["Update", "offered"]


@dataclass(frozen=True, slots=True)
class Update:
    """A newer agent than this one: its ``version``, and ``url`` where to get it."""

    version: str
    url: str | None

    def describe(self) -> str:
        """In words, for the log and the tray: 'update available (0.2.0, https://…)'."""
        where = f", {self.url}" if self.url else ""
        return f"update available ({self.version}{where})"


def offered(running: str, release: AgentRelease | msgspec.UnsetType) -> Update | None:
    """The update the server offers an agent of version ``running``: None when it names no
    release, or none newer than this one."""
    if isinstance(release, msgspec.UnsetType):
        return None
    try:
        newer = parse(release.version) > parse(running)
    except VersionError:
        return None  # a release this agent cannot read: nothing it can tell the person
    return Update(release.version, release.url) if newer else None
