"""Unit tests run at a fixed instant (tests/clock.py)."""

from tests.clock import _fixed_clock  # noqa: F401  (an autouse fixture)
