"""How `make test`'s worker processes (pytest-xdist: ``-n 2 --dist loadgroup``) share
the tests. A test file is one unit of work, run whole by one worker, as with ``--dist
loadfile``: its module-scoped fixtures (a browser, a compositor's session, a cluster, a
NATS server) are made once, and its tests run in their order. Files whose tests are
marked ``pytest.mark.xdist_group("name")`` are one unit together, as with ``--dist
loadgroup``: heavy ones that must not run at the same time as each other (see where
the marks are).

Only the controller imports this (tests/conftest.py's ``pytest_xdist_make_scheduler``).
"""

from __future__ import annotations

from xdist.scheduler import LoadGroupScheduling


class FileOrGroupScheduling(LoadGroupScheduling):
    def _split_scope(self, nodeid: str) -> str:
        # loadgroup's scope: the group's name for a test marked with one (xdist puts it
        # after an @ in the test's id), else the test alone; here the file instead.
        group = super()._split_scope(nodeid)
        return group if group != nodeid else nodeid.split("::", 1)[0]
