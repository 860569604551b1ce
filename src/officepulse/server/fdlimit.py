"""The file descriptor limit, and how many sockets the server may hold under it.

Every open connection is a descriptor. Once the process has none left, accept() fails and
nobody new gets in, while the database, the logs and PostgreSQL's pool need descriptors
too. So the server raises its soft limit to the hard one at start (as far as it may) and
holds at most ``socket_cap`` sockets (``max_sockets``): the limit less a reserve.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

# Where the platform has no descriptor limit to read (Windows).
UNKNOWN_LIMIT_CAP = 10_000
# macOS refuses a soft limit above OPEN_MAX even when the hard limit says "unlimited".
MACOS_OPEN_MAX = 10_240
# Sockets' descriptors aside: SQLite's files, PostgreSQL's pool, the listening sockets,
# stdio, the TLS files, and the sockets being refused (sockets.py's REFUSING_AT_ONCE).
MIN_RESERVE = 100


def socket_cap(fd_limit: int | None) -> int:
    """The sockets a process with ``fd_limit`` descriptors may hold: a tenth (at least
    MIN_RESERVE) is kept back for everything else."""
    if fd_limit is None:
        return UNKNOWN_LIMIT_CAP
    return max(1, fd_limit - max(MIN_RESERVE, fd_limit // 10))


def fd_limit() -> int | None:
    """The soft descriptor limit in force; None where there is none to read."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def raise_fd_limit() -> int | None:
    """Raises the soft descriptor limit to the hard one where allowed (the default soft
    limit is often 1,024 under a hard one of 500,000); the soft limit then in force."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if sys.platform == "darwin":
        target = MACOS_OPEN_MAX if hard == resource.RLIM_INFINITY else min(hard, MACOS_OPEN_MAX)
    if target != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.info("could not raise the descriptor limit from %d to %d: %s", soft, target, exc)
    return fd_limit()
