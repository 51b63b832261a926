"""The API fuzz (tests/e2e/test_api_fuzz.py) over the one OpenAPI document, through the local stack.

fuzz_requests           requests sent: every operation of GET /openapi.json, EXAMPLES cases each of data that fits
                        the document and of data that does not, and EXAMPLES more that fit on resources that exist
                        (a demo SKU and node, an order and its parcel, a hold); fixed seed, the demo ops key
fuzz_5xx                answers with a 5xx status (0 is the goal)
fuzz_schema_violations  answers below 500 whose status, content type or body the document does not declare
"""

from __future__ import annotations

import tempfile
from typing import Any


def run() -> dict[str, float]:
    from oms_local import LocalRuntime
    from oms_local.seed import DEFAULTS
    from tests.e2e.test_api_fuzz import EXAMPLES, fuzz_api, known_resources
    from tests.support import ROOT

    options: dict[str, Any] = {"port": 0, "moto_port": 0, "seed": True}
    with (
        tempfile.TemporaryDirectory(prefix="oms-bench-fuzz-") as data_dir,
        LocalRuntime(ROOT / "template.yaml", data_dir=data_dir, **options) as rt,
    ):
        known = known_resources(rt.url, DEFAULTS["OMS_API_KEY"])
        report = fuzz_api(rt.url, DEFAULTS["OMS_API_KEY"], examples=EXAMPLES, known=known)
    print(f"  statuses: {dict(sorted(report.statuses.items()))}")
    for failure in report.distinct():
        print(f"  {failure}")
    return {
        "fuzz_requests": report.requests,
        "fuzz_5xx": report.server_errors,
        "fuzz_schema_violations": report.schema_violations,
    }
