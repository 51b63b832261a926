"""What a sourcing round on the order means on the bus: one FulfillmentRequested
per new fulfillment, OrderAllocated, OrderBackordered; and the channel's updates
keep sourcing's part of the order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from oms.domain.capture import build_order, merge
from oms.domain.events import events_for_change
from oms.domain.sourcing_parcels import too_large
from oms.models.inventory import Reservation, ReservationLine
from oms.models.order import (
    Fulfillment,
    FulfillmentStatus,
    Order,
    OrderStatus,
    ShortageAction,
    UnfilledLine,
    fulfillment_order_id,
)
from oms.models.sourcing import CostBreakdown, PlannedShipment
from tests.builders import a_draft, later

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
KNOWN = {"TSHIRT-BLK-M", "CAP-NAVY"}


def _received() -> Order:
    return build_order(a_draft(), order_number="OMS-0000001", known_skus=KNOWN, now=NOW)


def _fulfillment(order: Order, n: int, node: str, line_id: str) -> Fulfillment:
    line = next(x for x in order.lines if x.line_id == line_id)
    return Fulfillment(
        fulfillment_id=f"{order.order_id}-F{n}", node_id=node, delivery_method="ship", service_level="regular",
        lines=[{"line_id": line_id, "sku": line.sku, "quantity": line.quantity}],
        reservation_id=f"RES-{order.order_id}-F{n}", planned_cost=Decimal(27400), round=1, created_at=NOW,
    )  # fmt: skip


def _sourced(order: Order, **update) -> Order:
    return order.model_copy(update={"version": order.version + 1, "sourcing_round": 1, **update})


def test_a_partial_allocation_requests_each_fulfillment_and_tells_what_waits() -> None:
    before = _received()
    after = _sourced(
        before,
        status=OrderStatus.partially_allocated,
        fulfillments=[_fulfillment(before, 1, "DC-CKG", "1")],
        unfilled=[UnfilledLine(line_id="2", sku="CAP-NAVY", quantity=1, action=ShortageAction.backorder, reason="x")],
    )
    events = events_for_change(before, after)
    kinds = [e.event_type.value for e in events]
    assert kinds == ["OrderUpdated", "FulfillmentRequested", "OrderAllocated", "OrderBackordered"]
    requested = events[1]
    assert requested.event_id == f"{before.order_id}:v2:FulfillmentRequested:{before.order_id}-F1"
    assert requested.detail["fulfillment"]["node_id"] == "DC-CKG"
    assert "name" not in str(requested.detail["fulfillment"])  # a node reads the address through the API


def test_a_repeat_of_the_same_state_publishes_nothing_new() -> None:
    before = _received()
    allocated = _sourced(before, status=OrderStatus.allocated, fulfillments=[_fulfillment(before, 1, "DC-CKG", "1")])
    assert [e.event_type.value for e in events_for_change(allocated, allocated)] == []


def test_a_rejection_that_is_re_sourced_requests_only_the_new_fulfillment() -> None:
    before = _received()
    first = _fulfillment(before, 1, "DC-CKG", "1")
    allocated = _sourced(before, status=OrderStatus.allocated, fulfillments=[first])
    rejected = first.model_copy(update={"status": FulfillmentStatus.rejected})
    again = allocated.model_copy(
        update={"version": 3, "fulfillments": [rejected, _fulfillment(before, 2, "DC-SBY", "1")]}
    )
    kinds = [
        (e.event_type.value, e.detail.get("fulfillment", {}).get("node_id"))
        for e in events_for_change(allocated, again)
    ]
    assert kinds == [("OrderUpdated", None), ("FulfillmentRequested", "DC-SBY"), ("OrderAllocated", None)]


def test_a_channel_update_keeps_the_allocation() -> None:
    before = _received()
    allocated = _sourced(before, status=OrderStatus.allocated, fulfillments=[_fulfillment(before, 1, "DC-CKG", "1")])
    updated = merge(allocated, a_draft(channel_updated_at=later(5), notes="ring twice"), known_skus=KNOWN, now=NOW)
    assert isinstance(updated, Order)
    assert updated.status is OrderStatus.allocated and updated.fulfillments == allocated.fulfillments
    assert updated.sourcing_round == 1


def test_a_fulfillment_id_names_its_order() -> None:
    assert fulfillment_order_id("ord_abc234-F12") == "ord_abc234"


def test_an_allocation_too_big_for_one_transaction_is_named_not_attempted() -> None:
    def reservation(node: str, count: int) -> Reservation:
        lines = [ReservationLine(line_id=str(i), sku=f"S{i}", node_id=node, quantity=1) for i in range(count)]
        return Reservation.model_construct(reservation_id=f"RES-{node}", kind="order", lines=lines)

    shipment = PlannedShipment(node_id="N", kind="dc", lines=[], cost=CostBreakdown())
    assert too_large([reservation("A", 60), reservation("B", 30)], [shipment, shipment]) is None
    reason = too_large([reservation("A", 60), reservation("B", 45)], [shipment, shipment])
    assert reason and "split the order" in reason
    assert "at most 99" in (too_large([reservation("A", 120)], [shipment]) or "")
