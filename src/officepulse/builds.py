"""Which build of officepulse is running: a hash of its code, the same for the agent and
the server when they come from the same source.

A build's hash is SHA-256 over every ``*.py`` file of the ``officepulse`` package, in
the order of their paths relative to it (as POSIX paths), each as its path, a NUL byte,
its length, a NUL byte and its bytes. Compiled files, data files and caches do not count,
so a checkout, a wheel and an installed copy of the same source have the same hash.

A one-file agent (PyInstaller) has no ``.py`` files: its spec computes the hash of the
source it bundles at build time and writes it next to the package as ``BUILD``, which is
read instead. The server knows its own build's hash and those its operator lists
(``agent_builds``): an agent reporting any other is flagged as an unknown build.

``python -m officepulse.builds`` prints the hash of the code it runs from.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import officepulse

__all__ = ["BUILD_FILE", "build_hash", "source_hash"]

BUILD_FILE = "BUILD"
_HEX = re.compile(r"^[0-9a-f]{64}$")


def source_hash(package: Path) -> str:
    """The hash of the ``*.py`` files under ``package`` (see the module's docstring)."""
    digest = hashlib.sha256()
    files = sorted((p.relative_to(package).as_posix(), p) for p in package.rglob("*.py"))
    for name, path in files:
        data = path.read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


@functools.cache
def build_hash() -> str | None:
    """This process's build: recorded at build time (``BUILD``), else the hash of its
    source; None when neither can be read (then the agent reports none)."""
    package = Path(officepulse.__file__).parent
    try:
        recorded = (package / BUILD_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        recorded = ""
    if _HEX.match(recorded):
        return recorded
    try:
        return source_hash(package)
    except OSError:
        return None


if __name__ == "__main__":
    print(build_hash() or "unknown")
