"""The usage API's query for today."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

_now = datetime.now(UTC)


TODAY = urlencode(
    {"start": (_now - timedelta(days=1)).isoformat(), "end": (_now + timedelta(days=1)).isoformat()}
)
