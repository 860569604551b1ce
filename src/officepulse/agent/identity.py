"""The agent's stable id: made once, kept in the state folder."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

_VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def agent_id(state_dir: str | Path) -> str:
    path = Path(state_dir) / "agent-id"
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if _VALID.match(existing):
        return existing
    new = uuid.uuid4().hex
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new + "\n")
    return new
