"""Helpers for the oms_local tests (a unique module name: conftest.py is not importable by name)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "local") not in sys.path:
    sys.path.insert(0, str(REPO / "local"))

from oms_local import LocalRuntime  # noqa: E402
from tests.support import wait_for  # noqa: E402, F401  (one wait, with the busy machine's deadline)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"

def scan(rt: LocalRuntime, logical_id: str) -> list[dict[str, Any]]:
    return rt.client("dynamodb").scan(TableName=rt.table_name(logical_id))["Items"]
