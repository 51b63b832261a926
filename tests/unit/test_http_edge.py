"""The HTTP edge: every malformed body is a specific 4xx (never a 5xx), signed bodies are checked only after
their signature, numbers refuse booleans and times refuse numbers, and every answer carries no-store."""

from __future__ import annotations

import base64
import importlib
import json
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from oms import bodies
from oms.domain.carrier_webhooks import CarrierWebhooks, is_empty_probe
from oms.errors import InvalidEncoding, InvalidJson, InvalidSignature, TooDeep
from oms.models.api import OrderCreate
from oms.models.apikey import ApiKey
from oms.models.inventory import AdjustmentCreate, HoldCreate, NodeSettings, SnapshotPart
from oms.models.promising import PromiseRequest
from oms.models.returns import ReturnCreate, ReturnReceipt
from oms.models.status import Delayed, Packed, Shipped
from oms.ports import ApiKeyRepository
from tests.fakes import FakeSecrets
from tests.support import FakeContext

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DEEP = "[" * 1000 + "]" * 1000


def http() -> ModuleType:
    """oms.http, imported as Lambda does: its Metrics reads the namespace once, on the first import."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OMS")
        return importlib.import_module("oms.http")


# ---------------------------------------------------------------- bodies


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_a_body_is_parsed_up_to_the_depth_limit_and_refused_beyond() -> None:
    assert bodies.loads(nested(bodies.MAX_DEPTH)) is not None
    with pytest.raises(TooDeep, match="deeper than 64"):
        bodies.loads(nested(bodies.MAX_DEPTH + 1))
    with pytest.raises(TooDeep):
        bodies.loads(DEEP)  # json.loads raises RecursionError on this
    # Brackets inside strings are text, not nesting
    assert bodies.loads(json.dumps({"note": "[" * 500})) == {"note": "[" * 500}
    # Many brackets side by side are not deep
    assert len(bodies.loads("[" + ",".join(["[]"] * 5000) + "]")) == 5000


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'{"a": "\xff"}', InvalidEncoding),
        (b"\xef\xbb", InvalidEncoding),  # a cut multi-byte sequence
        ("{not json", InvalidJson),
        ('{"a": 1} trailing', InvalidJson),
        ('{"a": NaN}', InvalidJson),  # not JSON, and no amount is NaN
        ('{"a": "\\ud800"}', InvalidJson),  # a lone surrogate no store can encode
        ("", InvalidJson),
    ],
)
def test_each_malformed_body_is_its_own_400(raw: str | bytes, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        bodies.loads(raw)
    assert caught.value.status_code == 400  # type: ignore[attr-defined]


def test_the_message_names_the_place_never_the_content() -> None:
    with pytest.raises(InvalidEncoding, match="byte 0xff at position 7"):
        bodies.text(b'{"a": "\xffsecret"}')
    with pytest.raises(InvalidJson) as caught:
        bodies.loads('{"email": "siti@example.co.id" oops}')
    assert "siti" not in caught.value.message and "line 1 column" in caught.value.message


def test_raw_body_refuses_base64_that_is_not() -> None:
    raw_body = http().raw_body
    assert raw_body({"body": base64.b64encode(b"\xff").decode(), "isBase64Encoded": True}) == b"\xff"
    with pytest.raises(Exception) as caught:
        raw_body({"body": "not*base64", "isBase64Encoded": True})
    assert caught.value.status_code == 400  # type: ignore[attr-defined]


# ---------------------------------------------------------------- GuardedApp


class NoKeys(ApiKeyRepository):
    def get(self, key_hash: str) -> ApiKey | None:
        return None

    def put(self, key: ApiKey) -> None:  # pragma: no cover - not called
        raise NotImplementedError


class Thing(BaseModel):
    name: str


def guarded() -> Any:
    edge = http()
    app = edge.new_resolver("edge test")

    @app.post("/things")
    def post_thing(body: Thing) -> dict[str, Any]:
        return {"name": body.name}

    @app.get("/things")
    def get_things() -> dict[str, Any]:
        return {"items": []}

    @app.post("/webhooks/<channel>")
    def webhook(channel: str) -> dict[str, Any]:
        return {"bytes": len(edge.raw_body(app.current_event.raw_event))}

    @app.get("/boom")
    def boom() -> dict[str, Any]:
        raise RuntimeError("a real server fault")

    guarded_app = edge.GuardedApp(app, {})
    guarded_app._guard = edge.RouteGuard({}, NoKeys(), max_body=100_000)
    return guarded_app


def event(
    method: str, route: str, body: str | bytes = "", content_type: str | None = "application/json", **extra: Any
) -> dict[str, Any]:
    path = route.replace("{channel}", "shopify")
    encoded = isinstance(body, bytes)
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "headers": {"content-type": content_type} if content_type else {},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": base64.b64encode(body).decode() if encoded else body,
        "isBase64Encoded": encoded,
        **extra,
    }


def answer(edge: Any, evt: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = edge(evt, FakeContext())
    return response["statusCode"], json.loads(response["body"] or "null"), response["headers"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"name": "\xff"}', "application/json", 400, "invalid_encoding"),
        ('{"name": "\ud800"}', "application/json", 400, "invalid_encoding"),  # a str body with a lone surrogate
        ('{"name": "x"}', "multipart/form-data", 415, "unsupported_media_type"),  # Powertools: ValueError
        ("", "multipart/form-data", 415, "unsupported_media_type"),
        (
            '--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--b--',
            "multipart/form-data; boundary=b",
            415,
            "unsupported_media_type",
        ),
        ("name=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ('{"name": "x"}', "text/plain", 415, "unsupported_media_type"),
        ('{"name": "x"}', "application/json; charset=latin-1", 415, "unsupported_media_type"),
        (DEEP, "application/json", 400, "too_deeply_nested"),
        ("{not json", "application/json", 400, "invalid_json"),
        ('{"name": 1}', "application/json", 422, "validation_failed"),
        ("", "application/json", 422, "validation_failed"),  # a route with a body needs one
        ("not*base64", None, 400, "bad_request"),
    ],
)
def test_a_bad_body_on_a_json_route_is_a_clear_4xx(body: Any, content_type: str | None, status: int, code: str) -> None:
    evt = event("POST", "/things", body, content_type)
    if body == "not*base64":
        evt["isBase64Encoded"] = True
    got, payload, headers = answer(guarded(), evt)
    assert (got, payload["error"]) == (status, code), payload
    assert payload["message"]
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "Application/JSON; charset=UTF-8", "application/json;charset=utf-8"]
)
def test_json_with_any_spelling_of_its_type_is_read(content_type: str | None) -> None:
    got, payload, headers = answer(guarded(), event("POST", "/things", '{"name": "x"}', content_type))
    assert (got, payload) == (200, {"name": "x"})
    assert headers["Cache-Control"] == "no-store" and "Strict-Transport-Security" in headers


def test_reads_without_a_body_ignore_the_content_type() -> None:
    assert answer(guarded(), event("GET", "/things", "", "multipart/form-data"))[0] == 200


def test_a_signed_route_gets_its_bytes_untouched() -> None:
    # The WooCommerce ping is a form body, and a signature covers bytes that may not be UTF-8
    got, payload, _ = answer(
        guarded(), event("POST", "/webhooks/{channel}", "webhook_id=1", "application/x-www-form-urlencoded")
    )
    assert (got, payload) == (200, {"bytes": 12})
    assert answer(guarded(), event("POST", "/webhooks/{channel}", b"\xff\xfe", "multipart/form-data"))[1] == {
        "bytes": 2
    }


def test_a_real_server_fault_still_surfaces() -> None:
    with pytest.raises(RuntimeError, match="a real server fault"):
        guarded()(event("GET", "/boom", content_type=None), FakeContext())


def test_too_large_comes_before_anything_is_decoded() -> None:
    got, payload, headers = answer(guarded(), event("POST", "/things", b"\xff" * 200_000))
    assert (got, payload["error"]) == (413, "payload_too_large")
    assert headers["Cache-Control"] == "no-store"


# ---------------------------------------------------------------- carrier webhooks


class Reports:
    def __init__(self) -> None:
        self.reports: list[Any] = []

    def carrier_report(self, report: Any) -> Any:
        self.reports.append(report)
        return None


BITESHIP_SECRETS = FakeSecrets({"biteship/header_name": "x-biteship-secret", "biteship/header_secret": "s3cret"})


def test_biteship_checks_its_header_before_it_reads_the_body() -> None:
    hooks = CarrierWebhooks(BITESHIP_SECRETS, Reports(), max_body_bytes=100_000)
    for body in (DEEP.encode(), b'{"a": "\xff"}', b"{not json"):
        with pytest.raises(InvalidSignature):
            hooks.receive("biteship", {}, body, NOW)
    signed = {"x-biteship-secret": "s3cret"}
    with pytest.raises(TooDeep):
        hooks.receive("biteship", signed, DEEP.encode(), NOW)
    with pytest.raises(InvalidEncoding):
        hooks.receive("biteship", signed, b'{"event": "order.status", "note": "\xff"}', NOW)


def test_the_biteship_install_probe_is_matched_not_parsed() -> None:
    for probe in (b"", b"  ", b"{}", b"{ }\n", b"[]", b"[\t]"):
        assert is_empty_probe(probe), probe
    for other in (b'{"event":"x"}', b"[[]]", DEEP.encode(), b"{", b"\xff"):
        assert not is_empty_probe(other), other


def test_a_biteship_time_that_is_a_number_is_refused() -> None:
    reports = Reports()
    hooks = CarrierWebhooks(BITESHIP_SECRETS, reports, max_body_bytes=100_000)
    body = {"event": "order.status", "courier_waybill_id": "WB1", "courier_company": "jne", "status": "picked"}
    with pytest.raises(Exception) as caught:
        hooks.receive("biteship", {"x-biteship-secret": "s3cret"}, json.dumps({**body, "updated_at": 12}).encode(), NOW)
    assert caught.value.status_code == 400  # type: ignore[attr-defined]
    hooks.receive(
        "biteship",
        {"x-biteship-secret": "s3cret"},
        json.dumps({**body, "updated_at": "2026-12-07T15:00:00+07:00"}).encode(),
        NOW,
    )
    assert reports.reports[0].at == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


# ---------------------------------------------------------------- strict types


def _errors(model: type[BaseModel], data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return json.dumps(caught.value.errors(include_input=False, include_url=False, include_context=False))


ORDER = {
    "channel": "pos",
    "channel_order_id": "POS-1",
    "placed_at": "2026-12-07T09:00:00+07:00",
    "payment": {"status": "paid"},
    "lines": [{"line_id": "1", "sku": "A", "quantity": 1, "unit_price": "1000"}],
}
ADJUSTMENT = {"adjustment_id": "A1", "kind": "receipt", "node_id": "DC-CKG", "lines": [{"sku": "A", "quantity": 1}]}
SNAPSHOT = {"snapshot_id": "S1", "node_id": "DC-CKG", "as_of": "2026-12-07T09:00:00+07:00", "rows": []}
HOLD = {"channel": "web", "lines": [{"sku": "A", "quantity": 1}]}
RETURN = {"order_id": "o1", "method": "ship_back", "lines": [{"line_id": "1", "quantity": 1, "reason": "other"}]}
PROMISE = {"destination": {"postal_code": "12190"}, "lines": [{"sku": "A", "quantity": 1}]}
NODE = {"name": "DC", "kind": "dc"}


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(base))
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return data


@pytest.mark.parametrize(
    ("model", "base", "path", "value", "problem"),
    [
        (OrderCreate, ORDER, "lines.0.quantity", True, "not true or false"),
        (OrderCreate, ORDER, "placed_at", 12, "ISO 8601"),
        (OrderCreate, ORDER, "placed_at", "1700000000", "ISO 8601"),  # digits in a string: seconds since 1970
        (OrderCreate, ORDER, "placed_at", "2026-12-07T09:00:00", "offset"),
        (OrderCreate, ORDER, "channel_updated_at", 1.5, "ISO 8601"),
        (HoldCreate, HOLD, "lines.0.quantity", True, "integer"),
        (HoldCreate, HOLD, "ttl_seconds", True, "integer"),
        (AdjustmentCreate, ADJUSTMENT, "lines.0.quantity", True, "integer"),
        (AdjustmentCreate, ADJUSTMENT, "occurred_at", 12, "ISO 8601"),
        (SnapshotPart, SNAPSHOT, "as_of", 12, "ISO 8601"),
        (SnapshotPart, SNAPSHOT, "as_of", "2026-12-07T09:00:00", "offset"),
        (SnapshotPart, SNAPSHOT, "part", True, "integer"),
        (ReturnCreate, RETURN, "lines.0.quantity", True, "integer"),
        (ReturnReceipt, {"lines": [{"line_id": "1", "quantity": 1}]}, "lines.0.quantity", False, "integer"),
        (PromiseRequest, PROMISE, "as_of", 12, "ISO 8601"),
        (PromiseRequest, PROMISE, "destination.lat", True, "not true or false"),
        (PromiseRequest, PROMISE, "lines.0.quantity", True, "integer"),
        (OrderCreate, ORDER, "lines.0.unit_price", "1e99999999", "out of range"),  # decimal.Overflow in pydantic
        (OrderCreate, ORDER, "lines.0.unit_price", "1e-99999999", "out of range"),  # slipped past decimal_places
        (NodeSettings, NODE, "lat", "1e-99999999", "out of range"),
        (NodeSettings, NODE, "handling_cost", "-1E+999999999", "out of range"),
        (NodeSettings, NODE, "lead_time_hours", True, "not true or false"),
        (NodeSettings, NODE, "daily_capacity", {"ship": True}, "not true or false"),
        (Packed, {"type": "packed"}, "weight_grams", True, "not true or false"),
        (Shipped, {"type": "shipped", "carrier": "jne", "tracking_number": "JNE1"}, "occurred_at", 12, "ISO 8601"),
        (Delayed, {"type": "delayed", "reason": "x"}, "ready_at", 1765000000, "ISO 8601"),
    ],
)
def test_numbers_refuse_booleans_and_times_refuse_numbers(
    model: type[BaseModel], base: dict[str, Any], path: str, value: Any, problem: str
) -> None:
    assert problem in _errors(model, _with(base, path, value))


def test_the_strict_types_still_take_what_they_should() -> None:
    order = OrderCreate.model_validate(_with(ORDER, "channel_updated_at", "2026-12-07T02:00:00Z"))
    assert order.channel_updated_at == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert order.lines[0].quantity == 1
    assert AdjustmentCreate.model_validate(_with(ADJUSTMENT, "occurred_at", "2026-12-07T09:00:00+07:00")).occurred_at
    assert PromiseRequest.model_validate(_with(PROMISE, "destination.lat", -6.2)).destination.lat == -6.2
    assert NodeSettings.model_validate({**NODE, "lead_time_hours": 12}).lead_time_hours == 12


def test_the_depth_scan_skips_strings_and_their_escapes_in_one_pass() -> None:
    from oms import bodies
    from oms.errors import TooDeep

    inside_strings = '{"a": "' + "[" * 100 + '\\"' + "{" * 100 + '", "b": [1]}'
    bodies.check_depth(inside_strings)  # brackets in a string, past an escaped quote, are text
    escaped_backslash = '{"a": "\\\\", "b": ' + "[" * 70 + "]" * 70 + "}"
    with pytest.raises(TooDeep):  # the string ended after its escaped backslash: these brackets count
        bodies.check_depth(escaped_backslash)
    unterminated = "[" * 30 + '"' + '\\"' * 50_000 + "[" * 40  # what made a regex backtrack for seconds
    bodies.check_depth(unterminated)  # inside the string to the end: only 30 deep
