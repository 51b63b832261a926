"""Unexpected payload shapes are quarantined; events are sent in calls PutEvents accepts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from oms.adapters.eventbus import EventBridgePublisher
from oms.domain.normalization import normalize_entry
from oms.errors import NormalizationError
from oms.models.events import DomainEvent, EventType
from oms.models.inbox import InboxEntry
from tests.support import sample

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def entry(channel: str, payload: object, topic: str) -> InboxEntry:
    return InboxEntry(channel=channel, dedupe_key="k", topic=topic, received_at=NOW, body=json.dumps(payload).encode())


@pytest.mark.parametrize(
    ("channel", "topic", "change"),
    [
        ("shopify", "orders/create", {"payment_gateway_names": 5}),
        ("shopify", "orders/create", {"line_items": [{"id": 1, "quantity": 1, "price": "1e30000"}]}),
        ("woocommerce", "order.created", {"shipping_lines": 5}),
    ],
)
def test_odd_shapes_become_normalization_errors(channel: str, topic: str, change: dict) -> None:
    fixture = "shopify_orders_create.json" if channel == "shopify" else "woocommerce_order_created.json"
    payload = sample(f"channels/{fixture}") | change
    with pytest.raises(NormalizationError):
        normalize_entry(entry(channel, payload, topic))


def test_other_topics_are_kept_not_applied() -> None:
    result = normalize_entry(entry("shopify", {"id": 1}, "orders/delete"))
    assert result.draft is None
    assert "orders/delete" in (result.ignored_reason or "")


def test_event_batches_respect_count_and_size() -> None:
    def event(n: int, size: int) -> DomainEvent:
        return DomainEvent(
            event_id=f"e{n}",
            event_type=EventType.order_received,
            occurred_at=NOW,
            order_id=f"o{n}",
            detail={"pad": "x" * size},
        )

    publisher = EventBridgePublisher("bus")
    small = publisher._batches([event(n, 10) for n in range(25)])
    assert [len(batch) for batch in small] == [10, 10, 5]
    large = publisher._batches([event(n, 60_000) for n in range(7)])
    assert all(sum(len(entry["Detail"]) for _, entry in batch) < 256_000 for batch in large)
    assert sum(len(batch) for batch in large) == 7
