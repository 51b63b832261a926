"""The stream publisher: one event per change, partial failures retried from the failed record."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from oms.adapters.orders import order_to_item
from oms.domain.capture import build_order, merge
from oms.models.order import Order
from tests.builders import a_draft, later
from tests.fakes import FakeContext, FakeOrders, FakePublisher
from tests.support import load_handler

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
KNOWN = {"TSHIRT-BLK-M", "CAP-NAVY"}


def image(order: Order) -> dict[str, Any]:
    item = order_to_item(order)
    item["doc"] = {"B": base64.b64encode(item["doc"]["B"]).decode()}  # streams carry binary as base64
    return item


def record(sequence: int, old: Order | None, new: Order) -> dict[str, Any]:
    dynamodb: dict[str, Any] = {"NewImage": image(new), "SequenceNumber": str(sequence), "Keys": {}}
    if old is not None:
        dynamodb["OldImage"] = image(old)
    return {"eventName": "MODIFY" if old else "INSERT", "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


@pytest.fixture
def stored() -> FakeOrders:
    return FakeOrders()


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, stored: FakeOrders, publisher: FakePublisher) -> Callable[[dict], dict]:
    """The publisher's handler over the fakes (handed in, as the function's own are in AWS)."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "OMS")
    handle = load_handler("functions/ingestion/publisher.py").lambda_handler
    return lambda batch: handle(batch, FakeContext(), store=stored, bus=publisher)


def orders() -> tuple[Order, Order, Order]:
    first = build_order(a_draft(channel_order_id="A"), order_number="OMS-1", known_skus=KNOWN, now=NOW)
    second = build_order(a_draft(channel_order_id="B"), order_number="OMS-2", known_skus=KNOWN, now=NOW)
    cancelled = merge(
        first, a_draft(channel_order_id="A", cancelled=True, channel_updated_at=later(1)), known_skus=KNOWN, now=NOW
    )
    assert isinstance(cancelled, Order)
    return first, second, cancelled


def test_each_change_is_published_once(publisher: FakePublisher, handler) -> None:
    first, second, cancelled = orders()
    answer = handler({"Records": [record(1, None, first), record(2, None, second), record(3, first, cancelled)]})
    assert answer == {"batchItemFailures": []}
    assert [e.event_type.value for e in publisher.published] == [
        "OrderReceived",
        "OrderReceived",
        "OrderUpdated",
        "OrderCancelled",
    ]


def test_a_refused_event_retries_from_its_record(publisher: FakePublisher, handler) -> None:
    first, second, cancelled = orders()
    publisher.fail = {f"{second.order_id}:v1:OrderReceived"}
    answer = handler({"Records": [record(1, None, first), record(2, None, second), record(3, first, cancelled)]})
    # Streams retry from the first failure on: record 2 and everything after it
    assert answer == {"batchItemFailures": [{"itemIdentifier": "2"}]}


def test_each_change_gets_its_timeline_entries_once(stored: FakeOrders, handler) -> None:
    first, _, cancelled = orders()
    batch = {"Records": [record(1, None, first), record(3, first, cancelled)]}
    assert handler(batch) == {"batchItemFailures": []}
    assert handler(batch) == {"batchItemFailures": []}  # a retried batch: the same keys
    entries = sorted(stored.timelines[first.order_id].values(), key=lambda e: e.key)
    assert [(e.version, e.kind, e.by, e.public) for e in entries] == [
        (1, "received", "channel:pos", "Order received"),
        (2, "status", "channel:pos", "Order cancelled"),
        (2, "channel", "channel:pos", None),
    ]


def test_a_timeline_that_cannot_be_written_retries_the_batch(
    publisher: FakePublisher, stored: FakeOrders, handler
) -> None:
    first, second, _ = orders()
    stored.timeline_fails = True
    answer = handler({"Records": [record(1, None, first), record(2, None, second)]})
    assert answer == {"batchItemFailures": [{"itemIdentifier": "1"}]} and publisher.published == []
