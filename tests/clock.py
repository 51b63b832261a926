"""One clock for the in-process tests (unit and integration).

The suite must pass at any instant, so the tests that run the code in this
process do not read the machine's clock: each starts at TEST_NOW and time
moves on from there as it would (ticking, so timeouts and TTLs still pass).
`OMS_FAKE_NOW=2026-12-07T17:30:00+00:00 make test` runs them at another
instant (00:30 WIB, a New Year's Eve, Lebaran) to look for hour-of-day bugs.

Tests that start the local stack in other processes (tests/local, tests/e2e)
share the clock with it: the machine's, or OMS_FAKE_NOW's for every process
(oms_local.clock, started by tests/conftest.py). They must hold at any instant.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import pytest
import time_machine

# A Monday at 10:00 WIB: an ordinary working day in the middle of a week's data.
DEFAULT_TEST_NOW = "2026-12-07T03:00:00+00:00"


def pinned_now() -> datetime:
    value = os.environ.get("OMS_FAKE_NOW") or DEFAULT_TEST_NOW
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise ValueError(f"OMS_FAKE_NOW needs an offset: {value!r}")
    return instant


@pytest.fixture(autouse=True)
def _fixed_clock() -> Iterator[None]:
    if os.environ.get("OMS_FAKE_NOW"):  # the whole run is already there, every process on one clock
        yield
        return
    with time_machine.travel(pinned_now(), tick=True):
        yield
