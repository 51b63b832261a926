"""Property-based fuzz of the whole HTTP API from its one OpenAPI document (GET /openapi.json), against the
local stack, with the demo ops key: data that fits the document and data that does not, for every operation.
Fails on any 5xx, any status the document does not declare, and any answer that does not fit its declared
schema or content type. Deterministic: a fixed seed and a fixed number of examples per operation (no clock)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from oms_local import LocalRuntime
from oms_local.seed import DEFAULTS
from tests.support import ROOT

pytestmark = pytest.mark.e2e

SEED = 17
# Examples per operation and generation mode: about 50 operations x 2 modes x EXAMPLES requests (about two
# minutes on a busy 2-core machine, stack start included).
EXAMPLES = 6


@dataclass(frozen=True)
class Failure:
    operation: str
    check: str
    status: int | None
    title: str
    detail: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.operation} [{self.check}] {self.status}: {self.title}"


@dataclass
class FuzzReport:
    requests: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    unsatisfiable: list[str] = field(default_factory=list)

    def distinct(self) -> list[str]:
        return sorted({str(failure) for failure in self.failures})


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


SKU, NODE = "TSHIRT-BLK-M", "DC-CKG"


def _call(base_url: str, api_key: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, method=method,
                                     headers={"x-api-key": api_key, "content-type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def known_resources(base_url: str, api_key: str, deadline_s: float = 120.0) -> dict[str, str]:
    """Path parameters that name things that exist (a demo SKU and node, an order with its parcel, a hold), so
    that cases built on them reach past the 404 and the answers of the routes themselves are checked too."""
    known = {"sku": SKU, "node_id": NODE, "channel": "web", "kind": "audit"}
    order = {
        "channel": "web", "channel_order_id": "FUZZ-1", "placed_at": "2026-11-26T09:00:00+07:00",
        "customer": {"email": "fuzz@example.co.id"},
        "shipping_address": {"name": "Fuzz", "phone": "+628111", "line1": "Jl. Sudirman 1", "city": "Jakarta Selatan",
                             "province": "DKI Jakarta", "postal_code": "12190"},
        "payment": {"status": "paid", "method": "qris", "reference": "pr-fuzz-1"},
        "lines": [{"line_id": "1", "sku": SKU, "quantity": 1, "unit_price": "149000"}],
        "totals": {"subtotal": "149000", "grand_total": "149000"},
    }  # fmt: skip
    status, captured = _call(base_url, api_key, "POST", "/orders", order)
    assert status in (200, 201), captured
    known |= {"order_id": captured["order_id"], "order_number": captured["order_number"]}
    status, hold = _call(base_url, api_key, "POST", "/reservations",
                         {"channel": "web", "lines": [{"sku": SKU, "quantity": 1}]})  # fmt: skip
    assert status in (200, 201), hold
    known["reservation_id"] = hold["reservation_id"]
    deadline = time.monotonic() + deadline_s  # sourcing is asynchronous: wait for the parcel, not for a time
    while True:
        _, view = _call(base_url, api_key, "GET", f"/orders/{known['order_id']}")
        if view.get("fulfillments"):
            known["fulfillment_id"] = view["fulfillments"][0]["fulfillment_id"]
            return known
        assert time.monotonic() < deadline, f"order {known['order_id']} got no parcel within {deadline_s}s"
        time.sleep(0.2)


def fuzz_api(
    base_url: str,
    api_key: str,
    *,
    examples: int = EXAMPLES,
    seed: int = SEED,
    operations: set[str] | None = None,
    document: dict[str, Any] | None = None,
    known: dict[str, str] | None = None,
) -> FuzzReport:
    """Every operation of the document the stack serves (or of `document`), `examples` cases per mode, each
    checked; `operations` ("GET /nodes", ...) narrows it. With `known` path parameter values, each operation
    whose path parameters are all known gets `examples` more valid cases on those (real) resources."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.core.failures import FailureGroup

    if document is None:
        with urllib.request.urlopen(base_url + "/openapi.json", timeout=30) as answer:
            document = json.loads(answer.read())
    schema = schemathesis.openapi.from_dict(document, config=schemathesis.config.SchemathesisConfig())
    # The key is always sent (the ops key): negative cases then reach the route with bad data instead of
    # stopping at a missing key (401 is declared and checked in tests/unit/test_openapi.py).
    schema.config.generation.update(with_security_parameters=False)
    checks = _checks()
    report = FuzzReport()
    session = requests.Session()
    headers = {"x-api-key": api_key}

    def record(label: str, response: Any, case: Any) -> None:
        report.requests += 1
        report.statuses[response.status_code] += 1
        if response.status_code >= 500:
            report.server_errors += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                name = getattr(failure, "code", type(failure).__name__)
                detail = f"{case.method} {case.formatted_path} -> {response.text[:300]}"
                report.failures.append(Failure(label, str(name), response.status_code, failure.title, detail))
                if response.status_code < 500:
                    report.schema_violations += 1

    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if operations is not None and label not in operations:
            continue
        names = [parameter.name for parameter in operation.path_parameters]
        passes: list[tuple[Any, dict[str, str] | None]] = [
            (GenerationMode.POSITIVE, None),
            (GenerationMode.NEGATIVE, None),
        ]
        if names and known and all(name in known for name in names):
            passes.append((GenerationMode.POSITIVE, {name: known[name] for name in names}))
        for mode, path_parameters in passes:

            @fixed_seed(seed)
            @settings(
                max_examples=examples,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            def run(case: Any) -> None:
                label = f"{case.operation.method.upper()} {case.operation.path}"
                try:
                    response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
                except requests.RequestException as exc:  # no answer at all: as bad as a 5xx
                    report.requests += 1
                    report.server_errors += 1
                    report.failures.append(Failure(label, "no_answer", None, type(exc).__name__, str(exc)[:300]))
                    return
                record(label, response, case)

            try:
                run()
            except Unsatisfiable:  # nothing to negate (no parameters, no body): positive cases only
                report.unsatisfiable.append(f"{label} {mode.value}")
    return report


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(
        ROOT / "template.yaml", port=0, moto_port=0, data_dir=tmp_path_factory.mktemp("oms-fuzz"), seed=True
    )
    with runtime:
        yield runtime


def test_the_api_keeps_its_document(stack: LocalRuntime) -> None:
    known = known_resources(stack.url, DEFAULTS["OMS_API_KEY"])
    report = fuzz_api(stack.url, DEFAULTS["OMS_API_KEY"], known=known)
    assert report.requests >= 44 * EXAMPLES  # every operation was fuzzed (positive cases at least)
    examples = "\n".join(f"  {failure}\n    {failure.detail}" for failure in report.failures[:10])
    assert not report.failures, (
        f"{len(report.failures)} failures in {report.requests} requests:\n"
        + "\n".join(report.distinct())
        + f"\nfirst ones:\n{examples}"
    )


def test_the_fuzz_tells_an_answer_the_document_does_not_declare(stack: LocalRuntime) -> None:
    with urllib.request.urlopen(stack.url + "/openapi.json", timeout=30) as answer:
        document = json.loads(answer.read())
    nodes = document["paths"]["/nodes"]["get"]["responses"]
    nodes["200"]["content"]["application/json"]["schema"] = {"type": "object", "required": ["not_there"]}
    del nodes["401"]
    report = fuzz_api(stack.url, DEFAULTS["OMS_API_KEY"], examples=2, operations={"GET /nodes"}, document=document)
    assert report.requests >= 1
    assert report.schema_violations == report.requests
    assert {failure.title for failure in report.failures} == {"Response violates schema"}
