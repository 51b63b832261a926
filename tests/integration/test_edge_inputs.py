"""Every HTTP function against moto, fed what a careless or hostile caller sends: bytes that are not UTF-8,
multipart without a boundary, JSON nested a thousand deep, booleans for numbers and numbers for times.
Each is a specific 4xx in the error shape, with no-store and nosniff on the answer; never a 5xx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from functools import cache
from types import ModuleType
from typing import Any

import pytest

from tests.integration.conftest import Stack
from tests.support import FakeContext, http_event, load_handler, sample

OPS = "oms_local_ops_key"
DEEP = "[" * 1000 + "]" * 1000
SHOPIFY_SECRET = "shpss_local_dev_secret"
BITESHIP = {"x-biteship-secret": "biteship_local_dev_secret", "content-type": "application/json"}


@cache
def handler(function: str) -> ModuleType:
    return load_handler(f"functions/{function}/app.py")


# One JSON route of each HTTP function (method, path, route key), all open to an ops key.
JSON_ROUTES = {
    "ingestion": ("POST", "/orders", "/orders"),
    "promising": ("POST", "/promises", "/promises"),
    "returns": ("POST", "/returns", "/returns"),
    "sourcing": ("POST", "/sourcing/plan", "/sourcing/plan"),
    "status": ("POST", "/fulfillments/ord_x-F1/events", "/fulfillments/{fulfillment_id}/events"),
    "stock_sync": ("POST", "/reservations", "/reservations"),
}
BAD_BODIES = {
    # name: (body, is base64, content type, status, error code)
    "not utf-8": (
        base64.b64encode(b'{"note": "\xff\xfe"}').decode(),
        True,
        "application/json",
        400,
        "invalid_encoding",
    ),
    "multipart without a boundary": ('{"a": 1}', False, "multipart/form-data", 415, "unsupported_media_type"),
    "multipart with a boundary": (
        "--b\r\n\r\n--b--",
        False,
        "multipart/form-data; boundary=b",
        415,
        "unsupported_media_type",
    ),
    "form": ("a=1", False, "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    "text": ('{"a": 1}', False, "text/plain", 415, "unsupported_media_type"),
    "nested 1,000 deep": (DEEP, False, "application/json", 400, "too_deeply_nested"),
    "malformed": ("{not json", False, "application/json", 400, "invalid_json"),
    "a lone surrogate": ('{"note": "\\udc00"}', False, "application/json", 400, "invalid_json"),
    "not an object": ("[]", False, "application/json", 422, "validation_failed"),
}


def call(function: str, event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    response = handler(function).lambda_handler(event, FakeContext())
    body = response.get("body")
    return response["statusCode"], json.loads(body) if body else None, response.get("headers") or {}


def json_event(function: str, body: str, base64_encoded: bool, content_type: str) -> dict[str, Any]:
    method, path, route = JSON_ROUTES[function]
    event = http_event(method, path, route, None, OPS)
    event.update(body=body, isBase64Encoded=base64_encoded)
    event["headers"]["content-type"] = content_type
    return event


def assert_secured(headers: dict[str, str]) -> None:
    assert headers.get("Cache-Control") == "no-store", headers
    assert headers.get("X-Content-Type-Options") == "nosniff", headers


@pytest.mark.parametrize("function", sorted(JSON_ROUTES))
def test_every_json_route_answers_a_bad_body_with_a_specific_4xx(stack: Stack, function: str) -> None:
    for name, (body, encoded, content_type, status, code) in BAD_BODIES.items():
        got, answer, headers = call(function, json_event(function, body, encoded, content_type))
        assert (got, answer["error"]) == (status, code), (name, answer)
        assert answer["message"], name
        assert_secured(headers)


def test_the_key_is_checked_before_the_body_is_read(stack: Stack) -> None:
    event = json_event("ingestion", DEEP, False, "multipart/form-data")
    event["headers"].pop("x-api-key")
    got, answer, headers = call("ingestion", event)
    assert (got, answer["error"]) == (401, "unauthorized")
    assert_secured(headers)


# ---------------------------------------------------------------- strict types through the handlers


def _order(**changes: Any) -> dict[str, Any]:
    event = sample("http/post_orders_pos.json")
    body = json.loads(event["body"])
    for path, value in changes.items():
        target = body
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    event["body"] = json.dumps(body)
    return event


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"lines__0__quantity": True}, "lines.0.quantity"),
        ({"placed_at": 12}, "placed_at"),
        ({"placed_at": "2026-11-25T10:15:00"}, "placed_at"),
        ({"channel_updated_at": "1764040500"}, "channel_updated_at"),
        ({"lines__0__unit_price": "1e99999999"}, "lines.0.unit_price"),
    ],
)
def test_an_order_refuses_a_boolean_quantity_and_a_numeric_time(stack: Stack, changes: dict, where: str) -> None:
    got, answer, headers = call("ingestion", _order(**changes))
    assert (got, answer["error"]) == (422, "validation_failed"), answer
    assert where in answer["message"]
    assert_secured(headers)


def test_feeds_and_holds_refuse_them_too(stack: Stack) -> None:
    adjustment = {
        "adjustment_id": "ADJ-1",
        "kind": "receipt",
        "node_id": "DC-CKG",
        "occurred_at": 12,
        "lines": [{"sku": "BTK-PRG-M", "quantity": 1}],
    }
    snapshot = {"snapshot_id": "S-1", "node_id": "DC-CKG", "as_of": 1764040500, "rows": []}
    hold = {"channel": "web", "lines": [{"sku": "BTK-PRG-M", "quantity": True}]}
    for path, route, body, where in (
        ("/inventory/adjustments", "/inventory/adjustments", adjustment, "occurred_at"),
        ("/inventory/snapshots", "/inventory/snapshots", snapshot, "as_of"),
        ("/reservations", "/reservations", hold, "quantity"),
    ):
        got, answer, _ = call("stock_sync", http_event("POST", path, route, body, OPS))
        assert (got, answer["error"]) == (422, "validation_failed"), answer
        assert where in answer["message"]
    event = http_event(
        "POST",
        "/fulfillments/ord_x-F1/events",
        "/fulfillments/{fulfillment_id}/events",
        {"type": "delayed", "reason": "truck", "ready_at": 1764040500},
        OPS,
    )
    got, answer, _ = call("status", event)
    assert got == 422 and "ready_at" in answer["message"], answer


# ---------------------------------------------------------------- answers that carry PII


def test_a_good_answer_is_never_cached(stack: Stack) -> None:
    got, answer, headers = call("ingestion", sample("http/post_orders_pos.json"))
    assert got == 201, answer
    assert_secured(headers)
    listing = http_event("GET", "/orders", "/orders", None, OPS)
    listing.update(body=None, queryStringParameters={"channel": "pos", "channel_order_id": "POS-JKT-GI-20261125-0042"})
    got, answer, headers = call("ingestion", listing)
    assert got == 200 and len(answer["items"]) == 1, answer
    assert_secured(headers)
    assert headers["Strict-Transport-Security"].startswith("max-age=")


# ---------------------------------------------------------------- signed routes


def _carrier(body: str | bytes, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    encoded = isinstance(body, bytes)
    event = {
        "routeKey": "POST /webhooks/carriers/{carrier}",
        "rawPath": "/webhooks/carriers/biteship",
        "pathParameters": {"carrier": "biteship"},
        "body": base64.b64encode(body).decode() if encoded else body,
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/carriers/biteship"}, "stage": "$default"},
        "isBase64Encoded": encoded,
    }
    return call("status", event)


def test_biteship_checks_its_header_before_reading_the_body(stack: Stack) -> None:
    # Unauthenticated: the header is checked first, whatever the body
    for body in (DEEP, b'{"a": "\xff"}', "{not json"):
        got, answer, headers = _carrier(body, {"content-type": "application/json"})
        assert (got, answer["error"]) == (401, "invalid_signature"), answer
        assert_secured(headers)
    # Authenticated: a clear 400 for each
    assert _carrier(DEEP, BITESHIP)[1]["error"] == "too_deeply_nested"
    assert _carrier(b'{"event": "order.status", "note": "\xff"}', BITESHIP)[1]["error"] == "invalid_encoding"
    assert _carrier("{not json", BITESHIP)[0] == 400
    # The install probe still needs no header
    assert _carrier("{ }", {})[0] == 200


def _shopify(body: bytes, signed: bool = True) -> tuple[int, Any, dict[str, str]]:
    event = sample("http/webhook_shopify_orders_paid.json")
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    event["headers"].pop("x-shopify-triggered-at", None)
    digest = hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()
    event["headers"]["x-shopify-hmac-sha256"] = base64.b64encode(digest).decode() if signed else "forged"
    return call("ingestion", event)


def test_a_channel_webhook_verifies_the_bytes_then_refuses_what_cannot_be_read(stack: Stack) -> None:
    assert _shopify(DEEP.encode(), signed=False)[0] == 401
    got, answer, headers = _shopify(DEEP.encode())
    assert (got, answer["error"]) == (400, "too_deeply_nested"), answer
    assert_secured(headers)
    assert _shopify(b'{"id": 1, "note": "\xff"}')[1]["error"] == "invalid_encoding"
    assert _shopify(b'{"id": 1, "note": "\xff"}', signed=False)[0] == 401


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/returns", {"created_to": "0001-01-01T00:00:00Z"}, (422, "validation_failed")),  # an instant's field
        ("/returns", {"created_to": "0001-01-31T00:00:00+07:00"}, (422, "validation_failed")),  # no UTC at all
        ("/returns", {"status": "authorized", "created_from": "0001-01-01T00:00:00+07:00"}, (422, "validation_failed")),
        ("/returns/stats", {"to": "0001-01-01"}, (400, "bad_request")),  # a day: the range before it is out
    ],
)
def test_a_range_ending_at_year_one_is_a_4xx(
    stack: Stack, path: str, query: dict[str, str], expected: tuple[int, str]
) -> None:
    event = http_event("GET", path, path, None, OPS)
    event.update(body=None, queryStringParameters=query)
    got, answer, _ = call("returns", event)
    assert (got, answer["error"]) == expected, answer
    assert "out of range" in answer["message"]
