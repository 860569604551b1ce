"""How `make test`'s worker processes (pytest-xdist: ``-n 2 --dist loadfile``) share the
tests. A test file is one unit of work, run whole by one worker: its module-scoped
fixtures (a browser, a compositor's session, a cluster, a NATS server) are made once,
and its tests run in their order. The files of one of ``TOGETHER``'s groups are one unit
together: heavy ones that starve each other when run at once on two cores.

(pytest-xdist's own ``--dist loadgroup`` and its ``xdist_group`` mark would say the same
in the test files, but they rely on rewriting test ids, which pytest 9.2 no longer takes:
pytest-xdist issue #1386.) Only the controller imports this module (tests/conftest.py's
``pytest_xdist_make_scheduler``).
"""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling

# GNOME Shell, KWin and sway render in software, and the cluster runs a dozen processes
# (three gateways, a panel, NATS, PostgreSQL, HAProxy): seen in a suite run, GNOME Shell
# starting beside the cluster left D-Bus calls unanswered for 10 s, and a cluster test's
# wait ran out.
HEAVY = "compositors and the cluster"
TOGETHER = {
    "tests/agent/sources/test_wayland_gnome.py": HEAVY,
    "tests/agent/sources/test_wayland_kde.py": HEAVY,
    "tests/agent/sources/test_wayland_sway.py": HEAVY,
    "tests/server/test_cluster.py": HEAVY,
}


class FileScheduling(LoadFileScheduling):
    def _split_scope(self, nodeid: str) -> str:
        file = super()._split_scope(nodeid)
        return TOGETHER.get(file, file)
