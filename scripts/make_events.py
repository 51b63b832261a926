"""Regenerate the sample trigger events in events/ from the channel fixtures.

    PYTHONPATH=shared python scripts/make_events.py

HTTP events are API Gateway HTTP API payload format 2.0, signed with the
local default secrets (local/oms_local/seed.py); stream events are what
Lambda hands the normalizer and the publisher. The tests feed these files to
the handlers, so they are committed, and this script keeps them honest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "local")]

from oms.adapters.inbox import entry_to_item  # noqa: E402
from oms.models.inbox import InboxEntry  # noqa: E402
from oms_local.seed import DEFAULTS  # noqa: E402

EVENTS = ROOT / "events"
WHEN = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def http_event(
    method: str,
    path: str,
    route: str,
    *,
    body: bytes | None = None,
    headers: dict | None = None,
    query: dict | None = None,
    path_params: dict | None = None,
) -> dict:
    headers = {"content-type": "application/json", "user-agent": "sample", **(headers or {})}
    query_string = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    event = {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": query_string,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "sample",
            },
            "requestId": "sample-request",
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "time": "25/Nov/2026:02:00:00 +0000",
            "timeEpoch": 1795658400000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if body is not None:
        event["body"] = body.decode()
    return event


def compact(name: str) -> bytes:
    """Channels send compact JSON; the fixtures are pretty for reading."""
    return json.dumps(json.loads((EVENTS / "channels" / name).read_text()), separators=(",", ":")).encode()


def b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_webhook(fixture: str, topic: str, event_id: str) -> dict:
    body = compact(fixture)
    headers = {
        "x-shopify-topic": topic,
        "x-shopify-hmac-sha256": b64_hmac(DEFAULTS["OMS_SHOPIFY_SECRET"], body),
        "x-shopify-shop-domain": "toko-demo.myshopify.com",
        "x-shopify-event-id": event_id,
        "x-shopify-webhook-id": f"wh-{event_id}",
        "x-shopify-api-version": "2026-10",
    }
    return http_event(
        "POST",
        "/webhooks/shopify",
        "/webhooks/{channel}",
        body=body,
        headers=headers,
        path_params={"channel": "shopify"},
    )


def woocommerce_webhook(fixture: str, topic: str) -> dict:
    body = compact(fixture)
    headers = {
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-resource": "order",
        "x-wc-webhook-event": topic.split(".")[1],
        "x-wc-webhook-signature": b64_hmac(DEFAULTS["OMS_WOOCOMMERCE_SECRET"], body),
        "x-wc-webhook-id": "12",
        "x-wc-webhook-delivery-id": "a1b2c3",
        "x-wc-webhook-source": "https://toko-demo.co.id/",
    }
    return http_event(
        "POST",
        "/webhooks/woocommerce",
        "/webhooks/{channel}",
        body=body,
        headers=headers,
        path_params={"channel": "woocommerce"},
    )


POS_ORDER = {
    "channel": "pos",
    "channel_order_id": "POS-JKT-GI-20261125-0042",
    "placed_at": "2026-11-25T10:15:00+07:00",
    "customer": {"name": "Budi Santoso", "phone": "+6281311112222"},
    "delivery_method": "ship",
    "service_level": "next_day",
    "shipping_address": {
        "name": "Budi Santoso",
        "phone": "+6281311112222",
        "line1": "Jl. Melati No. 8",
        "village": "Menteng",
        "district": "Menteng",
        "city": "Jakarta Pusat",
        "province": "DKI Jakarta",
        "postal_code": "10310",
        "country": "ID",
    },
    "payment": {"status": "paid", "method": "qris"},
    "lines": [
        {"line_id": "1", "sku": "BTK-PRG-M", "quantity": 1, "unit_price": "450000"},
        {"line_id": "2", "sku": "KOP-TORAJA-250", "quantity": 2, "unit_price": "105000", "discount": "10000"},
    ],
}


def stream_event(table: str, records: list[tuple[str, dict | None, dict]]) -> dict:
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-11-25T00:00:00.000"
    out = []
    for number, (name, old, new) in enumerate(records, start=1):
        sequence = str(100000000000000000000 + number)
        dynamodb = {
            "ApproximateCreationDateTime": 1795658400,
            "Keys": {"pk": new["pk"]},
            "NewImage": new,
            "SequenceNumber": sequence,
            "SizeBytes": 1024,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if old is not None:
            dynamodb["OldImage"] = old
        out.append(
            {
                "eventID": f"sample-{number}",
                "eventName": name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": arn,
                "dynamodb": dynamodb,
            }
        )
    return {"Records": out}


def json_image(item: dict) -> dict:
    """Stream images carry binary as base64 text."""

    def encode(value: dict) -> dict:
        if "B" in value:
            return {"B": base64.b64encode(value["B"]).decode()}
        return value

    return {name: encode(value) for name, value in item.items()}


def inbox_stream() -> dict:
    entry = InboxEntry(
        channel="shopify",
        dedupe_key="event:sample-create",
        topic="orders/create",
        received_at=WHEN,
        content_type="application/json",
        headers={"x-shopify-topic": "orders/create"},
        body=compact("shopify_orders_create.json"),
    )
    broken = InboxEntry(
        channel="woocommerce",
        dedupe_key="sha256:broken",
        topic="order.created",
        received_at=WHEN,
        body=b'{"id": 99, "line_items": "not a list"}',
    )
    return stream_event(
        "oms-inbox-test",
        [
            ("INSERT", None, json_image(entry_to_item(entry, timedelta(days=90)))),
            ("INSERT", None, json_image(entry_to_item(broken, timedelta(days=90)))),
        ],
    )


def write(name: str, event: dict) -> None:
    path = EVENTS / name
    path.write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
    print("wrote", path.relative_to(ROOT))


def main() -> None:
    write(
        "http/webhook_shopify_orders_create.json",
        shopify_webhook("shopify_orders_create.json", "orders/create", "evt-create-1"),
    )
    write(
        "http/webhook_shopify_orders_paid.json",
        shopify_webhook("shopify_orders_paid.json", "orders/paid", "evt-paid-1"),
    )
    write(
        "http/webhook_shopify_orders_cancelled.json",
        shopify_webhook("shopify_orders_cancelled.json", "orders/cancelled", "evt-cancel-1"),
    )
    write(
        "http/webhook_woocommerce_order_created.json",
        woocommerce_webhook("woocommerce_order_created.json", "order.created"),
    )
    ping = http_event(
        "POST",
        "/webhooks/woocommerce",
        "/webhooks/{channel}",
        body=b"webhook_id=12",
        headers={"content-type": "application/x-www-form-urlencoded"},
        path_params={"channel": "woocommerce"},
    )
    write("http/webhook_woocommerce_ping.json", ping)
    key = {"x-api-key": DEFAULTS["OMS_API_KEY"] + "_pos"}
    write(
        "http/post_orders_pos.json",
        http_event("POST", "/orders", "/orders", body=json.dumps(POS_ORDER).encode(), headers=key),
    )
    ops = {"x-api-key": DEFAULTS["OMS_API_KEY"]}
    write(
        "http/get_orders_by_channel_order_id.json",
        http_event(
            "GET", "/orders", "/orders", headers=ops, query={"channel": "shopify", "channel_order_id": "5524887142582"}
        ),
    )
    write(
        "http/get_order.json",
        http_event(
            "GET",
            "/orders/ord_placeholder",
            "/orders/{order_id}",
            headers=ops,
            path_params={"order_id": "ord_placeholder"},
        ),
    )
    cs = {"x-api-key": DEFAULTS["OMS_API_KEY"] + "_cs"}
    ask = {
        "order_id": "ord_placeholder",
        "method": "store_drop_off",
        "drop_off_node_id": "ST-JKT-GI",
        "request_id": "cs-ticket-4412",
        "lines": [{"line_id": "1", "quantity": 1, "reason": "wrong_size"}],
    }
    write(
        "http/post_returns.json", http_event("POST", "/returns", "/returns", body=json.dumps(ask).encode(), headers=cs)
    )
    wms = {"x-api-key": DEFAULTS["OMS_API_KEY"] + "_wms"}
    inspection = {"inspection_id": "insp-1", "units": [{"line_id": "1", "condition": "resellable", "quantity": 1}]}
    write(
        "http/post_returns_inspect.json",
        http_event(
            "POST", "/returns/RMA-OMS-0000001-1/inspect", "/returns/{rma_id}/inspect",
            body=json.dumps(inspection).encode(), headers=wms, path_params={"rma_id": "RMA-OMS-0000001-1"},
        ),
    )  # fmt: skip
    write("http/get_openapi.json", http_event("GET", "/openapi.json", "/openapi.json"))
    write("streams/inbox_inserts.json", inbox_stream())


if __name__ == "__main__":
    main()
