"""The one OpenAPI document: committed as generated, covering every route of the template, every error
declared with the shared error body; served with its reference page by the ingestion function."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType
from typing import Any

import pytest

from oms.api_docs import DOCUMENT
from oms.openapi_errors import BY_AUTH, KEY, PUBLIC, SIGNED, answers
from tests.support import ROOT, FakeContext, load_handler, sample

METHODS = {"get", "put", "post", "delete", "patch"}


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("openapi_script", ROOT / "scripts" / "openapi.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return _script()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), route, operation)
        for route, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_committed_document_is_a_fresh_generation(script: ModuleType) -> None:
    fresh = script.render(script.generate())
    committed = DOCUMENT.read_text(encoding="utf-8")
    assert committed == fresh, "shared/oms/openapi.json is stale: run `.venv/bin/python scripts/openapi.py`"


def test_the_check_mode_tells_a_stale_document(
    script: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(script, "OUTPUT", stale)
    monkeypatch.setattr(script, "generate", lambda: {"openapi": "3.1.0"})
    assert script.main(["--check"]) == 1
    assert script.main([]) == 0
    assert script.main(["--check"]) == 0


def test_every_route_of_the_template_is_described_and_nothing_else(script: ModuleType, document: dict) -> None:
    routed = {route for _, (_, routes) in script.http_functions().items() for route in routes}
    described = {(method, route) for method, route, _ in _operations(document)}
    assert routed - script.UNDESCRIBED == described
    assert routed >= script.UNDESCRIBED  # the document and its page are routed in AWS too
    assert len(described) >= 44


def test_every_operation_declares_its_success_and_the_errors_of_its_auth_kind(document: dict) -> None:
    for method, route, operation in _operations(document):
        responses = operation["responses"]
        kind = KEY if operation.get("security") else (SIGNED if route.startswith("/webhooks/") else PUBLIC)
        assert {str(status) for status in BY_AUTH[kind]} <= set(responses), (method, route)
        ok = [status for status in responses if status.startswith("2")]
        assert ok, (method, route)
        for status, answer in responses.items():
            assert answer.get("description"), (method, route, status)
            if int(status) >= 400:
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, route, status)
            else:  # JSON, or a file (a label's PDF)
                content = answer["content"]
                assert (content.get("application/json") or content.get("application/pdf") or {}).get("schema"), (
                    method, route, status)  # fmt: skip
        assert operation.get("summary"), (method, route)
    assert "HTTPValidationError" not in json.dumps(document)


def test_the_error_body_is_the_one_oms_http_writes(document: dict) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message"]
    assert set(error["properties"]) == {"error", "message", "details"}
    assert error["additionalProperties"] is False


def test_answers_adds_the_errors_of_the_auth_kind() -> None:
    declared = answers(404, auth=PUBLIC, ok={202: {"description": "queued"}}, e404="no such count")
    assert set(declared) == {202, 404, *BY_AUTH[PUBLIC]}
    assert declared[404]["description"] == "no such count"
    assert set(answers()) == {200, *BY_AUTH[KEY]}


def _get(api: ModuleType, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = sample("http/get_openapi.json") | {"rawPath": path, "routeKey": f"GET {path}", "headers": headers or {}}
    event["requestContext"] = {**event["requestContext"], "http": {**event["requestContext"]["http"], "path": path}}
    return api.app.resolve(event, FakeContext())


def test_the_ingestion_function_serves_the_document_and_its_page() -> None:
    api = load_handler("functions/ingestion/app.py")
    answer = _get(api, "/openapi.json")
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == json.loads(DOCUMENT.read_text(encoding="utf-8"))
    page = _get(api, "/docs")
    assert page["statusCode"] == 200
    assert page["headers"]["Content-Type"].startswith("text/html")
    html = page["body"]
    assert "SwaggerUIBundle" in html and '"/orders/{order_id}"' in html
    assert "<script src=" not in html and "<link rel=" not in html  # nothing loaded from elsewhere
