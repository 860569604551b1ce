"""A private nginx for tests: a site file of deploy/ (written with this machine's
addresses) inside a main configuration of its own, every path in one folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def nginx_program() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(found).exists(), "nginx is missing: scripts/system-deps installs it"
    return found


def private_nginx(root: Path, site: Path, connections: int = 256) -> list[str]:
    """The command that runs nginx with ``site`` in its http block, its pid file, logs
    and temporary files in ``root`` (as root, its workers run as root: they read the
    test's files)."""
    temp = "\n".join(
        f"    {kind}_temp_path {root / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (root / "nginx.conf").write_text(
        f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {root / "nginx.pid"};
error_log stderr notice;
events {{ worker_connections {connections}; }}
http {{
    access_log {root / "access.log"};
{temp}
    include {site};
}}
"""
    )
    return [nginx_program(), "-p", str(root), "-c", str(root / "nginx.conf"), "-e", "stderr"]
