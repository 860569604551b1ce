"""Reading the report API of a real server."""

from __future__ import annotations

import urllib.error
import urllib.request

from tests.support.servers import ServerProcess


def fetch(server: ServerProcess, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode()
        exc.close()
        return exc.code, body
