"""Lazada pushes and /order/get + /order/items/get -> OrderDraft (and the simulator's documents)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from oms.channels import lazada
from oms.channels.marketplace import ChannelState
from oms.errors import NormalizationError
from oms.models.order import Channel, PaymentStatus
from oms_local.sim_formats import SimLine, SimOrder
from oms_local.sim_formats import lazada as sim

FIXTURES = Path(__file__).resolve().parents[2] / "events" / "channels"
WIB = timezone(timedelta(hours=7))
ORDER, L1, L2, L3 = "829103456712006", "829103456812006", "829103456912006", "829103457012006"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def detail() -> dict:
    return {
        "order": load("lazada_get_order_response")["data"],
        "items": load("lazada_get_order_items_response")["data"],
    }


def sim_order(**changes) -> SimOrder:
    base = {
        "channel": "lazada",
        "order_id": "781234567890123",
        "shop_id": "1000123456",
        "status": "pending",
        "created": 1764032400,
        "updated": 1764036000,
        "lines": [SimLine("KOP-GAYO-250", 3, 85000, "Kopi Gayo 250 g", 10001), SimLine("KOP-TORAJA-250", 1, 90000)],
        "shipping_fee": 12000,
        "ship_by": 1764201600,
    }
    base.update(changes)
    return SimOrder(**base)


def from_sim(order: SimOrder):
    return lazada.normalize({"order": sim.order_response(order)["data"], "items": sim.items_response(order)["data"]})


# --- the documented fixture ------------------------------------------------------


def test_unit_rows_become_lines_with_quantities(detail):
    # Given three unit rows: two of KOP-GAYO-250 at 128.500, one of KOP-TORAJA-250
    draft = lazada.normalize(detail)
    # Then rows group by (sku, item_price); the line id is the group's smallest order_item_id
    assert draft.channel is Channel.lazada
    assert draft.channel_order_id == ORDER
    assert [(line.line_id, line.sku, line.quantity) for line in draft.lines] == [
        (L1, "KOP-GAYO-250", 2),
        (L3, "KOP-TORAJA-250", 1),
    ]
    assert draft.lines[0].name == "Kopi Arabika Gayo 250 g"


def test_amounts_are_decimals_with_vouchers_as_line_discount(detail):
    draft = lazada.normalize(detail)
    gayo, toraja = draft.lines
    # Seller 5.000 + platform 2.500 on each of the two units
    assert type(gayo.unit_price) is Decimal and gayo.unit_price == Decimal("128500")
    assert gayo.discount == Decimal("15000")
    assert gayo.net_total == Decimal("242000")
    assert toraja.discount == 0
    totals = draft.totals
    assert all(type(value) is Decimal for value in totals.model_dump().values())
    assert (totals.subtotal, totals.shipping, totals.discount) == (Decimal(337000), Decimal(18000), Decimal(15000))
    assert totals.grand_total == Decimal("340000")


def test_indonesian_address_from_address3_to_5(detail):
    address = lazada.normalize(detail).shipping_address
    assert address.name == "Siti Rahmawati"
    assert address.phone == "+6281322457781"
    assert address.line1 == "Jl. Cihampelas No. 160, RT 02/RW 05"
    assert address.line2 == "Dekat Ciwalk"
    assert (address.province, address.city, address.district, address.village) == (
        "Jawa Barat",
        "Kota Bandung",
        "Coblong",
        "Cipaganti",
    )
    assert address.postal_code == "40131"
    assert address.country == "ID"
    assert address.missing_for_delivery() == []


def test_times_keep_lazada_offset_and_ship_by_is_the_earliest_promise(detail):
    draft = lazada.normalize(detail)
    assert draft.placed_at == datetime(2025, 11, 25, 9, 58, 12, tzinfo=WIB)
    assert draft.channel_updated_at == datetime(2025, 11, 25, 10, 30, tzinfo=WIB)
    # The Toraja row must be handed over by noon, earlier than the others' 23:59:59
    assert draft.ship_by == datetime(2025, 11, 27, 12, 0, tzinfo=WIB)


def test_state_payment_and_notes(detail):
    draft = lazada.normalize(detail)
    assert draft.channel_status == "pending"
    assert draft.channel_state is ChannelState.ready
    assert draft.payment.status is PaymentStatus.paid
    assert draft.payment.cod is False
    assert draft.notes == "Tolong dibungkus rapi"
    assert draft.customer.name == "Siti Rahmawati"
    assert draft.customer.channel_customer_id == "300512894406"
    assert draft.cancelled is False


def test_line_ids_do_not_depend_on_row_order(detail):
    detail["items"].reverse()
    assert [line.line_id for line in lazada.normalize(detail).lines] == [L1, L3]


def test_updated_at_is_the_latest_of_order_and_items(detail):
    # Given an item updated after the order document (the push's status_update_time is the item's)
    detail["items"][2]["updated_at"] = "2025-11-25 11:00:05 +0700"
    push_time = datetime.fromtimestamp(1764043205, UTC)  # 11:00:05 WIB
    # Then the draft is never older than the change the push announced
    assert lazada.normalize(detail).channel_updated_at == push_time


def test_a_partly_cancelled_order_ships_only_its_live_units_and_keeps_line_ids(detail):
    detail["items"][0]["status"] = "canceled"
    draft = lazada.normalize(detail)
    assert draft.cancelled is False
    assert [(line.line_id, line.quantity) for line in draft.lines] == [(L1, 1), (L3, 1)]
    assert draft.lines[0].discount == Decimal("7500")


def test_every_unit_cancelled_cancels_the_order(detail):
    for item in detail["items"]:
        item.update(status="canceled", reason="Berubah pikiran")
    draft = lazada.normalize(detail)
    assert draft.cancelled is True
    assert draft.channel_state is ChannelState.cancelled
    assert draft.cancel_reason == "Berubah pikiran"
    assert [line.quantity for line in draft.lines] == [2, 1]
    assert draft.payment.status is PaymentStatus.paid  # paid before the cancel: a refund is owed


def test_cancelled_before_payment_is_voided(detail):
    for item in detail["items"]:
        item.update(status="canceled", payment_time="")
    assert lazada.normalize(detail).payment.status is PaymentStatus.voided


def test_mixed_items_take_the_least_advanced_live_status(detail):
    detail["items"][0]["status"] = "shipped"
    detail["items"][1]["status"] = "packed"
    detail["items"][2]["status"] = "canceled"
    draft = lazada.normalize(detail)
    assert draft.channel_state is ChannelState.arranged
    assert draft.channel_status == "packed"


def test_an_unknown_item_status_is_kept_and_flagged_unknown(detail):
    detail["items"][1]["status"] = "awaiting_teleport"
    draft = lazada.normalize(detail)
    assert draft.channel_state is ChannelState.unknown
    assert draft.channel_status == "awaiting_teleport"
    assert draft.payment.status is PaymentStatus.pending


def test_cod_is_pending_until_delivered(detail):
    detail["order"]["payment_method"] = "COD"
    assert lazada.normalize(detail).payment.status is PaymentStatus.pending
    for item in detail["items"]:
        item["status"] = "delivered"
    draft = lazada.normalize(detail)
    assert draft.payment.cod is True
    assert draft.payment.status is PaymentStatus.paid


def test_order_level_promise_is_read_in_the_order_offset(detail):
    for item in detail["items"]:
        item.update(promised_shipping_time="", sla_time_stamp="")
    assert lazada.normalize(detail).ship_by == datetime(2025, 11, 27, 23, 59, 59, tzinfo=WIB)


def test_orders_get_entries_are_order_documents(detail):
    listed = load("lazada_get_orders_response")["data"]
    assert listed["countTotal"] == 41
    draft = lazada.normalize({"order": listed["orders"][0], "items": detail["items"]})
    assert draft.channel_order_id == ORDER


# --- states ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("unpaid", ChannelState.unpaid),
        ("pending", ChannelState.ready),
        ("topack", ChannelState.ready),
        ("packed", ChannelState.arranged),
        ("repacked", ChannelState.arranged),
        ("toship", ChannelState.arranged),
        ("ready_to_ship", ChannelState.arranged),
        ("shipped", ChannelState.shipped),
        ("shipping", ChannelState.shipped),
        ("delivered", ChannelState.delivered),
        ("confirmed", ChannelState.completed),
        ("failed", ChannelState.returned),
        ("lost", ChannelState.returned),
        ("canceled", ChannelState.cancelled),
        ("returned", ChannelState.returned),
        ("CANCEL_INIT", ChannelState.cancel_requested),
        ("CANCEL_SUCCESS", ChannelState.cancelled),
        ("RTM_INIT", ChannelState.return_requested),
        ("RTM_CANCELED", ChannelState.delivered),
        ("RTM_RECEIVE_ITEM", ChannelState.returned),
        ("REFUND_SUCCESS", ChannelState.returned),
        ("Pending", ChannelState.ready),
        ("something_new", ChannelState.unknown),
        ("", ChannelState.unknown),
        (None, ChannelState.unknown),
        (3, ChannelState.unknown),
    ],
)
def test_states(raw, expected):
    assert lazada.state(raw) is expected


def test_every_documented_status_has_a_state():
    assert all(value is not ChannelState.unknown for value in lazada.STATES.values())


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["pending", "pending"], (ChannelState.ready, "pending")),
        (["canceled", "canceled"], (ChannelState.cancelled, "canceled")),
        (["canceled", "shipped"], (ChannelState.shipped, "shipped")),
        (["delivered", "returned"], (ChannelState.delivered, "delivered")),
        (["confirmed", "mystery"], (ChannelState.unknown, "mystery")),
        ([], (ChannelState.unknown, None)),
    ],
)
def test_order_state_from_items(statuses, expected):
    assert lazada.order_state(statuses) == expected


# --- pushes ----------------------------------------------------------------------


def test_trade_push_names_the_order_and_its_line():
    (notice,) = lazada.notices(load("lazada_trade_order_push"))
    assert notice.channel is Channel.lazada
    assert (notice.channel_order_id, notice.kind, notice.status) == (ORDER, "order_status", "pending")
    assert notice.shop_id == "1001873342"
    assert notice.updated_at == datetime(2025, 11, 25, 10, 30, tzinfo=WIB)
    assert notice.extra == {"trade_order_line_id": L2}


def test_returned_trade_push_carries_the_reverse_ids():
    (notice,) = lazada.notices(load("lazada_trade_order_push_returned"))
    assert notice.status == "returned"
    assert notice.extra == {
        "trade_order_line_id": L3,
        "reverse_order_id": "903318822402006",
        "reverse_order_line_id": "903318822502006",
    }


def test_reverse_push_ids_become_strings():
    (notice,) = lazada.notices(load("lazada_reverse_order_push"))
    assert (notice.channel_order_id, notice.kind, notice.status) == (ORDER, "reverse", "RTM_INIT")
    assert notice.extra["trade_order_line_id"] == L3
    assert notice.extra["reverse_order_id"] == "903318822402006"
    assert lazada.state(notice.status) is ChannelState.return_requested


def test_other_message_types_name_no_order():
    assert lazada.notices({"seller_id": "1", "message_type": 13, "data": {"status": "normal"}}) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.pop("message_type"),
        lambda p: p.pop("data"),
        lambda p: p["data"].pop("trade_order_id"),
        lambda p: p["data"].pop("order_status"),
        lambda p: p["data"].update(status_update_time="yesterday"),
    ],
)
def test_undocumented_pushes_are_refused(change):
    push = load("lazada_trade_order_push")
    change(push)
    with pytest.raises(NormalizationError):
        lazada.notices(push)


# --- bad documents ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["order"].pop("order_id"), "order_id"),
        (lambda d: d.update(items=[]), "items"),
        (lambda d: d["items"][0].pop("order_item_id"), "order_item_id"),
        (lambda d: d["items"][0].update(item_price="Rahmawati"), "item_price"),
        (lambda d: d["order"].update(created_at="25/11/2025"), "created_at"),
        (lambda d: d["items"][1].update(order_id="1"), "another order"),
        (lambda d: d["order"].pop("price"), "price"),
    ],
)
def test_bad_documents_name_the_field_never_the_buyer(detail, change, field):
    change(detail)
    with pytest.raises(NormalizationError, match=field) as caught:
        lazada.normalize(detail)
    assert "Rahmawati" not in str(caught.value) and "Siti" not in str(caught.value)


def test_a_missing_sku_is_kept_empty(detail):
    detail["items"][2]["sku"] = ""
    assert lazada.normalize(detail).lines[1].sku == ""


# --- the simulator's documents round-trip -----------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"cod": True, "status": "ready_to_ship"},
        {"status": "delivered", "tracking_number": "JX1234567890"},
        {"status": "unpaid"},
        {"status": "canceled", "cancel_reason": "Stok habis"},
    ],
)
def test_builder_documents_round_trip(changes):
    order = sim_order(**changes)
    draft = from_sim(order)
    assert draft.channel_order_id == order.order_id
    assert [(line.sku, line.quantity, line.unit_price) for line in draft.lines] == [
        ("KOP-GAYO-250", 3, Decimal(85000)),
        ("KOP-TORAJA-250", 1, Decimal(90000)),
    ]
    assert draft.lines[0].discount == Decimal(10001)  # spread over the units, summed back
    assert draft.totals.subtotal == Decimal(345000)
    assert draft.totals.shipping == Decimal(12000)
    assert draft.totals.grand_total == Decimal(345000 + 12000 - 10001)
    assert draft.channel_status == order.status
    assert draft.channel_state is lazada.state(order.status)
    assert draft.payment.cod is order.cod
    assert draft.placed_at == datetime.fromtimestamp(order.created, UTC)
    assert draft.channel_updated_at == datetime.fromtimestamp(order.updated, UTC)
    assert draft.ship_by == datetime.fromtimestamp(order.ship_by, UTC)
    address = draft.shipping_address
    assert (address.name, address.phone, address.line1) == ("Budi Santoso", "+6281234567890", order.line1)
    assert (address.village, address.district, address.city, address.province, address.postal_code) == (
        order.village,
        order.district,
        order.city,
        order.province,
        order.postal_code,
    )
    assert draft.cancelled is (order.status == "canceled")


def test_builder_per_row_statuses_and_pushes():
    order = sim_order()
    order.extra["item_statuses"] = ["shipped", "shipped", "packed", "canceled"]
    draft = from_sim(order)
    assert draft.channel_state is ChannelState.arranged
    assert [(line.sku, line.quantity) for line in draft.lines] == [("KOP-GAYO-250", 3)]
    rows = sim.items_response(order)["data"]
    assert len(rows) == 4  # one row per unit
    for row in rows:
        (notice,) = lazada.notices(sim.trade_push(order, row["order_item_id"]))
        assert notice.extra["trade_order_line_id"] == row["order_item_id"]
        assert notice.status == row["status"]
        assert notice.updated_at <= draft.channel_updated_at


def test_builder_list_response_pages():
    orders = [sim_order(order_id=str(781234567890123 + n)) for n in range(3)]
    page = sim.orders_list_response(orders, count_total=57)
    assert page["data"]["count"] == 3 and page["data"]["countTotal"] == 57
    listed = page["data"]["orders"][1]
    assert listed["order_id"] == orders[1].order_id
    assert listed["statuses"] == ["pending"]
    draft = lazada.normalize({"order": listed, "items": sim.items_response(orders[1])["data"]})
    assert draft.channel_order_id == orders[1].order_id


def test_builder_returned_push_has_reverse_ids():
    order = sim_order(status="returned")
    order.extra["reverse_order_id"] = "903300000000001"
    row = sim.items_response(order)["data"][0]
    (notice,) = lazada.notices(sim.trade_push(order, row["order_item_id"]))
    assert notice.extra["reverse_order_id"] == "903300000000001"
    assert from_sim(order).payment.status is PaymentStatus.refunded


def test_a_pending_buyer_cancellation_is_a_cancel_request() -> None:
    # Given a paid order whose buyer asked Lazada to cancel (the item carries is_cancel_pending)
    order, items = load("lazada_get_order_response")["data"], load("lazada_get_order_items_response")["data"]
    document = {"order": order, "items": items}
    document["order"] = {**document["order"], "is_cancel_pending": "false"}
    document["items"] = [{**row, "status": "pending", "is_cancel_pending": "true"} for row in document["items"]]
    # When normalized
    draft = lazada.normalize(document)
    # Then the seller is asked to answer it; the raw status stays
    assert draft.channel_state is ChannelState.cancel_requested
    assert draft.channel_status == "pending"
    assert not draft.cancelled
