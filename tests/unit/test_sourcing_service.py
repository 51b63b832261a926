"""Sourcing over in-memory ports: the orders fake, the stock store fake and the capacity fake.
Plan, reserve and record; retries that reserve once; splits, backorders, holds, cancels and
rejections. No AWS; the clock is NOW."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from oms.domain.capture import CaptureService
from oms.domain.sourcing import SourcingService
from oms.domain.sourcing_defaults import default_rules
from oms.domain.stock import InventoryService
from oms.models.inventory import AdjustmentCreate, Node, ReservationLine, ReservationStatus, StockPolicy
from oms.models.order import Channel, FulfillmentStatus, HoldCode, OrderStatus, ShortageAction
from oms.models.sourcing import ChannelSourcing, PlanRequest, SourcingRules
from oms.ports.stock import WriteRefused
from tests.builders import a_draft
from tests.fakes import FakeCatalog, FakeNumbers, FakeOrders
from tests.fakes.stock import FakeCapacity, FakeStock

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # a Thursday, 10:00 WIB
SKU, CAP = "KOP-GAYO-250", "CAP-NAVY"
JAKARTA = {
    "name": "Siti", "phone": "+628123", "line1": "Jl. Kebon Jeruk 27", "city": "Jakarta Barat",
    "province": "DKI Jakarta", "postal_code": "11530", "country": "ID",
}  # fmt: skip


def _node(node_id: str, kind: str, city: str, province: str, lat: str, lng: str, **extra) -> Node:
    values = {"name": node_id, "kind": kind, "city": city, "province": province, "lat": Decimal(lat)}
    values |= {"lng": Decimal(lng), "handling_cost": Decimal(2500 if kind == "dc" else 6000)}
    return Node(node_id=node_id, **values, **extra)


def _nodes(**extra_by_node: dict[str, Any]) -> dict[str, Node]:
    nodes = [
        ("DC-CKG", "dc", "Bekasi", "Jawa Barat", "-6.2615", "107.1526"),
        ("DC-SBY", "dc", "Surabaya", "Jawa Timur", "-7.2575", "112.7521"),
    ]
    built = {n[0]: _node(*n, **extra_by_node.get(n[0].replace("-", "_"), {})) for n in nodes}
    built["ST-JKT"] = _node(
        "ST-JKT", "store", "Jakarta Pusat", "DKI Jakarta", "-6.1951", "106.8209", may_pickup=True,
        **extra_by_node.get("ST_JKT", {}),
    )  # fmt: skip
    return built


class Reference:
    def __init__(self, nodes: dict[str, Node], rules: SourcingRules) -> None:
        self._nodes, self.rules = nodes, rules

    def nodes(self) -> dict[str, Node]:
        return self._nodes

    def policy(self, channel: Channel) -> StockPolicy:
        return StockPolicy()

    def sourcing_rules(self) -> SourcingRules:
        return self.rules


class Weights:
    def weights(self, skus: set[str]) -> dict[str, int]:
        return dict.fromkeys(skus, 500)


class World:
    def __init__(self, rules: SourcingRules | None = None, **node_extra: dict[str, Any]) -> None:
        self.orders = FakeOrders()
        self.capacity = FakeCapacity()
        self.store = FakeStock(self.capacity)
        reference = Reference(_nodes(**node_extra), rules or default_rules())
        self.inventory = InventoryService(self.store, reference, FakeCatalog({SKU, CAP}))
        self.service = SourcingService(self.orders, self.inventory, reference, Weights(), self.capacity, lambda: NOW)
        self.capture = CaptureService(self.orders, FakeCatalog({SKU, CAP}), FakeNumbers())

    def stock(self, sku: str, units_by_node: dict[str, int]) -> None:
        for node_id, units in units_by_node.items():
            self.store.put(sku, node_id, units)

    def atp(self, sku: str, node_id: str) -> int:
        level = self.store.level(sku, node_id)
        return level.atp if level else 0

    def order(self, channel_order_id: str, *lines: tuple[str, int], **changes) -> str:
        rows = [
            {"line_id": str(i + 1), "sku": sku, "quantity": q, "unit_price": "10000"}
            for i, (sku, q) in enumerate(lines)
        ]
        draft = a_draft(channel_order_id=channel_order_id, shipping_address=JAKARTA, lines=rows, **changes)
        return self.capture.capture(draft, NOW, likely_new=True).order.order_id

    def get(self, order_id: str):
        return self.orders.get(order_id)


def _with_channel(**policy: Any) -> SourcingRules:
    return default_rules().model_copy(update={"channels": {Channel.pos: ChannelSourcing(**policy)}})


# ---------------------------------------------------------------- allocation


def test_an_order_is_allocated_to_the_cheapest_node_reserved_and_traced() -> None:
    # Given stock near Jakarta and far from it
    world = World()
    world.stock(SKU, {"DC-CKG": 10, "DC-SBY": 10})
    order_id = world.order("S-1", (SKU, 2))
    # When the order is sourced
    result = world.service.source(order_id)
    # Then it goes to the nearby DC, its units are reserved there and the decision is kept
    order = world.get(order_id)
    assert result.outcome == "allocated" and order.status is OrderStatus.allocated
    (fulfillment,) = order.fulfillments
    assert fulfillment.node_id == "DC-CKG" and fulfillment.fulfillment_id == f"{order_id}-F1"
    assert world.atp(SKU, "DC-CKG") == 8 and world.atp(SKU, "DC-SBY") == 10
    reservation = world.inventory.get(fulfillment.reservation_id)
    assert reservation.order_id == order_id and reservation.status is ReservationStatus.active
    (decision,) = world.orders.traces(order_id)
    assert decision["plan"]["trace"]["winner"] == ["DC-CKG"]
    assert decision["plan"]["input"]["stock"][SKU] == {"DC-CKG": 10, "DC-SBY": 10}


def test_sourcing_again_reserves_nothing_twice() -> None:
    # Given an allocated order
    world = World()
    world.stock(SKU, {"DC-CKG": 10})
    order_id = world.order("S-2", (SKU, 3))
    world.service.source(order_id)
    # When it is sourced again (a redelivered message)
    again = world.service.source(order_id)
    # Then nothing changes
    assert again.outcome == "unchanged" and world.atp(SKU, "DC-CKG") == 7
    assert len(world.get(order_id).fulfillments) == 1


def test_lines_no_single_node_holds_are_split_over_two_nodes() -> None:
    # Given one SKU only at one DC and the other only at the other
    world = World()
    world.stock(SKU, {"DC-CKG": 5})
    world.stock(CAP, {"DC-SBY": 5})
    order_id = world.order("S-3", (SKU, 1), (CAP, 2))
    # When the order is sourced
    assert world.service.source(order_id).outcome == "allocated"
    # Then each node ships its part, each part with its own reservation
    order = world.get(order_id)
    parts = {f.node_id: [(line.sku, line.quantity) for line in f.lines] for f in order.fulfillments}
    assert parts == {"DC-CKG": [(SKU, 1)], "DC-SBY": [(CAP, 2)]}
    assert len({f.reservation_id for f in order.fulfillments}) == 2
    assert world.atp(SKU, "DC-CKG") == 4 and world.atp(CAP, "DC-SBY") == 3


def test_a_dry_run_reserves_nothing() -> None:
    # Given stock and an order
    world = World()
    world.stock(SKU, {"DC-CKG": 10})
    order_id = world.order("S-4", (SKU, 2))
    # When its plan is asked for
    plan = world.service.dry_run(PlanRequest(order_id=order_id))
    # Then the plan is there and nothing moved
    assert [s.node_id for s in plan.shipments] == ["DC-CKG"]
    assert world.atp(SKU, "DC-CKG") == 10 and world.store.writes == 0


# ---------------------------------------------------------------- shortage


def test_a_short_line_is_backordered_then_sourced_when_stock_arrives() -> None:
    # Given stock for one line of two
    world = World()
    world.stock(SKU, {"DC-CKG": 1})
    order_id = world.order("S-5", (SKU, 1), (CAP, 2))
    # When the order is sourced
    assert world.service.source(order_id).outcome == "partially_allocated"
    # Then the other line waits as a backorder, and the sweep sees no stock for it yet
    order = world.get(order_id)
    assert [(u.line_id, u.action) for u in order.unfilled] == [("2", ShortageAction.backorder)]
    assert not world.service.backordered_with_stock(order)
    # When stock arrives and the order is sourced again
    receipt = AdjustmentCreate(
        adjustment_id="GRN-1", kind="receipt", node_id="DC-SBY", lines=[{"sku": CAP, "quantity": 5}]
    )
    world.inventory.adjust(receipt, NOW)
    assert world.service.backordered_with_stock(world.get(order_id))
    assert world.service.source(order_id).outcome == "allocated"
    # Then the waiting line ships from where the stock arrived
    order = world.get(order_id)
    assert [f.node_id for f in order.fulfillments] == ["DC-CKG", "DC-SBY"] and order.unfilled == []


def test_nothing_in_stock_backorders_the_whole_order_and_a_second_round_changes_nothing() -> None:
    # Given no stock at all
    world = World()
    order_id = world.order("S-6", (SKU, 1))
    # When the order is sourced twice
    assert world.service.source(order_id).outcome == "backordered"
    again = world.service.source(order_id)
    # Then it waits, and the second round records nothing new
    assert again.outcome == "unchanged" and again.detail == "still short"
    assert world.get(order_id).status is OrderStatus.backordered


def test_a_channel_without_partial_shipment_waits_for_every_line() -> None:
    # Given a channel that ships whole orders only, and stock for one line of two
    world = World(_with_channel(allow_partial=False))
    world.stock(SKU, {"DC-CKG": 5})
    order_id = world.order("S-7", (SKU, 1), (CAP, 1))
    # When the order is sourced
    assert world.service.source(order_id).outcome == "backordered"
    # Then nothing is reserved and both lines wait
    assert world.atp(SKU, "DC-CKG") == 5
    assert {u.line_id for u in world.get(order_id).unfilled} == {"1", "2"}


def test_cancel_on_shortage_cancels_an_order_nothing_can_fill() -> None:
    # Given a channel that cancels what is short, and no stock
    world = World(_with_channel(on_shortage="cancel"))
    order_id = world.order("S-8", (SKU, 1))
    # When the order is sourced, Then it is cancelled as out of stock
    assert world.service.source(order_id).outcome == "cancelled"
    assert world.get(order_id).cancel_reason.startswith("out of stock")


def test_a_pickup_at_a_store_without_the_stock_goes_on_hold() -> None:
    # Given stock at a DC but none at the pickup store
    world = World()
    world.stock(SKU, {"DC-CKG": 5})
    order_id = world.order("S-9", (SKU, 1), delivery_method="pickup", pickup_node_id="ST-JKT", service_level="pickup")
    # When the order is sourced
    result = world.service.source(order_id)
    # Then it waits for staff with the reason, and nothing is reserved
    order = world.get(order_id)
    assert result.outcome == "on_hold" and order.holds[-1].code is HoldCode.pickup_unavailable
    assert world.atp(SKU, "DC-CKG") == 5


def test_stock_that_moved_under_the_plan_is_planned_again() -> None:
    # Given the first write finds the planned node short (another order took the units)
    world = World()
    world.stock(SKU, {"DC-CKG": 10, "DC-SBY": 10})
    order_id = world.order("S-10", (SKU, 2))
    taken = ReservationLine(line_id="1", sku=SKU, node_id="DC-CKG", quantity=2)
    world.store.refuse_next.append(WriteRefused(short_lines=[taken]))
    # When the order is sourced
    result = world.service.source(order_id)
    # Then the second plan is reserved and recorded, once
    assert result.outcome == "allocated" and world.store.writes == 2
    assert world.atp(SKU, "DC-CKG") == 8


def test_a_full_node_is_skipped_for_one_with_capacity_left() -> None:
    # Given the nearby DC takes one shipped order a day and has taken it
    world = World(DC_CKG={"daily_capacity": {"ship": 1}})
    world.stock(SKU, {"DC-CKG": 10, "DC-SBY": 10})
    first = world.order("S-11", (SKU, 1))
    second = world.order("S-12", (SKU, 1))
    world.service.source(first)
    # When another order is sourced the same day
    world.service.source(second)
    # Then it goes to the other DC, and the day's capacity was counted once
    assert world.get(first).fulfillments[0].node_id == "DC-CKG"
    assert world.get(second).fulfillments[0].node_id == "DC-SBY"
    assert world.capacity.used({"DC-CKG": date(2026, 11, 26)}) == {("DC-CKG", "ship"): 1}  # the WIB day


# ---------------------------------------------------------------- after allocation


def test_cancelling_the_order_releases_its_reservations() -> None:
    # Given an order allocated over two nodes
    world = World()
    world.stock(SKU, {"DC-CKG": 5})
    world.stock(CAP, {"DC-SBY": 5})
    order_id = world.order("S-13", (SKU, 1), (CAP, 2))
    world.service.source(order_id)
    order = world.get(order_id)
    world.orders.orders[order_id] = order.model_copy(update={"status": OrderStatus.cancelled})
    # When the cancellation reaches sourcing
    result = world.service.order_cancelled(order_id)
    # Then both reservations are released and both parcels cancelled
    assert result.outcome == "cancelled"
    assert world.atp(SKU, "DC-CKG") == 5 and world.atp(CAP, "DC-SBY") == 5
    statuses = {world.inventory.get(f.reservation_id).status for f in world.get(order_id).fulfillments}
    assert statuses == {ReservationStatus.released}
    assert {f.status for f in world.get(order_id).fulfillments} == {FulfillmentStatus.cancelled}
    # When the cancellation is delivered again, Then nothing more happens
    assert world.service.order_cancelled(order_id).outcome == "unchanged"


def test_a_node_rejection_releases_excludes_the_node_and_sources_again() -> None:
    # Given an order allocated to the nearby DC
    world = World()
    world.stock(SKU, {"DC-CKG": 10, "DC-SBY": 10})
    order_id = world.order("S-14", (SKU, 2))
    world.service.source(order_id)
    first = world.get(order_id).fulfillments[0]
    # When the DC rejects it
    result = world.service.reject(first.fulfillment_id, "forklift down", None)
    # Then its units come back, it is not asked again, and the other DC gets the order
    order = world.get(order_id)
    assert result.outcome == "allocated"
    assert [(f.node_id, f.status) for f in order.fulfillments] == [
        ("DC-CKG", FulfillmentStatus.rejected),
        ("DC-SBY", FulfillmentStatus.requested),
    ]
    assert order.excluded_nodes == ["DC-CKG"]
    assert world.atp(SKU, "DC-CKG") == 10 and world.atp(SKU, "DC-SBY") == 8
    assert world.service.reject(first.fulfillment_id, "again", None).outcome == "unchanged"


def test_a_short_pick_corrects_the_node_stock_and_keeps_the_node() -> None:
    # Given an order of 2 allocated to a DC that believes it has 10
    world = World()
    world.stock(SKU, {"DC-CKG": 10})
    order_id = world.order("S-15", (SKU, 2))
    world.service.source(order_id)
    fulfillment = world.get(order_id).fulfillments[0]
    # When the DC finds only 1 on the shelf
    world.service.reject(fulfillment.fulfillment_id, "shelf empty", {SKU: 1})
    # Then its on hand is corrected to 1, that unit ships and the other waits
    order = world.get(order_id)
    assert order.excluded_nodes == [] and order.status is OrderStatus.partially_allocated
    assert [(f.status, f.lines[0].quantity) for f in order.fulfillments] == [
        (FulfillmentStatus.rejected, 2),
        (FulfillmentStatus.requested, 1),
    ]
    level = world.store.level(SKU, "DC-CKG")
    assert (level.on_hand, level.reserved, level.atp) == (1, 1, 0)


def test_a_crash_after_reserving_is_recovered_from_the_stored_reservation(monkeypatch) -> None:
    # Given a run that reserved the order and died before recording it
    world = World()
    world.stock(SKU, {"DC-CKG": 10})
    order_id = world.order("S-16", (SKU, 3))
    real = world.service.rounds._record

    def crash(*args, **kwargs):
        raise RuntimeError("the function timed out")

    monkeypatch.setattr(world.service.rounds, "_record", crash)
    with pytest.raises(RuntimeError):
        world.service.source(order_id)
    monkeypatch.setattr(world.service.rounds, "_record", real)
    assert world.atp(SKU, "DC-CKG") == 7 and world.get(order_id).fulfillments == []
    # When the message is delivered again
    assert world.service.source(order_id).outcome == "allocated"
    # Then the stored reservation is recorded, not a second one
    assert world.atp(SKU, "DC-CKG") == 7 and len(world.get(order_id).fulfillments) == 1
