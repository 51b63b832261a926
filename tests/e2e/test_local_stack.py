"""End to end: the local stack started from template.yaml, spoken to over HTTP
as a channel, a till and an operator would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from oms_local import LocalRuntime
from oms_local.seed import DEFAULTS
from tests.support import ROOT, admin, sample, wait_for

pytestmark = pytest.mark.e2e

OPS = {"x-api-key": DEFAULTS["OMS_API_KEY"]}
SHOPIFY_ID = "5524887142582"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(
        ROOT / "template.yaml", port=0, moto_port=0, data_dir=tmp_path_factory.mktemp("oms"), seed=True
    )
    with runtime:
        yield runtime


def http(
    stack: LocalRuntime, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(stack.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def shopify_body(**changes: Any) -> bytes:
    order = sample("channels/shopify_orders_create.json") | changes
    return json.dumps(order, separators=(",", ":")).encode()


def signed(body: bytes, secret: str = DEFAULTS["OMS_SHOPIFY_SECRET"], event_id: str = "e2e-1") -> dict[str, str]:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "content-type": "application/json",
        "x-shopify-topic": "orders/create",
        "x-shopify-hmac-sha256": digest,
        "x-shopify-event-id": event_id,
    }


def count(stack: LocalRuntime, table: str) -> int:
    return stack.client("dynamodb").scan(TableName=stack.table_name(table), Select="COUNT")["Count"]


def test_the_issue_done_when(stack: LocalRuntime) -> None:
    # Given a tap on the bus, to see the events
    sqs, events = stack.client("sqs"), stack.client("events")
    tap = sqs.create_queue(QueueName="e2e-tap")["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = stack.resource_name("EventBus")
    events.put_rule(Name="e2e-tap", EventBusName=bus, EventPattern=json.dumps({"source": ["oms"]}))
    events.put_targets(Rule="e2e-tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": tap_arn}])

    # When a signed Shopify orders/create arrives three times, and once with a wrong signature
    body = shopify_body()
    answers = [http(stack, "POST", "/webhooks/shopify", body, signed(body)) for _ in range(3)]
    stored = count(stack, "InboxTable")
    forged = http(stack, "POST", "/webhooks/shopify", body, signed(body, secret="guess", event_id="e2e-forged"))
    stack.drain()

    # Then: accepted once, duplicates after; 401 for the forgery, with nothing stored
    assert answers == [(200, {"status": "accepted"}), (200, {"status": "duplicate"}), (200, {"status": "duplicate"})]
    assert forged[0] == 401
    assert count(stack, "InboxTable") == stored == 1
    # And one order, found by channel and channel order id, with its SKUs, quantities and address
    status, page = http(stack, "GET", f"/orders?channel=shopify&channel_order_id={SHOPIFY_ID}", headers=OPS)
    assert status == 200
    (summary,) = page["items"]
    status, order = http(stack, "GET", f"/orders/{summary['order_id']}", headers=OPS)
    assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [
        ("BTK-PRG-L", 2),
        ("KOP-GAYO-250", 3),
        ("SMB-BWG-200", 1),
    ]
    assert order["shipping_address"]["city"] == "Jakarta Selatan"
    assert order["shipping_address"]["postal_code"] == "12730"
    # And exactly one OrderReceived on the bus
    received = sqs.receive_message(QueueUrl=tap, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["detail-type"] for m in received] == ["OrderReceived"]

    # And the WooCommerce ping is answered
    ping = http(
        stack, "POST", "/webhooks/woocommerce", b"webhook_id=7", {"content-type": "application/x-www-form-urlencoded"}
    )
    assert ping == (200, {"status": "ping"})


def test_bad_input_is_a_clear_4xx(stack: LocalRuntime) -> None:
    assert http(stack, "POST", "/webhooks/lazadaa", b"{}")[0] == 404
    assert http(stack, "POST", "/webhooks/shopify", b"{}", {"content-type": "application/json"})[0] == 401
    assert http(stack, "POST", "/orders", b"{}", {"content-type": "application/json"})[0] == 401
    status, body = http(stack, "POST", "/orders", b"{oops", {**OPS, "content-type": "application/json"})
    assert status == 400
    assert "json" in body["message"].lower()
    status, body = http(stack, "POST", "/orders", b"x" * 600_000, {**OPS, "content-type": "application/json"})
    assert status == 413
    assert http(stack, "GET", "/orders/ord_unknown", headers=OPS)[0] == 404
    assert http(stack, "GET", "/orders?cursor=%%%", headers=OPS)[0] in (400, 422)


def test_a_failed_batch_goes_to_the_dlq_and_is_replayed(stack: LocalRuntime) -> None:
    # Given the catalog table is gone (an outage), so normalizing an order with a SKU
    # not yet seen (not in the function's cache) fails every retry
    dynamodb = stack.client("dynamodb")
    catalog = stack.table_name("CatalogTable")
    description = dynamodb.describe_table(TableName=catalog)["Table"]
    items = dynamodb.scan(TableName=catalog)["Items"]
    dynamodb.delete_table(TableName=catalog)
    lines = sample("channels/shopify_orders_create.json")["line_items"][:1]
    lines[0] = lines[0] | {"sku": "TAS-ROTAN-S"}
    body = shopify_body(id=7700000000001, name="#7701", line_items=lines)
    assert http(stack, "POST", "/webhooks/shopify", body, signed(body, event_id="e2e-dlq"))[0] == 200
    dlq = stack.queue_url("NormalizerDLQ")
    sqs = stack.client("sqs")

    def dlq_depth() -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    wait_for(dlq_depth)
    assert http(stack, "GET", "/orders?channel=shopify&channel_order_id=7700000000001", headers=OPS)[1]["items"] == []

    # When the outage ends and an operator replays the DLQ
    dynamodb.create_table(
        TableName=catalog,
        KeySchema=description["KeySchema"],
        AttributeDefinitions=description["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in items:
        dynamodb.put_item(TableName=catalog, Item=item)
    output = admin(stack, "dlq", "replay", "--queue", "normalizer")

    # Then the order exists and the DLQ is empty
    assert "replayed 1" in output
    assert dlq_depth() == 0
    status, page = http(stack, "GET", "/orders?channel=shopify&channel_order_id=7700000000001", headers=OPS)
    assert status == 200
    assert [item["status"] for item in page["items"]] == ["on_hold"]


def test_quarantine_and_replay_through_the_admin_command(stack: LocalRuntime) -> None:
    # Given a validly signed webhook whose payload cannot become an order
    body = json.dumps({"id": 8800000000001, "line_items": []}).encode()
    assert http(stack, "POST", "/webhooks/shopify", body, signed(body, event_id="e2e-bad"))[0] == 200
    stack.drain()
    listed = [json.loads(line) for line in admin(stack, "quarantine", "list", "--channel", "shopify").splitlines()]
    assert [entry["pk"] for entry in listed] == ["shopify#event:e2e-bad"]
    assert listed[0]["quarantine_reason"]
    # When it is replayed (nothing fixed), it is tried again and quarantined again, not lost
    assert "1 webhook" in admin(stack, "quarantine", "replay", "--channel", "shopify")
    stack.drain()
    again = admin(stack, "quarantine", "list", "--channel", "shopify")
    assert "e2e-bad" in again


def test_openapi_is_served(stack: LocalRuntime) -> None:
    status, document = http(stack, "GET", "/openapi.json")
    assert status == 200
    assert "/webhooks/{channel}" in document["paths"]
