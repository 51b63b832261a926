"""The one OpenAPI document of the whole HTTP API, merged from every HTTP function's resolver.

In AWS each function holds its own resolver only, so the merge is made here, at build and test time, and
committed as shared/oms/openapi.json: the layer carries it and the ingestion function serves it at
GET /openapi.json (and as Swagger UI at GET /docs). tests/unit/test_openapi.py fails when the committed file
differs from a fresh generation.

    python scripts/openapi.py           # write shared/oms/openapi.json
    python scripts/openapi.py --check   # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT / "shared", ROOT / "local", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

OUTPUT = ROOT / "shared" / "oms" / "openapi.json"
TITLE = "Fulfillment OMS"
VERSION = "1.0.0"
DESCRIPTION = (
    "Order management for omnichannel retailers: order capture and channel webhooks, stock and holds, sourcing, "
    "promising, fulfillment status and tracking, returns.\n\n"
    "Own channels, nodes, ops and cs authenticate with the `x-api-key` header; channel and carrier webhooks with "
    "their signature over the raw body; buyers' tracking with the `x-buyer-contact` header. Every error is JSON "
    '`{"error": "<code>", "message": "<what is wrong>", "details": ...}` (details only where there is more to say).'
)
# The routes that serve this document: public, not described in it.
UNDESCRIBED = {("GET", "/openapi.json"), ("GET", "/docs")}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def http_functions() -> dict[str, tuple[Path, list[tuple[str, str]]]]:
    """Each function with HttpApi events: its handler module and its (method, path) routes, from template.yaml."""
    from oms_local.template import load_yaml

    resources = load_yaml(ROOT / "template.yaml")["Resources"]
    found: dict[str, tuple[Path, list[tuple[str, str]]]] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        routes = [
            (str(event["Properties"]["Method"]).upper(), str(event["Properties"]["Path"]))
            for event in (props.get("Events") or {}).values()
            if event.get("Type") == "HttpApi"
        ]
        if routes:
            module = str(props["Handler"]).rsplit(".", 1)[0]
            found[logical_id] = (ROOT / str(props["CodeUri"]) / f"{module}.py", sorted(routes))
    return found


def _load(path: Path) -> Any:
    name = f"openapi_{path.parent.name}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def merged_resolver() -> Any:
    """One resolver holding every HTTP function's routes, so that the models get one set of schema names (a
    model that is both read and written gets -Input/-Output schemas consistently across functions)."""
    from oms.http import new_resolver

    merged = new_resolver(TITLE)
    owners: dict[tuple[str, str], str] = {}
    for logical_id, (path, _routes) in http_functions().items():
        app = _load(path).app
        for route in app._static_routes + app._dynamic_routes:  # Powertools keeps no public list of them
            key = (route.method.upper(), route.openapi_path)
            if key in owners and route.include_in_schema:
                raise SystemExit(f"{key[0]} {key[1]} is routed by {owners[key]} and {logical_id}")
            owners[key] = logical_id
        merged._static_routes += app._static_routes
        merged._dynamic_routes += app._dynamic_routes
    return merged


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*map(_refs, node)) if node else set()
    return set()


def auth_kind(route: str, operation: dict[str, Any]) -> str:
    from oms.openapi_errors import KEY, PUBLIC, SIGNED

    if operation.get("security"):
        return KEY
    return SIGNED if route.startswith("/webhooks/") else PUBLIC


def _complete(route: str, operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """The errors the edge (oms.http) gives on every route of the operation's auth kind, where the route's
    decorator did not declare them, with the shared error body (also instead of Powertools' 422)."""
    from oms.openapi_errors import BY_AUTH, SIGNED, Error, error

    name = Error.__name__
    schemas.setdefault(name, Error.model_json_schema())
    responses = operation.setdefault("responses", {})
    for status in BY_AUTH[auth_kind(route, operation)]:
        declared = responses.get(str(status))
        if declared is None or "HTTPValidationError" in json.dumps(declared):
            answer = error(status)
            answer["content"]["application/json"] = {"schema": {"$ref": f"#/components/schemas/{name}"}}
            responses[str(status)] = answer
    operation["responses"] = dict(sorted(responses.items()))
    if auth_kind(route, operation) == SIGNED and "requestBody" not in operation:
        # Read as raw bytes (the signature is over them), so no model declares it.
        operation["requestBody"] = {
            "description": "The sender's JSON, exactly as it signed it",
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }


def generate() -> dict[str, Any]:
    """The merged document: paths sorted, and only the component schemas they reach (Powertools adds its own
    validation error schemas to every document; our 422 has the shared error body instead)."""
    document = json.loads(merged_resolver().get_openapi_json_schema(title=TITLE, version=VERSION,
                                                                     description=DESCRIPTION))  # fmt: skip
    paths = document.get("paths", {})
    for route, item in paths.items():
        for operation in item.values():
            _complete(route, operation, document["components"]["schemas"])
    schemas = document.get("components", {}).get("schemas", {})
    reached: set[str] = set()
    pending = _refs(paths)
    while pending:
        name = pending.pop()
        if name not in reached and name in schemas:
            reached.add(name)
            pending |= _refs(schemas[name]) - reached
    document["paths"] = {route: paths[route] for route in sorted(paths)}
    document["components"]["schemas"] = {name: schemas[name] for name in sorted(reached)}
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed document is stale")
    args = parser.parse_args(argv)
    fresh = render(generate())
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != fresh:
            print(f"{OUTPUT} is stale: run `python scripts/openapi.py`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(fresh, encoding="utf-8")
    operations = sum(len(item) for item in json.loads(fresh).get("paths", {}).values())
    print(f"written {OUTPUT}: {operations} operations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
