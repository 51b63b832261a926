"""The inventory module over the in-memory stock store (tests/fakes/stock.py): holds and
reservations that never oversell, idempotent retries, movements, counts and the stock jobs.
No AWS; every instant is NOW or set from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms.domain.stock import CapacityFull, InsufficientStock, InventoryService, UnknownSkus
from oms.domain.stock_jobs import Snapshots, StockAudit, set_buckets
from oms.errors import BadRequest, Conflict, NotFound
from oms.models.inventory import (
    AdjustmentCreate,
    HoldCreate,
    Node,
    Reservation,
    ReservationKind,
    ReservationStatus,
    SnapshotPart,
    SnapshotScope,
    StockPolicy,
)
from oms.models.order import Channel, OrderStatus
from oms.ports.stock import CapacityTake, WriteRefused
from tests.fakes import FakeCatalog
from tests.fakes.stock import FakeStock

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
SKU, CAP = "KOP-GAYO-250", "CAP-NAVY"


def _node(node_id: str, kind: str, **extra) -> Node:
    return Node(node_id=node_id, name=node_id, kind=kind, handling_cost=Decimal(2500), **extra)


NODES = {
    "DC-CKG": _node("DC-CKG", "dc", default_safety_stock=2),
    "DC-SBY": _node("DC-SBY", "dc"),
    "ST-JKT": _node("ST-JKT", "store", may_pickup=True),
}


class Reference:
    def __init__(self, nodes: dict[str, Node] = NODES) -> None:
        self._nodes = nodes

    def nodes(self) -> dict[str, Node]:
        return self._nodes

    def policy(self, channel: Channel) -> StockPolicy:
        return StockPolicy()


class Queue:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, body: str) -> None:
        self.sent.append(body)


def _inventory(stock: dict[str, dict[str, int]] | None = None) -> tuple[InventoryService, FakeStock]:
    """stock: sku -> {node: units on hand}, no safety stock."""
    store = FakeStock()
    for sku, by_node in (stock or {}).items():
        for node_id, units in by_node.items():
            store.put(sku, node_id, units)
    return InventoryService(store, Reference(), FakeCatalog({SKU, CAP})), store


def _atp(store: FakeStock, sku: str, node_id: str) -> int:
    level = store.level(sku, node_id)
    return level.atp if level else 0


def _hold(quantity: int = 1, sku: str = SKU, **kwargs) -> HoldCreate:
    node = kwargs.pop("node_id", None)
    return HoldCreate(channel=Channel.web, lines=[{"sku": sku, "quantity": quantity, "node_id": node}], **kwargs)


def _order_reservation(reservation_id: str, *lines: tuple[str, str, int]) -> Reservation:
    return Reservation(
        reservation_id=reservation_id,
        kind=ReservationKind.order,
        channel=Channel.pos,
        order_id="ord-1",
        lines=[
            {"line_id": str(i + 1), "sku": sku, "node_id": node, "quantity": q}
            for i, (sku, node, q) in enumerate(lines)
        ],
        created_at=NOW,
    )


# ---------------------------------------------------------------- holds


def test_a_hold_reserves_units_at_a_dc_first() -> None:
    # Given a SKU at a DC and at a store
    inventory, store = _inventory({SKU: {"DC-CKG": 5, "ST-JKT": 5}})
    # When a checkout holds 2
    outcome = inventory.hold(_hold(2), NOW)
    # Then the DC's units are reserved and the hold expires after its time-to-live
    (line,) = outcome.reservation.lines
    assert outcome.created and line.node_id == "DC-CKG" and line.quantity == 2
    assert outcome.reservation.expires_at == NOW + timedelta(seconds=900)
    level = store.level(SKU, "DC-CKG")
    assert (level.on_hand, level.reserved, level.atp) == (5, 2, 3)


def test_holds_never_oversell_and_the_shortage_names_the_line() -> None:
    # Given 3 units at one node
    inventory, store = _inventory({SKU: {"DC-SBY": 3}})
    inventory.hold(_hold(2), NOW)
    # When a hold asks for 2 more
    with pytest.raises(InsufficientStock) as short:
        inventory.hold(_hold(2), NOW)
    # Then it is refused with what the line asked for and what is left, and nothing more is reserved
    (shortage,) = short.value.shortages
    assert (shortage.sku, shortage.requested, shortage.available) == (SKU, 2, 1)
    assert store.level(SKU, "DC-SBY").reserved == 2


def test_a_hold_at_a_named_node_reports_that_node_when_short() -> None:
    # Given plenty at a DC but 1 unit at the pickup store
    inventory, _ = _inventory({SKU: {"DC-CKG": 50, "ST-JKT": 1}})
    # When a hold asks the store for 2
    with pytest.raises(InsufficientStock) as short:
        inventory.hold(_hold(2, node_id="ST-JKT"), NOW)
    # Then the shortage is the store's
    assert short.value.shortages[0].node_id == "ST-JKT" and short.value.shortages[0].available == 1


def test_a_retried_hold_key_holds_once() -> None:
    # Given a hold made with a key
    inventory, store = _inventory({SKU: {"DC-SBY": 5}})
    first = inventory.hold(_hold(2, hold_key="cart-1"), NOW)
    # When the same request is sent again
    again = inventory.hold(_hold(2, hold_key="cart-1"), NOW)
    # Then the same hold comes back and the units are counted once
    assert first.created and not again.created
    assert again.reservation.reservation_id == first.reservation.reservation_id
    assert _atp(store, SKU, "DC-SBY") == 3


def test_a_hold_key_used_for_other_content_is_a_conflict() -> None:
    # Given a hold made with a key
    inventory, _ = _inventory({SKU: {"DC-SBY": 5}})
    inventory.hold(_hold(2, hold_key="cart-1"), NOW)
    # When the key comes with another quantity, Then it is refused
    with pytest.raises(Conflict, match="hold_key was used"):
        inventory.hold(_hold(3, hold_key="cart-1"), NOW)


def test_a_hold_is_planned_again_when_another_writer_got_in_first() -> None:
    # Given a store where the first write meets another transaction on its item
    inventory, store = _inventory({SKU: {"DC-SBY": 5}})
    store.refuse_next.append(WriteRefused())
    # When a checkout holds
    outcome = inventory.hold(_hold(1), NOW)
    # Then the second plan is written
    assert outcome.created and store.writes == 2 and _atp(store, SKU, "DC-SBY") == 4


def test_unknown_skus_and_nodes_are_refused_before_anything_is_written() -> None:
    # Given an inventory
    inventory, store = _inventory({SKU: {"DC-SBY": 5}})
    # When a hold names an unknown SKU or an unknown node, Then it is refused and nothing is written
    with pytest.raises(UnknownSkus):
        inventory.hold(_hold(1, sku="NOPE-1"), NOW)
    with pytest.raises(NotFound):
        inventory.hold(_hold(1, node_id="DC-XXX"), NOW)
    assert store.writes == 0


# ---------------------------------------------------------------- release, consume, expiry


def test_release_gives_the_units_back_once() -> None:
    # Given a hold of 2
    inventory, store = _inventory({SKU: {"DC-SBY": 5}})
    held = inventory.hold(_hold(2), NOW).reservation
    # When it is released twice
    first = inventory.release(held.reservation_id, NOW)
    second = inventory.release(held.reservation_id, NOW + timedelta(minutes=1))
    # Then the units came back once and the second release changed nothing
    assert first.status is second.status is ReservationStatus.released
    assert second.finished_at == NOW
    assert _atp(store, SKU, "DC-SBY") == 5 and store.level(SKU, "DC-SBY").reserved == 0


def test_consume_takes_the_units_out_of_on_hand_and_reserved_together_once() -> None:
    # Given a reservation of two lines
    inventory, store = _inventory({SKU: {"DC-SBY": 5}, CAP: {"DC-SBY": 4}})
    inventory.reserve(_order_reservation("RES-1", (SKU, "DC-SBY", 2), (CAP, "DC-SBY", 1)), NOW)
    # When line 1 ships, and its report comes again
    inventory.consume("RES-1", ["1"], NOW)
    after = inventory.consume("RES-1", ["1"], NOW)
    # Then its units left once, and the reservation stays active for line 2
    level = store.level(SKU, "DC-SBY")
    assert (level.on_hand, level.reserved, level.atp) == (3, 0, 3)
    assert after.consumed_lines == ["1"] and after.status is ReservationStatus.active
    # When the rest ships, Then the reservation is consumed and releasing it gives nothing back
    assert inventory.consume("RES-1", None, NOW).status is ReservationStatus.consumed
    inventory.release("RES-1", NOW)
    assert store.level(CAP, "DC-SBY").on_hand == 3 and store.level(CAP, "DC-SBY").reserved == 0


def test_consume_refuses_unknown_lines_and_finished_reservations() -> None:
    # Given a reservation that was released
    inventory, _ = _inventory({SKU: {"DC-SBY": 5}})
    inventory.reserve(_order_reservation("RES-1", (SKU, "DC-SBY", 2)), NOW)
    # When a line it does not have is consumed, Then it is a bad request
    with pytest.raises(BadRequest):
        inventory.consume("RES-1", ["9"], NOW)
    inventory.release("RES-1", NOW)
    # When a released reservation is consumed, Then it is a conflict
    with pytest.raises(Conflict, match="released"):
        inventory.consume("RES-1", ["1"], NOW)


def test_only_holds_past_their_time_to_live_expire() -> None:
    # Given a short hold and a long one
    inventory, store = _inventory({SKU: {"DC-SBY": 5}})
    short = inventory.hold(_hold(1, ttl_seconds=60), NOW).reservation
    long = inventory.hold(_hold(1, ttl_seconds=3600), NOW).reservation
    # When the sweeper runs five minutes later
    expired = inventory.expire_holds(NOW + timedelta(minutes=5))
    # Then only the short one expired and gave its unit back
    assert expired == 1
    assert inventory.get(short.reservation_id).status is ReservationStatus.expired
    assert inventory.get(long.reservation_id).status is ReservationStatus.active
    assert _atp(store, SKU, "DC-SBY") == 4


# ---------------------------------------------------------------- reservations for sourcing


def test_reserve_retried_with_the_same_id_counts_once() -> None:
    # Given sourcing's plan reserved once
    inventory, store = _inventory({SKU: {"DC-CKG": 5}})
    first = inventory.reserve(_order_reservation("RES-1", (SKU, "DC-CKG", 2)), NOW)
    # When the same reservation is sent again
    again = inventory.reserve(_order_reservation("RES-1", (SKU, "DC-CKG", 2)), NOW)
    # Then the stored one comes back and the stock moved once
    assert first.created and not again.created
    assert _atp(store, SKU, "DC-CKG") == 3


def test_reserve_reports_the_short_line_with_its_node() -> None:
    # Given one line that fits and one that does not
    inventory, store = _inventory({SKU: {"DC-CKG": 5}, CAP: {"DC-SBY": 1}})
    plan = _order_reservation("RES-1", (SKU, "DC-CKG", 2), (CAP, "DC-SBY", 3))
    # When it is reserved
    with pytest.raises(InsufficientStock) as short:
        inventory.reserve(plan, NOW)
    # Then the short line is named, and nothing was reserved (all or nothing)
    (shortage,) = short.value.shortages
    assert (shortage.sku, shortage.node_id, shortage.requested, shortage.available) == (CAP, "DC-SBY", 3, 1)
    assert store.level(SKU, "DC-CKG").reserved == 0 and inventory.store.get_reservation("RES-1") is None


def test_reserve_all_is_all_or_nothing_across_nodes() -> None:
    # Given an order split over two nodes, one of them short
    inventory, store = _inventory({SKU: {"DC-CKG": 5}, CAP: {"DC-SBY": 1}})
    parts = [_order_reservation("RES-F1", (SKU, "DC-CKG", 2)), _order_reservation("RES-F2", (CAP, "DC-SBY", 2))]
    # When both are reserved at once
    with pytest.raises(InsufficientStock) as short:
        inventory.reserve_all(parts, NOW, [])
    # Then the short node is named and neither part holds anything
    assert [(s.sku, s.node_id) for s in short.value.shortages] == [(CAP, "DC-SBY")]
    assert store.level(SKU, "DC-CKG").reserved == 0 and store.reservations == {}


def test_reserve_all_takes_capacity_and_refuses_a_full_node() -> None:
    # Given a node that takes one order a day
    inventory, store = _inventory({SKU: {"DC-CKG": 5}})
    take = CapacityTake("DC-CKG", "ship", NOW.date(), limit=1)
    inventory.reserve_all([_order_reservation("RES-A", (SKU, "DC-CKG", 1))], NOW, [take])
    # When a second order is reserved there the same day
    with pytest.raises(CapacityFull) as full:
        inventory.reserve_all([_order_reservation("RES-B", (SKU, "DC-CKG", 1))], NOW, [take])
    # Then the node is named as full and only the first order holds stock
    assert full.value.node_ids == ["DC-CKG"]
    assert store.capacity.used({"DC-CKG": NOW.date()}) == {("DC-CKG", "ship"): 1}
    assert store.level(SKU, "DC-CKG").reserved == 1


def test_reserve_all_retried_returns_the_stored_reservations_and_counts_capacity_once() -> None:
    # Given an order's reservations made once
    inventory, store = _inventory({SKU: {"DC-CKG": 5}})
    take = CapacityTake("DC-CKG", "ship", NOW.date(), limit=5)
    parts = [_order_reservation("RES-A", (SKU, "DC-CKG", 2))]
    inventory.reserve_all(parts, NOW, [take])
    # When the same round is reserved again
    stored, created = inventory.reserve_all(parts, NOW, [take])
    # Then nothing is counted twice
    assert not created and [r.reservation_id for r in stored] == ["RES-A"]
    assert store.level(SKU, "DC-CKG").reserved == 2
    assert store.capacity.used({"DC-CKG": NOW.date()}) == {("DC-CKG", "ship"): 1}


def test_reserve_all_meeting_another_transaction_is_a_retryable_conflict() -> None:
    # Given another transaction holds an item when the reservation is written
    inventory, store = _inventory({SKU: {"DC-CKG": 5}})
    store.refuse_next.append(WriteRefused())
    # When the order's reservations are written, Then the caller is told to try again
    with pytest.raises(Conflict) as conflict:
        inventory.reserve_all([_order_reservation("RES-A", (SKU, "DC-CKG", 2))], NOW, [])
    assert conflict.value.details == {"retryable": True}


# ---------------------------------------------------------------- movements


def _adjust(adjustment_id: str, kind: str, node_id: str, quantity: int, **extra) -> AdjustmentCreate:
    return AdjustmentCreate(
        adjustment_id=adjustment_id, kind=kind, node_id=node_id, lines=[{"sku": SKU, "quantity": quantity}], **extra
    )


def test_a_receipt_at_a_new_node_creates_the_item_with_the_node_safety_stock_once() -> None:
    # Given no stock of the SKU at a DC whose default safety stock is 2
    inventory, store = _inventory()
    receipt = _adjust("GRN-1", "receipt", "DC-CKG", 10)
    # When the receipt arrives twice
    assert inventory.adjust(receipt, NOW) == "applied"
    assert inventory.adjust(receipt, NOW) == "duplicate"
    # Then the units arrived once, less the safety stock
    level = store.level(SKU, "DC-CKG")
    assert (level.on_hand, level.safety_stock, level.atp) == (10, 2, 8)


def test_an_adjustment_id_reused_for_other_content_is_a_conflict() -> None:
    # Given an adjustment applied
    inventory, _ = _inventory()
    inventory.adjust(_adjust("ADJ-1", "receipt", "DC-SBY", 10), NOW)
    # When its id comes with another quantity, Then it is refused
    with pytest.raises(Conflict, match="used for other content"):
        inventory.adjust(_adjust("ADJ-1", "receipt", "DC-SBY", 11), NOW)


def test_a_transfer_moves_free_units_and_never_what_is_reserved() -> None:
    # Given 5 units at one DC, 2 of them reserved
    inventory, store = _inventory({SKU: {"DC-SBY": 5}})
    inventory.hold(_hold(2), NOW)
    # When 4 are transferred, Then it is refused: only 3 are free
    with pytest.raises(InsufficientStock) as short:
        inventory.adjust(_adjust("TR-1", "transfer", "DC-SBY", 4, to_node_id="DC-CKG"), NOW)
    assert (short.value.shortages[0].requested, short.value.shortages[0].available) == (4, 3)
    assert store.level(SKU, "DC-CKG") is None  # nothing arrived either
    # When 3 are transferred, Then they leave one node and arrive at the other
    inventory.adjust(_adjust("TR-2", "transfer", "DC-SBY", 3, to_node_id="DC-CKG"), NOW)
    assert store.level(SKU, "DC-SBY").on_hand == 2 and store.level(SKU, "DC-CKG").on_hand == 3


def test_damage_cannot_write_off_more_than_is_on_hand() -> None:
    # Given 3 units on hand, all of them reserved
    inventory, store = _inventory({SKU: {"DC-SBY": 3}})
    inventory.hold(_hold(3), NOW)
    # When 4 are written off, Then it is refused with what is on hand
    with pytest.raises(InsufficientStock) as short:
        inventory.adjust(_adjust("DMG-1", "damage", "DC-SBY", 4), NOW)
    assert short.value.shortages[0].available == 3
    # When 1 is written off, Then on hand falls (damage may take reserved units: the audit sees it)
    inventory.adjust(_adjust("DMG-2", "damage", "DC-SBY", 1), NOW)
    assert store.level(SKU, "DC-SBY").on_hand == 2


# ---------------------------------------------------------------- counts, audit, buckets


def _count(snapshot_id: str, as_of: datetime, rows: dict[str, int], **extra) -> SnapshotPart:
    return SnapshotPart(
        snapshot_id=snapshot_id,
        node_id="DC-SBY",
        as_of=as_of,
        rows=[{"sku": sku, "on_hand": units} for sku, units in rows.items()],
        **extra,
    )


def test_a_count_allows_for_movements_after_its_time() -> None:
    # Given 10 on hand, a count of 7 taken at 03:00 and a receipt of 5 at 03:10
    inventory, store = _inventory({SKU: {"DC-SBY": 10}})
    inventory.adjust(_adjust("GRN-1", "receipt", "DC-SBY", 5), NOW + timedelta(minutes=10))
    snapshots = Snapshots(inventory, Queue())
    part = _count("CNT-1", NOW, {SKU: 7})
    # When the count is received and applied
    assert snapshots.receive(part, NOW + timedelta(minutes=20)).outcome == "queued"
    stats = snapshots.apply(part, NOW + timedelta(minutes=21))
    # Then on hand is the count plus what arrived after it, and the count is recorded as applied
    assert stats == {"applied": 1, "changed": 1, "stale": 0}
    level = store.level(SKU, "DC-SBY")
    assert (level.on_hand, level.counted_on_hand, level.moved_since_count) == (12, 7, 5)
    status = snapshots.status("CNT-1")
    assert status.status == "applied" and status.rows_changed == 1
    # When the same part is applied again, Then its row is stale
    assert snapshots.apply(part, NOW + timedelta(minutes=22)) == {"applied": 0, "changed": 0, "stale": 1}


def test_a_resent_part_is_a_duplicate_and_an_older_count_is_refused() -> None:
    # Given a count received
    inventory, _ = _inventory({SKU: {"DC-SBY": 10}})
    queue = Queue()
    snapshots = Snapshots(inventory, queue)
    snapshots.receive(_count("CNT-2", NOW, {SKU: 7}), NOW)
    # When it is sent again, Then it is not queued twice
    assert snapshots.receive(_count("CNT-2", NOW, {SKU: 7}), NOW).outcome == "duplicate" and len(queue.sent) == 1
    # When an older count arrives, Then it is refused: it would undo the newer one
    with pytest.raises(Conflict, match="older or simultaneous"):
        snapshots.receive(_count("CNT-1", NOW - timedelta(hours=1), {SKU: 9}), NOW)


def test_a_full_count_zeroes_what_it_did_not_list() -> None:
    # Given a node holding two SKUs
    inventory, store = _inventory({SKU: {"DC-SBY": 10}, CAP: {"DC-SBY": 4}})
    snapshots = Snapshots(inventory, Queue())
    part = _count("CNT-F", NOW, {SKU: 8}, scope=SnapshotScope.full)
    # When a full count lists only one of them
    snapshots.receive(part, NOW)
    snapshots.apply(part, NOW)
    # Then the other is counted as 0
    assert store.level(CAP, "DC-SBY").on_hand == 0 and store.level(SKU, "DC-SBY").on_hand == 8
    assert snapshots.status("CNT-F").rows_zeroed == 1


class Statuses:
    def __init__(self, statuses: dict[str, OrderStatus]) -> None:
        self.statuses = statuses

    def status_of(self, order_id: str) -> OrderStatus | None:
        return self.statuses.get(order_id)


def test_the_audit_releases_orphans_and_repairs_reserved_units_without_a_reservation() -> None:
    # Given a reservation of a cancelled order, and 3 reserved units no reservation explains
    inventory, store = _inventory({SKU: {"DC-SBY": 10}, CAP: {"DC-CKG": 5}})
    inventory.reserve(_order_reservation("RES-1", (SKU, "DC-SBY", 2)), NOW)
    level = store.level(CAP, "DC-CKG")
    store.set_figures(level, reserved=3, kind="test", ref="corrupt", now=NOW - timedelta(hours=1))
    # When the audit runs
    report = StockAudit(inventory, Statuses({"ord-1": OrderStatus.cancelled}), lambda: NOW).run()
    # Then the orphan is released, the figure repaired, and the report kept
    assert {line["problem"] for line in report["lines"]} == {"orphan_reservation", "reserved_without_reservation"}
    assert report["corrected"] == 2
    assert store.level(SKU, "DC-SBY").reserved == 0 and store.level(CAP, "DC-CKG").reserved == 0
    assert inventory.store.latest_report("audit") == report


def test_buckets_spread_the_free_units_and_holds_use_them() -> None:
    # Given 10 free units of a hot SKU at one DC
    inventory, _ = _inventory({SKU: {"DC-SBY": 10}})
    # When it is spread over 3 buckets
    levels = set_buckets(inventory, SKU, "DC-SBY", 3, NOW)
    # Then the free units are spread evenly and the position is unchanged
    assert sorted((level.bucket, level.atp) for level in levels) == [(0, 4), (1, 3), (2, 3)]
    assert inventory.positions([SKU])[(SKU, "DC-SBY")].atp == 10
    # When a hold takes 5 (more than any one bucket), Then it takes from several buckets
    held = inventory.hold(_hold(5), NOW).reservation
    assert sum(line.quantity for line in held.lines) == 5 and len(held.lines) >= 2
    assert inventory.positions([SKU])[(SKU, "DC-SBY")].atp == 5
