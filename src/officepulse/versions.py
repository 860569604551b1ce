"""Comparing officepulse versions, for updates: the server's ``agent_latest_version`` and
``agent_min_version`` against the ``agent_version`` an agent's hello says.

Versions follow PEP 440's public form: an optional epoch (``1!``), release numbers
(``0.2``, ``1.10.3``), then optionally a pre-release (``a1``, ``b2``, ``rc1``), a
post-release (``.post1``) and a development release (``.dev3``). They sort as PEP 440
says: ``1.0.dev1 < 1.0a1 < 1.0rc1 < 1.0 < 1.0.post1``; trailing zeros do not count
(``1.0 == 1.0.0``). A local part (``+ubuntu1``) is not taken: releases are public.
``packaging.version`` does all this and more, but it is not one of the agent's dependencies,
and this is all that is needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from officepulse.errors import OfficepulseError

__all__ = ["Version", "VersionError", "parse"]

# PEP 440's public versions, with the spellings it normalises (1.0-rc.1, 1.0alpha1).
_VERSION = re.compile(
    r"^\s*v?(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)"
    r"(?:[-_.]?(?P<pre>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>[0-9]+)?)?"
    r"(?P<post>-(?P<post_implicit>[0-9]+)|[-_.]?(?:post|rev|r)[-_.]?(?P<post_n>[0-9]+)?)?"
    r"(?P<dev>[-_.]?dev[-_.]?(?P<dev_n>[0-9]+)?)?\s*$",
    re.IGNORECASE,
)
_PRE = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
# Sorts below (above) every (number, number) pair of the same place in a key.
_LOWEST, _HIGHEST = (-1, 0), (1, 0)


class VersionError(OfficepulseError, ValueError):
    """Not a version number PEP 440 knows; the message shows what was given."""


@dataclass(frozen=True, slots=True, order=True)
class Version:
    """A version, ordered and compared as PEP 440 says (by ``key``); ``text`` is how it
    was written."""

    key: tuple[int, tuple[int, ...], tuple[int, int], tuple[int, int], tuple[int, int]]
    text: str = field(compare=False)

    def __str__(self) -> str:
        return self.text


def parse(text: str) -> Version:
    """``text`` as a Version; VersionError when it is not one."""
    found = _VERSION.match(text)
    if found is None:
        raise VersionError(f"{text!r} is not a version number (like 0.2.0 or 1.0rc1)")
    release = tuple(int(n) for n in found["release"].split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    has_post, has_dev = found["post"] is not None, found["dev"] is not None
    # PEP 440's order among equal release numbers: a dev release of the final (1.0.dev1)
    # before the pre-releases, the pre-releases, the final, then post-releases; within
    # each, a dev release before the one it leads to (1.0a1.dev1 < 1.0a1).
    if found["pre"] is not None:
        pre = (0, _PRE[found["pre"].lower()] * 10**9 + int(found["pre_n"] or 0))
    elif has_dev and not has_post:
        pre = _LOWEST
    else:
        pre = _HIGHEST
    post = (0, int(found["post_implicit"] or found["post_n"] or 0)) if has_post else _LOWEST
    dev = (0, int(found["dev_n"] or 0)) if has_dev else _HIGHEST
    return Version((int(found["epoch"] or 0), release, pre, post, dev), text.strip())
