"""Ingestion end to end inside one process: sample events -> handlers -> moto.

Webhook -> inbox -> (stream) normalizer -> order -> (stream) publisher -> bus.
"""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

import pytest

from oms.domain.capture import order_id_for
from tests.integration.conftest import Stack, client
from tests.support import FakeContext, StreamReader, load_handler, sample

SHOPIFY_ID = "5524887142582"


@pytest.fixture
def api() -> ModuleType:
    return load_handler("functions/ingestion/app.py")


@pytest.fixture
def normalizer() -> ModuleType:
    return load_handler("functions/ingestion/normalizer.py")


@pytest.fixture
def publisher() -> ModuleType:
    return load_handler("functions/ingestion/publisher.py")


def shopify_fixture() -> dict[str, Any]:
    return sample("channels/shopify_orders_create.json")


def get_order_event(order_id: str) -> dict[str, Any]:
    event = sample("http/get_order.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/orders/{order_id}"
    event["pathParameters"] = {"order_id": order_id}
    return event


def call(api: ModuleType, event: dict[str, Any]) -> tuple[int, Any]:
    response = api.lambda_handler(event, FakeContext())
    body = response.get("body")
    return response["statusCode"], json.loads(body) if body else None


def pump(stack: Stack, table: str, handler: ModuleType, readers: dict[str, StreamReader]) -> list[dict]:
    """Hand every new stream record of a table to a handler, as Lambda would."""
    if table not in readers:
        readers[table] = StreamReader(client, stack.resources.streams[table])
    answers = []
    while (event := readers[table].next_event()) is not None:
        answers.append(handler.lambda_handler(event, FakeContext()))
    return answers


def scan(table: str) -> list[dict]:
    return client("dynamodb").scan(TableName=table)["Items"]


def orders_in(table: str) -> list[dict]:
    """The order items (not their timeline entries)."""
    return [item for item in scan(table) if item["sk"]["S"] == "ORDER"]


def test_a_signed_shopify_order_becomes_one_order_and_one_event(
    stack: Stack, api: ModuleType, normalizer: ModuleType, publisher: ModuleType
) -> None:
    # Given a rule that copies the bus's events to a queue we can read
    sqs = client("sqs")
    queue_url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = client("events")
    bus = stack.env["EVENT_BUS_NAME"]
    events.put_rule(Name="tap", EventBusName=bus, EventPattern=json.dumps({"source": ["oms"]}))
    events.put_targets(Rule="tap", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    readers: dict[str, StreamReader] = {}

    # When the same signed webhook arrives three times
    event = sample("http/webhook_shopify_orders_create.json")
    answers = [call(api, event) for _ in range(3)]
    pump(stack, "InboxTable", normalizer, readers)
    pump(stack, "OrdersTable", publisher, readers)

    # Then it was stored once, acknowledged every time, and is one order
    assert [a[0] for a in answers] == [200, 200, 200]
    assert [a[1]["status"] for a in answers] == ["accepted", "duplicate", "duplicate"]
    assert len(scan(stack.env["INBOX_TABLE"])) == 1
    assert len(orders_in(stack.env["ORDERS_TABLE"])) == 1
    status, found = call(api, sample("http/get_orders_by_channel_order_id.json"))
    assert status == 200
    (summary,) = found["items"]
    assert summary["channel_order_id"] == SHOPIFY_ID
    # And the order carries its SKUs, quantities and address
    status, order = call(api, get_order_event(summary["order_id"]))
    assert status == 200
    assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [
        ("BTK-PRG-L", 2),
        ("KOP-GAYO-250", 3),
        ("SMB-BWG-200", 1),
    ]
    assert order["shipping_address"]["postal_code"] == shopify_fixture()["shipping_address"]["zip"]
    assert order["order_number"].startswith("OMS-")
    # And exactly one OrderReceived reached the bus
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    details = [json.loads(m["Body"]) for m in messages]
    assert [d["detail-type"] for d in details] == ["OrderReceived"]
    assert details[0]["detail"]["order_id"] == summary["order_id"]


def test_paid_then_cancelled_updates_apply_and_stale_ones_do_not(
    stack: Stack, api: ModuleType, normalizer: ModuleType
) -> None:
    readers: dict[str, StreamReader] = {}
    order_id = order_id_for("shopify", SHOPIFY_ID)
    for name in ("create", "cancelled", "paid"):  # the paid update arrives after the cancellation
        call(api, sample(f"http/webhook_shopify_orders_{name}.json"))
    pump(stack, "InboxTable", normalizer, readers)
    _, order = call(api, get_order_event(order_id))
    assert order["status"] == "cancelled"


def test_a_wrong_signature_is_401_and_stores_nothing(stack: Stack, api: ModuleType) -> None:
    event = sample("http/webhook_shopify_orders_create.json")
    event["headers"]["x-shopify-hmac-sha256"] = "AAAA" + event["headers"]["x-shopify-hmac-sha256"][4:]
    status, body = call(api, event)
    assert status == 401
    assert body["error"] == "invalid_signature"
    assert scan(stack.env["INBOX_TABLE"]) == []


def test_a_base64_body_is_verified_over_its_bytes(stack: Stack, api: ModuleType) -> None:
    import base64

    event = sample("http/webhook_shopify_orders_create.json")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert call(api, event)[0] == 200


def test_woocommerce_ping_and_order(stack: Stack, api: ModuleType, normalizer: ModuleType) -> None:
    assert call(api, sample("http/webhook_woocommerce_ping.json")) == (200, {"status": "ping"})
    assert call(api, sample("http/webhook_woocommerce_order_created.json"))[0] == 200
    pump(stack, "InboxTable", normalizer, {})
    (item,) = orders_in(stack.env["ORDERS_TABLE"])
    # the fixture has a line without a SKU and is on-hold (unpaid): held with both reasons
    assert item["status"]["S"] == "on_hold"
    assert {code["S"] for code in item["hold_codes"]["L"]} == {"unknown_sku", "unpaid"}


def test_an_unnormalizable_webhook_is_quarantined_not_lost(stack: Stack, normalizer: ModuleType) -> None:
    # Given the sample stream batch (one good Shopify order, one broken WooCommerce body) and its items
    batch = sample("streams/inbox_inserts.json")
    for record in batch["Records"]:
        image = record["dynamodb"]["NewImage"]
        image["body"] = {"B": base64.b64decode(image["body"]["B"])}
        client("dynamodb").put_item(TableName=stack.env["INBOX_TABLE"], Item=image)
    answer = normalizer.lambda_handler(sample("streams/inbox_inserts.json"), FakeContext())
    # Then no retry is asked for (a retry cannot fix it), and one order exists
    assert answer == {"batchItemFailures": []}
    assert len(orders_in(stack.env["ORDERS_TABLE"])) == 1


def test_quarantine_is_recorded_and_replayable(stack: Stack, api: ModuleType, normalizer: ModuleType) -> None:
    from oms import container

    readers: dict[str, StreamReader] = {}
    event = sample("http/webhook_woocommerce_order_created.json")
    body = json.loads(event["body"])
    body["line_items"] = "not a list"
    raw = json.dumps(body, separators=(",", ":")).encode()
    event["body"] = raw.decode()
    import base64
    import hashlib
    import hmac

    from oms_local.seed import DEFAULTS

    signature = hmac.new(DEFAULTS["OMS_WOOCOMMERCE_SECRET"].encode(), raw, hashlib.sha256).digest()
    event["headers"]["x-wc-webhook-signature"] = base64.b64encode(signature).decode()
    assert call(api, event)[0] == 200
    pump(stack, "InboxTable", normalizer, readers)
    (quarantined,) = container.inbox().quarantined("woocommerce")
    assert "line_items" in quarantined["quarantine_reason"]
    # When an operator replays it (after a fix; here nothing changed, so it is quarantined again)
    container.inbox().request_replay(quarantined["pk"])
    pump(stack, "InboxTable", normalizer, readers)
    assert len(container.inbox().quarantined("woocommerce")) == 1


def test_direct_capture_with_roles(stack: Stack, api: ModuleType) -> None:
    event = sample("http/post_orders_pos.json")
    status, body = call(api, event)
    assert status == 201, body
    assert body["outcome"] == "created"
    assert body["status"] == "received"
    again = call(api, event)
    assert again[0] == 200
    assert again[1]["order_number"] == body["order_number"]
    # other content under the same id and time is a conflict, not a silent tie-break
    changed = json.loads(event["body"]) | {"notes": "changed"}
    conflict = sample("http/post_orders_pos.json") | {"body": json.dumps(changed)}
    assert call(api, conflict)[0] == 409
    # a POS key may not post for the call center
    other = json.loads(event["body"])
    other["channel"] = "callcenter"
    event["body"] = json.dumps(other)
    assert call(api, event)[0] == 403


@pytest.mark.parametrize(
    ("mutate", "status", "fragment"),
    [
        (lambda e: e["headers"].pop("x-api-key"), 401, "missing x-api-key"),
        (lambda e: e["headers"].update({"x-api-key": "nope"}), 401, "unknown"),
        (lambda e: e.update({"body": "{not json"}), 400, "json"),
        (lambda e: e.update({"body": json.dumps({"channel": "pos"})}), 422, "channel_order_id"),
        (lambda e: e.update({"body": e["body"].replace('"quantity": 1', '"quantity": "one"')}), 422, "quantity"),
        (lambda e: e.update({"body": e["body"].replace('"pos"', '"shopee"')}), 422, "webhook"),
        (lambda e: e.update({"body": " " * 600_000}), 413, "limit"),
        (
            lambda e: e.update({"body": e["body"].replace('"discount": "10000"', '"discount": "999999"')}),
            422,
            "discount",
        ),
    ],
)
def test_bad_direct_capture_is_a_clear_4xx(
    stack: Stack, api: ModuleType, mutate: Any, status: int, fragment: str
) -> None:
    event = sample("http/post_orders_pos.json")
    mutate(event)
    got, body = call(api, event)
    assert got == status, body
    assert fragment in json.dumps(body).lower()
    assert orders_in(stack.env["ORDERS_TABLE"]) == []


def test_roles_on_reads(stack: Stack, api: ModuleType) -> None:
    event = sample("http/get_orders_by_channel_order_id.json")
    event["headers"]["x-api-key"] = "oms_local_ops_key_pos"
    assert call(api, event)[0] == 403


def test_list_by_status_and_time_with_pages(stack: Stack, api: ModuleType) -> None:
    base = json.loads(sample("http/post_orders_pos.json")["body"])
    for n in range(5):
        event = sample("http/post_orders_pos.json")
        event["body"] = json.dumps({**base, "channel_order_id": f"POS-{n}"})
        assert call(api, event)[0] == 201
    listing = sample("http/get_orders_by_channel_order_id.json")
    listing["queryStringParameters"] = {"status": "received", "limit": "2"}
    seen: list[str] = []
    for _ in range(5):
        status, page = call(api, listing)
        assert status == 200, page
        seen.extend(item["channel_order_id"] for item in page["items"])
        if not page["next_cursor"]:
            break
        listing["queryStringParameters"]["cursor"] = page["next_cursor"]
    assert sorted(seen) == [f"POS-{n}" for n in range(5)]
    listing["queryStringParameters"] = {"limit": "10"}
    assert len(call(api, listing)[1]["items"]) == 5
    listing["queryStringParameters"] = {"status": "cancelled"}
    assert call(api, listing)[1]["items"] == []
    listing["queryStringParameters"] = {"status": "lost"}
    assert call(api, listing)[0] == 422
    # a forged cursor and a range too wide to walk are refused, not failed
    forged = base64.urlsafe_b64encode(b'{"key": "x"}').decode()
    listing["queryStringParameters"] = {"cursor": forged}
    assert call(api, listing)[0] == 400
    listing["queryStringParameters"] = {"created_from": "2000-01-01T00:00:00Z"}
    status, body = call(api, listing)
    assert status == 400
    assert "status filter" in body["message"]
    listing["queryStringParameters"] = {"created_from": "0001-01-01T00:00:00+01:00"}
    assert call(api, listing)[0] == 422  # out of range, named as a field


def test_openapi_is_generated(stack: Stack, api: ModuleType) -> None:
    status, document = call(api, sample("http/get_openapi.json"))
    assert status == 200
    assert {"/orders", "/orders/{order_id}", "/webhooks/{channel}"} <= set(document["paths"])
    assert "apiKey" in document["components"]["securitySchemes"]
