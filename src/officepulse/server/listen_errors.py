"""Why the server could not listen, said in words: a busy port is common (a second
``make run``, another program on 8080) and Python's answer to it is a traceback."""

from __future__ import annotations

import errno

from officepulse.settings import env_name


def listen_failure(exc: OSError, host: str, port: int) -> str | None:
    """What to tell the person when binding ``host``:``port`` failed with ``exc``, or
    None when it is not a failure to listen that they can fix."""
    choose = f"choose another with --port or {env_name('port')}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} is taken: another program (perhaps another officepulse server) "
            f"listens on {host}:{port}; stop it, or {choose}"
        )
    if exc.errno == errno.EACCES:
        return (
            f"this user may not listen on port {port} of {host} (ports below 1024 need "
            f"privileges); {choose}"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{host} is not an address of this computer, so the server cannot listen on it; "
            f"choose another with --host or {env_name('host')}"
        )
    return None
