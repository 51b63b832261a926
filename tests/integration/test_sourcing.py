"""Sourcing against moto, with the tables from template.yaml and the demo nodes:
plan, reserve and record; retries that reserve once; rejections, cancels,
backorders and the channel's policies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms import container
from oms.domain.sourcing import SourcingService
from oms.errors import Forbidden, NotFound
from oms.models.inventory import ReservationStatus
from oms.models.order import Channel, FulfillmentStatus, HoldCode, OrderStatus, ShortageAction
from oms.models.sourcing import ChannelSourcing, PlanRequest
from tests.builders import a_draft
from tests.integration.conftest import client
from tests.support import FakeContext, http_event, load_handler

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
SKU = "KOP-GAYO-250"
JAKARTA = {
    "name": "Siti", "phone": "+628123", "line1": "Jl. Kebon Jeruk 27", "city": "Jakarta Barat",
    "province": "DKI Jakarta", "postal_code": "11530", "country": "ID",
}  # fmt: skip


def _service() -> SourcingService:
    service = container.sourcing()
    service.clock = lambda: NOW
    return service


def _stock(sku: str, units_by_node: dict[str, int]) -> None:
    """Set each node's ATP of sku (every node not named: 0)."""
    inventory = container.inventory()
    for node_id in inventory.reference.nodes():
        level = inventory.store.levels([(sku, node_id)], consistent=True)[0]
        target = units_by_node.get(node_id, 0) + level.safety_stock if node_id in units_by_node else 0
        assert inventory.store.set_figures(level, on_hand=target, kind="test", ref="setup", now=NOW)


def _atp(sku: str, node_id: str) -> int:
    position = container.inventory().positions([sku], consistent=True).get((sku, node_id))
    return position.atp if position else 0


def _capture(order_id: str, lines: list[dict], **changes) -> str:
    draft = a_draft(channel_order_id=order_id, shipping_address=JAKARTA, lines=lines, **changes)
    return container.capture_service().capture(draft, NOW).order.order_id


def _line(line_id: str, sku: str, quantity: int) -> dict:
    return {"line_id": line_id, "sku": sku, "quantity": quantity, "unit_price": "10000"}


def test_an_order_is_allocated_to_the_cheapest_node_reserved_and_traced(stack) -> None:
    _stock(SKU, {"DC-CKG": 10, "DC-SBY": 10, "ST-JKT-GI": 5})
    order_id = _capture("S-1", [_line("1", SKU, 2)])

    result = _service().source(order_id)

    order = container.orders().get(order_id)
    assert result.outcome == "allocated" and order.status is OrderStatus.allocated
    (fulfillment,) = order.fulfillments
    assert fulfillment.node_id == "DC-CKG" and fulfillment.fulfillment_id == f"{order_id}-F1"
    assert _atp(SKU, "DC-CKG") == 8
    reservation = container.inventory().get(fulfillment.reservation_id)
    assert reservation.order_id == order_id and reservation.status is ReservationStatus.active
    (decision,) = container.orders().traces(order_id)
    assert decision["plan"]["trace"]["winner"] == ["DC-CKG"]
    assert decision["plan"]["input"]["stock"][SKU]["DC-CKG"] == 10


def test_sourcing_again_reserves_nothing_twice(stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("S-2", [_line("1", SKU, 3)])
    _service().source(order_id)
    again = _service().source(order_id)
    assert again.outcome == "unchanged"
    assert _atp(SKU, "DC-CKG") == 7


def test_a_crash_after_reserving_is_recovered_from_the_stored_reservation(stack, monkeypatch) -> None:
    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("S-3", [_line("1", SKU, 3)])
    service = _service()
    _crash_once(service, monkeypatch, order_id)
    assert _atp(SKU, "DC-CKG") == 7  # reserved, not recorded

    assert service.source(order_id).outcome == "allocated"
    assert _atp(SKU, "DC-CKG") == 7  # the same reservation, not a second
    assert len(container.orders().get(order_id).fulfillments) == 1


def test_short_stock_is_backordered_then_sourced_when_stock_arrives(stack) -> None:
    _stock(SKU, {"DC-CKG": 1})
    order_id = _capture("S-4", [_line("1", SKU, 1), _line("2", "CAP-NAVY", 2)])
    _stock("CAP-NAVY", {})

    assert _service().source(order_id).outcome == "partially_allocated"
    order = container.orders().get(order_id)
    assert [u.line_id for u in order.unfilled] == ["2"] and order.unfilled[0].action is ShortageAction.backorder
    assert not _service().backordered_with_stock(order)

    _stock("CAP-NAVY", {"DC-SBY": 5})
    assert _service().backordered_with_stock(container.orders().get(order_id))
    assert _service().source(order_id).outcome == "allocated"
    order = container.orders().get(order_id)
    assert [f.node_id for f in order.fulfillments] == ["DC-CKG", "DC-SBY"] and order.unfilled == []


def test_a_channel_without_partial_shipment_waits_for_every_line(stack) -> None:
    reference = container.reference_data()
    rules = reference.sourcing_rules()
    rules = rules.model_copy(update={"channels": {Channel.pos: ChannelSourcing(allow_partial=False)}})
    reference.put_rules("sourcing", rules, expected_version=None)
    _stock(SKU, {"DC-CKG": 5})
    _stock("CAP-NAVY", {})
    order_id = _capture("S-5", [_line("1", SKU, 1), _line("2", "CAP-NAVY", 1)])

    assert _service().source(order_id).outcome == "backordered"
    assert _atp(SKU, "DC-CKG") == 5  # nothing reserved
    assert {u.line_id for u in container.orders().get(order_id).unfilled} == {"1", "2"}


def test_cancel_on_shortage_cancels_an_order_nothing_can_fill(stack) -> None:
    reference = container.reference_data()
    rules = reference.sourcing_rules().model_copy(
        update={"channels": {Channel.pos: ChannelSourcing(on_shortage="cancel")}}
    )
    reference.put_rules("sourcing", rules, expected_version=None)
    _stock(SKU, {})
    order_id = _capture("S-6", [_line("1", SKU, 1)])
    assert _service().source(order_id).outcome == "cancelled"
    assert container.orders().get(order_id).cancel_reason.startswith("out of stock")


def test_a_node_rejection_releases_excludes_the_node_and_resources(stack) -> None:
    _stock(SKU, {"DC-CKG": 10, "DC-SBY": 10})
    order_id = _capture("S-7", [_line("1", SKU, 2)])
    service = _service()
    service.source(order_id)
    first = container.orders().get(order_id).fulfillments[0]

    result = service.reject(first.fulfillment_id, "forklift down", None)

    order = container.orders().get(order_id)
    assert result.outcome == "allocated"
    assert [(f.node_id, f.status) for f in order.fulfillments] == [
        ("DC-CKG", FulfillmentStatus.rejected),
        ("DC-SBY", FulfillmentStatus.requested),
    ]
    assert order.excluded_nodes == ["DC-CKG"]
    assert _atp(SKU, "DC-CKG") == 10 and _atp(SKU, "DC-SBY") == 8
    assert service.reject(first.fulfillment_id, "again", None).outcome == "unchanged"
    with pytest.raises(NotFound):
        service.reject(f"{order_id}-F9", "no such", None)


def test_a_short_pick_corrects_the_node_stock_and_keeps_the_node(stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("S-8", [_line("1", SKU, 2)])
    service = _service()
    service.source(order_id)
    fulfillment = container.orders().get(order_id).fulfillments[0]

    service.reject(fulfillment.fulfillment_id, "shelf empty", {SKU: 6})  # 6 on hand, 5 of them safety stock

    order = container.orders().get(order_id)
    assert order.excluded_nodes == []
    # 1 sellable unit left (6 on hand less 5 safety stock): it ships, the other unit waits.
    assert order.status is OrderStatus.partially_allocated
    assert [(f.status, f.lines[0].quantity) for f in order.fulfillments] == [
        (FulfillmentStatus.rejected, 2),
        (FulfillmentStatus.requested, 1),
    ]
    assert [(u.line_id, u.quantity) for u in order.unfilled] == [("1", 1)]
    level = container.inventory().positions([SKU], consistent=True)[(SKU, "DC-CKG")]
    assert (level.on_hand, level.reserved, level.atp) == (6, 1, 0)


def test_a_rejected_pickup_goes_to_staff_not_to_another_store(stack) -> None:
    _stock(SKU, {"ST-JKT-GI": 5, "ST-BDG-PVJ": 5})
    order_id = _capture(
        "S-9", [_line("1", SKU, 1)], delivery_method="pickup", pickup_node_id="ST-JKT-GI", service_level="pickup"
    )
    service = _service()
    service.source(order_id)
    fulfillment = container.orders().get(order_id).fulfillments[0]
    assert fulfillment.node_id == "ST-JKT-GI"

    assert service.reject(fulfillment.fulfillment_id, "item damaged", None).outcome == "on_hold"
    order = container.orders().get(order_id)
    assert order.status is OrderStatus.on_hold and order.holds[-1].code is HoldCode.pickup_rejected
    assert _atp(SKU, "ST-JKT-GI") == 5


def test_a_pickup_store_without_every_unit_holds_the_order_and_names_stores_that_can(stack) -> None:
    _stock(SKU, {"ST-JKT-GI": 2, "ST-BDG-PVJ": 9})
    order_id = _capture(
        "S-10", [_line("1", SKU, 5)], delivery_method="pickup", pickup_node_id="ST-JKT-GI", service_level="pickup"
    )
    assert _service().source(order_id).outcome == "on_hold"
    hold = container.orders().get(order_id).holds[-1]
    assert hold.code is HoldCode.pickup_unavailable and "ST-BDG-PVJ" in hold.message


def test_cancelling_an_allocated_order_releases_its_stock(stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("S-11", [_line("1", SKU, 4)])
    _service().source(order_id)
    container.capture_service().capture(
        a_draft(
            channel_order_id="S-11", shipping_address=JAKARTA, lines=[_line("1", SKU, 4)],
            cancelled=True, channel_updated_at=NOW + timedelta(minutes=5),
        ),
        NOW,
    )  # fmt: skip
    assert _service().order_cancelled(order_id).outcome == "cancelled"
    assert _atp(SKU, "DC-CKG") == 10
    assert container.orders().get(order_id).fulfillments[0].status is FulfillmentStatus.cancelled
    assert _service().order_cancelled(order_id).outcome == "unchanged"


def test_daily_capacity_is_taken_with_the_reservation_and_a_full_node_is_skipped(stack) -> None:
    reference = container.reference_data()
    node = reference.nodes()["DC-CKG"].model_copy(update={"daily_capacity": {"ship": 1}})
    reference.put_node(node)
    _stock(SKU, {"DC-CKG": 10, "DC-SBY": 10})
    first = _capture("S-12", [_line("1", SKU, 1)])
    second = _capture("S-13", [_line("1", SKU, 1)])
    _service().source(first)
    _service().source(second)
    assert container.orders().get(first).fulfillments[0].node_id == "DC-CKG"
    assert container.orders().get(second).fulfillments[0].node_id == "DC-SBY"
    (decision,) = container.orders().traces(second)
    reasons = {n["node_id"]: n["removed"] for n in decision["plan"]["trace"]["nodes"]}
    assert reasons["DC-CKG"] == "daily ship capacity reached"


def test_the_dry_run_plans_a_cart_and_changes_nothing(stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    plan = _service().dry_run(
        PlanRequest.model_validate(
            {"destination": {"city": "Bandung", "province": "Jawa Barat"}, "lines": [{"sku": SKU, "quantity": 2}]}
        )
    )
    assert plan.outcome.value == "allocated" and plan.shipments[0].node_id == "DC-CKG"
    assert plan.cost.total == sum((s.cost.total for s in plan.shipments), Decimal(0))
    assert _atp(SKU, "DC-CKG") == 10


def test_the_worker_sources_from_queue_messages_and_drops_what_is_not_an_event(stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("S-14", [_line("1", SKU, 1)])
    worker = load_handler("functions/sourcing/worker.py")
    body = {"detail-type": "OrderReceived", "source": "oms", "detail": {"order_id": order_id}}
    records = [
        {"messageId": message_id, "receiptHandle": message_id, "body": text, "attributes": {}, "eventSource": "aws:sqs"}
        for message_id, text in (("m1", json.dumps(body)), ("m2", "not json"))
    ]
    answer = worker.lambda_handler({"Records": records}, FakeContext())
    assert answer == {"batchItemFailures": []}
    assert container.orders().get(order_id).status is OrderStatus.allocated
    sweep = worker.lambda_handler({"job": "backorders"}, FakeContext())
    assert sweep["job"] == "backorders"


def test_rules_are_saved_with_versions(stack) -> None:
    app = load_handler("functions/sourcing/app.py")
    rules = container.reference_data().sourcing_rules().model_dump(mode="json")
    rules["per_shipment_cost"] = "20000"

    def put(body: dict) -> dict:
        event = http_event("PUT", "/sourcing/rules", "/sourcing/rules", body, "oms_local_ops_key")
        return app.lambda_handler(event, FakeContext())

    saved = put(rules)
    assert saved["statusCode"] == 200 and json.loads(saved["body"])["version"] == 2
    assert put(rules)["statusCode"] == 409  # version 1 is no longer current
    contradictory = {**rules, "version": 2, "default_channel": {"nodes": []}}
    assert put(contradictory)["statusCode"] == 422
    client("dynamodb")  # the stack is still there


def test_a_replay_plans_past_decisions_again_under_proposed_rules(stack) -> None:
    _stock(SKU, {"DC-CKG": 10, "DC-SBY": 10})
    order_ids = [_capture(f"R-{n}", [_line("1", SKU, 1)]) for n in range(3)]
    for order_id in order_ids:
        _service().source(order_id)
    current = container.reference_data().sourcing_rules()
    only_surabaya = current.model_copy(update={"default_channel": ChannelSourcing(nodes=["DC-SBY"])})

    same = _service().replay(current, order_ids)
    moved = _service().replay(only_surabaya, order_ids)

    assert same["decisions"] == 3 and same["changed"] == 0 and same["cost_change"] == 0
    assert moved["changed"] == 3 and moved["cost_change"] > 0
    assert moved["examples"][0]["current"]["nodes"] == ["DC-CKG"]
    assert moved["examples"][0]["proposed"]["nodes"] == ["DC-SBY"]


def _crash_once(service: SourcingService, monkeypatch, order_id: str) -> None:
    """One run that reserves and dies before recording anything on the order."""
    real = service.rounds._record

    def crash(*args, **kwargs):
        raise RuntimeError("died before recording")

    monkeypatch.setattr(service.rounds, "_record", crash)
    with pytest.raises(RuntimeError):
        service.source(order_id)
    monkeypatch.setattr(service.rounds, "_record", real)


def test_a_retry_adopts_what_a_dead_run_reserved_even_when_no_stock_is_left(stack, monkeypatch) -> None:
    _stock(SKU, {"DC-CKG": 3})
    order_id = _capture("A-1", [_line("1", SKU, 3)])
    service = _service()
    _crash_once(service, monkeypatch, order_id)
    assert _atp(SKU, "DC-CKG") == 0  # reserved by the dead run; a fresh plan would find nothing

    assert service.source(order_id).outcome == "allocated"
    order = container.orders().get(order_id)
    assert [(f.fulfillment_id, f.node_id) for f in order.fulfillments] == [(f"{order_id}-F1", "DC-CKG")]
    assert order.unfilled == [] and _atp(SKU, "DC-CKG") == 0


def test_a_retry_whose_plan_would_differ_still_records_every_reserved_line_once(stack, monkeypatch) -> None:
    _stock(SKU, {"DC-CKG": 2})
    _stock("CAP-NAVY", {"DC-SBY": 1})
    order_id = _capture("A-2", [_line("1", SKU, 2), _line("2", "CAP-NAVY", 1)])
    service = _service()
    _crash_once(service, monkeypatch, order_id)
    _stock("CAP-NAVY", {"DC-CKG": 5})  # the retry's own plan would now ship everything from DC-CKG

    assert service.source(order_id).outcome == "allocated"
    order = container.orders().get(order_id)
    placed = sorted((line.line_id, f.node_id) for f in order.fulfillments for line in f.lines)
    assert placed == [("1", "DC-CKG"), ("2", "DC-SBY")] and order.unfilled == []
    assert container.inventory().get(f"RES-{order_id}-F2").status is ReservationStatus.active


def test_a_round_given_back_is_never_reused(stack, monkeypatch) -> None:
    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("A-3", [_line("1", SKU, 2)])
    service = _service()
    _crash_once(service, monkeypatch, order_id)
    container.inventory().release(f"RES-{order_id}-F1", NOW, reason="given back")  # as a cancellation would

    service.source(order_id)
    order = container.orders().get(order_id)
    assert [f.fulfillment_id for f in order.fulfillments] == [f"{order_id}-F2"]
    assert _atp(SKU, "DC-CKG") == 8


def test_two_lines_of_one_sku_are_reserved_and_released_together(stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("A-4", [_line("1", SKU, 2), _line("2", SKU, 3)])
    service = _service()
    assert service.source(order_id).outcome == "allocated"
    assert _atp(SKU, "DC-CKG") == 5
    (fulfillment,) = container.orders().get(order_id).fulfillments
    service.reject(fulfillment.fulfillment_id, "no", None)
    assert _atp(SKU, "DC-CKG") == 10  # released, and the node is not asked again


def test_a_rejection_after_the_channel_cancelled_does_not_bring_the_order_back(stack) -> None:
    _stock(SKU, {"DC-CKG": 10, "DC-SBY": 10})
    order_id = _capture("A-5", [_line("1", SKU, 2)])
    service = _service()
    service.source(order_id)
    container.capture_service().capture(
        a_draft(
            channel_order_id="A-5", shipping_address=JAKARTA, lines=[_line("1", SKU, 2)],
            cancelled=True, channel_updated_at=NOW + timedelta(minutes=5),
        ),
        NOW,
    )  # fmt: skip
    fulfillment = container.orders().get(order_id).fulfillments[0]
    assert service.reject(fulfillment.fulfillment_id, "no forklift", None).outcome == "unchanged"
    order = container.orders().get(order_id)
    assert order.status is OrderStatus.cancelled and len(order.fulfillments) == 1
    assert _atp(SKU, "DC-CKG") == 10 and _atp(SKU, "DC-SBY") == 10


def test_a_sourcing_hold_survives_channel_updates_until_ops_retry(stack) -> None:
    _stock(SKU, {"ST-JKT-GI": 1, "ST-BDG-PVJ": 9})
    pickup = {"delivery_method": "pickup", "pickup_node_id": "ST-JKT-GI", "service_level": "pickup"}
    order_id = _capture("A-6", [_line("1", SKU, 3)], **pickup)
    service = _service()
    assert service.source(order_id).outcome == "on_hold"
    container.capture_service().capture(
        a_draft(
            channel_order_id="A-6", shipping_address=JAKARTA, lines=[_line("1", SKU, 3)],
            notes="ring twice", channel_updated_at=NOW + timedelta(minutes=5), **pickup,
        ),
        NOW,
    )  # fmt: skip
    order = container.orders().get(order_id)
    assert order.status is OrderStatus.on_hold and [h.code for h in order.holds] == [HoldCode.pickup_unavailable]

    _stock(SKU, {"ST-JKT-GI": 5})  # the store got the units
    assert service.retry(order_id).outcome == "allocated"
    assert container.orders().get(order_id).holds == []


def test_a_node_key_limited_to_its_nodes_cannot_reject_another_nodes_work(stack) -> None:
    _stock(SKU, {"DC-CKG": 10})
    order_id = _capture("A-7", [_line("1", SKU, 1)])
    _service().source(order_id)
    fulfillment = container.orders().get(order_id).fulfillments[0]
    with pytest.raises(Forbidden):
        _service().reject(fulfillment.fulfillment_id, "not ours", None, acting_for={"ST-BDG-PVJ"})
    result = _service().reject(fulfillment.fulfillment_id, "ours", None, acting_for={"DC-CKG"})
    assert result.outcome == "backordered"  # DC-CKG had the only units, and is not asked again
