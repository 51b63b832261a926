"""API keys (hashed, roles) and the events an order change means."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oms.domain.apikeys import authenticate, authorize, hash_key, new_key
from oms.domain.capture import build_order, merge
from oms.domain.events import events_for_change
from oms.errors import Forbidden, Unauthorized
from oms.models.apikey import Role
from oms.models.events import EventType
from oms.models.order import Channel, Order
from tests.builders import a_draft, later
from tests.fakes import FakeKeys

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
KNOWN = {"TSHIRT-BLK-M", "CAP-NAVY"}


def test_a_key_is_stored_only_as_its_hash() -> None:
    keys = FakeKeys()
    key, record = new_key("pos jakarta", [Role.channel], NOW, channels=[Channel.pos])
    keys.put(record)
    assert key not in record.model_dump_json()
    assert record.key_hash == hash_key(key)
    assert authenticate(keys, key) == record


@pytest.mark.parametrize("presented", [None, "", "oms_not_a_key"])
def test_missing_or_unknown_keys_are_401(presented: str | None) -> None:
    with pytest.raises(Unauthorized):
        authenticate(FakeKeys(), presented)


def test_a_disabled_key_is_401() -> None:
    keys = FakeKeys()
    key, record = new_key("old", [Role.ops], NOW)
    keys.put(record.model_copy(update={"disabled": True}))
    with pytest.raises(Unauthorized):
        authenticate(keys, key)


def test_roles_and_channels_are_enforced() -> None:
    _, pos_key = new_key("pos", [Role.channel], NOW, channels=[Channel.pos])
    authorize(pos_key, frozenset({Role.channel}), channel=Channel.pos)
    with pytest.raises(Forbidden, match="channel 'web'"):
        authorize(pos_key, frozenset({Role.channel}), channel=Channel.web)
    with pytest.raises(Forbidden, match="needs cs, ops"):
        authorize(pos_key, frozenset({Role.ops, Role.cs}))


def _order(**overrides: object) -> Order:
    return build_order(a_draft(**overrides), order_number="OMS-0000001", known_skus=KNOWN, now=NOW)


def test_a_new_order_means_order_received_without_pii() -> None:
    (event,) = events_for_change(None, _order())
    assert event.event_type is EventType.order_received
    assert event.event_id.endswith(":v1:OrderReceived")
    text = event.model_dump_json()
    for pii in ("Siti", "Kebon Jeruk Raya", "+6281234567890", "siti@example"):
        assert pii not in text
    assert event.detail["destination"]["postal_code"] == "11530"
    assert event.detail["lines"][0] == {"line_id": "1", "sku": "TSHIRT-BLK-M", "quantity": 2}


def test_payment_clearing_a_hold_and_a_cancellation() -> None:
    held = _order(payment={"status": "pending"})
    paid = merge(held, a_draft(payment={"status": "paid"}, channel_updated_at=later(1)), known_skus=KNOWN, now=NOW)
    assert isinstance(paid, Order)
    types = [e.event_type for e in events_for_change(held, paid)]
    assert types == [EventType.order_updated, EventType.order_hold_cleared]
    cancelled = merge(paid, a_draft(cancelled=True, channel_updated_at=later(2)), known_skus=KNOWN, now=NOW)
    assert isinstance(cancelled, Order)
    types = [e.event_type for e in events_for_change(paid, cancelled)]
    assert types == [EventType.order_updated, EventType.order_cancelled]


def test_a_restore_of_the_same_version_means_nothing() -> None:
    order = _order()
    assert events_for_change(order, order) == []


def test_a_reinstated_order_says_so() -> None:
    cancelled = _order(cancelled=True)
    back = merge(cancelled, a_draft(channel_updated_at=later(1)), known_skus=KNOWN, now=NOW)
    assert isinstance(back, Order)
    assert [e.event_type for e in events_for_change(cancelled, back)] == [
        EventType.order_updated,
        EventType.order_reinstated,
    ]


def test_events_carry_a_coarse_location_only() -> None:
    order = _order(
        shipping_address=a_draft().shipping_address.model_dump() | {"lat": "-6.2607187", "lng": "106.8137249"}
    )
    (event,) = events_for_change(None, order)
    assert (event.detail["destination"]["lat"], event.detail["destination"]["lng"]) == ("-6.26", "106.81")
