"""What a running agent has imported, read from its output."""

from __future__ import annotations

import re

IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$")


def imported(output: str) -> set[str]:
    """The top-level packages named in Python's import log."""
    return {m[1].split(".")[0] for line in output.splitlines() if (m := IMPORT_LINE.match(line))}
