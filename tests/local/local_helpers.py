"""Helpers for the oms_local tests (a unique module name: conftest.py is not importable by name)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "local") not in sys.path:
    sys.path.insert(0, str(REPO / "local"))

from oms_local import LocalRuntime  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll until probe() is truthy; no fixed sleeps in tests."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)


def scan(rt: LocalRuntime, logical_id: str) -> list[dict[str, Any]]:
    return rt.client("dynamodb").scan(TableName=rt.table_name(logical_id))["Items"]
