"""The parcel state machine, the order status derived from parcels, what carriers' words mean, and
the timeline a change writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms.domain.capture import build_order
from oms.domain.carrier_webhooks import is_empty_probe, parse_biteship
from oms.domain.lifecycle import Refused, advance, order_status
from oms.domain.timeline import entries_for_change
from oms.domain.tracking import normalized_contact
from oms.models.order import (
    Fulfillment,
    FulfillmentLine,
    FulfillmentStatus,
    OrderStatus,
    Shipment,
    ShortageAction,
    UnfilledLine,
)
from tests.builders import a_draft

S = FulfillmentStatus
T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def parcel(status: S = S.requested, n: int = 1, at: datetime | None = None) -> Fulfillment:
    line = FulfillmentLine(line_id="1", sku="A", quantity=1)
    return Fulfillment(fulfillment_id=f"ord_x-F{n}", node_id="DC-CKG", delivery_method="ship",
                       service_level="regular", status=status, lines=[line], reservation_id="RES-1",
                       planned_cost=Decimal(1), round=1, created_at=T0, status_at=at)  # fmt: skip


def test_a_parcel_moves_forward_skipping_steps_and_never_back():
    packed = advance(parcel(), S.packed, T0, "node:DC-CKG", pickup=False)
    assert packed.changed and packed.fulfillment.status is S.packed  # picked was skipped
    late = advance(packed.fulfillment, S.accepted, T0 + timedelta(minutes=1), "node:DC-CKG", pickup=False)
    assert late.fulfillment.status is S.packed and [s.status for s in late.fulfillment.scans] == [S.packed, S.accepted]
    again = advance(late.fulfillment, S.accepted, T0 + timedelta(minutes=2), "node:DC-CKG", pickup=False)
    assert not again.changed  # the late report once is history; twice is a repeat
    assert not advance(packed.fulfillment, S.packed, T0, "node", pickup=False).changed


@pytest.mark.parametrize(
    ("start", "to", "pickup"),
    [
        (S.cancelled, S.picked, False),
        (S.rejected, S.shipped, False),
        (S.returned_to_sender, S.accepted, False),
        (S.delivered, S.returned_to_sender, False),
        (S.shipped, S.cancelled, False),  # too late to cancel
        (S.packed, S.ready_for_pickup, False),  # not a pickup parcel
        (S.packed, S.shipped, True),  # a pickup parcel is not shipped
    ],
)
def test_moves_out_of_ended_branches_or_off_the_path_are_refused(start: S, to: S, pickup: bool):
    with pytest.raises(Refused):
        advance(parcel(start, at=T0), to, T0 + timedelta(hours=1), "carrier:jne", pickup=pickup)


def test_a_carriers_late_news_after_a_return_is_kept_not_refused():
    returned = parcel(S.returned_to_sender, at=T0)
    late = advance(returned, S.in_transit, T0 - timedelta(hours=5), "carrier:jne", pickup=False)
    assert late.fulfillment.status is S.returned_to_sender and late.changed  # kept in its history
    assert not advance(late.fulfillment, S.in_transit, T0, "carrier:jne", pickup=False).changed


def test_a_push_without_its_own_time_never_moves_between_equal_ranks():
    failed = parcel(S.failed_attempt, at=T0)
    retried = advance(failed, S.out_for_delivery, T0 + timedelta(hours=1), "carrier:jne", pickup=False, timed=False)
    assert retried.fulfillment.status is S.failed_attempt
    ready = parcel(S.ready_for_pickup, at=T0)
    assert advance(ready, S.cancelled, T0, "cs", pickup=True).fulfillment.status is S.cancelled  # still at the store


def test_equal_rank_statuses_follow_the_time_they_happened():
    out = parcel(S.out_for_delivery, at=T0)
    failed = advance(out, S.failed_attempt, T0 + timedelta(hours=1), "carrier:jne", pickup=False).fulfillment
    assert failed.status is S.failed_attempt
    retried = advance(failed, S.out_for_delivery, T0 + timedelta(days=1), "carrier:jne", pickup=False).fulfillment
    assert retried.status is S.out_for_delivery  # the next day's attempt
    stale = advance(retried, S.failed_attempt, T0 + timedelta(minutes=30), "carrier:jne", pickup=False)
    assert stale.fulfillment.status is S.out_for_delivery and not stale.changed  # reported before


def test_the_order_status_follows_its_parcels_once_nothing_waits():
    waiting = [UnfilledLine(line_id="2", sku="B", quantity=1, action=ShortageAction.backorder, reason="no stock")]
    assert order_status([parcel(S.shipped)], waiting) is OrderStatus.partially_allocated  # the sweep looks there
    assert order_status([], waiting) is OrderStatus.backordered
    assert order_status([parcel(S.packed)], []) is OrderStatus.allocated
    assert order_status([parcel(S.shipped), parcel(S.accepted, 2)], []) is OrderStatus.partially_shipped
    assert order_status([parcel(S.in_transit), parcel(S.delivered, 2)], []) is OrderStatus.shipped
    assert order_status([parcel(S.delivered), parcel(S.rejected, 2)], []) is OrderStatus.delivered
    assert order_status([parcel(S.returned_to_sender)], []) is OrderStatus.returned_to_sender
    assert order_status([parcel(S.ready_for_pickup)], []) is OrderStatus.ready_for_pickup
    cancelled = [UnfilledLine(line_id="1", sku="A", quantity=1, action=ShortageAction.cancel, reason="no stock")]
    assert order_status([parcel(S.cancelled)], cancelled) is OrderStatus.cancelled


def test_biteship_words_become_ours_and_the_raw_value_is_kept():
    def report(status: str):
        body = f'{{"event":"order.status","courier_waybill_id":"WB1","courier_company":"JNE","status":"{status}"}}'
        return parse_biteship(body.encode(), T0)

    assert (report("picked").status, report("picked").carrier) == (S.in_transit, "jne")
    assert report("droppingOff").status is S.out_for_delivery and report("droppingOff").raw_status == "dropping_off"
    assert report("on_hold").status is S.failed_attempt and report("return_in_transit").status is S.returned_to_sender
    assert report("confirmed").status is None and report("something_new").status is None  # kept, not guessed
    assert parse_biteship(b'{"event":"order.price","courier_waybill_id":"WB1"}', T0) is None
    assert is_empty_probe(b"") and is_empty_probe(b"{}") and not is_empty_probe(b'{"event":"x"}')


def test_contacts_compare_however_the_buyer_writes_them():
    assert normalized_contact("0812-3456-7890") == normalized_contact("+62 812 3456 7890") == "6281234567890"
    assert normalized_contact("812 3456 7890") == "6281234567890"
    assert normalized_contact("+62 (0)812-3456-7890") == normalized_contact("0062 812 3456 7890") == "6281234567890"
    assert normalized_contact(" Siti@Example.co.id ") == "siti@example.co.id"


def test_a_change_writes_timeline_entries_naming_who_and_what_the_buyer_reads():
    order = build_order(a_draft(), order_number="OMS-0000042", known_skus={"TSHIRT-BLK-M", "CAP-NAVY"}, now=T0)
    (received,) = entries_for_change(None, order)
    assert (received.kind, received.by, received.public) == ("received", "channel:pos", "Order received")
    first = parcel()
    allocated = order.model_copy(update={"fulfillments": [first], "version": 2, "status": OrderStatus.allocated,
                                         "changed_by": "sourcing"})  # fmt: skip
    shipped_parcel = first.model_copy(
        update={"status": S.shipped, "shipment": Shipment(carrier="jne", service="REG", tracking_number="JNE01")}
    )
    shipped = allocated.model_copy(update={"fulfillments": [shipped_parcel], "version": 3,
                                           "status": OrderStatus.shipped, "changed_by": "node:DC-CKG"})  # fmt: skip
    kinds = [(e.kind, e.by) for e in entries_for_change(order, allocated)]
    assert ("allocated", "sourcing") in kinds
    entries = entries_for_change(allocated, shipped)
    (moved,) = [e for e in entries if e.kind == "parcel"]
    assert moved.what == "ord_x-F1: requested -> shipped with jne REG JNE01" and moved.by == "node:DC-CKG"
    assert moved.public == "Handed to JNE, tracking number JNE01"
    assert entries_for_change(shipped, shipped) == []  # not a new version: nothing happened
    assert [e.key for e in entries] == sorted({e.key for e in entries})  # keys unique and ordered


def test_watchers_flag_what_needs_a_person():
    from oms.domain.watchers import WatchRules, flags_for
    from oms.models.order import PromiseDates

    rules = WatchRules()
    order = build_order(a_draft(), order_number="OMS-1", known_skus={"TSHIRT-BLK-M", "CAP-NAVY"}, now=T0)
    assert [f.code.value for f in flags_for(order, T0 + timedelta(minutes=61), rules)] == ["not_released"]
    assert flags_for(order, T0 + timedelta(minutes=59), rules) == []
    promise = PromiseDates(ship_by=T0 + timedelta(hours=5), deliver_earliest=T0.date() + timedelta(days=1),
                           deliver_latest=T0.date() + timedelta(days=2), buyer_tz="Asia/Jakarta")  # fmt: skip
    shipped = parcel(S.in_transit, at=T0 + timedelta(hours=6)).model_copy(update={"promise": promise})
    allocated = order.model_copy(update={"status": OrderStatus.shipped, "fulfillments": [shipped]})
    assert flags_for(allocated, T0 + timedelta(hours=53), rules) == []
    codes = [f.code.value for f in flags_for(allocated, T0 + timedelta(hours=55), rules)]
    assert codes == ["no_scan"]
    late = flags_for(allocated, T0 + timedelta(days=3), rules)
    assert [f.code.value for f in late] == ["no_scan", "late"]
    delivered = allocated.model_copy(update={"flags": late, "fulfillments": [shipped.model_copy(
        update={"status": S.delivered, "status_at": T0 + timedelta(days=3)})]})  # fmt: skip
    assert [f.code.value for f in flags_for(delivered, T0 + timedelta(days=4), rules)] == ["late"]  # stays


def test_only_changes_the_oms_made_are_told_back_to_a_sales_channel():
    from oms.domain.write_back import write_back_for

    def event(channel: str, changed_by: str) -> dict:
        return {"event_id": "e1", "detail": {"channel": channel, "channel_order_id": "77", "changed_by": changed_by}}

    call = write_back_for("OrderCancelled", event("shopee", "cs:desk"))
    assert (call.channel.value, call.kind, call.channel_order_id, call.idempotency_key) == ("shopee", "cancelled",
                                                                                          "77", "e1")  # fmt: skip
    assert write_back_for("OrderCancelled", event("shopee", "channel:shopee")) is None  # its own cancel
    assert write_back_for("OrderCancelled", event("web", "cs:desk")) is None  # our own channel reads our API
    assert write_back_for("FulfillmentShipped", event("lazada", "node:wms")) is None  # no tracking number: nothing


def test_a_marketplace_buyers_cancel_request_is_answered_by_where_the_parcels_are():
    from oms.domain.write_back import write_back_for

    def flagged(channel: str, *statuses: str, flags: tuple[str, ...] = ("cancel_requested",)) -> dict:
        order = {"channel": channel, "channel_order_id": "88", "flags": [{"code": code} for code in flags],
                 "fulfillments": [{"status": status} for status in statuses]}  # fmt: skip
        return {"event_id": "e2", "detail": order}

    # Given a Shopee buyer asking to cancel while the parcel is still at its node: accepted
    call = write_back_for("OrderFlagged", flagged("shopee", "packed"))
    assert (call.kind, call.body["accept"]) == ("cancel_request", True)
    # Once a parcel has left: refused, with the reason
    call = write_back_for("OrderFlagged", flagged("tiktok", "cancelled", "in_transit"))
    assert (call.kind, call.body["accept"]) == ("cancel_request", False)
    assert "left" in call.body["reason"]
    # Another flag, or a channel whose requests a person answers: nothing to tell
    assert write_back_for("OrderFlagged", flagged("shopee", "packed", flags=("late",))) is None
    assert write_back_for("OrderFlagged", flagged("lazada", "packed")) is None


def test_a_new_order_that_arrives_flagged_is_announced_as_flagged():
    from oms.domain.events import events_for_change
    from oms.models.order import Flag, FlagCode

    order = build_order(a_draft(), order_number="OMS-1", known_skus={"TSHIRT-BLK-M", "CAP-NAVY"}, now=T0)
    flagged = order.model_copy(update={"flags": [Flag(code=FlagCode.cancel_requested, since=T0, message="asked")]})
    assert [e.event_type.value for e in events_for_change(None, flagged)] == ["OrderReceived", "OrderFlagged"]
    assert [e.event_type.value for e in events_for_change(None, order)] == ["OrderReceived"]


def test_a_parcel_that_ended_elsewhere_is_never_late():
    from oms.domain.watchers import WatchRules, flags_for
    from oms.models.order import PromiseDates

    promise = PromiseDates(ship_by=T0, deliver_by=T0 + timedelta(hours=3), buyer_tz="Asia/Jakarta")
    order = build_order(a_draft(), order_number="OMS-1", known_skus={"TSHIRT-BLK-M", "CAP-NAVY"}, now=T0)
    for status in (S.rejected, S.cancelled, S.returned_to_sender):
        ended = parcel(status, at=T0).model_copy(update={"promise": promise})
        watched = order.model_copy(update={"status": OrderStatus.allocated, "fulfillments": [ended]})
        assert flags_for(watched, T0 + timedelta(days=1), WatchRules()) == []
