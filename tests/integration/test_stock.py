"""The inventory module against moto, with the tables from template.yaml."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oms import container
from oms.domain.stock import InsufficientStock
from oms.domain.stock_jobs import Reconciliation, StockAudit, set_buckets
from oms.errors import Conflict
from oms.models.inventory import AdjustmentCreate, HoldCreate, ReservationStatus, SnapshotPart
from oms.models.order import Channel
from tests.integration.conftest import client

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SKU = "KOP-GAYO-250"


def _zero_sku(sku: str, keep_node: str, units: int) -> None:
    """Every node of sku counted as 0 except keep_node with units (a DC: safety 5)."""
    inventory = container.inventory()
    for node_id in inventory.reference.nodes():
        level = inventory.store.levels([(sku, node_id)], consistent=True)[0]
        target = units + level.safety_stock if node_id == keep_node else 0
        assert inventory.store.set_figures(level, on_hand=target, kind="test", ref="setup", now=NOW)


def _atp(sku: str, channel: Channel = Channel.web) -> int:
    return container.inventory().availability([sku], channel, with_nodes=True)[0].atp


def _hold(quantity: int = 1, **kwargs) -> HoldCreate:
    return HoldCreate(channel=Channel.web, lines=[{"sku": SKU, "quantity": quantity}], **kwargs)


def test_holds_never_exceed_stock_and_release_gives_back(stack) -> None:
    _zero_sku(SKU, "DC-CKG", 10)
    inventory = container.inventory()
    assert _atp(SKU) == 10
    held = [inventory.hold(_hold(), NOW).reservation for _ in range(10)]
    with pytest.raises(InsufficientStock) as short:
        inventory.hold(_hold(), NOW)
    assert short.value.shortages[0].available == 0
    assert _atp(SKU) == 0
    released = inventory.release(held[0].reservation_id, NOW)
    assert released.status is ReservationStatus.released
    assert inventory.release(held[0].reservation_id, NOW).status is ReservationStatus.released  # idempotent
    assert _atp(SKU) == 1


def test_a_retried_hold_key_holds_once(stack) -> None:
    _zero_sku(SKU, "DC-CKG", 5)
    inventory = container.inventory()
    first = inventory.hold(_hold(2, hold_key="cart-1"), NOW)
    again = inventory.hold(_hold(2, hold_key="cart-1"), NOW)
    assert first.created and not again.created
    assert first.reservation.reservation_id == again.reservation.reservation_id
    assert _atp(SKU) == 3
    with pytest.raises(Conflict):
        inventory.hold(_hold(3, hold_key="cart-1"), NOW)


def test_expired_holds_release_themselves(stack) -> None:
    _zero_sku(SKU, "DC-CKG", 3)
    inventory = container.inventory()
    hold = inventory.hold(_hold(2, ttl_seconds=60), NOW).reservation
    assert inventory.expire_holds(NOW + timedelta(seconds=30)) == 0
    assert inventory.expire_holds(NOW + timedelta(seconds=61)) == 1
    assert inventory.get(hold.reservation_id).status is ReservationStatus.expired
    assert _atp(SKU) == 3


def test_consume_takes_units_out_of_on_hand_once(stack) -> None:
    _zero_sku(SKU, "DC-CKG", 4)
    inventory = container.inventory()
    hold = inventory.hold(_hold(3), NOW).reservation
    inventory.consume(hold.reservation_id, None, NOW)
    inventory.consume(hold.reservation_id, None, NOW)
    position = inventory.positions([SKU], consistent=True)[(SKU, "DC-CKG")]
    assert (position.on_hand, position.reserved, position.atp) == (6, 0, 1)
    assert inventory.get(hold.reservation_id).status is ReservationStatus.consumed


def test_adjustments_apply_once_and_refuse_what_is_not_there(stack) -> None:
    _zero_sku(SKU, "DC-CKG", 0)
    inventory = container.inventory()
    receipt = AdjustmentCreate(
        adjustment_id="GRN-1", kind="receipt", node_id="DC-CKG", lines=[{"sku": SKU, "quantity": 20}]
    )
    assert inventory.adjust(receipt, NOW) == "applied"
    assert inventory.adjust(receipt, NOW) == "duplicate"
    with pytest.raises(Conflict):
        inventory.adjust(
            receipt.model_copy(update={"lines": [receipt.lines[0].model_copy(update={"quantity": 21})]}),
            NOW,
        )
    assert _atp(SKU) == 20
    damage = AdjustmentCreate(
        adjustment_id="DMG-1", kind="damage", node_id="DC-CKG", lines=[{"sku": SKU, "quantity": 99}]
    )
    with pytest.raises(InsufficientStock):
        inventory.adjust(damage, NOW)
    transfer = AdjustmentCreate(
        adjustment_id="TRF-1",
        kind="transfer",
        node_id="DC-CKG",
        to_node_id="ST-JKT-GI",
        lines=[{"sku": SKU, "quantity": 8}],
    )
    assert inventory.adjust(transfer, NOW) == "applied"
    stock = inventory.positions([SKU], consistent=True)
    assert stock[(SKU, "DC-CKG")].on_hand == 17 and stock[(SKU, "ST-JKT-GI")].on_hand == 8
    new_pair = AdjustmentCreate(
        adjustment_id="GRN-2", kind="receipt", node_id="DC-SBY", lines=[{"sku": "CAP-NAVY", "quantity": 1}]
    )
    assert inventory.adjust(new_pair, NOW) == "applied"


def _drain_snapshot_queue(stack) -> int:
    sqs = client("sqs")
    url = stack.resources.queues["SnapshotPartsQueue"]
    applied = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return applied
        for message in messages:
            container.snapshots().apply(SnapshotPart.model_validate_json(message["Body"]), NOW)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            applied += 1


def test_a_count_in_parts_sets_on_hand_and_an_older_count_is_refused(stack) -> None:
    snapshots = container.snapshots()
    rows = [{"sku": sku, "on_hand": 40 + i} for i, sku in enumerate(["BTK-PRG-L", "BTK-PRG-M", "CAP-NAVY", SKU])]
    for part, chunk in ((1, rows[:2]), (2, rows[2:])):
        accepted = snapshots.receive(
            SnapshotPart(
                snapshot_id="CNT-1", node_id="DC-CKG", as_of=NOW, scope="full", part=part, parts=2, rows=chunk
            ),
            NOW,
        )
        assert accepted.outcome == "queued"
    assert _drain_snapshot_queue(stack) == 2
    status = snapshots.status("CNT-1")
    assert (status.status, status.rows_applied) == ("applied", 4)
    assert status.rows_zeroed == 8  # the other 8 demo SKUs at DC-CKG were not listed
    stock = container.inventory().positions([SKU, "TEH-TUBRUK-100"], consistent=True)
    assert stock[(SKU, "DC-CKG")].on_hand == 43
    assert stock[("TEH-TUBRUK-100", "DC-CKG")].on_hand == 0
    with pytest.raises(Conflict):
        snapshots.receive(
            SnapshotPart(snapshot_id="CNT-0", node_id="DC-CKG", as_of=NOW - timedelta(hours=1), rows=rows[:1]), NOW
        )


def test_audit_repairs_reserved_units_without_a_reservation(stack) -> None:
    _zero_sku(SKU, "DC-CKG", 10)
    inventory = container.inventory()
    inventory.hold(_hold(2), NOW)
    level = inventory.store.levels([(SKU, "DC-CKG")], consistent=True)[0]
    assert inventory.store.set_figures(level, reserved=level.reserved + 3, kind="test", ref="corrupt", now=NOW)
    later = NOW + timedelta(minutes=1)
    report = StockAudit(inventory, container.order_statuses(), lambda: later).run()
    lines = [line for line in report["lines"] if line["sku"] == SKU]
    assert lines and lines[0]["problem"] == "reserved_without_reservation" and lines[0]["corrected"]
    assert inventory.positions([SKU], consistent=True)[(SKU, "DC-CKG")].reserved == 2
    assert inventory.store.latest_report("audit")["findings"] == report["findings"]


def test_reconciliation_reports_and_corrects_drift(stack) -> None:
    snapshots = container.snapshots()
    snapshots.receive(
        SnapshotPart(snapshot_id="CNT-R", node_id="DC-SBY", as_of=NOW, rows=[{"sku": SKU, "on_hand": 50}]), NOW
    )
    _drain_snapshot_queue(stack)
    inventory = container.inventory()
    level = inventory.store.levels([(SKU, "DC-SBY")], consistent=True)[0]
    assert level.on_hand == 50
    inventory.store.set_figures(level, on_hand=47, kind="test", ref="injected drift", now=NOW)  # bypasses movements
    report = Reconciliation(inventory, lambda: NOW + timedelta(minutes=5)).run()
    drift = [line for line in report["lines"] if line["sku"] == SKU and line["node_id"] == "DC-SBY"]
    assert drift == [
        {
            "sku": SKU,
            "node_id": "DC-SBY",
            "problem": "drift",
            "oms_on_hand": 47,
            "expected_on_hand": 50,
            "drift": -3,
            "counted_on_hand": 50,
            "counted_as_of": "2026-11-25T10:00:00.000Z",
            "corrected": True,
        }
    ]
    assert inventory.positions([SKU], consistent=True)[(SKU, "DC-SBY")].on_hand == 50


def test_a_line_bigger_than_any_bucket_is_held_across_buckets_and_given_back_whole(stack) -> None:
    _zero_sku(SKU, "DC-CKG", 8)
    inventory = container.inventory()
    set_buckets(inventory, SKU, "DC-CKG", 4, NOW)  # 2 free units a bucket
    hold = inventory.hold(_hold(7, hold_key="cart-split"), NOW).reservation
    assert sum(line.quantity for line in hold.lines) == 7 and len({line.bucket for line in hold.lines}) == 4
    assert {line.line_id for line in hold.lines} == {"1"}
    assert _atp(SKU) == 1
    again = inventory.hold(_hold(7, hold_key="cart-split"), NOW)  # the retried checkout finds it
    assert not again.created and again.reservation.reservation_id == hold.reservation_id
    inventory.consume(hold.reservation_id, ["1"], NOW)
    position = inventory.positions([SKU], consistent=True)[(SKU, "DC-CKG")]
    assert (position.reserved, position.atp) == (0, 1)
    assert StockAudit(inventory, container.order_statuses(), lambda: NOW).run()["findings"] == 0


def test_hot_sku_buckets_keep_the_totals_and_every_unit_is_reservable(stack) -> None:
    _zero_sku(SKU, "DC-CKG", 16)
    inventory = container.inventory()
    levels = set_buckets(inventory, SKU, "DC-CKG", 4, NOW)
    assert len(levels) == 4 and sum(level.atp for level in levels) == 16
    assert _atp(SKU) == 16
    holds = [inventory.hold(_hold(), NOW).reservation for _ in range(16)]
    assert len({h.lines[0].bucket for h in holds}) == 4
    with pytest.raises(InsufficientStock):
        inventory.hold(_hold(), NOW)
    for hold in holds:
        inventory.release(hold.reservation_id, NOW)
    assert _atp(SKU) == 16
    kept = next(h for h in (inventory.hold(_hold(), NOW).reservation for _ in range(16)) if h.lines[0].bucket != 0)
    with pytest.raises(Conflict):
        set_buckets(inventory, SKU, "DC-CKG", 1, NOW)  # a reservation still points into a dropped bucket
    inventory.release(kept.reservation_id, NOW)
    for reservation in inventory.store.scan_active_reservations():
        inventory.release(reservation.reservation_id, NOW)
    assert len(set_buckets(inventory, SKU, "DC-CKG", 1, NOW)) >= 1
    assert _atp(SKU) == 16
