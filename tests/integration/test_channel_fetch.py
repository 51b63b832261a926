"""A Shopee push through the real handlers under moto: stored, turned into a fetch request, fetched from
the (in-process) channel simulator, captured; an order the channel never knows is retried, then its
push quarantined with the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from oms import container
from oms.domain.capture import order_id_for
from oms_local.channel_sim import ChannelSimulator
from oms_local.seed import local_settings
from tests.integration.conftest import Stack, client
from tests.support import FakeContext, StreamReader, load_handler

LINES = [{"sku": "BTK-PRG-L", "quantity": 2, "unit_price": 450000}]


@pytest.fixture
def sim() -> Iterator[ChannelSimulator]:
    simulator = ChannelSimulator(settings=local_settings({})).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def wired(stack: Stack, sim: ChannelSimulator, monkeypatch: pytest.MonkeyPatch) -> Stack:
    for name, value in stack.template.functions()["ChannelFetchFunction"].environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OMS_SHOPEE_API_BASE", sim.base_url("shopee"))
    container.reset()
    return stack


def webhook_event(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{channel}",
        "rawPath": "/webhooks/shopee",
        "rawQueryString": "",
        "headers": headers,
        "pathParameters": {"channel": "shopee"},
        "requestContext": {
            "http": {"method": "POST", "path": "/webhooks/shopee"},
            "requestId": "r1",
            "stage": "$default",
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def fetch_messages(stack: Stack) -> list[dict[str, Any]]:
    url = stack.resources.queues["ChannelFetchQueue"]
    return (
        client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
    )


def sqs_event(messages: list[dict[str, Any]], receive_count: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:oms-channel-fetch-test",
            }
            for m in messages
        ]
    }


@pytest.fixture
def handlers() -> dict[str, ModuleType]:
    return {
        "api": load_handler("functions/ingestion/app.py"),
        "normalizer": load_handler("functions/ingestion/normalizer.py"),
        "fetcher": load_handler("functions/ingestion/fetcher.py"),
    }


def push(wired: Stack, sim: ChannelSimulator, handlers: dict[str, ModuleType], order_id: str) -> dict:
    order = sim.marketplaces.get("shopee", order_id)
    (body,) = sim.marketplaces.pushes(order)
    raw = json.dumps(body).encode()
    headers = {"content-type": "application/json", **sim.marketplaces.signature_headers("shopee", raw)}
    response = handlers["api"].lambda_handler(webhook_event(raw, headers), FakeContext())
    assert response["statusCode"] == 200
    assert response.get("body") in ("", None)  # Shopee wants an empty body
    reader = StreamReader(client, wired.resources.streams["InboxTable"])
    while (event := reader.next_event()) is not None:
        assert handlers["normalizer"].lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    return body


def test_a_thin_push_is_fetched_and_captured(wired: Stack, sim: ChannelSimulator, handlers) -> None:
    made = sim.marketplaces.create({"channel": "shopee", "lines": LINES})
    push(wired, sim, handlers, made.order_id)
    (message,) = fetch_messages(wired)
    answer = handlers["fetcher"].lambda_handler(sqs_event([message]), FakeContext())
    assert answer == {"batchItemFailures": []}
    order = container.orders().get(order_id_for("shopee", made.order_id))
    assert order is not None and [(line.sku, line.quantity) for line in order.lines] == [("BTK-PRG-L", 2)]
    # The simulator saw one signed detail call
    calls = [c for c in sim.calls_for("shopee") if c["path"].endswith("get_order_detail")]
    assert len(calls) == 1 and calls[0]["answered"] == 200


def test_an_order_the_channel_never_knows_is_retried_then_its_push_quarantined(
    wired: Stack, sim: ChannelSimulator, handlers
) -> None:
    made = sim.marketplaces.create({"channel": "shopee", "lines": LINES})
    push(wired, sim, handlers, made.order_id)
    sim.clear()  # the channel's API forgets it
    (message,) = fetch_messages(wired)
    # The first tries ask for a retry (the order may show up a moment after its push)
    first = handlers["fetcher"].lambda_handler(sqs_event([message], receive_count=1), FakeContext())
    assert first == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert container.inbox().quarantined("shopee") == []
    # The last one gives up: the push is quarantined with the reason, and the message is done
    last = handlers["fetcher"].lambda_handler(sqs_event([message], receive_count=3), FakeContext())
    assert last == {"batchItemFailures": []}
    (quarantined,) = container.inbox().quarantined("shopee")
    assert made.order_id in quarantined["quarantine_reason"]
    assert "does not know" in quarantined["quarantine_reason"]


def test_a_channel_api_outage_is_retried_and_nothing_is_lost(wired: Stack, sim: ChannelSimulator, handlers) -> None:
    made = sim.marketplaces.create({"channel": "shopee", "lines": LINES})
    push(wired, sim, handlers, made.order_id)
    (message,) = fetch_messages(wired)
    sim.fail_next("shopee", 503, times=3)
    failed = handlers["fetcher"].lambda_handler(sqs_event([message]), FakeContext())
    assert failed == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert container.orders().get(order_id_for("shopee", made.order_id)) is None
    again = handlers["fetcher"].lambda_handler(sqs_event([message], receive_count=2), FakeContext())
    assert again == {"batchItemFailures": []}
    assert container.orders().get(order_id_for("shopee", made.order_id)) is not None
