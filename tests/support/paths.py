"""Where the tests find the checkout and their data, wherever the test module sits."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent  # the checkout
DATA = TESTS / "data"
